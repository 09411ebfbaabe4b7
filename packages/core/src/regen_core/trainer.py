"""The shared training loop: one loop for every stage of every pairing.

It knows no domain: it calls ``model(batch) -> (loss, stats)`` on batches made by the stage's
``collate`` function. Read top to bottom:

1. distributed set-up (torchrun env -> gloo on CPU, nccl on GPU), device, precision;
2. optimizer (AdamW), warm-up + cosine schedule, optional EMA;
3. resume from ``latest.json`` (or refuse to overwrite an existing run);
4. the loop: micro-batches with gradient accumulation, a finite-loss check, clipping, step,
   logging (tqdm, JSONL, TensorBoard), validation, best-by-metric (in the metric's direction),
   atomic checkpoints;
5. the final model folder (``config.json`` + ``model.safetensors``).

:func:`train` is that loop; each responsibility is a named helper above it (``_set_up``,
``_check_finite_loss``, ``_clip_gradients``, ``_update_ema``, ``_Clock``, ``_Log``, ``_validate``,
``improves``); the checkpoint folder layout lives in :mod:`regen_core.checkpoint`.

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
from .contract import Metric, StageData
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


# -- the loop's helpers, in the order the loop meets them ------------------------------------------


@dataclass
class _Setup:
    """Where and how this process trains (step 1)."""

    world: int  # processes (WORLD_SIZE)
    rank: int
    device: torch.device
    owns_group: bool  # this call initialised the process group, so it also destroys it
    autocast: Any  # the bf16 autocast context, or a null context
    batch: int  # the global batch, capped at the training set's size

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _set_up(cfg: TrainConfig, n: int, description: str) -> _Setup:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = select_device(cfg.device)
    owns_group = world > 1 and not dist.is_initialized()
    if owns_group:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    if device.type == "cuda":
        torch.cuda.set_device(device)
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    autocast = (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()
    )
    batch = min(cfg.batch_size, n)
    if n == 0:
        raise TrainerError(f"{description}: the training set is empty")
    if batch % (cfg.grad_accum * world):
        raise TrainerError(
            f"{description}: batch_size={batch} must divide by grad_accum={cfg.grad_accum} x processes={world}"
        )
    return _Setup(world, rank, device, owns_group, autocast, batch)


def _update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), model.parameters()):
            pe.lerp_(pm.detach(), 1 - decay)
        # Buffers (BatchNorm running statistics, step counters) are not averaged: copy them.
        for be, bm in zip(ema.buffers(), model.buffers()):
            be.copy_(bm)


def _check_finite_loss(value: float, setup: _Setup, flag: torch.Tensor, step: int, ckpt_root: Path,
                       cfg: TrainConfig, description: str) -> None:
    """Raise :class:`NonFiniteLossError` when the loss of any process is NaN/Inf."""
    if setup.world > 1:
        flag.fill_(float(math.isfinite(value)))
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        finite = bool(flag.item())
    else:
        finite = math.isfinite(value)
    if not finite:
        kept = ckpt.latest(ckpt_root)
        raise NonFiniteLossError(
            f"{description}: loss is {value} at step {step + 1}; stopping. "
            f"The last good checkpoint is kept: {kept if kept else 'none was written yet'}. "
            f"Try a lower lr (now {cfg.lr}) or check the data"
        )


def _clip_gradients(params: list[torch.nn.Parameter], cfg: TrainConfig, step: int, ckpt_root: Path,
                    description: str) -> None:
    """Clip the global gradient norm; a NaN/Inf norm is a :class:`NonFiniteLossError`."""
    if cfg.clip_grad <= 0:
        return
    norm_value = float(torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad))
    if not math.isfinite(norm_value):
        raise NonFiniteLossError(
            f"{description}: gradient norm is {norm_value} at step {step + 1}; stopping. "
            f"The last good checkpoint is kept: {ckpt.latest(ckpt_root)}"
        )


class _Clock:
    """Training wall and CPU seconds: validation and checkpoint I/O are left out with :meth:`restart`."""

    def __init__(self, seconds: float, cpu_seconds: float):
        self.seconds, self.cpu_seconds = seconds, cpu_seconds
        self.restart()

    def restart(self) -> None:
        self._t, self._c = time.perf_counter(), time.process_time()

    def tick(self) -> None:
        now, cpu_now = time.perf_counter(), time.process_time()
        self.seconds += now - self._t
        self.cpu_seconds += cpu_now - self._c
        self._t, self._c = now, cpu_now

    def out_of_time(self, cfg: TrainConfig) -> bool:
        return (cfg.max_seconds > 0 and self.seconds >= cfg.max_seconds) or (
            cfg.max_cpu_seconds > 0 and self.cpu_seconds >= cfg.max_cpu_seconds)


class _Log:
    """Training statistics averaged over ``log_every`` steps: tqdm, ``train_log.jsonl``, TensorBoard."""

    def __init__(self, out: Path, cfg: TrainConfig, is_main: bool, step: int, batch: int, description: str):
        self.path, self.cfg, self.is_main, self.batch, self.description = out / "train_log.jsonl", cfg, is_main, batch, description
        self.writer = self.bar = None
        if is_main:
            out.mkdir(parents=True, exist_ok=True)
            if cfg.tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(out / "tensorboard"))
        self.window: dict[str, float] = {}
        self.window_steps, self.window_start = 0, time.perf_counter()
        self._initial_step = step

    def open_bar(self) -> None:
        if self.is_main and self.cfg.progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.cfg.max_steps, initial=self._initial_step, desc=self.description, unit="step",
                            dynamic_ncols=True)

    def micro_batch(self, loss_value: float, stats: Mapping[str, Any]) -> None:
        accum = self.cfg.grad_accum
        self.window["loss"] = self.window.get("loss", 0.0) + loss_value / accum
        for k, v in stats.items():
            v = v.detach() if isinstance(v, torch.Tensor) else v
            self.window[k] = self.window.get(k, 0.0) + float(v) / accum

    def optimizer_step(self, step: int, lr: float, seconds: float) -> None:
        self.window_steps += 1
        due = step % max(1, self.cfg.log_every) == 0 or step == self.cfg.max_steps
        if self.bar is not None:
            self.bar.update(1)
            if due:
                self.bar.set_postfix(loss=f"{self.window['loss'] / self.window_steps:.4g}", lr=f"{lr:.2e}")
        if self.is_main and due:
            elapsed = max(1e-9, time.perf_counter() - self.window_start)
            row = {k: v / self.window_steps for k, v in self.window.items()}
            row.update(step=step, lr=lr, steps_per_s=self.window_steps / elapsed,
                       samples_per_s=self.window_steps * self.batch / elapsed, seconds=round(seconds, 3))
            self._write(row, "train")
            self.window, self.window_steps, self.window_start = {}, 0, time.perf_counter()

    def validation(self, step: int, vals: dict[str, float]) -> None:
        if not (self.is_main and vals):
            return
        self._write({"step": step, **vals}, "valid")
        if self.bar is not None:
            self.bar.write(f"[{self.description}] step {step}: " + ", ".join(f"{k}={v:.4g}" for k, v in vals.items()))

    def _write(self, row: dict[str, Any], kind: str) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.writer is not None:
            for k, v in row.items():
                if k != "step":
                    self.writer.add_scalar(f"train/{k}" if kind == "train" else f"valid/{k[6:]}", v, row["step"])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()


def improves(value: float | None, best: float | None, metric: Metric) -> bool:
    """True when ``value`` beats ``best`` in ``metric``'s direction (any value beats no best yet)."""
    if value is None:
        return False
    if best is None:
        return True
    return value > best if metric.higher_is_better else value < best


