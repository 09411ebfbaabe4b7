"""Batched sampling of either side, for grids, benchmarks and throughput (images/s)."""

from __future__ import annotations

import time
from typing import Any

import torch


@torch.no_grad()
def sample_images(models: dict[str, Any], side: str, labels: torch.Tensor, *, seed: int = 0,
                  temperature: float = 1.0, batch: int = 128) -> tuple[torch.Tensor, float]:
    """labels (N,) -> (images (N, C, H, W) in [0, 1], wall seconds); chunk i uses seed + i."""
    if side not in ("regeneration", "direct"):
        raise ValueError(f"side must be 'regeneration' or 'direct', got {side!r}")
    if side == "direct" and "direct" not in models:
        raise ValueError("this run has no trained direct baseline")
    out = []
    t0 = time.perf_counter()
    for i, s in enumerate(range(0, len(labels), batch)):
        chunk = labels[s : s + batch]
        if side == "regeneration":
            y_prime = models["generate"].sample_batch(chunk, seed=seed + i, temperature=temperature)
            images = models["regenerate"].decode_batch(y_prime)
        else:
            images = models["direct"].sample_batch(chunk, seed=seed + i, temperature=temperature)
        out.append(images.float().cpu())
    return torch.cat(out), time.perf_counter() - t0
