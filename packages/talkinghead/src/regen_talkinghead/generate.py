"""Generate X -> Y': speech (+ the reference face) -> the face-coefficient track.

- :class:`LogMel`: log-mel spectrogram with ``torch.stft`` (librosa's mel filterbank), hop =
  sample_rate / (4 fps), so 4 mel frames per video frame;
- :class:`SpeechEncoder`: mel -> per-video-frame features: a conv in, two stride-2 convs (4 mel
  frames -> 1 video frame), dilated residual conv blocks (about +-0.6 s of context at the defaults);
- :class:`CoefficientGenerator`: the per-frame coefficients' conditional mean from the speech,
  and a learned AR(1) Gaussian residual per coefficient (std and lag-1 correlation, trained by
  the exact AR(1) likelihood). Sampling adds that temporally-correlated noise (times
  ``temperature * noise_scale``): the mouth's noise is small where speech determines it, the
  head pose, blinks and brows get the spread the training tracks show. The identity columns of
  Y' come from the fitter applied to the reference frame of X (explicit, not learned).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .face import N_COEFF, N_ID, coefficient_box


class LogMel(nn.Module):
    """(B, S) audio -> (B, frames, n_mels) natural-log mel magnitudes (floor 1e-5)."""

    def __init__(self, sample_rate: int, n_fft: int, win: int, hop: int, n_mels: int):
        super().__init__()
        import librosa

        self.n_fft, self.win, self.hop = n_fft, win, hop
        fb = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=sample_rate / 2)
        self.register_buffer("fb", torch.from_numpy(fb.astype(np.float32)), persistent=False)  # (n_mels, F)
        self.register_buffer("window", torch.hann_window(win), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(audio, self.n_fft, self.hop, self.win, self.window, center=True, pad_mode="reflect",
                          return_complex=True).abs()  # (B, F, frames)
        return torch.log(torch.clamp(self.fb @ spec, min=1e-5)).transpose(1, 2)  # (B, frames, n_mels)


def mel_frames(mel: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Cut or edge-pad (B, M, n_mels) to exactly 4 * n_frames mel frames."""
    want = 4 * n_frames
    if mel.shape[1] >= want:
        return mel[:, :want]
    return torch.cat([mel, mel[:, -1:].expand(-1, want - mel.shape[1], -1)], 1)


