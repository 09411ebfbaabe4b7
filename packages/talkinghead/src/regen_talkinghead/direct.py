"""The direct baseline X -> Y: speech + reference frame -> video frames, trained end to end on pixels.

Same pieces as the regeneration side, wired without the intermediate: the generator's speech
encoder (:class:`SpeechEncoder`), a small conv encoder of the reference frame (the identity the
regeneration side gets from the fitter), and the neural renderer's :class:`FrameDecoder`, fed a
per-frame feature instead of Y'. Trained with the same pixel loss (L1 + edge L1) on ``direct_frames`` random
frames per video and step. It has no noise input (a pixel regression): ``stochastic = False``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .extract import check_video
from .generate import SpeechEncoder, audio_tensor
from .regenerate import FrameDecoder, pixel_loss


class ReferenceEncoder(nn.Module):
    """(B, size, size) reference frame -> (B, d)."""

    def __init__(self, channels: int, d: int):
        super().__init__()
        c = channels
        self.convs = nn.ModuleList([nn.Conv2d(1, c, 3, 2, 1), nn.Conv2d(c, 2 * c, 3, 2, 1), nn.Conv2d(2 * c, 2 * c, 3, 2, 1)])
        self.fc = nn.Linear(2 * c * 4, d)

    def forward(self, ref: torch.Tensor) -> torch.Tensor:
        x = ref[:, None]
        for conv in self.convs:
            x = F.gelu(conv(x))
        return self.fc(F.adaptive_avg_pool2d(x, 2).flatten(1))


class DirectTalkingHead(nn.Module):
    """speech + reference -> frames, no Y'."""

    stochastic = False

    def __init__(self, cfg: Any):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.encoder = SpeechEncoder(cfg)
        self.reference = ReferenceEncoder(cfg.ref_channels, d)
        self.mix = nn.Sequential(nn.Linear(2 * d, d), nn.GELU())
        self.decoder = FrameDecoder(d, tuple(cfg.render_channels), cfg.size)

    def _features(self, audio, audio_lengths, n_frames, reference) -> torch.Tensor:
        h = self.encoder(audio, audio_lengths, n_frames)  # (B, T, d)
        r = self.reference(reference)[:, None].expand(-1, h.shape[1], -1)  # (B, T, d)
        return self.mix(torch.cat([h, r], -1))  # (B, T, d)

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        frames = batch["n_frames"]  # (B,)
        feats = self._features(batch["audio"], batch["audio_lengths"], frames, batch["reference"])
        # decode `direct_frames` random real frames per video (the trainer seeds torch's RNG)
        k = self.cfg.direct_frames
        pick = (torch.rand(len(frames), k) * frames[:, None]).long()  # (B, k)
        rows = torch.arange(len(frames))[:, None].expand(-1, k)
        pred = self.decoder(feats[rows, pick].reshape(-1, feats.shape[-1]))  # (B*k, H, W)
        target = batch["video"][rows, pick].reshape(pred.shape)
        loss = pixel_loss(pred, target, self.cfg.edge_weight)
        return loss, {"mse": float(((pred.detach() - target) ** 2).mean())}

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        """X = {"audio", "reference"} -> (T, size, size) float32 frames (deterministic)."""
        was = self.training
        self.eval()
        audio = audio_tensor(condition)
        ref = check_video(condition["reference"], self.cfg.size)[0]  # (size, size) in [0, 1]
        n = self.cfg.n_frames(len(audio))
        feats = self._features(torch.from_numpy(audio)[None], torch.tensor([len(audio)]), torch.tensor([n]),
                               torch.from_numpy(ref)[None])[0]  # (T, d)
        out = torch.cat([self.decoder(feats[i : i + 256]) for i in range(0, len(feats), 256)])
        self.train(was)
        return out.numpy().astype(np.float32)
