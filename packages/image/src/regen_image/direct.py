"""X -> Y directly: class-conditional diffusion in pixel space, the baseline regeneration must beat.

It is the same :class:`~regen_image.diffusion.ClassDiffusion` as the latent and low-resolution
generators, with the same UNet widths, sampler and guidance; only the tensor it models differs:
(C, 32, 32) pixels instead of (c, 8, 8) latents, so each step costs ~16x the activations.
"""

from __future__ import annotations

from .config import ImageConfig
from .diffusion import ClassDiffusion
from .generate import diffusion_for


def build_direct(cfg: ImageConfig) -> ClassDiffusion:
    return diffusion_for(cfg, (cfg.channels, cfg.image_size, cfg.image_size), key="image", scaling="unit")