@torch.no_grad()
def _validate(net: torch.nn.Module, data: StageData, cfg: TrainConfig, setup: _Setup) -> dict[str, float]:
    """Mean loss and stats over the validation set (or its first ``valid_batches`` batches), seeded."""
    if data.valid is None or len(data.valid) == 0:
        return {}
    net.eval()
    totals: dict[str, float] = {}
    count = 0
    vb = max(1, min(setup.batch // setup.world, len(data.valid)))
    starts = range(0, len(data.valid), vb)
    if cfg.valid_batches:
        starts = list(starts)[: cfg.valid_batches]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed + 17)
        for s in starts:
            items = [data.valid[i] for i in range(s, min(s + vb, len(data.valid)))]
            with setup.autocast:
                loss, stats = net(to_device(data.collate(items), setup.device))
            for k, v in {"loss": loss, **stats}.items():
                totals[k] = totals.get(k, 0.0) + float(v) * len(items)
            count += len(items)
    return {f"valid_{k}": v / count for k, v in totals.items()}


def _batches(data: StageData, cfg: TrainConfig, setup: _Setup, step: int, description: str) -> DataLoader:
    """This rank's micro-batches from ``step`` on, in an order that is a pure function of (seed, step)."""
    n = len(data.train)
    lengths = data.lengths
    if cfg.group_by_length > 0 and (lengths is None or len(lengths) != n):
        raise TrainerError(
            f"{description}: group_by_length={cfg.group_by_length} needs the stage data's lengths, one per training "
            f"example ({n}); got {'none' if lengths is None else len(lengths)}"
        )
    sampler = _Batches(n, setup.batch, cfg.grad_accum, setup.world, setup.rank, cfg.seed, step, cfg.max_steps,
                       lengths=lengths, group=cfg.group_by_length)
    return DataLoader(
        data.train,
        batch_sampler=sampler,
        collate_fn=data.collate,
        num_workers=cfg.num_workers,
        generator=torch.Generator(),  # keeps the global RNG untouched, so resume is exact
    )


def refuse_existing(out_dir: str | Path, resume: bool) -> Path | None:
    """The latest checkpoint of ``out_dir``, or None; a :class:`TrainerError` when there is one and ``resume``
    is off. The one check of both ``train`` and ``pipeline.train_stage``, made before anything is cleaned or written."""
    last = ckpt.latest(Path(out_dir) / "checkpoints")
    if last is not None and not resume:
        raise TrainerError(
            f"{out_dir} already holds a run (latest checkpoint {last.name}); pass resume to continue it "
            f"or choose another output folder - nothing was overwritten"
        )
    return last


def train(
    model: torch.nn.Module,
    data: StageData,
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    saved_config: dict[str, Any] | None = None,
    resume: bool = False,
    description: str = "train",
    best_metric: Metric | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` with ``cfg``; checkpoints and logs go to ``out_dir``.

    ``best_metric`` names the validation stat that keeps ``best/`` and its direction; by default
    ``cfg.best_metric`` in the direction ``cfg.best_mode`` ("min": lower is better, a loss).
    """
    out = Path(out_dir)
    ckpt_root = out / "checkpoints"
    saved_config = dict(saved_config or {})
    best = best_metric or Metric(cfg.best_metric, higher_is_better=cfg.best_mode == "max")

    # 1. Distributed set-up, device, precision.
    setup = _set_up(cfg, len(data.train), description)
    model.to(setup.device).train()
    raw_model = model
    if setup.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            raw_model, device_ids=[setup.device.index] if setup.device.type == "cuda" else None
        )

    # 2. Optimizer, schedule, EMA.
    params = [p for p in raw_model.parameters() if p.requires_grad]
    if not params:
        raise TrainerError(f"{description}: the model has no trainable parameters (an explicit model needs no training)")
    optim = torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_lambda(cfg))
    ema = copy.deepcopy(raw_model).eval().requires_grad_(False) if cfg.ema_decay > 0 else None
    export_net = ema if ema is not None else raw_model  # what best/ and final/ hold, and what validation runs

    # 3. Refuse to overwrite (before anything is cleaned), then clean what a killed run left, then resume.
    step, seconds, cpu_seconds, best_value = 0, 0.0, 0.0, None
    last = refuse_existing(out, resume)
    if setup.is_main:
        ckpt.clean_stale(ckpt_root)
        ckpt.clean_stale(out)
    if last is not None:
        state, record = ckpt.load_training_state(last, raw_model, ema)
        optim.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        step, seconds, best_value = record["step"], record["seconds"], record["best_value"]
        cpu_seconds = record.get("cpu_seconds", 0.0)  # absent in checkpoints written before it was recorded
    elif resume and setup.is_main:
        print(f"[{description}] nothing to resume in {ckpt_root}; starting from step 0")

    def export(folder: Path, metrics: dict[str, Any]) -> Path:
        record = {"steps": step, "seconds": round(clock.seconds, 3), "cpu_seconds": round(clock.cpu_seconds, 3),
                  "parameters": count_parameters(raw_model), **metrics}
        return ckpt.save_pretrained(folder, export_net, {**saved_config, "train": to_dict(cfg), "training": record})

    def save_checkpoint() -> None:
        if not setup.is_main:
            return
        if not _params_finite(raw_model):
            raise NonFiniteLossError(f"{description}: parameters became non-finite at step {step}; not checkpointing")
        state = {"optimizer": optim.state_dict(), "scheduler": sched.state_dict(), "rng": _rng_state()}
        record = {"step": step, "seconds": clock.seconds, "cpu_seconds": clock.cpu_seconds, "best_value": best_value}
        ckpt.save_training_state(ckpt_root, step, raw_model, ema, state, record,
                                 {**saved_config, "train": to_dict(cfg)}, cfg.keep_last)

    # 4. The loop: accumulate micro-batches, then one optimizer step, log, validate, checkpoint.
    log = _Log(out, cfg, setup.is_main, step, setup.batch, description)
    loader = _batches(data, cfg, setup, step, description)
    log.open_bar()
    flag = torch.ones(1, device=setup.device)
    clock = _Clock(seconds, cpu_seconds)
    micro = 0
    stopped_early = False
    for mb in loader:
        if setup.device.type != "cpu":  # collated batches are already on the CPU
            mb = to_device(mb, setup.device)
        last_micro = micro == cfg.grad_accum - 1
        with contextlib.nullcontext() if (setup.world == 1 or last_micro) else model.no_sync():
            with setup.autocast:
                loss, stats = model(mb)
            loss_value = float(loss.detach())  # one host read; math.isfinite on it is ~30x cheaper than torch.isfinite
            _check_finite_loss(loss_value, setup, flag, step, ckpt_root, cfg, description)
            (loss / cfg.grad_accum).backward()
        log.micro_batch(loss_value, stats)
        if not last_micro:
            micro += 1
            continue
        micro = 0
        _clip_gradients(params, cfg, step, ckpt_root, description)
        optim.step()
        optim.zero_grad(set_to_none=True)
        sched.step()
        if ema is not None:
            _update_ema(ema, raw_model, cfg.ema_decay)
        step += 1
        clock.tick()
        log.optimizer_step(step, sched.get_last_lr()[0], clock.seconds)
        out_of_time = clock.out_of_time(cfg)
        done = step >= cfg.max_steps or out_of_time
        if (cfg.valid_every and step % cfg.valid_every == 0) or done:
            vals = _validate(export_net, data, cfg, setup) if setup.is_main else {}
            raw_model.train()
            log.validation(step, vals)
            if improves(vals.get(best.name), best_value, best):
                best_value = vals[best.name]
                export(out / "best", {best.name: best_value})
            clock.restart()  # validation is not training time
        save_due = (cfg.save_every and step % cfg.save_every == 0) or done
        if save_due:
            save_checkpoint()
            clock.restart()  # checkpoint I/O is not training time
        if setup.world > 1 and save_due:
            dist.barrier()
        if out_of_time and step < cfg.max_steps:
            stopped_early = True
            break
    log.close()

    # 5. The final model folder.
    final = out / "final"
    if setup.is_main:
        if stopped_early:
            print(f"[{description}] stopped at step {step} after {clock.seconds:.1f} s wall / {clock.cpu_seconds:.1f} s "
                  f"CPU (max_seconds={cfg.max_seconds}, max_cpu_seconds={cfg.max_cpu_seconds})")
        export(final, {"stopped_early": stopped_early})
    if setup.world > 1:
        dist.barrier()
    if setup.owns_group:
        dist.destroy_process_group()
    return TrainResult(
        steps=step,
        seconds=clock.seconds,
        cpu_seconds=clock.cpu_seconds,
        parameters=count_parameters(raw_model),
        final_dir=final,
        best_dir=(out / "best") if (out / "best").exists() else None,
        best_value=best_value,
        history=log.path,
    )
