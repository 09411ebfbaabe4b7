"""Reading and writing audio files, with every conversion reported and every defect named.

:func:`load_audio` decodes with soundfile, down-mixes to mono and resamples (soxr) to the rate the
caller asks for. It never converts silently: what it did is returned in :attr:`LoadedAudio.notes`,
logged at INFO level, and printed with ``verbose=True``. Files that cannot be used raise a
subclass of :class:`AudioError` (a ``ValueError``) naming the file and the problem; clipped audio
only warns (:class:`ClippingWarning`), because it is still usable.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from regen_core.atomic import check_output_file, write_bytes
from regen_core.errors import LimitError, OutputPathError, RegenError

log = logging.getLogger(__name__)

SILENCE_PEAK = 1e-4  # a file whose absolute peak is below this (-80 dBFS) counts as silent
CLIP_LEVEL = 0.999  # |x| at or above this counts as a clipped sample
CLIP_FRACTION = 0.001  # warn when more than this fraction of samples is clipped


class AudioError(RegenError, ValueError):
    """Base of the audio errors: the file cannot be used. ``path`` names it (None for arrays)."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if path is not None else problem)


class AudioNotFoundError(AudioError, FileNotFoundError):
    """The audio file does not exist."""


class CorruptAudioError(AudioError):
    """The file exists but cannot be decoded as audio."""


class EmptyAudioError(AudioError):
    """The file decodes to zero samples."""


class SilentAudioError(AudioError):
    """Every sample is (nearly) zero."""


class NonFiniteAudioError(AudioError):
    """The audio holds NaN or infinite samples."""


class SampleRateError(AudioError):
    """A sample rate that is not a positive integer, or a mismatch the caller forbade."""


class AudioLimitError(AudioError, LimitError):
    """The audio is too long for its file format."""


