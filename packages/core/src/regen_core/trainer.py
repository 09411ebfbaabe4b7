"""The shared training loop: one loop for every stage of every pairing.

It knows no domain: it calls ``model(batch) -> (loss, stats)`` on batches made by the stage's
``collate`` function. Read top to bottom:

1. distributed set-up (torchrun env -> gloo on CPU, nccl on GPU), device, precision;
2. optimizer (AdamW), warm-up + cosine schedule, optional EMA;
3. resume from ``latest.json`` (or refuse to overwrite an existing run);
4. the loop: micro-batches with gradient accumulation, a finite-loss check, clipping, step,
   logging (tqdm, JSONL, TensorBoard), validation, best-by-metric, atomic checkpoints;
5. the final model folder (``config.json`` + ``model.safetensors``).

Data order is a pure function of (seed, step), so ``resume`` continues exactly where a
killed run stopped.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from . import checkpoint as ckpt
from .config import TrainConfig, to_dict
from .contract import StageData
from .errors import RegenError


class NonFiniteLossError(RegenError, FloatingPointError):
    """The loss or the gradient norm became NaN/Inf; the last good checkpoint is kept."""


class TrainerError(RegenError, RuntimeError):
    """The run cannot start as asked (existing run without --resume, bad batch size, ...)."""


@dataclass
class TrainResult:
    steps: int  # optimizer steps done in total
    seconds: float  # training wall time in total (over resumes)
    cpu_seconds: float  # process CPU time (all threads) over the same spans as ``seconds``
    parameters: int  # trainable parameters
    final_dir: Path  # the model folder to load
    best_dir: Path | None  # best-by-metric model folder, when validation ran
    best_value: float | None  # its metric value
    history: Path  # the JSONL log


def select_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; anything else is passed to torch.device."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    """Linear warm-up to 1, then cosine decay to ``min_lr_ratio`` at ``max_steps``."""

    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        span = max(1, cfg.max_steps - cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / span)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


class _Batches(torch.utils.data.Sampler):
    """Index lists for this rank's micro-batches, from ``start_step`` to ``max_steps``.

    Epoch ``e`` shuffles with a generator seeded by (seed, e); global batch ``b`` of an epoch is
    cut into ``accum`` micro-batches, each cut into ``world`` equal shards. With ``lengths`` and
    ``group`` > 0, each window of ``group`` batches of the shuffled order is sorted by length, cut
    into batches, and those batches are shuffled again (the same generator): similar lengths share
    a batch, so there is less padding, and the order stays a pure function of (seed, epoch).
    """

    def __init__(self, n: int, batch: int, accum: int, world: int, rank: int, seed: int, start: int, stop: int,
                 lengths: Any = None, group: int = 0):
        self.n, self.batch, self.accum, self.world, self.rank = n, batch, accum, world, rank
        self.seed, self.start, self.stop = seed, start, stop
        self.per_epoch = n // batch
        self.lengths, self.group = (list(lengths), group) if lengths is not None and group > 0 else (None, 0)

    def _grouped(self, perm: list[int], g: torch.Generator) -> list[int]:
        out: list[int] = []
        window = self.batch * self.group
        for w in range(0, len(perm), window):
            chunk = sorted(perm[w : w + window], key=self.lengths.__getitem__)
            batches = [chunk[i : i + self.batch] for i in range(0, len(chunk), self.batch)]
            full = [b for b in batches if len(b) == self.batch]  # a short last batch stays last (it is dropped)
            for j in torch.randperm(len(full), generator=g).tolist():
                out.extend(full[j])
            out.extend(i for b in batches if len(b) < self.batch for i in b)
        return out

    def __len__(self) -> int:
        return (self.stop - self.start) * self.accum

    def __iter__(self) -> Iterator[list[int]]:
        perm_epoch, perm = -1, None
        micro = self.batch // self.accum
        shard = micro // self.world
        for step in range(self.start, self.stop):
            epoch, b = divmod(step, self.per_epoch)
            if epoch != perm_epoch:
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                perm, perm_epoch = torch.randperm(self.n, generator=g).tolist(), epoch
                if self.lengths is not None:
                    perm = self._grouped(perm, g)
            idx = perm[b * self.batch : (b + 1) * self.batch]
            for a in range(self.accum):
                m = idx[a * micro : (a + 1) * micro]
                yield m[self.rank * shard : (self.rank + 1) * shard]


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": None}
    np_state = np.random.get_state()
    state["numpy"] = [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])]
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    v, internal, gauss = state["python"]
    random.setstate((v, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


def _params_finite(model: torch.nn.Module) -> bool:
    return all(torch.isfinite(p).all() for p in model.parameters())


def train(
    model: torch.nn.Module,
    data: StageData,
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    saved_config: dict[str, Any] | None = None,
    resume: bool = False,
    description: str = "train",
) -> TrainResult:
    """Train ``model`` on ``data`` with ``cfg``; checkpoints and logs go to ``out_dir``."""
    out = Path(out_dir)
    ckpt_root = out / "checkpoints"
    saved_config = dict(saved_config or {})

    # 1. Distributed set-up, device, precision.
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = select_device(cfg.device)
    owns_group = world > 1 and not dist.is_initialized()
    if owns_group:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    is_main = rank == 0
    if device.type == "cuda":
        torch.cuda.set_device(device)
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    autocast = (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()
    )
    n = len(data.train)
    batch = min(cfg.batch_size, n)
    if n == 0:
        raise TrainerError(f"{description}: the training set is empty")
    if batch % (cfg.grad_accum * world):
        raise TrainerError(
            f"{description}: batch_size={batch} must divide by grad_accum={cfg.grad_accum} x processes={world}"
        )
    model.to(device).train()
    raw_model = model
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            raw_model, device_ids=[device.index] if device.type == "cuda" else None
        )

    # 2. Optimizer, schedule, EMA.
    params = [p for p in raw_model.parameters() if p.requires_grad]
    if not params:
        raise TrainerError(f"{description}: the model has no trainable parameters (an explicit model needs no training)")
    optim = torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_lambda(cfg))
    ema = copy.deepcopy(raw_model).eval().requires_grad_(False) if cfg.ema_decay > 0 else None

    # 3. Resume, or refuse to overwrite.
    step, seconds, cpu_seconds, best_value = 0, 0.0, 0.0, None
    if is_main:
        ckpt.clean_stale(ckpt_root)
        ckpt.clean_stale(out)
    last = ckpt.latest(ckpt_root)
    if last is not None and not resume:
        raise TrainerError(
            f"{out} already holds a run (latest checkpoint {last.name}); pass resume to continue it "
            f"or choose another output folder - nothing was overwritten"
        )
    if last is not None:
        ckpt.verify(last)
        ckpt.load_weights(raw_model, last / "model.safetensors")
        state = ckpt.read_json(last / "trainer_state.json", "trainer state")
        tensors = ckpt.load_tensors(last / "state.safetensors")
        full = ckpt.join_state(tensors, state["skeleton"])
        optim.load_state_dict(full["optimizer"])
        sched.load_state_dict(full["scheduler"])
        _set_rng_state(full["rng"])
        if ema is not None:
            ckpt.load_weights(ema, last / "ema.safetensors")
        step, seconds, best_value = state["step"], state["seconds"], state["best_value"]
        cpu_seconds = state.get("cpu_seconds", 0.0)  # absent in checkpoints written before it was recorded
    elif resume and is_main:
        print(f"[{description}] nothing to resume in {ckpt_root}; starting from step 0")

    def save_checkpoint() -> None:
        if not is_main:
            return
        if not _params_finite(raw_model):
            raise NonFiniteLossError(f"{description}: parameters became non-finite at step {step}; not checkpointing")
        state = {"optimizer": optim.state_dict(), "scheduler": sched.state_dict(), "rng": _rng_state()}
        tensors, skeleton = ckpt.split_state(state)
        w = ckpt.FolderWriter(ckpt_root / f"step_{step:08d}")
        try:
            ckpt.save_weights(raw_model, w.path("model.safetensors"))
            if ema is not None:
                ckpt.save_weights(ema, w.path("ema.safetensors"))
            from safetensors.torch import save_file

            save_file(tensors, str(w.path("state.safetensors")))
            with open(w.path("trainer_state.json"), "w") as f:
                json.dump({"step": step, "seconds": seconds, "cpu_seconds": cpu_seconds, "best_value": best_value,
                           "skeleton": skeleton}, f)
            with open(w.path("config.json"), "w") as f:
                json.dump({**saved_config, "train": to_dict(cfg)}, f, indent=2)
            folder = w.commit()
        except BaseException:
            w.abort()
            raise
        ckpt.set_latest(ckpt_root, folder, step)
        kept = sorted(p for p in ckpt_root.glob("step_*") if p.is_dir())
        for old in kept[: max(0, len(kept) - max(1, cfg.keep_last))]:
            shutil.rmtree(old, ignore_errors=True)

    def export(folder: Path, metrics: dict[str, float]) -> Path:
        weights = ema if ema is not None else raw_model
        record = {"steps": step, "seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3),
                  "parameters": count_parameters(raw_model), **metrics}
        return ckpt.save_pretrained(folder, weights, {**saved_config, "train": to_dict(cfg), "training": record})

    @torch.no_grad()
    def validate() -> dict[str, float]:
        if data.valid is None or len(data.valid) == 0:
            return {}
        net = ema if ema is not None else raw_model
        net.eval()
        totals: dict[str, float] = {}
        count = 0
        vb = max(1, min(batch // world, len(data.valid)))
        starts = range(0, len(data.valid), vb)
        if cfg.valid_batches:
            starts = list(starts)[: cfg.valid_batches]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed + 17)
            for s in starts:
                items = [data.valid[i] for i in range(s, min(s + vb, len(data.valid)))]
                with autocast:
                    loss, stats = net(to_device(data.collate(items), device))
                for k, v in {"loss": loss, **stats}.items():
                    totals[k] = totals.get(k, 0.0) + float(v) * len(items)
                count += len(items)
        raw_model.train()
        return {f"valid_{k}": v / count for k, v in totals.items()}

    # 4. The loop.
    log_path = out / "train_log.jsonl"
    writer = None
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tensorboard"))
    lengths = getattr(data, "lengths", None)
    if cfg.group_by_length > 0 and (lengths is None or len(lengths) != n):
        raise TrainerError(
            f"{description}: group_by_length={cfg.group_by_length} needs the stage data's lengths, one per training "
            f"example ({n}); got {'none' if lengths is None else len(lengths)}"
        )
    sampler = _Batches(n, batch, cfg.grad_accum, world, rank, cfg.seed, step, cfg.max_steps,
                       lengths=lengths, group=cfg.group_by_length)
    loader = DataLoader(
        data.train,
        batch_sampler=sampler,
        collate_fn=data.collate,
        num_workers=cfg.num_workers,
        generator=torch.Generator(),  # keeps the global RNG untouched, so resume is exact
    )
    bar = None
    if is_main and cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_steps, initial=step, desc=description, unit="step", dynamic_ncols=True)
    flag = torch.ones(1, device=device)
    window: dict[str, float] = {}
    window_steps, window_start = 0, time.perf_counter()
    t_last, c_last = time.perf_counter(), time.process_time()
    micro = 0
    stopped_early = False
    on_cpu = device.type == "cpu"
    for mb in loader:
        if not on_cpu:  # collated batches are already on the CPU
            mb = to_device(mb, device)
        last_micro = micro == cfg.grad_accum - 1
        sync = contextlib.nullcontext() if (world == 1 or last_micro) else model.no_sync()
        with sync:
            with autocast:
                loss, stats = model(mb)
            loss_value = float(loss.detach())  # one host read; math.isfinite on it is ~30x cheaper than torch.isfinite
            if world > 1:
                flag.fill_(float(math.isfinite(loss_value)))
                dist.all_reduce(flag, op=dist.ReduceOp.MIN)
                finite = bool(flag.item())
            else:
                finite = math.isfinite(loss_value)
            if not finite:
                kept = ckpt.latest(ckpt_root)
                raise NonFiniteLossError(
                    f"{description}: loss is {loss_value} at step {step + 1}; stopping. "
                    f"The last good checkpoint is kept: {kept if kept else 'none was written yet'}. "
                    f"Try a lower lr (now {cfg.lr}) or check the data"
                )
            (loss / cfg.grad_accum).backward()
        window["loss"] = window.get("loss", 0.0) + loss_value / cfg.grad_accum
        for k, v in stats.items():
            v = v.detach() if isinstance(v, torch.Tensor) else v
            window[k] = window.get(k, 0.0) + float(v) / cfg.grad_accum
        if not last_micro:
            micro += 1
            continue
        micro = 0
        if cfg.clip_grad > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad)
            norm_value = float(norm)
            if not math.isfinite(norm_value):
                raise NonFiniteLossError(
                    f"{description}: gradient norm is {norm_value} at step {step + 1}; stopping. "
                    f"The last good checkpoint is kept: {ckpt.latest(ckpt_root)}"
                )
        optim.step()
        optim.zero_grad(set_to_none=True)
        sched.step()
        if ema is not None:
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), raw_model.parameters()):
                    pe.lerp_(pm.detach(), 1 - cfg.ema_decay)
                # Buffers (BatchNorm running statistics, step counters) are not averaged: copy them.
                for be, bm in zip(ema.buffers(), raw_model.buffers()):
                    be.copy_(bm)
        step += 1
        window_steps += 1
        now = time.perf_counter()
        seconds += now - t_last
        cpu_now = time.process_time()
        cpu_seconds += cpu_now - c_last
        t_last, c_last = now, cpu_now
        if bar is not None:
            bar.update(1)
            if step % max(1, cfg.log_every) == 0 or step == cfg.max_steps:
                bar.set_postfix(loss=f"{window['loss'] / window_steps:.4g}", lr=f"{sched.get_last_lr()[0]:.2e}")
        if is_main and (step % max(1, cfg.log_every) == 0 or step == cfg.max_steps):
            elapsed = max(1e-9, time.perf_counter() - window_start)
            row = {k: v / window_steps for k, v in window.items()}
            row.update(step=step, lr=sched.get_last_lr()[0], steps_per_s=window_steps / elapsed,
                       samples_per_s=window_steps * batch / elapsed, seconds=round(seconds, 3))
            with open(log_path, "a") as f:
                f.write(json.dumps(row) + "\n")
            if writer is not None:
                for k, v in row.items():
                    if k != "step":
                        writer.add_scalar(f"train/{k}", v, step)
            window, window_steps, window_start = {}, 0, time.perf_counter()
        out_of_time = (cfg.max_seconds > 0 and seconds >= cfg.max_seconds) or (
            cfg.max_cpu_seconds > 0 and cpu_seconds >= cfg.max_cpu_seconds)
        done = step >= cfg.max_steps or out_of_time
        if (cfg.valid_every and step % cfg.valid_every == 0) or done:
            vals = validate() if is_main else {}
            metric = vals.get(cfg.best_metric)
            if is_main and vals:
                with open(log_path, "a") as f:
                    f.write(json.dumps({"step": step, **vals}) + "\n")
                if writer is not None:
                    for k, v in vals.items():
                        writer.add_scalar(f"valid/{k[6:]}", v, step)
                if bar is not None:
                    bar.write(f"[{description}] step {step}: " + ", ".join(f"{k}={v:.4g}" for k, v in vals.items()))
            if metric is not None and (best_value is None or metric < best_value):
                best_value = metric
                export(out / "best", {cfg.best_metric: metric})
            t_last, c_last = time.perf_counter(), time.process_time()  # validation is not training time
        if (cfg.save_every and step % cfg.save_every == 0) or done:
            save_checkpoint()
            t_last, c_last = time.perf_counter(), time.process_time()  # checkpoint I/O is not training time
        if world > 1 and ((cfg.save_every and step % cfg.save_every == 0) or done):
            dist.barrier()
        if out_of_time and step < cfg.max_steps:
            stopped_early = True
            break
    if bar is not None:
        bar.close()
    if writer is not None:
        writer.close()

    # 5. The final model folder.
    final = out / "final"
    if is_main:
        if stopped_early:
            print(f"[{description}] stopped at step {step} after {seconds:.1f} s wall / {cpu_seconds:.1f} s CPU "
                  f"(max_seconds={cfg.max_seconds}, max_cpu_seconds={cfg.max_cpu_seconds})")
        export(final, {"stopped_early": stopped_early})
    if world > 1:
        dist.barrier()
    if owns_group:
        dist.destroy_process_group()
    return TrainResult(
        steps=step,
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        parameters=count_parameters(raw_model),
        final_dir=final,
        best_dir=(out / "best") if (out / "best").exists() else None,
        best_value=best_value,
        history=log_path,
    )
