"""Regenerate Y' -> Y: Griffin-Lim, a neural vocoder trained on audio alone, and the EnCodec decoder.

- :class:`GriffinLim`: explicit. Mel -> linear magnitude through the filterbank's pseudo-inverse
  (clamped at 0), then fast Griffin-Lim (momentum 0.99, zero initial phase: deterministic).
- :class:`Vocoder`: Vocos-style: ConvNeXt blocks at frame rate and an iSTFT head that predicts
  log-magnitude and phase, so the network never up-samples in time (cheap on CPU). Trained
  self-supervised: the mel is extracted from the same audio crop; losses are multi-resolution
  STFT (spectral convergence + log-magnitude L1) and mel L1. A batch may instead carry
  ``mel_in`` (mels predicted by the generator, teacher-forced durations) for fine-tuning.
- :class:`CodecDecoder`: the frozen EnCodec decoder for ``tts-codec``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .extract import CodecExtractor, ExtractError, LogMel


class RegenerateError(ValueError):
    """A Y' the regenerator cannot turn into audio (wrong shape, NaN)."""


def as_mel(condition: Any, n_mels: int) -> torch.Tensor:
    m = torch.as_tensor(np.asarray(condition, dtype=np.float32))
    if m.ndim != 2 or m.shape[1] != n_mels or m.shape[0] == 0:
        raise RegenerateError(f"expected a log-mel of shape (frames, {n_mels}), got {tuple(m.shape)}")
    if not torch.isfinite(m).all():
        raise RegenerateError("the log-mel holds NaN or infinite values")
    return m


