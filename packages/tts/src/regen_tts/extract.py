"""Extract Y -> Y': log-mel spectrograms, plus the frame features the generator needs.

- :class:`LogMel`: batched ``torch.stft`` magnitude through librosa's (Slaney) mel filterbank,
  natural log with a floor. Frames: ``T // hop + 1`` (centred, reflect padding).
- :class:`MelExtractor`: the explicit extractor of the ``tts`` pairing (one example -> (frames, n_mels)).
- The codec extractor of ``tts-codec`` (learned EnCodec codes) is in :mod:`regen_tts.codec`.
- :func:`f0_yin` / :func:`frame_energy`: frame-level F0 (YIN, with a voicing decision) and log
  energy, used for the generator's pitch and energy targets and for the F0 metric.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from regen_speech.audio import check_audio
from regen_core.errors import RegenError


class ExtractError(RegenError, ValueError):
    """A waveform that cannot be turned into Y' (wrong shape, empty, NaN)."""


def as_waveform(y: Any, what: str = "audio") -> np.ndarray:
    """One example's audio -> (T,) float32; stereo (2, T) / (T, 2) is an error, not a silent down-mix."""
    x = np.asarray(y, dtype=np.float32)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise ExtractError(f"{what}: expected mono samples (T,), got shape {tuple(x.shape)}; down-mix first "
                           f"(regen_speech.audio.load_audio does it and says so)")
    try:
        check_audio(x, allow_silent=True, warn_clipping=False)
    except ValueError as err:
        raise ExtractError(f"{what}: {err}") from None
    return x


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> torch.Tensor:
    """librosa's Slaney-normalised mel filterbank: (n_mels, n_fft // 2 + 1)."""
    import librosa

    fb = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return torch.from_numpy(fb).float()


class LogMel(nn.Module):
    """Batched log-mel: (B, T) waveforms -> (B, T // hop + 1, n_mels)."""

    def __init__(self, sample_rate: int, n_fft: int, hop: int, win: int, n_mels: int, fmin: float = 0.0,
                 fmax: float | None = None, floor: float = 1e-5):
        super().__init__()
        if win > n_fft:
            raise ValueError(f"win ({win}) must be <= n_fft ({n_fft})")
        self.sample_rate, self.n_fft, self.hop, self.win, self.n_mels = sample_rate, n_fft, hop, win, n_mels
        self.floor = floor
        self.register_buffer("window", torch.hann_window(win), persistent=False)
        self.register_buffer("fb", mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax), persistent=False)

    def magnitude(self, wave: torch.Tensor, center: bool = True) -> torch.Tensor:
        """(B, T) -> linear STFT magnitude (B, n_fft // 2 + 1, frames)."""
        spec = torch.stft(wave, self.n_fft, self.hop, self.win, self.window, center=center, pad_mode="reflect",
                          return_complex=True)  # (B, F, frames)
        return spec.abs()

    def forward(self, wave: torch.Tensor, center: bool = True) -> torch.Tensor:
        """(B, T) -> (B, frames, n_mels); ``center=False`` for input already padded by n_fft // 2."""
        mel = self.fb @ self.magnitude(wave, center)  # (B, n_mels, frames)
        return torch.log(mel.clamp_min(self.floor)).transpose(1, 2)  # (B, frames, n_mels)

    def n_frames(self, n_samples: int) -> int:
        return n_samples // self.hop + 1


class MelExtractor(nn.Module):
    """Explicit Y -> Y': waveform (T,) -> log-mel (frames, n_mels) float32. Deterministic."""

    version = "1"  # bump when the computation changes (keys the extract_map cache)

    def __init__(self, mel: LogMel):
        super().__init__()
        self.mel = mel

    @property
    def hop(self) -> int:
        return self.mel.hop

    @property
    def frame_rate(self) -> float:
        return self.mel.sample_rate / self.mel.hop

    def cache_config(self) -> dict:
        m = self.mel
        return {"sr": m.sample_rate, "n_fft": m.n_fft, "hop": m.hop, "win": m.win, "n_mels": m.n_mels,
                "fb": float(m.fb.sum()), "floor": m.floor}

    def forward(self, batch: Any) -> Any:  # explicit: nothing to train
        raise NotImplementedError("MelExtractor is explicit; use extract()")

    @torch.no_grad()
    def extract(self, y: Any) -> np.ndarray:
        x = torch.from_numpy(as_waveform(y))[None]  # (1, T)
        return self.mel(x)[0].numpy()  # (frames, n_mels)

    @torch.no_grad()
    def extract_batch(self, ys: list[Any]) -> list[np.ndarray]:
        """Several waveforms in one STFT: each reflect-padded like ``extract`` (so results are equal),
        then zero-padded to the longest; frames are cut back to each one's count."""
        half = self.mel.n_fft // 2
        waves = [as_waveform(y) for y in ys]
        padded = [np.pad(w, half, mode="reflect" if len(w) > half else "constant") for w in waves]
        x = torch.zeros(len(waves), max(len(p) for p in padded))  # (B, T_max + n_fft)
        for i, p in enumerate(padded):
            x[i, : len(p)] = torch.from_numpy(p)
        mels = self.mel(x, center=False)  # (B, frames_max, n_mels)
        return [mels[i, : self.mel.n_frames(len(w))].numpy() for i, w in enumerate(waves)]


