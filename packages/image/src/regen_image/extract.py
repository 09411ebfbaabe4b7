"""Y -> Y': three extractors, picked by ``pairing.y_prime``.

- :class:`KLAutoencoder` (learned): a KL-regularised autoencoder (diffusers ``AutoencoderKL``);
  Y' = the posterior mean, (latent_channels, 8, 8) for 32x32 images.
- :class:`VQAutoencoder` (learned): a VQ autoencoder (diffusers ``VQModel``); Y' = the codebook
  indices, (8, 8) int64. Unused codes are re-seeded from encoder outputs during training.
- :class:`DownSampler` (explicit): average pooling by ``down_factor``; Y' = (C, 8, 8) in [0, 1].

Learned extractors are trained in the ``extract`` stage and then frozen; their decoders are the
regenerators (see :mod:`regen_image.regenerate`). Every extractor offers ``extract(y)`` for one
image and ``extract_batch(images)`` for (B, C, H, W) tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, VQModel
from torch import nn

from .config import AE_LOSSES, ImageConfig
from .data import to_image


def _blocks(cfg: ImageConfig) -> dict[str, Any]:
    n = len(cfg.ae_channels)
    if cfg.image_size % (2 ** (n - 1)):
        raise ValueError(f"image_size={cfg.image_size} must divide by 2^(len(ae_channels)-1) = {2 ** (n - 1)}")
    return dict(
        in_channels=cfg.channels,
        out_channels=cfg.channels,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(cfg.ae_channels),
        layers_per_block=1,
        latent_channels=cfg.latent_channels,
        norm_num_groups=8 if all(c % 8 == 0 for c in cfg.ae_channels) else 1,
        sample_size=cfg.image_size,
    )


def _check_loss(cfg: ImageConfig) -> None:
    if cfg.ae_loss not in AE_LOSSES:
        raise ValueError(f"pairing.ae_loss must be one of {AE_LOSSES}, got {cfg.ae_loss!r}")


def reconstruction_loss(kind: str, rec: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean L1 or squared error between reconstructions and targets (both in [-1, 1]).

    On sparse images such as digits (~85% background) L1's gradient has the same size for every
    pixel, so a decoder that outputs the background everywhere sits in a flat plateau (loss ~0.2)
    for a few hundred steps before the strokes appear; squared error weights the large errors on the
    strokes and gets out within tens of steps.
    """
    if kind == "l1":
        return (rec - y).abs().mean()
    if kind == "mse":
        return F.mse_loss(rec, y)
    raise ValueError(f"pairing.ae_loss must be one of {AE_LOSSES}, got {kind!r}")


def latent_size(cfg: ImageConfig) -> int:
    return cfg.image_size // 2 ** (len(cfg.ae_channels) - 1)


