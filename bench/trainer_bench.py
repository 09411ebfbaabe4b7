"""Benchmark: the shared trainer's step time against a bare PyTorch loop.

Same model, data, seed, optimizer (AdamW), schedule (warm-up + cosine), clipping and batch
size on CPU. The bare loop is what one would write by hand: DataLoader, forward, backward,
clip, step. The trainer runs with its defaults (finite-loss check, tqdm bar, JSONL and
TensorBoard logging every 10 steps); checkpoints only at the end, excluded from step time
(the trainer does not count checkpoint I/O as training time; its total wall time is reported
too). Trials alternate between the two and the median is taken.

    python bench/trainer_bench.py --out bench/results/trainer.json [--steps 300] [--trials 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from regen_core.config import TrainConfig
from regen_core.contract import StageData
from regen_core.trainer import lr_lambda, train


class MLP(nn.Module):
    def __init__(self, d_in: int, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, width), nn.GELU(), nn.Linear(width, width), nn.GELU(), nn.Linear(width, 1))

    def forward(self, batch):
        pred = self.net(batch["x"]).squeeze(-1)  # (B,)
        loss = ((pred - batch["y"]) ** 2).mean()
        return loss, {}


def make_data(n: int, d: int):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g)
    y = torch.sin(x[:, 0]) + 0.1 * torch.randn(n, generator=g)
    return [{"x": x[i], "y": y[i]} for i in range(n)]


def collate(items):
    return {"x": torch.stack([it["x"] for it in items]), "y": torch.stack([it["y"] for it in items])}


def bare_loop(cfg: TrainConfig, data, d: int, width: int) -> tuple[float, float]:
    torch.manual_seed(cfg.seed)
    model = MLP(d, width)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    g = torch.Generator().manual_seed(cfg.seed)
    loader = torch.utils.data.DataLoader(data, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                                         collate_fn=collate, generator=g)
    step = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while step < cfg.max_steps:
        for batch in loader:
            loss, _ = model(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
            opt.step()
            opt.zero_grad(set_to_none=True)
            sched.step()
            step += 1
            if step >= cfg.max_steps:
                break
    return time.perf_counter() - t0, time.process_time() - c0


def trainer_loop(cfg: TrainConfig, data, d: int, width: int, out: Path) -> tuple[float, float, float]:
    """(training wall seconds, training CPU seconds, total wall seconds incl. set-up and checkpoint)."""
    torch.manual_seed(cfg.seed)
    model = MLP(d, width)
    t0 = time.perf_counter()
    res = train(model, StageData(data, None, collate), cfg, out, description="bench")
    return res.seconds, res.cpu_seconds, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="bench/results/trainer.json")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--trials", type=int, default=7)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=64)
    a = p.parse_args()
    d = 64
    data = make_data(4096, d)
    cfg = TrainConfig(seed=0, max_steps=a.steps, batch_size=a.batch_size, lr=1e-3, warmup_steps=10, clip_grad=1.0,
                      device="cpu", log_every=10, progress=True, tensorboard=True)
    bare, bare_cpu, trainer, trainer_cpu, trainer_wall = [], [], [], [], []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        bare_loop(cfg, data, d, a.width)  # warm-up (allocator, threads)
        for t in range(a.trials):
            first_bare = t % 2 == 0  # alternate the order, so drifting load hits both sides alike
            for side in ("bare", "trainer") if first_bare else ("trainer", "bare"):
                if side == "bare":
                    w, c = bare_loop(cfg, data, d, a.width)
                    bare.append(w)
                    bare_cpu.append(c)
                else:
                    w, c, total = trainer_loop(cfg, data, d, a.width, Path(tmp) / f"t{t}")
                    trainer.append(w)
                    trainer_cpu.append(c)
                    trainer_wall.append(total)
    b, tr = statistics.median(bare), statistics.median(trainer)
    bc, tc = statistics.median(bare_cpu), statistics.median(trainer_cpu)
    result = {
        "what": "median seconds per optimizer step, shared trainer vs bare PyTorch loop, same model/data/seed",
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "model": f"MLP {d}->{a.width}->{a.width}->1 ({sum(p.numel() for p in MLP(d, a.width).parameters())} parameters)",
        "batch_size": a.batch_size,
        "steps": a.steps,
        "trials": a.trials,
        "bare_step_ms": 1000 * b / a.steps,
        "trainer_step_ms": 1000 * tr / a.steps,
        "ratio": tr / b,
        "bare_step_cpu_ms": 1000 * bc / a.steps,
        "trainer_step_cpu_ms": 1000 * tc / a.steps,
        "cpu_ratio": tc / bc,
        "target_ratio": 1.05,
        "meets_target": tr / b <= 1.05,
        "meets_target_cpu": tc / bc <= 1.05,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "trainer_total_wall_s_median": statistics.median(trainer_wall),
        "bare_seconds_per_trial": bare,
        "trainer_seconds_per_trial": trainer,
        "bare_cpu_seconds_per_trial": bare_cpu,
        "trainer_cpu_seconds_per_trial": trainer_cpu,
        "note": ("trainer step time excludes checkpoint I/O (written once at the end) and includes its logging and "
                 "checks; CPU time is process time (all threads: tqdm, TensorBoard writer), less sensitive than wall "
                 "time to other jobs on a shared machine; 'ratio' / 'meets_target' are wall time"),
    }
    assert all(math.isfinite(v) for v in bare + trainer + bare_cpu + trainer_cpu)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"bare loop {result['bare_step_ms']:.3f} ms/step, trainer {result['trainer_step_ms']:.3f} ms/step, "
          f"wall ratio {result['ratio']:.3f}, CPU-time ratio {result['cpu_ratio']:.3f} (target <= 1.05; load "
          f"{load_before[0]:.1f} -> {result['load_average_after'][0]:.1f}) -> {out}")


if __name__ == "__main__":
    main()