#: Output formats by extension (what :func:`save_wav` writes; any other extension is refused).
WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
#: RIFF sizes are 32-bit: the data of one WAV file stays below 4 GiB (less the header).
MAX_WAV_BYTES = 2**32 - 1024
_BYTES = {"PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8, "PCM_U8": 1, "PCM_S8": 1}


class ClippingWarning(UserWarning):
    """Many samples sit at full scale: the recording (or a model's output) is clipped."""


@dataclass(frozen=True)
class LoadedAudio:
    """Audio read by :func:`load_audio` and what was done to it."""

    audio: np.ndarray  # (T,) float32 when mono, else (C, T) float32
    sample_rate: int  # Hz, the rate that was asked for
    path: str  # the file that was read
    source_rate: int  # Hz, the file's own rate
    source_channels: int  # channels in the file
    clipped_fraction: float  # fraction of samples at |x| >= CLIP_LEVEL
    notes: tuple[str, ...] = field(default_factory=tuple)  # conversions applied, in order

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.audio.shape[-1] / self.sample_rate


def _check_rate(sample_rate: int, path: str | os.PathLike | None) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise SampleRateError(path, f"sample rate must be a positive integer, got {sample_rate!r}")
    return int(sample_rate)


def check_audio(
    audio: np.ndarray,
    *,
    path: str | os.PathLike | None = None,
    allow_silent: bool = False,
    warn_clipping: bool = True,
) -> float:
    """Validate samples (any shape, last axis time); return the clipped fraction.

    Raises :class:`EmptyAudioError`, :class:`NonFiniteAudioError` or (unless ``allow_silent``)
    :class:`SilentAudioError`; warns :class:`ClippingWarning` when over ``CLIP_FRACTION`` of the
    samples are at full scale.
    """
    x = np.asarray(audio)
    if x.size == 0 or x.shape[-1] == 0:
        raise EmptyAudioError(path, "no audio samples (empty file or zero-length array)")
    finite = np.isfinite(x)
    if not finite.all():
        bad = int(x.size - finite.sum())
        first = int(np.argmin(finite.reshape(-1)))
        raise NonFiniteAudioError(path, f"{bad} of {x.size} samples are NaN or infinite (first at flat index {first})")
    peak = float(np.abs(x).max())
    if peak < SILENCE_PEAK and not allow_silent:
        raise SilentAudioError(path, f"audio is silent (peak {peak:.2e} < {SILENCE_PEAK:g}, {x.shape[-1]} samples)")
    clipped = float((np.abs(x) >= CLIP_LEVEL).mean())
    if warn_clipping and clipped > CLIP_FRACTION:
        where = path if path is not None else "audio"
        warnings.warn(
            f"{where}: {clipped:.2%} of samples are at full scale (clipped); peak {peak:.3f}",
            ClippingWarning,
            stacklevel=3,
        )
    return clipped


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Resample along the last axis with soxr (high quality): (..., T) -> (..., T')."""
    if source_rate == target_rate:
        return audio
    import soxr

    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        return soxr.resample(x, source_rate, target_rate, quality="HQ").astype(np.float32)  # (T',)
    flat = x.reshape(-1, x.shape[-1]).T  # (T, C) as soxr wants it
    out = soxr.resample(np.ascontiguousarray(flat), source_rate, target_rate, quality="HQ")  # (T', C)
    return np.ascontiguousarray(out.T).reshape(*x.shape[:-1], out.shape[0]).astype(np.float32)


def load_audio(
    path: str | os.PathLike,
    sample_rate: int,
    *,
    mono: bool = True,
    verbose: bool = False,
    allow_silent: bool = False,
) -> LoadedAudio:
    """Read an audio file as float32 at ``sample_rate`` Hz.

    Steps: 1. decode with soundfile (any format libsndfile reads: WAV, FLAC, OGG, ...);
    2. validate (empty, NaN/inf, silent, clipped); 3. down-mix to mono by averaging channels when
    ``mono``; 4. resample with soxr when the file's rate differs. Steps 3 and 4 are recorded in
    ``notes``, logged, and printed when ``verbose``.

    Returns :class:`LoadedAudio` with ``audio`` (T,) when mono, else (C, T).
    """
    import soundfile as sf

    target = _check_rate(sample_rate, path)
    p = Path(path)
    # 1. Decode.
    if not p.is_file():
        raise AudioNotFoundError(p, "no such audio file" if not p.exists() else "not a regular file")
    if p.stat().st_size == 0:
        raise EmptyAudioError(p, "file is 0 bytes")
    try:
        data, source_rate = sf.read(str(p), dtype="float32", always_2d=True)  # (T, C)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise CorruptAudioError(p, f"cannot decode audio ({type(e).__name__}: {e})") from e
    if data.shape[1] == 0:
        raise CorruptAudioError(p, "file declares zero channels")
    x = np.ascontiguousarray(data.T)  # (C, T)
    # 2. Validate.
    clipped = check_audio(x, path=p, allow_silent=allow_silent)
    notes: list[str] = []
    # 3. Down-mix.
    channels = x.shape[0]
    if mono and channels > 1:
        x = x.mean(axis=0, keepdims=True)  # (1, T)
        notes.append(f"down-mixed {channels} channels to mono (mean)")
    # 4. Resample.
    if source_rate != target:
        before = x.shape[-1]
        x = resample(x, int(source_rate), target)  # (C, T')
        notes.append(f"resampled {source_rate} Hz -> {target} Hz ({before} -> {x.shape[-1]} samples, soxr HQ)")
    if clipped > CLIP_FRACTION:
        notes.append(f"{clipped:.2%} of samples clipped (kept as is)")
    for note in notes:
        log.info("%s: %s", p, note)
        if verbose:
            print(f"[load_audio] {p}: {note}")
    audio = x[0] if mono else x  # (T,) or (C, T)
    return LoadedAudio(
        audio=np.ascontiguousarray(audio, dtype=np.float32),
        sample_rate=target,
        path=str(p),
        source_rate=int(source_rate),
        source_channels=channels,
        clipped_fraction=clipped,
        notes=tuple(notes),
    )


def audio_info(path: str | os.PathLike) -> tuple[int, int, int]:
    """(sample_rate, channels, frames) of a file without decoding it; CorruptAudioError if unreadable."""
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        raise AudioNotFoundError(p, "no such audio file")
    if p.stat().st_size == 0:
        raise EmptyAudioError(p, "file is 0 bytes")
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise CorruptAudioError(p, f"cannot read audio header ({type(e).__name__}: {e})") from e
    return int(info.samplerate), int(info.channels), int(info.frames)


def save_wav(
    path: str | os.PathLike,
    audio: np.ndarray,
    sample_rate: int,
    *,
    subtype: str = "PCM_16",
    allow_silent: bool = True,
) -> Path:
    """Write (T,) or (C, T) float audio in [-1, 1] as a WAV file, atomically; return the path.

    Raises :class:`EmptyAudioError` / :class:`NonFiniteAudioError` (and :class:`SilentAudioError`
    when ``allow_silent`` is False). Samples beyond [-1, 1] would wrap or saturate in integer
    formats, so they are clipped with a :class:`ClippingWarning` saying how many.
    """
    import soundfile as sf

    p = Path(path)
    fmt = WRITE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise OutputPathError(f"output {p}: audio is written as {' or '.join(WRITE_FORMATS)} (the format follows "
                              f"the extension), not {p.suffix or 'a name without extension'}")
    check_output_file(p)
    rate = _check_rate(sample_rate, p)
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim not in (1, 2):
        raise AudioError(p, f"audio must be (T,) or (C, T), got shape {tuple(x.shape)}")
    check_audio(x, path=p, allow_silent=allow_silent, warn_clipping=False)
    over = int((np.abs(x) > 1.0).sum())
    if over and subtype.upper().startswith("PCM"):
        warnings.warn(
            f"{p}: {over} samples beyond [-1, 1] clipped before writing {subtype}", ClippingWarning, stacklevel=2
        )
        x = np.clip(x, -1.0, 1.0)
    frames = x if x.ndim == 1 else x.T  # soundfile wants (T,) or (T, C)
    size = frames.size * _BYTES.get(subtype.upper(), 4)
    if fmt == "WAV" and size > MAX_WAV_BYTES:
        raise AudioLimitError(p, f"{size / 2**30:.2f} GiB of samples; a WAV file holds at most 4 GiB "
                                 f"({MAX_WAV_BYTES} bytes of data): write shorter pieces or use .flac")
    # Encoded in memory: libsndfile fsyncs a real file on close (tens of ms each on a busy disk,
    # most of a corpus build's time per utterance); the atomic rename keeps the write atomic.
    buf = io.BytesIO()
    sf.write(buf, frames, rate, subtype=subtype, format=fmt)
    write_bytes(p, buf.getbuffer(), fsync=False)
    return p
