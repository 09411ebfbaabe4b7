"""Regenerate Y' -> Y: Griffin-Lim and a neural vocoder trained on audio alone.

- :class:`GriffinLim`: explicit. Mel -> linear magnitude through the filterbank's pseudo-inverse
  (clamped at 0), then fast Griffin-Lim (momentum 0.99, zero initial phase: deterministic).
- :class:`Vocoder`: Vocos-style: ConvNeXt blocks at frame rate and an iSTFT head that predicts
  log-magnitude and phase, so the network never up-samples in time (cheap on CPU). By default
  the predicted log-magnitude is a correction of the filterbank pseudo-inverse of the mel (the
  start point of Griffin-Lim). Trained self-supervised: the mel is extracted from the same audio
  crop; losses are multi-resolution STFT (spectral convergence + log-magnitude L1), mel L1, and
  the log-spectral distance itself, on the output waveform and on the head's predicted magnitude. A batch may instead carry
  ``mel_in`` (mels predicted by the generator, teacher-forced durations) for fine-tuning.
- The regenerator of ``tts-codec`` (the learned codec's frozen decoder) is in :mod:`regen_tts.codec`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .extract import LogMel
from regen_core.errors import RegenError


class RegenerateError(RegenError, ValueError):
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
    """Frame features (B, T, d) -> waveform (B, (T-1) * hop) via predicted log-magnitude and phase.

    ``log_mag_prior`` (B, F, T), when given, is added to the predicted log-magnitude: the network
    then learns a correction of that magnitude (the vocoder passes the filterbank pseudo-inverse
    of its mel, the start point of Griffin-Lim) instead of the whole spectrum.
    """

    def __init__(self, d: int, n_fft: int, hop: int, win: int):
        super().__init__()
        self.n_fft, self.hop, self.win = n_fft, hop, win
        self.proj = nn.Linear(d, n_fft + 2)
        self.register_buffer("window", torch.hann_window(win), persistent=False)

    def spectrum(self, x: torch.Tensor, log_mag_prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, d) -> predicted natural-log magnitude and phase, (B, F, T) each."""
        out = self.proj(x).transpose(1, 2)  # (B, n_fft + 2, T)
        log_mag, phase = out.chunk(2, dim=1)  # (B, F, T) each
        if log_mag_prior is not None:
            log_mag = log_mag + log_mag_prior
        return log_mag.clamp(max=8.0), phase

    def synthesise(self, log_mag: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        """(B, F, T) log-magnitude and phase -> (B, (T-1) * hop) waveform."""
        spec = torch.polar(log_mag.exp(), phase)  # (B, F, T) complex
        length = (log_mag.shape[-1] - 1) * self.hop
        return torch.istft(spec, self.n_fft, self.hop, self.win, self.window, center=True, length=length)

    def forward(self, x: torch.Tensor, log_mag_prior: torch.Tensor | None = None) -> torch.Tensor:
        return self.synthesise(*self.spectrum(x, log_mag_prior))


class WaveDecoder(nn.Module):
    """Frame features (B, T, d_in) -> waveform: conv in, ConvNeXt blocks, iSTFT head."""

    def __init__(self, d_in: int, dim: int, layers: int, kernel: int, n_fft: int, hop: int, win: int):
        super().__init__()
        self.inp = nn.Conv1d(d_in, dim, 7, padding=3)
        self.norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(ConvNeXtBlock(dim, kernel, dim * 3) for _ in range(layers))
        self.out_norm = nn.LayerNorm(dim)
        self.head = ISTFTHead(dim, n_fft, hop, win)

    def features(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, d_in) -> (B, T, dim) normalised frame features for the head."""
        x = self.norm(self.inp(feats.transpose(1, 2)).transpose(1, 2)).transpose(1, 2)  # (B, dim, T)
        for block in self.blocks:
            x = block(x)
        return self.out_norm(x.transpose(1, 2))  # (B, T, dim)

    def forward(self, feats: torch.Tensor, log_mag_prior: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(feats), log_mag_prior)  # (B, (T-1) * hop)


def log_spectral_loss(pred_log_mag: torch.Tensor, ref_mag: torch.Tensor, floor: float = 1e-5) -> torch.Tensor:
    """Mean over frames of the RMS over frequency of the natural-log magnitude difference.

    (B, F, T) each; both floored at ``floor`` (the LSD metric's floor, power 1e-10). Times
    20 / ln 10 this is the log-spectral distance in dB, so the loss optimises that metric.
    """
    diff = pred_log_mag.clamp_min(math.log(floor)) - ref_mag.clamp_min(floor).log()  # (B, F, T)
    return (diff.pow(2).mean(1) + 1e-8).sqrt().mean()


class WaveLoss(nn.Module):
    """Multi-resolution STFT loss (spectral convergence + log-magnitude L1) + log-mel L1 + log-spectral loss.

    The log-spectral term (:func:`log_spectral_loss`, weight ``lsd_weight``) is computed on the
    STFT of the mel's own resolution (``mel.n_fft`` / ``mel.hop`` / ``mel.win``).
    """

    def __init__(self, mel: LogMel, resolutions: tuple[tuple[int, int], ...], lsd_weight: float = 1.0):
        super().__init__()
        self.mel = mel
        self.resolutions = resolutions
        self.lsd_weight = lsd_weight
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
        stats = {"stft_sc": float(sc_total.detach()) / n, "stft_mag": float(mag_total.detach()) / n, "mel_l1": float(mel_l1.detach())}
        if self.lsd_weight > 0:
            lsd = log_spectral_loss(self.mel.magnitude(pred).clamp_min(1e-7).log(), self.mel.magnitude(ref))
            loss = loss + self.lsd_weight * lsd
            stats["lsd_db"] = float(lsd.detach()) * 20 / math.log(10)
        return loss, stats


def envelope_interpolation(fb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mel filterbank (n_mels, F) -> (interp (F, n_mels), log_area (n_mels,)).

    ``interp`` linearly interpolates per-band values at the bands' centre frequencies onto every
    FFT bin (held flat beyond the first / last centre); a band's mel value minus its log area is
    the log magnitude of a flat spectrum that gives it, so ``interp @ (log_mel - log_area)`` is
    a smooth log-magnitude envelope.
    """
    fbn = fb.double()
    n_mels, n_bins = fbn.shape
    area = fbn.sum(1).clamp_min(1e-12)  # (n_mels,)
    centre = (fbn * torch.arange(n_bins, dtype=torch.float64)).sum(1) / area  # (n_mels,) fractional bin
    interp = torch.zeros(n_bins, n_mels, dtype=torch.float64)
    for f in range(n_bins):
        j = int(torch.searchsorted(centre, torch.tensor(float(f), dtype=torch.float64)))
        if j == 0:
            interp[f, 0] = 1.0
        elif j >= n_mels:
            interp[f, n_mels - 1] = 1.0
        else:
            a = float((f - centre[j - 1]) / (centre[j] - centre[j - 1]))
            interp[f, j - 1], interp[f, j] = 1.0 - a, a
    return interp.float(), area.log().float()


def default_resolutions(n_fft: int) -> tuple[tuple[int, int], ...]:
    return tuple((max(64, n_fft // k), max(16, n_fft // k // 4)) for k in (2, 1, 4)) if n_fft >= 256 else ((n_fft, n_fft // 4),)


class Vocoder(nn.Module):
    """Neural vocoder log-mel (T, n_mels) -> waveform ((T-1) * hop,). Deterministic (stochastic = False).

    ``mag_prior``: the iSTFT head predicts a correction of the filterbank pseudo-inverse magnitude
    (what Griffin-Lim starts from) rather than the whole log-magnitude. ``spec_weight``: weight of
    a log-spectral loss on the head's predicted magnitude itself (before the iSTFT) against the
    reference STFT at the same frames; the waveform losses (:class:`WaveLoss`) then mostly shape
    the phase, which must make the overlap-added frames consistent.
    """

    stochastic = False

    def __init__(self, mel: LogMel, dim: int, layers: int, kernel: int, mag_prior: bool = True,
                 spec_weight: float = 1.0, lsd_weight: float = 1.0):
        super().__init__()
        self.mel = mel
        self.mag_prior, self.spec_weight = mag_prior, spec_weight
        self.net = WaveDecoder(mel.n_mels, dim, layers, kernel, mel.n_fft, mel.hop, mel.win)
        self.loss = WaveLoss(mel, default_resolutions(mel.n_fft), lsd_weight)
        self.register_buffer("fb_pinv", torch.linalg.pinv(mel.fb), persistent=False)  # (F, n_mels)
        interp, log_area = envelope_interpolation(mel.fb)
        self.register_buffer("env_interp", interp, persistent=False)  # (F, n_mels)
        self.register_buffer("env_log_area", log_area, persistent=False)  # (n_mels,)
        if mag_prior:  # start from the prior exactly: zero magnitude correction
            half = mel.n_fft // 2 + 1
            with torch.no_grad():
                self.net.head.proj.weight[:half].zero_()
                self.net.head.proj.bias[:half].zero_()

    def prior(self, mel: torch.Tensor) -> torch.Tensor | None:
        """(B, T, n_mels) log-mel -> (B, F, T) log magnitude the head corrects, or None.

        The filterbank pseudo-inverse of the mel (Griffin-Lim's start), floored at a tenth of
        the mel's smooth envelope (each band's mean magnitude, interpolated over frequency)
        where the pseudo-inverse falls to zero or below.
        """
        if not self.mag_prior:
            return None
        pinv = self.fb_pinv @ mel.exp().transpose(1, 2)  # (B, F, T)
        env = self.env_interp @ (mel - self.env_log_area).transpose(1, 2)  # (B, F, T) log
        return torch.maximum(pinv.clamp_min(self.mel.floor).log(), env + math.log(0.1))

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        audio = batch["audio"].float()  # (B, S) crops
        mel_in = batch.get("mel_in")
        with torch.no_grad():
            mel = self.mel(audio) if mel_in is None else mel_in.float()  # (B, T, n_mels)
            prior = self.prior(mel)  # (B, F, T) or None
        log_mag, phase = self.net.head.spectrum(self.net.features(mel), prior)  # (B, F, T) each
        pred = self.net.head.synthesise(log_mag, phase)  # (B, (T-1) * hop)
        ref = audio[:, : pred.shape[1]]
        pred = pred[:, : ref.shape[1]]
        loss, stats = self.loss(pred, ref)
        if self.spec_weight > 0:
            with torch.no_grad():
                ref_mag = self.mel.magnitude(ref)  # (B, F, T'), the frames of the mel
            t = min(ref_mag.shape[-1], log_mag.shape[-1])
            spec = log_spectral_loss(log_mag[..., :t], ref_mag[..., :t])
            loss = loss + self.spec_weight * spec
            stats["spec_lsd_db"] = float(spec.detach()) * 20 / math.log(10)
        return loss, stats

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        mel = as_mel(condition, self.mel.n_mels)[None].to(self.mel.fb.device)  # (1, T, n_mels)
        return self.net(mel, self.prior(mel))[0].cpu().numpy().astype(np.float32)


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