class GriffinLim(nn.Module):
    """Explicit log-mel -> waveform. No parameters; deterministic (stochastic = False)."""

    stochastic = False

    def __init__(self, mel: LogMel, n_iter: int = 32, momentum: float = 0.99):
        super().__init__()
        self.mel = mel
        self.n_iter, self.momentum = n_iter, momentum
        self.register_buffer("fb_pinv", torch.linalg.pinv(mel.fb), persistent=False)  # (F, n_mels)

    def forward(self, batch: Any) -> Any:
        raise NotImplementedError("Griffin-Lim is explicit: nothing to train")

    def magnitude(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(T, n_mels) log-mel -> (F, T) linear magnitude."""
        return (self.fb_pinv @ log_mel.exp().T).clamp_min(0.0)

    def invert(self, magnitude: torch.Tensor, n_iter: int | None = None) -> torch.Tensor:
        """(F, T) magnitude -> (samples,) waveform by fast Griffin-Lim."""
        m = self.mel
        n_iter = self.n_iter if n_iter is None else n_iter
        length = (magnitude.shape[1] - 1) * m.hop
        angles = torch.ones_like(magnitude, dtype=torch.complex64)
        prev = torch.zeros_like(angles)
        wave = torch.zeros(length)
        for _ in range(max(1, n_iter)):
            wave = torch.istft(magnitude * angles, m.n_fft, m.hop, m.win, m.window, center=True, length=length)
            rebuilt = torch.stft(wave, m.n_fft, m.hop, m.win, m.window, center=True, pad_mode="reflect", return_complex=True)
            angles = rebuilt - (self.momentum / (1 + self.momentum)) * prev
            prev = rebuilt
            angles = angles / angles.abs().clamp_min(1e-16)
        return torch.istft(magnitude * angles, m.n_fft, m.hop, m.win, m.window, center=True, length=length)

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        mel = as_mel(condition, self.mel.n_mels)
        return self.invert(self.magnitude(mel)).numpy().astype(np.float32)


class ConvNeXtBlock(nn.Module):
    """Depthwise conv -> LayerNorm -> pointwise MLP, residual with layer scale: (B, C, T) -> (B, C, T)."""

    def __init__(self, dim: int, kernel: int, hidden: int):
        super().__init__()
        self.dw = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Linear(dim, hidden)
        self.pw2 = nn.Linear(hidden, dim)
        self.scale = nn.Parameter(torch.full((dim,), 0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.dw(x).transpose(1, 2))  # (B, T, C)
        h = self.pw2(F.gelu(self.pw1(h))) * self.scale
        return x + h.transpose(1, 2)


class ISTFTHead(nn.Module):
    """Frame features (B, T, d) -> waveform (B, (T-1) * hop) via predicted log-magnitude and phase."""

    def __init__(self, d: int, n_fft: int, hop: int, win: int):
        super().__init__()
        self.n_fft, self.hop, self.win = n_fft, hop, win
        self.proj = nn.Linear(d, n_fft + 2)
        self.register_buffer("window", torch.hann_window(win), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.proj(x).transpose(1, 2)  # (B, n_fft + 2, T)
        log_mag, phase = out.chunk(2, dim=1)  # (B, F, T) each
        mag = log_mag.clamp(max=8.0).exp()
        spec = torch.polar(mag, phase)  # (B, F, T) complex
        length = (x.shape[1] - 1) * self.hop
        return torch.istft(spec, self.n_fft, self.hop, self.win, self.window, center=True, length=length)


class WaveDecoder(nn.Module):
    """Frame features (B, T, d_in) -> waveform: conv in, ConvNeXt blocks, iSTFT head."""

    def __init__(self, d_in: int, dim: int, layers: int, kernel: int, n_fft: int, hop: int, win: int):
        super().__init__()
        self.inp = nn.Conv1d(d_in, dim, 7, padding=3)
        self.norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(ConvNeXtBlock(dim, kernel, dim * 3) for _ in range(layers))
        self.out_norm = nn.LayerNorm(dim)
        self.head = ISTFTHead(dim, n_fft, hop, win)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.inp(feats.transpose(1, 2)).transpose(1, 2)).transpose(1, 2)  # (B, dim, T)
        for block in self.blocks:
            x = block(x)
        return self.head(self.out_norm(x.transpose(1, 2)))  # (B, (T-1) * hop)


class WaveLoss(nn.Module):
    """Multi-resolution STFT loss (spectral convergence + log-magnitude L1) + log-mel L1."""

    def __init__(self, mel: LogMel, resolutions: tuple[tuple[int, int], ...]):
        super().__init__()
        self.mel = mel
        self.resolutions = resolutions
        for i, (n_fft, _) in enumerate(resolutions):
            self.register_buffer(f"w{i}", torch.hann_window(n_fft), persistent=False)

    def forward(self, pred: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """pred, ref (B, T) -> loss, stats."""
        sc_total, mag_total = 0.0, 0.0
        for i, (n_fft, hop) in enumerate(self.resolutions):
            w = getattr(self, f"w{i}")
            sp = torch.stft(pred, n_fft, hop, n_fft, w, return_complex=True).abs().clamp_min(1e-7)
            sr = torch.stft(ref, n_fft, hop, n_fft, w, return_complex=True).abs().clamp_min(1e-7)
            sc_total = sc_total + torch.linalg.norm(sr - sp) / torch.linalg.norm(sr).clamp_min(1e-7)
            mag_total = mag_total + (sp.log() - sr.log()).abs().mean()
        n = len(self.resolutions)
        mel_l1 = (self.mel(pred) - self.mel(ref)).abs().mean()
        loss = (sc_total + mag_total) / n + mel_l1
        return loss, {"stft_sc": float(sc_total.detach()) / n, "stft_mag": float(mag_total.detach()) / n, "mel_l1": float(mel_l1.detach())}


def default_resolutions(n_fft: int) -> tuple[tuple[int, int], ...]:
    return tuple((max(64, n_fft // k), max(16, n_fft // k // 4)) for k in (2, 1, 4)) if n_fft >= 256 else ((n_fft, n_fft // 4),)


class Vocoder(nn.Module):
    """Neural vocoder log-mel (T, n_mels) -> waveform ((T-1) * hop,). Deterministic (stochastic = False)."""

    stochastic = False

    def __init__(self, mel: LogMel, dim: int, layers: int, kernel: int):
        super().__init__()
        self.mel = mel
        self.net = WaveDecoder(mel.n_mels, dim, layers, kernel, mel.n_fft, mel.hop, mel.win)
        self.loss = WaveLoss(mel, default_resolutions(mel.n_fft))

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        audio = batch["audio"].float()  # (B, S) crops
        mel_in = batch.get("mel_in")
        with torch.no_grad():
            mel = self.mel(audio) if mel_in is None else mel_in.float()  # (B, T, n_mels)
        pred = self.net(mel)  # (B, (T-1) * hop)
        ref = audio[:, : pred.shape[1]]
        pred = pred[:, : ref.shape[1]]
        return self.loss(pred, ref)

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        mel = as_mel(condition, self.mel.n_mels)
        return self.net(mel[None].to(self.mel.fb.device))[0].cpu().numpy().astype(np.float32)


class CodecDecoder(nn.Module):
    """Explicit codes (frames, n_q) -> waveform through the frozen EnCodec decoder (deterministic)."""

    stochastic = False

    def __init__(self, extractor: CodecExtractor):
        super().__init__()
        self.extractor = extractor

    def forward(self, batch: Any) -> Any:
        raise NotImplementedError("the EnCodec decoder is frozen: nothing to train")

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        try:
            return self.extractor.decode(condition).astype(np.float32)
        except ExtractError as err:
            raise RegenerateError(str(err)) from None


def crop_batch(items: list[dict], segment: int, hop: int, generator: torch.Generator | None = None) -> dict:
    """Random aligned crops of ``segment`` samples (a whole number of hops); shorter audio is zero-padded.

    Items with ``mel_in`` (frames, n_mels) are cropped at the same frame offset.
    """
    seg_frames = max(2, segment // hop)
    seg = seg_frames * hop
    audios, mels = [], []
    for it in items:
        a = torch.as_tensor(np.asarray(it["audio"], dtype=np.float32))
        n_frames = max(1, (len(a) - seg) // hop + 1) if len(a) > seg else 1
        start_f = int(torch.randint(0, n_frames, (1,), generator=generator)) if n_frames > 1 else 0
        start = start_f * hop
        piece = F.pad(a[start : start + seg], (0, max(0, seg - len(a[start : start + seg]))))
        audios.append(piece)
        if "mel_in" in it:
            m = torch.as_tensor(np.asarray(it["mel_in"], dtype=np.float32))[start_f : start_f + seg_frames + 1]
            fill = math.log(1e-5)
            m = F.pad(m, (0, 0, 0, seg_frames + 1 - m.shape[0]), value=fill)
            mels.append(m)
    out = {"audio": torch.stack(audios)}  # (B, seg)
    if mels:
        out["mel_in"] = torch.stack(mels)  # (B, seg_frames + 1, n_mels)
    return out
