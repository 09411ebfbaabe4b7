"""Metrics that judge a waveform against its reference.

- ``mcd``: mel-cepstral distortion (dB) with DTW, coefficients 1..13: **c0 (energy) excluded**.
  The mel-cepstrum c_k is the coefficient of cos(k w) in the natural-log *amplitude* log-mel
  over the N mel bands (w = pi (n + 1/2) / N), i.e. log-mel[n] = c_0 + sum_k c_k cos(pi k (n + 1/2) / N),
  so c_k = 2/N * DCT-II (c_0 = 1/N * the sum): the convention of SPTK-style mel-cepstra, for which
  MCD = 10 / ln 10 * sqrt(2 * sum_k (c_k - c'_k)^2) is the RMS difference, in dB of power, of the
  two cepstrally smoothed log spectra (:func:`mel_cepstral_distortion`). Averaged over the DTW path.
- ``lsd``: log-spectral distance (dB), RMS over frequency of the difference of 10 log10 power
  spectra, averaged over frames: on the DTW path for predictions of another length, frame by
  frame for same-length signals (vocoder evaluation).
- ``f0_rmse``: RMSE of F0 (Hz, YIN, see :func:`regen_tts.extract.f0_yin`) over DTW-aligned
  frames voiced in both; when no frame is voiced in both, over the reference's voiced frames with
  the prediction's F0 taken as 0 (a penalty, so the number stays finite); 0 when neither has
  voiced frames.
- ``voicing_error``: share of DTW-aligned frames whose voiced/unvoiced decisions differ.
- ``duration_error``: |predicted - reference| duration in seconds, both trimmed of leading and
  trailing silence (40 dB below peak).
- real-time factor: measured by the benchmark and the evaluation (seconds per sample).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .extract import LogMel, as_waveform, f0_yin

N_CEPS = 13
MCD_CONST = 10.0 / np.log(10.0) * np.sqrt(2.0)


def cepstrum_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in): log-mel (natural-log amplitude, n_in bands) -> mel-cepstra c_0..c_{n_out-1}.

    The inverse of the cosine series log-mel[n] = c_0 + sum_{k>=1} c_k cos(pi k (n + 1/2) / n_in).
    (Not the orthonormal DCT, whose coefficients are sqrt(n_in / 2) times larger for k >= 1.)
    """
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    m = np.cos(np.pi / n_in * (n + 0.5) * k) * (2.0 / n_in)
    m[0] /= 2.0
    return m


def mel_cepstral_distortion(cp: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """Per-frame MCD (dB) of aligned mel-cepstra (L, 1 + N_CEPS) each; c0 is excluded."""
    diff = cp[:, 1:] - cr[:, 1:]
    return MCD_CONST * np.sqrt((diff**2).sum(1))  # (L,)


class Judge:
    """Computes the metrics at one sample rate / mel setting (keeps the filterbank)."""

    def __init__(self, mel: LogMel):
        self.mel = mel
        self.dct = cepstrum_matrix(mel.n_mels, N_CEPS + 1)  # (1 + N_CEPS, n_mels)

    @torch.no_grad()
    def logmel(self, wave: np.ndarray) -> np.ndarray:
        return self.mel(torch.from_numpy(wave)[None])[0].numpy().astype(np.float64)  # (T, n_mels)

    def cepstra(self, wave: np.ndarray) -> np.ndarray:
        return self.logmel(wave) @ self.dct.T  # (T, N_CEPS + 1)

    @torch.no_grad()
    def power_db(self, wave: np.ndarray) -> np.ndarray:
        mag = self.mel.magnitude(torch.from_numpy(wave)[None])[0].numpy().T  # (T, F)
        return 10.0 * np.log10(mag.astype(np.float64) ** 2 + 1e-10)

    def dtw_path(self, cp: np.ndarray, cr: np.ndarray) -> np.ndarray:
        import librosa

        cost = np.sqrt(((cp[:, None, 1:] - cr[None, :, 1:]) ** 2).sum(-1))  # (Tp, Tr)
        _, path = librosa.sequence.dtw(C=cost, backtrack=True)
        return path[::-1]  # (L, 2) pairs (i_pred, j_ref), in time order

    def lsd(self, pred: np.ndarray, ref: np.ndarray, path: np.ndarray | None = None, max_hz: float | None = None) -> float:
        """LSD (dB); ``max_hz`` keeps only the STFT bins at or below that frequency."""
        sp, sr = self.power_db(pred), self.power_db(ref)
        if max_hz is not None:
            keep = np.arange(sp.shape[1]) * self.mel.sample_rate / self.mel.n_fft <= max_hz
            sp, sr = sp[:, keep], sr[:, keep]
        if path is None:
            n = min(len(sp), len(sr))
            sp, sr = sp[:n], sr[:n]
        else:
            sp, sr = sp[path[:, 0]], sr[path[:, 1]]
        return float(np.mean(np.sqrt(np.mean((sp - sr) ** 2, axis=1))))

    def all(self, prediction: Any, reference: Any) -> dict[str, float]:
        pred = as_waveform(prediction, "prediction")
        ref = as_waveform(reference, "reference")
        sr, hop = self.mel.sample_rate, self.mel.hop
        # 1. Mel-cepstra and the DTW path.
        cp, cr = self.cepstra(pred), self.cepstra(ref)
        path = self.dtw_path(cp, cr)
        mcd = float(np.mean(mel_cepstral_distortion(cp[path[:, 0]], cr[path[:, 1]])))
        # 2. LSD on the same path.
        lsd = self.lsd(pred, ref, path)
        # 3. F0 on voiced frames.
        fp, vp = f0_yin(pred, sr, hop, len(cp))
        fr, vr = f0_yin(ref, sr, hop, len(cr))
        a, b = path[:, 0], path[:, 1]
        both = vp[a] & vr[b]
        if both.any():
            f0_rmse = float(np.sqrt(np.mean((fp[a][both] - fr[b][both]) ** 2)))
        elif vr.any():
            f0_rmse = float(np.sqrt(np.mean((fp[a][vr[b]] - fr[b][vr[b]]) ** 2)))
        else:
            f0_rmse = 0.0
        voicing = float(np.mean(vp[a] != vr[b]))
        # 4. Duration of the speech, trimmed of silence.
        dur = abs(speech_seconds(pred, sr) - speech_seconds(ref, sr))
        return {"mcd": mcd, "lsd": lsd, "f0_rmse": f0_rmse, "voicing_error": voicing, "duration_error": dur}


def speech_seconds(wave: np.ndarray, sample_rate: int, top_db: float = 40.0) -> float:
    """Length in seconds after trimming leading/trailing audio quieter than ``top_db`` below the peak."""
    import librosa

    if not np.any(np.abs(wave) > 0):
        return 0.0
    trimmed, _ = librosa.effects.trim(wave, top_db=top_db)
    return len(trimmed) / sample_rate


def real_time_factor(seconds: float, audio_samples: int, sample_rate: int) -> float:
    """Compute time / audio duration (lower is faster; < 1 is faster than real time)."""
    return seconds / max(audio_samples / sample_rate, 1e-9)
