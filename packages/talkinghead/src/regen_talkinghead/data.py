"""The synthetic talking-face corpus: espeak-ng speech + rendered face videos + their true coefficients.

**Synthetic, documented as such.** There is no real talking-face video here. Each utterance of the
shared espeak-ng speech corpus (:mod:`regen_speech.corpus`, audio + per-phoneme timings) gets
a face of its own (a random identity of the parametric model of :mod:`.face`), mouth movements
from its phoneme timings (visemes + coarticulation, :mod:`.motion`), and head motion, blinks and
brow movement that the speech does not determine; the frames are rendered by the model's
renderer and stored as 8-bit grey levels, like a video. The true coefficients are kept only to
check the fitter (the pipeline never trains on them).

Columns of every split (``datasets``, numpy format):

- ``x``: the condition, ``{"audio": (S,) float32 @ sample_rate, "reference": (size, size) uint8}``
  (the reference frame is the same face, frontal and neutral: the talking head animates a given face);
- ``video``: Y, (T, size, size) uint8 at ``fps``, T = round(S * fps / sample_rate);
- ``true_y_prime``: (T, 14) float32, the identity (repeated) and per-frame coefficients it was rendered from;
- ``id``, ``speaker``, ``text``.

The corpus is built once and saved with ``Dataset.save_to_disk`` under
``$REGEN_CACHE/talkinghead/<key>``; the key covers every option that changes it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from regen_core.data import DataError, cache_dir, fingerprint

from .config import TalkingHeadConfig

FORMAT_VERSION = 1  # bump when the rendered corpus changes for the same options


def corpus_key(cfg: TalkingHeadConfig) -> str:
    """Every option that changes the corpus; FORMAT_VERSION covers the code (bump it when the renderer changes)."""
    fields = ("corpus_n", "corpus_speakers", "corpus_seed", "corpus_min_words", "corpus_max_words", "corpus_sentences",
              "sample_rate", "fps", "size", "grid", "face_tau", "face_splat", "face_scale", "face_window", "motion_seed",
              "head_motion", "brow_motion", "blink_rate", "articulation")
    return fingerprint("talkinghead-corpus", FORMAT_VERSION, {f: getattr(cfg, f) for f in fields})


def speech_folder(cfg: TalkingHeadConfig) -> Path:
    """The espeak-ng speech corpus (built once under the cache)."""
    from regen_speech.corpus import CorpusConfig, build_corpus

    ccfg = CorpusConfig(n=cfg.corpus_n, seed=cfg.corpus_seed, speakers=tuple(cfg.corpus_speakers),
                        sentences=cfg.corpus_sentences, min_words=cfg.corpus_min_words, max_words=cfg.corpus_max_words,
                        sample_rate=cfg.sample_rate)
    folder = cache_dir() / "talkinghead-speech" / fingerprint("talkinghead-speech", 1, repr(ccfg))
    if not (folder / "corpus.json").is_file():
        build_corpus(folder, ccfg, num_proc=max(1, cfg.num_proc), progress=False, overwrite=True)
    return folder


def render_video(model: Any, identity: np.ndarray, coeffs: np.ndarray, batch: int = 256) -> np.ndarray:
    """(T, size, size) uint8 frames of one identity (5,) and its coefficients (T, 9)."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(coeffs), batch):
            c = torch.from_numpy(coeffs[i : i + batch])
            ident = torch.from_numpy(identity)[None].expand(len(c), -1)
            out.append(model.render(ident, c).numpy())
    return np.clip(np.round(np.concatenate(out) * 255.0), 0, 255).astype(np.uint8)


def reference_frame(model: Any, identity: np.ndarray) -> np.ndarray:
    """(size, size) uint8: the face of ``identity``, frontal, centred, mouth closed, eyes open."""
    from .face import N_COEFF

    return render_video(model, identity, np.zeros((1, N_COEFF), np.float32))[0]


