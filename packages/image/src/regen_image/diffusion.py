"""Class-conditional diffusion on a fixed-shape tensor (diffusers' UNet2DModel + DDPM/DDIM).

One class serves three roles, so the comparison is like for like:
latent diffusion (X -> KL latents), low-resolution diffusion (X -> 8x8 image) and the direct
baseline (X -> 32x32 image). Training is DDPM (v-prediction, cosine schedule, random timesteps); the class
is dropped with probability ``cond_drop`` (the null class ``num_classes``) so sampling can use
classifier-free guidance. Sampling is deterministic DDIM (eta = 0) from seeded noise scaled by the
temperature (temperature 0 starts from zero noise: the mode-seeking path).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
from torch import nn

from .data import class_index


def tiny_unet(channels_in: int, size: int, widths: Sequence[int], layers: int, num_class_embeds: int) -> UNet2DModel:
    """A small UNet: plain ResNet blocks, self-attention only at the lowest resolution."""
    n = len(widths)
    if size % (2 ** (n - 1)):
        raise ValueError(f"a UNet with {n} levels needs a size divisible by {2 ** (n - 1)}, got {size}")
    groups = 8 if all(w % 8 == 0 for w in widths) else 1
    return UNet2DModel(
        sample_size=size,
        in_channels=channels_in,
        out_channels=channels_in,
        block_out_channels=tuple(widths),
        layers_per_block=layers,
        down_block_types=("DownBlock2D",) * (n - 1) + ("AttnDownBlock2D",),
        up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (n - 1),
        norm_num_groups=groups,
        attention_head_dim=max(8, widths[-1] // 4),
        num_class_embeds=num_class_embeds,
    )


def seeded_generator(seed: int | None) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**31 - 1, ()).item()))
    return g


class ClassDiffusion(nn.Module):
    """p(target | class) by DDPM training and DDIM sampling with classifier-free guidance.

    ``scaling`` says how the target is normalised for the UNet: ``"unit"`` maps [0, 1] images to
    [-1, 1]; ``"stats"`` uses per-channel mean/std buffers set by :meth:`set_stats` from the
    extractor's Y' of a sample of training images (continuous latents of unknown scale).
    """

    stochastic = True

    def __init__(
        self,
        shape: tuple[int, int, int],
        num_classes: int,
        *,
        key: str,
        widths: Sequence[int] = (32, 64, 64),
        layers: int = 1,
        train_timesteps: int = 1000,
        sample_steps: int = 25,
        guidance: float = 2.0,
        cond_drop: float = 0.1,
        scaling: str = "unit",
    ):
        super().__init__()
        if scaling not in ("unit", "stats"):
            raise ValueError(f"scaling must be 'unit' or 'stats', got {scaling!r}")
        self.shape, self.num_classes, self.key, self.scaling = tuple(shape), num_classes, key, scaling
        self.sample_steps, self.guidance, self.cond_drop = sample_steps, guidance, cond_drop
        self.unet = tiny_unet(shape[0], shape[1], widths, layers, num_classes + 1)  # +1: the null class
        # v-prediction: stable at the noisiest steps of the cosine schedule, where epsilon-prediction's
        # x0 estimate divides by sqrt(alpha_bar) ~ 1e-4 and DDIM sampling blows up.
        self.scheduler = DDPMScheduler(num_train_timesteps=train_timesteps, beta_schedule="squaredcos_cap_v2",
                                       prediction_type="v_prediction", clip_sample=scaling == "unit")
        c = shape[0]
        self.register_buffer("data_mean", torch.zeros(c))  # (C,) per-channel mean of the target ("stats")
        self.register_buffer("data_std", torch.ones(c))  # (C,) per-channel std of the target ("stats")

    # -- normalisation ---------------------------------------------------------------------

    def set_stats(self, targets: torch.Tensor) -> None:
        """Per-channel mean/std of sample targets (N, C, h, w), used by ``scaling="stats"``.

        Set once when the model is built (before training), so they are part of every copy of the
        model (an EMA copy included) and are saved with the weights.
        """
        self.data_mean.copy_(targets.float().mean(dim=(0, 2, 3)))
        self.data_std.copy_(targets.float().std(dim=(0, 2, 3)).clamp_min(1e-4))

    def normalise(self, target: torch.Tensor) -> torch.Tensor:
        if self.scaling == "unit":
            return target * 2 - 1
        return (target - self.data_mean[:, None, None]) / self.data_std[:, None, None]

    def denormalise(self, z: torch.Tensor) -> torch.Tensor:
        if self.scaling == "unit":
            return ((z + 1) / 2).clamp(0, 1)
        return z * self.data_std[:, None, None] + self.data_mean[:, None, None]

    # -- training --------------------------------------------------------------------------

    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        target = batch[self.key].float()  # (B, C, h, w)
        labels = batch["label"].long()  # (B,)
        x0 = self.normalise(target)  # (B, C, h, w)
        b = x0.shape[0]
        if self.training and self.cond_drop > 0:
            drop = torch.rand(b, device=x0.device) < self.cond_drop
            labels = torch.where(drop, torch.full_like(labels, self.num_classes), labels)
        noise = torch.randn_like(x0)
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (b,), device=x0.device)
        xt = self.scheduler.add_noise(x0, noise, t)  # (B, C, h, w)
        pred = self.unet(xt, t, class_labels=labels).sample  # (B, C, h, w)
        loss = F.mse_loss(pred, self.scheduler.get_velocity(x0, noise, t))
        return loss, {"mse": float(loss.detach())}

    # -- sampling --------------------------------------------------------------------------

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def sample_batch(self, labels: torch.Tensor, *, seed: int | None = None, temperature: float = 1.0,
                     steps: int | None = None, guidance: float | None = None) -> torch.Tensor:
        """labels (B,) -> targets (B, C, h, w), in the target's own scale."""
        device = self._device()
        labels = labels.long().to(device)  # (B,)
        b = labels.shape[0]
        guidance = self.guidance if guidance is None else guidance
        noise = torch.randn((b, *self.shape), generator=seeded_generator(seed))  # (B, C, h, w)
        x = (noise * float(temperature)).to(device)
        sched = DDIMScheduler.from_config(self.scheduler.config, timestep_spacing="trailing")
        sched.set_timesteps(steps or self.sample_steps, device=device)
        null = torch.full_like(labels, self.num_classes)
        for t in sched.timesteps:
            if guidance == 1.0:
                v = self.unet(x, t, class_labels=labels).sample
            else:
                both = self.unet(torch.cat([x, x]), t, class_labels=torch.cat([labels, null])).sample
                v_c, v_u = both.chunk(2)  # (B, C, h, w) each
                v = v_u + guidance * (v_c - v_u)
            x = sched.step(v, t, x, eta=0.0).prev_sample
        return self.denormalise(x)

    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        """One class -> one target (C, h, w) float32."""
        c = class_index(condition, self.num_classes)
        out = self.sample_batch(torch.tensor([c]), seed=seed, temperature=temperature)
        return out[0].cpu().numpy().astype(np.float32)