class _ImageExtractor(nn.Module):
    """Shared: one-image ``extract`` on top of a batched ``extract_batch``."""

    def __init__(self, cfg: ImageConfig):
        super().__init__()
        self.channels, self.image_size = cfg.channels, cfg.image_size

    def _device(self) -> torch.device:
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def extract_batch(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def extract(self, y: Any) -> np.ndarray:
        """One image (any common layout) -> its Y' as a numpy array."""
        img = torch.from_numpy(to_image(y, channels=self.channels, size=self.image_size, where="extract(y)"))
        return self.extract_batch(img[None])[0].cpu().numpy()


class KLAutoencoder(_ImageExtractor):
    """Analysis-by-synthesis: encoder -> diagonal Gaussian latent -> decoder, L1 or MSE + weighted KL."""

    kind = "kl"

    def __init__(self, cfg: ImageConfig):
        super().__init__(cfg)
        self.kl_weight, self.loss_kind = cfg.kl_weight, cfg.ae_loss
        _check_loss(cfg)
        self.vae = AutoencoderKL(**_blocks(cfg), mid_block_add_attention=False)
        self.y_prime_shape = (cfg.latent_channels, latent_size(cfg), latent_size(cfg))

    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        y = batch["image"].float() * 2 - 1  # (B, C, H, W) in [-1, 1]
        post = self.vae.encode(y).latent_dist
        z = post.sample() if self.training else post.mode()  # (B, c, h, w)
        rec = self.vae.decode(z).sample  # (B, C, H, W)
        l1 = (rec - y).abs().mean()
        kl = post.kl().mean() / z[0].numel()  # per latent element
        loss = reconstruction_loss(self.loss_kind, rec, y) + self.kl_weight * kl
        return loss, {"l1": float(l1.detach()), "kl": float(kl.detach())}

    @torch.no_grad()
    def extract_batch(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> posterior means (B, c, h, w)."""
        y = images.float().to(self._device()) * 2 - 1
        return self.vae.encode(y).latent_dist.mode()

    @torch.no_grad()
    def decode_batch(self, y_prime: torch.Tensor) -> torch.Tensor:
        """(B, c, h, w) latents -> (B, C, H, W) images in [0, 1]."""
        rec = self.vae.decode(y_prime.float().to(self._device())).sample
        return ((rec + 1) / 2).clamp(0, 1)


class VQAutoencoder(_ImageExtractor):
    """Encoder -> nearest codebook vector -> decoder; L1 or MSE + codebook/commitment loss."""

    kind = "vq"

    def __init__(self, cfg: ImageConfig):
        super().__init__(cfg)
        self.codes, self.restart_every, self.loss_kind = cfg.vq_codes, cfg.vq_restart_every, cfg.ae_loss
        _check_loss(cfg)
        self.vq = VQModel(**_blocks(cfg), num_vq_embeddings=cfg.vq_codes, vq_embed_dim=cfg.latent_channels,
                          mid_block_add_attention=False)
        self.y_prime_shape = (latent_size(cfg), latent_size(cfg))
        self.register_buffer("usage", torch.full((cfg.vq_codes,), 1.0 / cfg.vq_codes))  # (K,) EMA of code use
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))  # training forwards so far

    def _quantise(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, D, h, w) encoder outputs -> (quantised (B, D, h, w), codebook loss, indices (B, h, w))."""
        quant, qloss, (_, _, idx) = self.vq.quantize(h)
        return quant, qloss, idx.reshape(h.shape[0], h.shape[2], h.shape[3])

    @torch.no_grad()
    def _restart_dead_codes(self, h: torch.Tensor, idx: torch.Tensor) -> int:
        counts = torch.bincount(idx.flatten(), minlength=self.codes).float()  # (K,)
        self.usage.mul_(0.9).add_(0.1 * counts / counts.sum())
        self.steps.add_(1)
        if not self.restart_every or int(self.steps) % self.restart_every:
            return 0
        dead = torch.nonzero(self.usage < 0.03 / self.codes).flatten()
        if len(dead) == 0:
            return 0
        vectors = h.permute(0, 2, 3, 1).reshape(-1, h.shape[1])  # (B*h*w, D)
        pick = torch.randint(0, vectors.shape[0], (len(dead),), device=h.device)
        self.vq.quantize.embedding.weight.data[dead] = vectors[pick] + 0.01 * torch.randn_like(vectors[pick])
        self.usage[dead] = 1.0 / self.codes
        return len(dead)

    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        y = batch["image"].float() * 2 - 1  # (B, C, H, W)
        h = self.vq.encode(y).latents  # (B, D, h, w)
        quant, qloss, idx = self._quantise(h)
        rec = self.vq.decode(quant, force_not_quantize=True).sample  # (B, C, H, W)
        l1 = (rec - y).abs().mean()
        restarted = self._restart_dead_codes(h.detach(), idx) if self.training else 0
        used = int(torch.unique(idx).numel())
        return reconstruction_loss(self.loss_kind, rec, y) + qloss, {"l1": float(l1.detach()), "vq": float(qloss.detach()), "codes_used": float(used),
                            "restarted": float(restarted)}

    @torch.no_grad()
    def extract_batch(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> token indices (B, h, w) int64."""
        y = images.float().to(self._device()) * 2 - 1
        return self._quantise(self.vq.encode(y).latents)[2].long()

    @torch.no_grad()
    def decode_batch(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, h, w) token indices -> (B, C, H, W) images in [0, 1]."""
        tokens = tokens.long().to(self._device())
        if tokens.min() < 0 or tokens.max() >= self.codes:
            raise ValueError(f"VQ tokens must lie in 0..{self.codes - 1}, got [{int(tokens.min())}, {int(tokens.max())}]")
        b, h, w = tokens.shape
        quant = self.vq.quantize.get_codebook_entry(tokens.flatten(), (b, h, w, self.vq.quantize.vq_embed_dim))
        rec = self.vq.decode(quant, force_not_quantize=True).sample
        return ((rec + 1) / 2).clamp(0, 1)


class DownSampler(_ImageExtractor):
    """Explicit Y': average pooling by ``factor`` (no parameters, nothing to train)."""

    kind = "down"

    def __init__(self, cfg: ImageConfig):
        super().__init__(cfg)
        if cfg.image_size % cfg.down_factor:
            raise ValueError(f"image_size={cfg.image_size} must divide by down_factor={cfg.down_factor}")
        self.factor = cfg.down_factor
        s = cfg.image_size // cfg.down_factor
        self.y_prime_shape = (cfg.channels, s, s)

    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """Nothing to learn; reports how much detail the pooling loses (L1 of nearest up-sampling)."""
        y = batch["image"].float()
        up = F.interpolate(self.extract_batch(y), scale_factor=self.factor, mode="nearest")
        l1 = (up - y).abs().mean()
        return l1, {"l1": float(l1)}

    @torch.no_grad()
    def extract_batch(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H/f, W/f)."""
        return F.avg_pool2d(images.float(), self.factor)


def build_extractor(cfg: ImageConfig) -> _ImageExtractor:
    if cfg.y_prime == "kl":
        return KLAutoencoder(cfg)
    if cfg.y_prime == "vq":
        return VQAutoencoder(cfg)
    if cfg.y_prime == "down":
        return DownSampler(cfg)
    raise ValueError(f"pairing.y_prime must be 'kl', 'vq' or 'down', got {cfg.y_prime!r}")