def features(cfg: TalkingHeadConfig) -> Any:
    import datasets

    from .face import Y_PRIME_NAMES

    s = cfg.size
    return datasets.Features({
        "id": datasets.Value("string"),  # utterance id
        "speaker": datasets.Value("string"),  # espeak-ng voice
        "text": datasets.Value("string"),  # what was said
        "x": {"audio": datasets.Sequence(datasets.Value("float32")),  # (S,) mono @ sample_rate
              "reference": datasets.Array2D((s, s), "uint8")},  # the neutral frontal face
        "video": datasets.Array3D((None, s, s), "uint8"),  # (T, size, size) @ fps
        "true_y_prime": datasets.Array2D((None, len(Y_PRIME_NAMES)), "float32"),  # (T, 14), for checking the fitter
    })  # fmt: skip


def build(cfg: TalkingHeadConfig, folder: Path) -> None:
    """Render the corpus of ``cfg`` into ``folder`` (atomically: built beside it, then renamed)."""
    import datasets

    from regen_speech.corpus import load_corpus

    from .face import FaceModel
    from .motion import face_track

    speech = load_corpus(speech_folder(cfg), cfg.sample_rate)
    model = FaceModel(cfg.geometry())
    rows = []
    cols = speech.select_columns(["id", "speaker", "normalized", "audio", "phonemes", "phoneme_starts", "phoneme_ends"])
    for i in range(len(cols)):
        ex = cols[i]
        audio = np.asarray(ex["audio"], np.float32)
        n = cfg.n_frames(len(audio))
        identity, coeffs = face_track(ex["id"], ex["phonemes"], ex["phoneme_starts"], ex["phoneme_ends"], n, cfg)
        rows.append({
            "id": ex["id"], "speaker": ex["speaker"], "text": ex["normalized"],
            "x": {"audio": audio, "reference": reference_frame(model, identity)},
            "video": render_video(model, identity, coeffs),
            "true_y_prime": np.concatenate([np.repeat(identity[None], n, 0), coeffs], 1).astype(np.float32),
        })  # fmt: skip
    ds = datasets.Dataset.from_list(rows, features=features(cfg))
    tmp = folder.parent / f".{folder.name}.building-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        ds.save_to_disk(str(tmp))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def corpus_folder(cfg: TalkingHeadConfig) -> Path:
    folder = cache_dir() / "talkinghead" / corpus_key(cfg)
    if not (folder / "dataset_info.json").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        build(cfg, folder)
    return folder


def load_corpus(cfg: TalkingHeadConfig) -> Any:
    """The whole corpus as one ``datasets.Dataset`` (numpy format), built on first use."""
    import datasets

    check(cfg)
    ds = datasets.load_from_disk(str(corpus_folder(cfg)))
    if len(ds) < 3:
        raise DataError(f"the talking-face corpus has {len(ds)} utterances; need at least 3 (pairing.corpus_n)")
    return ds


def load_splits(cfg: TalkingHeadConfig) -> Any:
    """Deterministic train / valid / test ``DatasetDict`` (split by utterance), numpy format."""
    from regen_core.data import split

    parts = split(load_corpus(cfg), valid=cfg.valid_fraction, test=cfg.test_fraction, seed=cfg.split_seed)
    for name in list(parts):
        parts[name] = parts[name].with_format("numpy")
    return parts


