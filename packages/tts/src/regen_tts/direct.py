"""The direct baseline X -> Y: text -> waveform in one model, trained end to end.

The same :class:`~regen_tts.generate.Backbone` as the generator (phoneme encoder, speaker
embedding, variance adaptor, length regulator, frame decoder) feeds a waveform decoder of the
vocoder's shape (ConvNeXt blocks + iSTFT head), so both sides have the same parameter-count
class: regeneration = backbone + mel head + vocoder, direct = backbone + waveform decoder.
Like FastSpeech 2s it trains on random frame crops of the decoder output against the matching
audio crops, with the vocoder's multi-resolution STFT + mel losses, plus the variance losses.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .config import TTSConfig
from .extract import LogMel
from .generate import Backbone, TextConditioner, make_generator
from .regenerate import WaveDecoder, WaveLoss, default_resolutions


class DirectTTS(nn.Module):
    """Text -> waveform (T,) float32 at the pairing's sample rate."""

    stochastic = True

    def __init__(self, cfg: TTSConfig, speakers: Sequence[str], use_aligner: bool, mel: LogMel):
        super().__init__()
        self.cfg = cfg
        self.mel = mel
        self.conditioner = TextConditioner(cfg, speakers)
        self.backbone = Backbone(cfg, len(speakers), cfg.n_mels, use_aligner)
        self.wave = WaveDecoder(cfg.d_model, cfg.voc_dim, cfg.voc_layers, cfg.voc_kernel, cfg.n_fft, cfg.hop, cfg.win)
        self.loss = WaveLoss(mel, default_resolutions(cfg.n_fft), cfg.voc_lsd_weight)

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        audio = batch["audio"].float()  # (B, S)
        hop = self.cfg.hop
        with torch.no_grad():
            feats = self.mel(audio) if self.backbone.aligner is not None else None  # (B, T, n_mels)
        x, fmask, var_loss, stats = self.backbone.forward_train(batch, feats)  # (B, T, d)
        # Random frame crops (the same offsets for states and audio).
        seg_frames = max(2, self.cfg.segment // hop)
        lengths = fmask.sum(1)  # (B,)
        crops_x, crops_a = [], []
        for i in range(x.shape[0]):
            n = int(lengths[i])
            start = int(torch.randint(0, max(1, n - seg_frames), (1,))) if n > seg_frames + 1 else 0
            xi = x[i, start : start + seg_frames + 1]
            xi = torch.nn.functional.pad(xi, (0, 0, 0, seg_frames + 1 - xi.shape[0]))
            ai = audio[i, start * hop : start * hop + seg_frames * hop]
            ai = torch.nn.functional.pad(ai, (0, seg_frames * hop - ai.shape[0]))
            crops_x.append(xi)
            crops_a.append(ai)
        pred = self.wave(torch.stack(crops_x))  # (B, seg_frames * hop)
        wave_loss, wstats = self.loss(pred, torch.stack(crops_a))
        stats.update(wstats)
        return var_loss + wave_loss, stats

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        sentences, spk = self.conditioner(condition)
        g = make_generator(seed)
        gap = np.zeros(int(round(0.2 * self.cfg.sample_rate)), np.float32)
        parts = []
        for i, ids in enumerate(sentences):
            x, _ = self.backbone.infer(ids, spk, g, temperature * self.cfg.noise_scale)
            parts.append(self.wave(x)[0].cpu().numpy())
            if i < len(sentences) - 1:
                parts.append(gap)
        return np.concatenate(parts).astype(np.float32)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

