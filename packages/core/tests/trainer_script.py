"""A small, deterministic training run for the trainer's tests (run as a subprocess, or under torchrun).

    python trainer_script.py OUT --max-steps 40 --save-every 5 [--resume] [--sleep 0.02] [--width 64]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from regen_core.config import TrainConfig
from regen_core.contract import StageData
from regen_core.trainer import train


class Regressor(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, width), nn.GELU(), nn.Dropout(dropout), nn.Linear(width, 1))

    def forward(self, batch):
        pred = self.net(batch["x"]).squeeze(-1)  # (B,)
        loss = ((pred - batch["y"]) ** 2).mean()
        return loss, {"mae": float((pred.detach() - batch["y"]).abs().mean())}


def make_data(n: int, nan_at: int = -1):
    g = torch.Generator().manual_seed(123)
    x = torch.randn(n, 8, generator=g)
    y = x[:, 0] * 2 - x[:, 1] + 0.1 * torch.randn(n, generator=g)
    if nan_at >= 0:
        y[nan_at] = float("nan")
    return [{"x": x[i], "y": y[i]} for i in range(n)]


def collate_with_sleep(sleep: float):
    def collate(items):
        if sleep:
            time.sleep(sleep)
        return {"x": torch.stack([it["x"] for it in items]), "y": torch.stack([it["y"] for it in items])}

    return collate


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--max-steps", type=int, default=40)
    p.add_argument("--save-every", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--ema", type=float, default=0.0)
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--nan-at", type=int, default=-1)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--resume", action="store_true")
    a = p.parse_args(argv)
    torch.manual_seed(0)
    model = Regressor(a.width, a.dropout)
    data = make_data(a.n, a.nan_at)
    cfg = TrainConfig(
        seed=0, max_steps=a.max_steps, batch_size=a.batch_size, grad_accum=a.grad_accum, lr=1e-2,
        warmup_steps=3, save_every=a.save_every, valid_every=10, keep_last=2, ema_decay=a.ema,
        progress=False, tensorboard=False, device="cpu", log_every=5,
    )
    return train(model, StageData(data, data[:16], collate_with_sleep(a.sleep)), cfg, a.out, resume=a.resume,
                 saved_config={"test": True})


if __name__ == "__main__":
    main()