def check(cfg: TalkingHeadConfig) -> None:
    """Config consistency: the mel hop must tile a video frame exactly."""
    if cfg.fps <= 0 or cfg.sample_rate % (4 * cfg.fps):
        raise DataError(f"pairing.sample_rate ({cfg.sample_rate}) must divide by 4 * fps ({4 * cfg.fps}): "
                        f"4 mel frames per video frame")
    if cfg.size < 16 or cfg.size & (cfg.size - 1):
        raise DataError(f"pairing.size must be a power of two >= 16 (the decoders upsample 4 -> size), got {cfg.size}")
    if cfg.corpus_n < 3:
        raise DataError(f"pairing.corpus_n must be at least 3, got {cfg.corpus_n}")
    if cfg.landmark_backend not in ("dlib", "face-alignment"):
        raise DataError(f"pairing.landmark_backend must be 'dlib' or 'face-alignment', got {cfg.landmark_backend!r}")
    if not 64 <= cfg.real_size <= 2048:
        raise DataError(f"pairing.real_size must lie in 64..2048 pixels, got {cfg.real_size}")
    if cfg.direct_real and not cfg.video_dir:
        raise DataError("pairing.direct_real=true trains the direct baseline on real talking videos with sound: "
                        "set pairing.video_dir=DIR as well (none ship with regen)")
    if not 0 < cfg.direct_real_holdout < 1 or cfg.direct_real_chunk < 1:
        raise DataError("pairing.direct_real_holdout must lie in (0, 1) and pairing.direct_real_chunk be >= 1")
    if cfg.real_smooth < 0 or cfg.real_head_motion < 0 or cfg.real_lead < 0:
        raise DataError("pairing.real_smooth, pairing.real_head_motion and pairing.real_lead must be >= 0")


def synthetic_videos(cfg: TalkingHeadConfig, n: int = 4, frames: int = 24, tag: str = "test") -> tuple[list, list]:
    """Small videos rendered like the corpus's, without speech synthesis (for tests and checks):
    a fixed made-up phoneme sequence for the mouth, each video's own identity and random motion.
    Returns (videos (T, size, size) uint8, true Y' (T, 14))."""
    from .face import FaceModel
    from .motion import face_track

    face = FaceModel(cfg.geometry())
    phonemes = ["_", "h", "ə", "l", "oʊ", "w", "ɜː", "l", "d", "_", "b", "a", "p", "i", "_"]
    starts = np.linspace(0, 0.9, len(phonemes))
    vids, truths = [], []
    for i in range(n):
        ident, coeffs = face_track(f"{tag}{i}", phonemes, starts, starts + 0.9 / len(phonemes), frames, cfg)
        vids.append(render_video(face, ident, coeffs))
        truths.append(np.concatenate([np.repeat(ident[None], frames, 0), coeffs], 1).astype(np.float32))
    return vids, truths


# -- real speech for the real-face checks ------------------------------------------------------------------------


def phone_number_speech(digits: str = "5550123", speaker: str = "jackson", *, take: int = 0, gap: float = 0.3,
                        edge: float = 0.5, sample_rate: int = 16000, root: Any = None) -> np.ndarray:
    """A spoken phone number from FSDD's real recordings (test takes 0-4): the digits' recordings of one
    speaker joined with ``gap`` seconds of silence, ``edge`` seconds before and after; resampled to
    ``sample_rate``. FSDD is read from ``$REGEN_SHARED_DATA/fsdd`` (regen_speech.fsdd); a missing
    folder or recording raises DataError naming it."""
    import soundfile as sf
    import soxr

    from regen_speech.fsdd import fsdd_dir

    folder = fsdd_dir(root) / "recordings"
    parts = [np.zeros(int(edge * sample_rate), np.float32)]
    for i, d in enumerate(digits):
        if not d.isdigit():
            raise DataError(f"phone number {digits!r}: {d!r} is not a digit")
        path = folder / f"{d}_{speaker}_{(take + i) % 5}.wav"
        if not path.is_file():
            raise DataError(f"{path}: FSDD recording not found (set REGEN_SHARED_DATA to the shared data folder)")
        a, sr = sf.read(path, dtype="float32")
        a = soxr.resample(a, sr, sample_rate).astype(np.float32) if sr != sample_rate else a
        parts += [a / max(1e-6, float(np.abs(a).max())) * 0.8, np.zeros(int(gap * sample_rate), np.float32)]
    parts[-1] = np.zeros(int(edge * sample_rate), np.float32)
    return np.concatenate(parts)


# -- a user's talking videos with audio: generator training pairs (pairing.video_dir) ----------------------------