# -- frame features ------------------------------------------------------------------------------


def f0_yin(audio: Any, sample_rate: int, hop: float, n_frames: int, *, fmin: float = 60.0, fmax: float = 500.0,
           threshold: float = 0.15, voicing: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """YIN F0 per frame: ``(f0 Hz (n_frames,), voiced (n_frames,) bool)``.

    Frames are centred at ``i * hop`` samples, like the log-mel (so both line up). The lag is the
    first dip of the cumulative-mean-normalised difference below ``threshold`` (else its minimum),
    refined by parabolic interpolation; a frame is voiced when that dip is below ``voicing`` and the
    frame is not near-silent. Unvoiced frames have f0 = 0. (numpy: pocketfft stays fast on a busy
    machine where torch's intra-op threads do not.)
    """
    x = as_waveform(audio).astype(np.float64)
    tau_max = int(math.ceil(sample_rate / fmin))
    tau_min = max(2, int(sample_rate / fmax))
    w = tau_max  # integration window
    size = w + tau_max + 1
    xp = np.pad(x, (size // 2, size // 2 + size))
    starts = np.clip(np.round(np.arange(n_frames) * hop).astype(np.int64), 0, len(xp) - size)
    frames = xp[starts[:, None] + np.arange(size)[None, :]]  # (F, size)
    # difference function d(tau) = sum_j (x_j - x_{j+tau})^2 over a window of w samples, via FFT.
    n_fft = 1 << (2 * size - 1).bit_length()
    spec = np.fft.rfft(frames, n_fft)
    head = np.fft.rfft(frames[:, :w], n_fft)
    corr = np.fft.irfft(spec * head.conj(), n_fft)[:, : tau_max + 1]  # (F, tau_max+1): sum_j x_j x_{j+tau}
    sq = np.cumsum(np.pad(frames**2, ((0, 0), (1, 0))), axis=1)  # (F, size+1)
    e0 = sq[:, w] - sq[:, 0]  # (F,)
    taus = np.arange(tau_max + 1)
    e_tau = sq[:, taus + w] - sq[:, taus]  # (F, tau_max+1)
    d = np.maximum(e0[:, None] + e_tau - 2 * corr, 0.0)  # (F, tau_max+1)
    cum = np.cumsum(d[:, 1:], axis=1) / np.arange(1, tau_max + 1)  # (F, tau_max)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = d[:, 1:] / np.maximum(cum, 1e-12)
    cmnd[:, :tau_min] = 2.0
    below = cmnd < threshold
    rows = np.arange(len(cmnd))
    # first lag below the threshold (else the global minimum), then down to the bottom of that dip
    best = np.where(below.any(1), below.argmax(1), cmnd.argmin(1))
    for _ in range(16):
        nxt = np.minimum(best + 1, tau_max)
        best = np.where(cmnd[rows, nxt] < cmnd[rows, best], nxt, best)
    b = np.clip(best, 1, tau_max - 1)
    y0, y1, y2 = cmnd[rows, b - 1], cmnd[rows, b], cmnd[rows, b + 1]
    denom = y0 - 2 * y1 + y2
    safe = np.where(np.abs(denom) > 1e-9, denom, 1.0)
    shift = np.clip(np.where(np.abs(denom) > 1e-9, 0.5 * (y0 - y2) / safe, 0.0), -1, 1)
    f0 = sample_rate / (b + shift)
    rms = np.sqrt(e0 / w)
    loud = rms > max(1e-4, 0.02 * float(rms.max()) if len(rms) else 0.0)
    voiced = (y1 < voicing) & loud & (f0 >= fmin) & (f0 <= fmax)
    return np.where(voiced, f0, 0.0).astype(np.float32), voiced


def frame_energy(audio: Any, hop: float, n_frames: int, win: int) -> np.ndarray:
    """Log RMS energy per frame (centred at ``i * hop``): (n_frames,) float32."""
    x = as_waveform(audio)
    xp = np.pad(x, (win // 2, win))
    starts = np.clip(np.round(np.arange(n_frames) * hop).astype(np.int64), 0, max(0, len(xp) - win))
    frames = xp[starts[:, None] + np.arange(win)[None, :]]  # (F, win)
    return np.log(np.sqrt((frames**2).mean(1)) + 1e-5).astype(np.float32)


def durations_from_timings(starts: Any, n_frames: int, frame_rate: float) -> np.ndarray:
    """Phoneme start times (seconds) -> frames per phoneme (P,) int64 summing to ``n_frames``."""
    s = np.asarray(starts, dtype=np.float64)
    if s.ndim != 1 or len(s) == 0:
        raise ExtractError("phoneme_starts must be a non-empty list of seconds")
    if np.any(np.diff(s) < -1e-9):
        raise ExtractError("phoneme_starts must not decrease")
    bounds = np.clip(np.round(s * frame_rate).astype(np.int64), 0, n_frames)
    bounds[0] = 0
    bounds = np.maximum.accumulate(bounds)
    edges = np.append(bounds, n_frames)
    return np.diff(edges).astype(np.int64)  # (P,)
