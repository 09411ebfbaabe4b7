"""X -> Y': the generators, one per Y' choice.

- KL latents: class-conditional **latent diffusion** (:class:`~regen_image.diffusion.ClassDiffusion`
  on (c, 8, 8) latents, normalised by their own statistics).
- VQ tokens: a **masked-token prior** (MaskGIT-style): a bidirectional transformer trained to
  predict masked tokens given the class, decoded in a few parallel iterations, most confident first.
- Down-sampled image: **low-resolution diffusion** (ClassDiffusion on (C, 8, 8) pixels).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import ImageConfig
from .data import class_index
from .diffusion import ClassDiffusion, seeded_generator


def diffusion_for(cfg: ImageConfig, shape: tuple[int, int, int], key: str, scaling: str) -> ClassDiffusion:
    """A ClassDiffusion with the config's UNet and sampler settings (shared by every diffusion model)."""
    return ClassDiffusion(
        shape, cfg.num_classes, key=key, widths=cfg.unet_channels, layers=cfg.unet_layers,
        train_timesteps=cfg.train_timesteps, sample_steps=cfg.sample_steps, guidance=cfg.guidance,
        cond_drop=cfg.cond_drop, scaling=scaling,
    )


class MaskedTokenPrior(nn.Module):
    """p(tokens | class) with a MaskGIT-style masked transformer over the (h, w) token grid."""

    stochastic = True

    def __init__(self, cfg: ImageConfig, grid: tuple[int, int]):
        super().__init__()
        self.codes, self.num_classes, self.grid = cfg.vq_codes, cfg.num_classes, tuple(grid)
        self.length = grid[0] * grid[1]
        self.iterations, self.guidance, self.cond_drop = cfg.prior_steps, cfg.guidance, cfg.cond_drop
        d = cfg.prior_dim
        self.token = nn.Embedding(cfg.vq_codes + 1, d)  # +1: the [MASK] token (index = codes)
        self.label = nn.Embedding(cfg.num_classes + 1, d)  # +1: the null class (guidance)
        self.position = nn.Parameter(torch.randn(1, self.length + 1, d) * 0.02)  # (1, 1 + L, d)
        layer = nn.TransformerEncoderLayer(d, cfg.prior_heads, 4 * d, dropout=0.1, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, cfg.prior_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.vq_codes)

    def logits(self, tokens: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """tokens (B, L) with [MASK] = codes, labels (B,) -> (B, L, codes)."""
        h = torch.cat([self.label(labels)[:, None], self.token(tokens)], dim=1) + self.position  # (B, 1 + L, d)
        h = self.norm(self.transformer(h))
        return self.head(h[:, 1:])  # (B, L, codes)

    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        tokens = batch["y_prime"].long().flatten(1)  # (B, L)
        labels = batch["label"].long()  # (B,)
        b, length = tokens.shape
        if self.training and self.cond_drop > 0:
            drop = torch.rand(b, device=tokens.device) < self.cond_drop
            labels = torch.where(drop, torch.full_like(labels, self.num_classes), labels)
        # Mask a cosine-scheduled fraction of positions per example (at least one).
        ratio = torch.cos(0.5 * math.pi * torch.rand(b, device=tokens.device))  # (B,)
        n_mask = (ratio * length).ceil().clamp(1, length)  # (B,)
        ranks = torch.rand(b, length, device=tokens.device).argsort(dim=1).argsort(dim=1)  # (B, L) random ranks
        mask = ranks < n_mask[:, None]  # (B, L)
        inputs = torch.where(mask, torch.full_like(tokens, self.codes), tokens)
        logits = self.logits(inputs, labels)  # (B, L, codes)
        loss = F.cross_entropy(logits[mask], tokens[mask])
        acc = (logits[mask].argmax(-1) == tokens[mask]).float().mean()
        return loss, {"ce": float(loss.detach()), "masked_acc": float(acc)}

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def sample_batch(self, labels: torch.Tensor, *, seed: int | None = None, temperature: float = 1.0,
                     guidance: float | None = None) -> torch.Tensor:
        """labels (B,) -> tokens (B, h, w): parallel decoding, keeping the most confident tokens each round."""
        device = self._device()
        g = seeded_generator(seed)
        labels = labels.long().to(device)
        b, length = labels.shape[0], self.length
        guidance = self.guidance if guidance is None else guidance
        tokens = torch.full((b, length), self.codes, dtype=torch.long, device=device)  # all [MASK]
        null = torch.full_like(labels, self.num_classes)
        for it in range(self.iterations):
            masked = tokens == self.codes  # (B, L)
            if guidance == 1.0:
                logits = self.logits(tokens, labels)
            else:
                both = self.logits(torch.cat([tokens, tokens]), torch.cat([labels, null]))
                cond, uncond = both.chunk(2)
                logits = uncond + guidance * (cond - uncond)  # (B, L, codes)
            if temperature > 0:
                probs = F.softmax(logits / temperature, dim=-1)
                u = torch.rand(probs.shape[:2], generator=g).to(device)[..., None]  # inverse-CDF sampling
                choice = (probs.cumsum(-1) < u).sum(-1).clamp(max=self.codes - 1)  # (B, L)
            else:
                probs = F.softmax(logits, dim=-1)
                choice = probs.argmax(-1)
            confidence = probs.gather(-1, choice[..., None])[..., 0].clamp_min(1e-12).log()  # (B, L)
            # Randomised ranking: confidence plus annealed Gumbel noise (MaskGIT's choice temperature).
            anneal = temperature * (1 - (it + 1) / self.iterations)
            gumbel = -torch.log(-torch.log(torch.rand(b, length, generator=g).clamp(1e-9, 1 - 1e-9))).to(device)
            confidence = torch.where(masked, confidence + anneal * gumbel, torch.full_like(confidence, float("inf")))
            keep_masked = int(math.floor(length * math.cos(0.5 * math.pi * (it + 1) / self.iterations)))
            tokens = torch.where(masked, choice, tokens)
            if keep_masked > 0:
                lowest = confidence.argsort(dim=1)[:, :keep_masked]  # (B, keep_masked) least confident
                tokens.scatter_(1, lowest, self.codes)
        return tokens.view(b, *self.grid)

    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        """One class -> one token grid (h, w) int64."""
        c = class_index(condition, self.num_classes)
        return self.sample_batch(torch.tensor([c]), seed=seed, temperature=temperature)[0].cpu().numpy()


def build_generator(cfg: ImageConfig, extractor: Any, stats_images: torch.Tensor | None = None) -> nn.Module:
    """The X -> Y' model for the extractor's kind of Y'.

    For KL latents, ``stats_images`` (N, C, H, W) - a sample of training images - fix the latent
    normalisation (per-channel mean/std of their Y').
    """
    shape = extractor.y_prime_shape
    if extractor.kind == "kl":
        model = diffusion_for(cfg, shape, key="y_prime", scaling="stats")
        if stats_images is not None:
            with torch.no_grad():
                model.set_stats(extractor.eval().extract_batch(stats_images).cpu())
        return model
    if extractor.kind == "vq":
        return MaskedTokenPrior(cfg, shape)
    if extractor.kind == "down":
        return diffusion_for(cfg, shape, key="y_prime", scaling="unit")
    raise ValueError(f"unknown extractor kind {extractor.kind!r}")