def talking_videos(cfg: TalkingHeadConfig, *, verbose: bool = True, tag: str = "video_dir"):
    """Yield ``(path, audio, frames)`` for each video of ``cfg.video_dir`` with a sound track: the sound resampled
    to ``sample_rate``, the frames (T, H, W, 3) taken at ``fps`` for as long as the sound lasts. Videos without
    sound are skipped and named (``[tag] path: no sound track, not used``)."""
    from .photo import load_video, load_video_audio, video_folder

    for path in video_folder(cfg.video_dir)["path"]:
        audio = load_video_audio(path, cfg.sample_rate)
        if audio is None:
            if verbose:
                print(f"[{tag}] {path}: no sound track, not used")
            continue
        frames, fps = load_video(path)
        n = min(cfg.n_frames(len(audio)), int(len(frames) * cfg.fps / fps))
        idx = np.minimum(np.round(np.arange(n) * fps / cfg.fps).astype(int), len(frames) - 1)
        yield path, audio, frames[idx]


def video_rows(cfg: TalkingHeadConfig, *, verbose: bool = True) -> list[dict]:
    """Generator rows from the talking-face videos of ``cfg.video_dir`` (mp4/avi/mov/...; those without a sound
    track are skipped and named): the sound track resampled to ``sample_rate``, the frames taken at ``fps``,
    extract Y -> Y' on them (largest face's landmarks, gaps up to ``video_max_gap`` frames interpolated, 68-point
    3D fit with the person's shape solved over the video (:func:`.face3d.personal_model`) and held, smoothed), and the fitted coefficients mapped into the generator's 9 targets
    (:func:`real_to_generator`). Rows: {"audio", "n_frames", "y_prime": (T, 14)} like the synthetic ones."""
    from .face3d import fit_track, load_model, personal_model
    from .landmarks import LandmarkDetector

    detector = LandmarkDetector(cfg.landmark_backend, verbose=verbose)
    model = load_model()
    rows = []
    for path, audio, frames in talking_videos(cfg, verbose=verbose, tag="video_dir"):
        n = len(frames)
        pts, lost = detector.track(frames, max_gap=cfg.video_max_gap, name=str(path))
        person, ident = personal_model(model, pts)  # the person's shape (identity + depth) over the video
        _, y_real = fit_track(person, pts, smooth=cfg.real_smooth, ident=ident)
        width = float(np.median(pts[:, :17, 0].max(1) - pts[:, :17, 0].min(1)))
        coeffs = real_to_generator(y_real, width, cfg)
        y_prime = np.concatenate([np.zeros((n, 5), np.float32), coeffs], 1)  # no synthetic identity: zeros
        rows.append({"audio": audio[: int(round(n * cfg.sample_rate / cfg.fps))].astype(np.float32), "n_frames": n,
                     "y_prime": y_prime.astype(np.float32)})
        if verbose:
            print(f"[video_dir] {path}: {n} frames at {cfg.fps} fps"
                  + (f", face lost and interpolated in {len(lost)} frames" if lost else ""))
    if not rows:
        raise DataError(f"pairing.video_dir={cfg.video_dir}: no video with a sound track")
    return rows


def real_to_generator(y_real: np.ndarray, face_width: float, cfg: TalkingHeadConfig) -> np.ndarray:
    """Fitted real Y' (T, K+5+6) -> the generator's targets (T, 9), the inverse of ``generate.drive_real``:
    jaw / real_jaw_gain, spread and blink as they are, brow and head pose relative to the video's median."""
    from .face3d import K_ID

    y = np.asarray(y_real, np.float64)
    e, p = K_ID, K_ID + 5
    hm = max(cfg.real_head_motion, 1e-6)
    out = np.zeros((len(y), 9))
    out[:, 0] = y[:, e] / max(cfg.real_jaw_gain, 1e-6)
    out[:, 1] = y[:, e + 1]
    out[:, 2] = y[:, e + 2]
    out[:, 3] = (y[:, e + 3] - np.median(y[:, e + 3])) / 0.5
    out[:, 4:7] = (y[:, p : p + 3] - np.median(y[:, p : p + 3], 0)) / hm
    out[:, 7:9] = (y[:, p + 3 : p + 5] - np.median(y[:, p + 3 : p + 5], 0)) / (hm * face_width / 2)
    return out.astype(np.float32)
