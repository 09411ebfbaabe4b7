"""Y' -> Y: the regenerators.

- KL / VQ: the autoencoder's own decoder (:class:`AutoencoderDecoder`), trained in the extract
  stage on Y alone and frozen, so the regenerate stage has nothing left to train.
- Down-sampling: :class:`SuperResolution`, a small residual CNN trained on (extract(Y), Y) pairs
  (self-supervised: it needs only images).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import ImageConfig


def _as_batch(y_prime: Any) -> torch.Tensor:
    t = y_prime if isinstance(y_prime, torch.Tensor) else torch.from_numpy(np.asarray(y_prime))
    return t[None]


class AutoencoderDecoder(nn.Module):
    """The frozen decoder of a (KL or VQ) autoencoder extractor: deterministic Y' -> Y."""

    stochastic = False

    def __init__(self, extractor: nn.Module):
        super().__init__()
        self.autoencoder = copy.deepcopy(extractor).eval().requires_grad_(False)

    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """Reconstruction L1 of the decoder (nothing to train: reported for validation only)."""
        rec = self.autoencoder.decode_batch(batch["y_prime"])
        l1 = (rec - batch["image"].float().to(rec.device)).abs().mean()
        return l1, {"l1": float(l1)}

    def decode_batch(self, y_prime: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.decode_batch(y_prime)

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        """One Y' (latents (c, h, w) or tokens (h, w)) -> one image (C, H, W) in [0, 1]."""
        return self.decode_batch(_as_batch(condition))[0].cpu().numpy().astype(np.float32)


class _Residual(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.GroupNorm(8, width), nn.SiLU(),
                                  nn.Conv2d(width, width, 3, padding=1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.body(h)


class SuperResolution(nn.Module):
    """(C, s, s) -> (C, s*f, s*f): bilinear up-sampling plus a learned residual.

    Convolutions at the low resolution, then 2x pixel-shuffle stages with residual blocks,
    trained with L1 against the real image.
    """

    stochastic = False

    def __init__(self, cfg: ImageConfig):
        super().__init__()
        f = cfg.down_factor
        if f & (f - 1):
            raise ValueError(f"super-resolution needs a power-of-two down_factor, got {f}")
        w, c = cfg.sr_channels, cfg.channels
        self.factor = f
        layers: list[nn.Module] = [nn.Conv2d(c, w, 3, padding=1)]
        layers += [_Residual(w) for _ in range(cfg.sr_blocks)]
        for _ in range(int(np.log2(f))):
            layers += [nn.Conv2d(w, 4 * w, 3, padding=1), nn.PixelShuffle(2), nn.SiLU()]
            layers += [_Residual(w) for _ in range(cfg.sr_blocks)]
        layers += [nn.Conv2d(w, c, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def upsample(self, low: torch.Tensor) -> torch.Tensor:
        """(B, C, s, s) in [0, 1] -> (B, C, s*f, s*f) in [0, 1]."""
        base = F.interpolate(low, scale_factor=self.factor, mode="bilinear", align_corners=False)
        return (base + self.net(low * 2 - 1)).clamp(0, 1)

    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        pred = self.upsample(batch["y_prime"].float())  # (B, C, H, W)
        l1 = (pred - batch["image"].float()).abs().mean()
        return l1, {"l1": float(l1.detach())}

    def decode_batch(self, y_prime: torch.Tensor) -> torch.Tensor:
        return self.upsample(y_prime.float().to(next(self.parameters()).device))

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        """One low-resolution image (C, s, s) -> one image (C, H, W) in [0, 1]."""
        return self.decode_batch(_as_batch(condition))[0].cpu().numpy().astype(np.float32)


def build_regenerator(cfg: ImageConfig, extractor: Any) -> nn.Module:
    if extractor.kind in ("kl", "vq"):
        return AutoencoderDecoder(extractor)
    return SuperResolution(cfg)