class SpeechEncoder(nn.Module):
    """(B, S) audio + frame counts -> (B, T, d) features at the video frame rate."""

    def __init__(self, cfg: Any):
        super().__init__()
        d = cfg.d_model
        self.mel = LogMel(cfg.sample_rate, cfg.n_fft, cfg.win, cfg.hop, cfg.n_mels)
        self.conv_in = nn.Conv1d(cfg.n_mels, d, 5, padding=2)
        self.down = nn.ModuleList([nn.Conv1d(d, d, 4, stride=2, padding=1) for _ in range(2)])
        k = cfg.enc_kernel
        self.norms = nn.ModuleList([nn.LayerNorm(d) for _ in range(cfg.enc_blocks)])
        self.convs = nn.ModuleList([nn.Conv1d(d, d, k, padding=(k // 2) * 2**i, dilation=2**i) for i in range(cfg.enc_blocks)])
        self.mix = nn.ModuleList([nn.Conv1d(d, d, 1) for _ in range(cfg.enc_blocks)])
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, audio: torch.Tensor, audio_lengths: torch.Tensor, n_frames: torch.Tensor) -> torch.Tensor:
        t_max = int(n_frames.max())
        mel = mel_frames(self.mel(audio), t_max)  # (B, 4T, n_mels)
        # utterance-level mean / variance normalisation over the real mel frames
        m = (torch.arange(4 * t_max, device=mel.device)[None] < 4 * n_frames[:, None]).float()[..., None]  # (B, 4T, 1)
        count = m.sum(1, keepdim=True).clamp(min=1)
        mean = (mel * m).sum(1, keepdim=True) / count
        std = (((mel - mean) ** 2 * m).sum(1, keepdim=True) / count).sqrt().clamp(min=1e-3)
        x = ((mel - mean) / std * m).transpose(1, 2)  # (B, n_mels, 4T)
        x = F.gelu(self.conv_in(x))
        for conv in self.down:
            x = F.gelu(conv(x))  # (B, d, 2T) then (B, d, T)
        fm = (torch.arange(t_max, device=x.device)[None] < n_frames[:, None]).float()[:, None]  # (B, 1, T)
        for norm, conv, mix in zip(self.norms, self.convs, self.mix):
            h = norm(x.transpose(1, 2)).transpose(1, 2)
            x = (x + mix(self.drop(F.gelu(conv(h))))) * fm
        return x.transpose(1, 2)  # (B, T, d)


def audio_tensor(x: Any) -> np.ndarray:
    """The audio of a condition X (a dict with "audio", or the audio itself) as (S,) float32."""
    audio = x["audio"] if isinstance(x, dict) else x
    a = np.array(audio, dtype=np.float32).reshape(-1)  # a writable copy (datasets hands out read-only views)
    if a.size == 0:
        from regen_speech.audio import EmptyAudioError

        raise EmptyAudioError(None, "the condition's audio has no samples")
    return a


def make_generator(seed: int | None) -> torch.Generator:
    return torch.Generator().manual_seed(seed if seed is not None else int(torch.seed() % 2**31))


class CoefficientGenerator(nn.Module):
    """speech -> per-frame coefficients: mean network + learned AR(1) residual noise; identity by fitting."""

    stochastic = True

    def __init__(self, cfg: Any, extractor: Any):
        super().__init__()
        self.cfg = cfg
        self.encoder = SpeechEncoder(cfg)
        self.head = nn.Linear(cfg.d_model, N_COEFF)
        self.log_sigma = nn.Parameter(torch.full((N_COEFF,), math.log(0.1)))  # AR(1) stationary std
        self.rho_raw = nn.Parameter(torch.full((N_COEFF,), 1.0))  # lag-1 correlation = tanh(rho_raw)
        self._fitter = [extractor]  # not a submodule: the explicit fitter has nothing to save
        self._identities: dict[bytes, np.ndarray] = {}
        lo, hi = coefficient_box()
        self.register_buffer("lo", lo[N_ID:], persistent=False)
        self.register_buffer("hi", hi[N_ID:], persistent=False)

    def ar_params(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.log_sigma.exp(), torch.tanh(self.rho_raw).clamp(-0.995, 0.995)

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        frames = batch["n_frames"]  # (B,)
        mu = self.head(self.encoder(batch["audio"], batch["audio_lengths"], frames))  # (B, T, 9)
        y = batch["y_prime"][..., N_ID:]  # (B, T, 9)
        t_max = y.shape[1]
        mask = (torch.arange(t_max, device=y.device)[None] < frames[:, None]).float()  # (B, T)
        sigma, rho = self.ar_params()
        e = y - mu
        v = torch.cat([e[:, :1], e[:, 1:] - rho * e[:, :-1]], 1)  # AR(1) innovations (B, T, 9)
        var = torch.cat([(sigma**2).expand(e.shape[0], 1, -1), (sigma**2 * (1 - rho**2)).expand(e.shape[0], t_max - 1, -1)], 1)
        nll = 0.5 * (v**2 / var + var.log() + math.log(2 * math.pi))  # (B, T, 9)
        loss = (nll * mask[..., None]).sum() / (mask.sum() * N_COEFF)
        with torch.no_grad():
            se = (e.detach() ** 2 * mask[..., None]).sum((0, 1)) / mask.sum()
        return loss, {"mouth_mse": float(se[:2].mean()), "pose_mse": float(se[4:].mean()), "blink_mse": float(se[2])}

    def identity(self, reference: Any) -> np.ndarray:
        """The identity (5,) of the reference frame, by the fitter (cached per frame)."""
        ref = np.asarray(reference)
        key = ref.tobytes() + str(ref.shape).encode()
        if key not in self._identities:
            self._identities[key] = self._fitter[0].fit([ref[None]]).y_prime[0][0, :N_ID]
        return self._identities[key]

    @torch.no_grad()
    def mean_track(self, audio: np.ndarray) -> torch.Tensor:
        n = self.cfg.n_frames(len(audio))
        a = torch.from_numpy(audio)[None]
        return self.head(self.encoder(a, torch.tensor([len(audio)]), torch.tensor([n])))[0]  # (T, 9)

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        """X = {"audio", "reference"} -> Y' (T, 14): the reference's identity + sampled coefficients."""
        audio = audio_tensor(condition)
        ident = self.identity(condition["reference"])
        coeffs = self.sample_coefficients(audio, seed=seed, temperature=temperature)
        out = np.concatenate([np.repeat(ident[None], len(coeffs), 0), coeffs], 1)
        return out.astype(np.float32)

    @torch.no_grad()
    def sample_coefficients(self, audio: np.ndarray, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        """Speech (S,) -> the per-frame coefficients (T, 9): expression (jaw, spread, blink, brow) + head pose
        (yaw, pitch, roll, tx, ty), sampled; the face model drives either face with them."""
        was = self.training
        self.eval()
        mu = self.mean_track(audio_tensor(audio))  # (T, 9)
        scale = temperature * self.cfg.noise_scale
        if scale > 0:
            g = make_generator(seed)
            sigma, rho = self.ar_params()
            z = torch.randn(mu.shape, generator=g)
            e = torch.empty_like(mu)
            e[0] = sigma * z[0]
            for t in range(1, len(mu)):
                e[t] = rho * e[t - 1] + sigma * torch.sqrt(1 - rho**2) * z[t]
            mu = mu + scale * e
        coeffs = torch.maximum(torch.minimum(mu, self.hi), self.lo)
        self.train(was)
        return coeffs.numpy().astype(np.float32)


def drive_real(reference_y_prime: np.ndarray, coeffs: np.ndarray, *, head_motion: float = 0.5,
               face_width: float = 100.0, jaw_gain: float = 1.0) -> np.ndarray:
    """The generator's coefficients (T, 9) in the real face model's Y' (T, K+5+6) of a reference photo.

    The expression coefficients share their meaning and range (:mod:`.face3d`): jaw (times ``jaw_gain``),
    spread and blink are taken as they are (so silence closes the photo's mouth), the brow moves around the photo's own, the
    smile stays the photo's. The head pose moves around the photo's pose: angles times ``head_motion``,
    translations (half face widths in the synthetic corpus) times ``head_motion * face_width / 2`` pixels.
    """
    from .face3d import K_ID

    ref = np.asarray(reference_y_prime, np.float64)
    c = np.asarray(coeffs, np.float64)
    out = np.repeat(ref[None], len(c), 0)
    e, p = K_ID, K_ID + 5
    out[:, e + 0] = np.clip(jaw_gain * c[:, 0], 0.0, 1.3)  # jaw
    out[:, e + 1] = np.clip(c[:, 1], -1.2, 1.2)  # spread / rounding
    out[:, e + 2] = np.clip(c[:, 2], 0.0, 1.0)  # blink
    out[:, e + 3] = ref[e + 3] + 0.5 * c[:, 3]  # brow, around the photo's
    out[:, p : p + 3] = ref[p : p + 3] + head_motion * c[:, 4:7]  # yaw, pitch, roll
    out[:, p + 3 : p + 5] = ref[p + 3 : p + 5] + head_motion * c[:, 7:9] * face_width / 2
    return out
