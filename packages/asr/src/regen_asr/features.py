"""Log-mel features and audio windows for the recognisers (explicit, no parameters)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch


@dataclass(frozen=True)
class FeatureSettings:
    sample_rate: int = 16000  # Hz of the audio the recognisers take
    n_mels: int = 80  # mel bands
    win_ms: float = 25.0  # analysis window
    hop_ms: float = 10.0  # frame shift

    @property
    def hop(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def win(self) -> int:
        return int(round(self.sample_rate * self.win_ms / 1000))

    @property
    def n_fft(self) -> int:
        return 1 << (self.win - 1).bit_length()


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f < 1000.0, lin, log)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m < 15.0, m * (200.0 / 3), 1000.0 * np.exp((m - 15.0) * (np.log(6.4) / 27.0)))


@lru_cache(maxsize=8)
def mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float = 20.0) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters on the Slaney mel scale, area-normalised."""
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)  # (F,)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(sr / 2), n_mels + 2))  # (n_mels + 2,)
    lower = (freqs[None, :] - edges[:-2, None]) / (edges[1:-1] - edges[:-2])[:, None]
    upper = (edges[2:, None] - freqs[None, :]) / (edges[2:] - edges[1:-1])[:, None]
    fb = np.maximum(0.0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return torch.from_numpy(fb).float()  # (n_mels, F)


def log_mel(audio: np.ndarray | torch.Tensor, fs: FeatureSettings) -> torch.Tensor:
    """(T,) samples -> (frames, n_mels) log-mel, normalised per utterance (mean 0, std 1 per band).

    Per-utterance normalisation removes most of the level and channel differences between
    voices and recordings.
    """
    x = torch.as_tensor(np.asarray(audio, dtype=np.float32))  # (T,)
    if x.numel() < fs.win:
        x = torch.nn.functional.pad(x, (0, fs.win - x.numel()))
    window = torch.hann_window(fs.win)
    spec = torch.stft(x, fs.n_fft, hop_length=fs.hop, win_length=fs.win, window=window, center=True,
                      return_complex=True)  # (n_fft/2+1, frames)
    power = spec.real**2 + spec.imag**2
    mel = mel_basis(fs.sample_rate, fs.n_fft, fs.n_mels) @ power  # (n_mels, frames)
    logmel = torch.log(mel + 1e-6).T  # (frames, n_mels)
    mean = logmel.mean(0, keepdim=True)
    std = logmel.std(0, keepdim=True) if logmel.shape[0] > 1 else torch.ones_like(mean)
    return ((logmel - mean) / (std + 1e-3)).contiguous()


def windows(audio: np.ndarray, sample_rate: int, max_seconds: float, search_seconds: float = 2.0) -> list[tuple[int, int]]:
    """Cut long audio into windows of at most ``max_seconds``, each ending at the quietest
    20 ms within the last ``search_seconds`` (at most a quarter) of the window (so cuts fall in pauses where there are
    pauses). Returns (start, end) sample indices covering the whole signal."""
    n = len(audio)
    limit = int(max_seconds * sample_rate)
    if n <= limit:
        return [(0, n)]
    frame = max(1, int(0.02 * sample_rate))
    search = min(search_seconds, max_seconds / 4)
    out, start = [], 0
    while n - start > limit:
        lo, hi = start + max(frame, limit - int(search * sample_rate)), start + limit
        seg = np.asarray(audio[lo:hi], dtype=np.float32)
        k = len(seg) // frame
        if k == 0:
            cut = hi
        else:
            energy = (seg[: k * frame].reshape(k, frame) ** 2).mean(1)  # (k,)
            cut = lo + int(np.argmin(energy)) * frame + frame // 2
        out.append((start, cut))
        start = cut
    out.append((start, n))
    return out
