"""Regenerate Y' -> Y: a neural renderer, face coefficients -> frames, trained on video alone.

Its training pairs are (Y' fitted from a frame by the extractor, that frame): no speech and no
true coefficients, so any face video can train it (self-supervised, the regeneration-learning
step). :class:`FrameDecoder` (a vector -> 4x4 feature map -> nearest-neighbour upsampling conv
stages with coordinate channels -> a sigmoid grey frame) is shared with the direct baseline, so
both sides draw frames with the same decoder shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .face import N_COEFF, N_ID


class FrameDecoder(nn.Module):
    """(N, in_dim) -> (N, size, size) in [0, 1]."""

    def __init__(self, in_dim: int, channels: tuple[int, ...], size: int):
        super().__init__()
        stages = int(round(np.log2(size / 4)))
        if 4 * 2**stages != size:
            raise ValueError(f"frame size {size} is not 4 * 2^k")
        if len(channels) < stages + 1:
            raise ValueError(f"render_channels {channels} needs {stages + 1} widths for {size}x{size} frames (4x4 -> {size})")
        ch = tuple(channels[: stages + 1])
        self.c0 = ch[0]
        self.fc = nn.Sequential(nn.Linear(in_dim, 128), nn.GELU(), nn.Linear(128, ch[0] * 16))
        self.blocks = nn.ModuleList()
        for cin, cout in zip(ch[:-1], ch[1:]):
            self.blocks.append(nn.ModuleList([nn.Conv2d(cin + 2, cout, 3, padding=1), nn.GroupNorm(max(1, cout // 8), cout),
                                              nn.Conv2d(cout, cout, 3, padding=1)]))
        self.out = nn.Conv2d(ch[-1], 1, 1)

    @staticmethod
    def _coords(x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        yy = torch.linspace(-1, 1, h, device=x.device).view(1, 1, h, 1).expand(n, 1, h, w)
        xx = torch.linspace(-1, 1, w, device=x.device).view(1, 1, 1, w).expand(n, 1, h, w)
        return torch.cat([x, yy, xx], 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(-1, self.c0, 4, 4)
        for conv1, norm, conv2 in self.blocks:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = F.gelu(conv2(F.gelu(norm(conv1(self._coords(x))))))
        return torch.sigmoid(self.out(x))[:, 0]  # (N, size, size)


def pixel_loss(pred: torch.Tensor, target: torch.Tensor, edge_weight: float) -> torch.Tensor:
    """L1 on the frames plus ``edge_weight`` x L1 on their horizontal and vertical differences
    (the small dark features, eyes, brows, mouth, carry most of the edges). Both sides use it."""
    loss = (pred - target).abs().mean()
    if edge_weight > 0:
        dx = (pred.diff(dim=-1) - target.diff(dim=-1)).abs().mean()
        dy = (pred.diff(dim=-2) - target.diff(dim=-2)).abs().mean()
        loss = loss + edge_weight * (dx + dy)
    return loss


# Y' columns are scaled to about unit range before the decoder (identity z-scores, then coefficients).
Y_PRIME_SCALE = torch.tensor([0.5] * N_ID + [1.0, 1.0, 1.0, 1.0, 4.0, 4.0, 4.0, 8.0, 8.0])


class NeuralRenderer(nn.Module):
    """Y' (T, 14) -> frames (T, size, size); trained on (fitted Y', frame) pairs with :func:`pixel_loss`."""

    stochastic = False  # one frame per coefficient vector

    def __init__(self, cfg: Any):
        super().__init__()
        self.decoder = FrameDecoder(N_ID + N_COEFF, tuple(cfg.render_channels), cfg.size)
        self.edge_weight = cfg.edge_weight
        self.register_buffer("scale", Y_PRIME_SCALE.clone(), persistent=False)

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        pred = self.decoder(batch["y_prime"] * self.scale)  # (B, H, W)
        target = batch["frame"]
        loss = pixel_loss(pred, target, self.edge_weight)
        return loss, {"mse": float(((pred.detach() - target) ** 2).mean())}

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        """Y' (T, 14) -> (T, size, size) float32 frames in [0, 1] (deterministic)."""
        was = self.training
        self.eval()
        yp = torch.as_tensor(np.asarray(condition, dtype=np.float32))
        if yp.ndim != 2 or yp.shape[1] != N_ID + N_COEFF:
            raise ValueError(f"the renderer expects Y' of shape (T, {N_ID + N_COEFF}), got {tuple(yp.shape)}")
        out = torch.cat([self.decoder(yp[i : i + 256] * self.scale) for i in range(0, len(yp), 256)])
        self.train(was)
        return out.numpy().astype(np.float32)
