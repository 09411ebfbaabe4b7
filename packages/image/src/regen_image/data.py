"""Image data: MNIST 5k (shared data), scikit-learn digits (bundled) and users' image folders.

Every source ends as a ``DatasetDict`` (train/valid/test, stratified by class, deterministic)
with two columns: ``label`` (X, int64 in [0, num_classes)) and ``image`` (Y, float32
``(channels, image_size, image_size)`` in [0, 1]), formatted as numpy.

Bad input is converted where the intent is unambiguous (HWC -> CHW, uint8 -> [0, 1], RGB -> grey,
a square image of another size -> resized) and is otherwise an :class:`ImageDataError` naming the
file, field or value.
"""

from __future__ import annotations

import io
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from regen_core.data import DataError, shared_data_dir

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601 luminance weights


class ImageDataError(DataError):
    """Images or labels that cannot be used as they are (shape, dtype, channels, range, unreadable file)."""


class LabelError(ImageDataError):
    """A class label outside [0, num_classes) or not an integer."""


# -- arrays -> (N, C, S, S) float32 in [0, 1] -------------------------------------------------


def _channel_first(a: np.ndarray, where: str) -> np.ndarray:
    """(N, H, W) / (N, C, H, W) / (N, H, W, C) -> (N, C, H, W)."""
    if a.ndim == 3:
        return a[:, None]  # (N, 1, H, W)
    if a.ndim != 4:
        raise ImageDataError(
            f"{where}: expected images shaped (N, H, W), (N, C, H, W) or (N, H, W, C), got shape {tuple(a.shape)}"
        )
    first, last = a.shape[1] in (1, 3, 4), a.shape[-1] in (1, 3, 4)
    if first and not last:
        return a
    if last and not first:
        return np.transpose(a, (0, 3, 1, 2))
    if first and last and a.shape[2] == a.shape[3]:  # e.g. (N, 3, 4, 4): square spatial axes decide
        return a
    if first and last and a.shape[1] == a.shape[2]:
        return np.transpose(a, (0, 3, 1, 2))
    raise ImageDataError(f"{where}: cannot tell the channel axis of shape {tuple(a.shape)} (channels must be 1, 3 or 4)")


def _unit_range(a: np.ndarray, where: str) -> np.ndarray:
    """Any numeric dtype -> float32 in [0, 1]; uint8 and 0..255 integers are divided by 255."""
    if a.dtype == bool:
        return a.astype(np.float32)
    if a.dtype.kind in "iu":
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 255:
            raise ImageDataError(f"{where}: integer images must hold 0..255, got values in [{lo}, {hi}]")
        scale = 255.0 if (a.dtype == np.uint8 or hi > 1) else 1.0
        return a.astype(np.float32) / scale
    if a.dtype.kind == "f":
        a = a.astype(np.float32)
        if not np.isfinite(a).all():
            raise ImageDataError(f"{where}: images contain NaN or infinite values")
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ImageDataError(
                f"{where}: float images must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}] "
                f"(divide 0..255 data by 255; map [-1, 1] data with (x + 1) / 2)"
            )
        return np.clip(a, 0.0, 1.0)
    raise ImageDataError(f"{where}: images must be numeric, got dtype {a.dtype}")


def _channels(a: np.ndarray, channels: int, where: str) -> np.ndarray:
    """(N, C, H, W) -> (N, channels, H, W): RGB(A) -> grey by luminance, grey -> RGB by repetition, alpha dropped."""
    c = a.shape[1]
    if c == channels:
        return a
    if channels == 1 and c in (3, 4):
        return np.einsum("nchw,c->nhw", a[:, :3], _LUMA)[:, None]
    if channels == 3 and c == 4:
        return a[:, :3]
    if channels == 3 and c == 1:
        return np.repeat(a, 3, axis=1)
    raise ImageDataError(f"{where}: cannot convert {c}-channel images to {channels} channels")


def _resize(a: np.ndarray, size: int, where: str) -> np.ndarray:
    """(N, C, H, W) square -> (N, C, size, size), bilinear with anti-aliasing."""
    h, w = a.shape[2:]
    if h != w:
        raise ImageDataError(f"{where}: images must be square, got {h}x{w} (crop them first)")
    if h == size:
        return a
    t = F.interpolate(torch.from_numpy(np.ascontiguousarray(a)), size=(size, size), mode="bilinear",
                      antialias=True, align_corners=False)
    return t.clamp(0, 1).numpy()


def to_images(images: Any, *, channels: int = 1, size: int = 32, where: str = "images") -> np.ndarray:
    """A batch of images in any common layout -> (N, channels, size, size) float32 in [0, 1]."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    a = np.asarray(images)
    if a.dtype == object:
        raise ImageDataError(f"{where}: images of different shapes cannot be stacked; pass them one by one")
    a = _channel_first(a, where)
    a = _unit_range(a, where)
    a = _channels(a, channels, where)
    a = _resize(a, size, where)
    return np.ascontiguousarray(a, dtype=np.float32)


def to_image(image: Any, *, channels: int = 1, size: int = 32, where: str = "image") -> np.ndarray:
    """One image ((H, W), (C, H, W) or (H, W, C), any numeric dtype) -> (channels, size, size) float32 in [0, 1]."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    a = np.asarray(image)
    if a.ndim not in (2, 3):
        raise ImageDataError(f"{where}: expected one image shaped (H, W), (C, H, W) or (H, W, C), got shape {a.shape}")
    return to_images(a[None], channels=channels, size=size, where=where)[0]


def check_labels(labels: Any, num_classes: int, where: str = "labels") -> np.ndarray:
    """Integer labels in [0, num_classes) -> int64 array; anything else is a :class:`LabelError`."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    a = np.asarray(labels)
    if a.ndim != 1:
        raise LabelError(f"{where}: expected a 1-D array of class labels, got shape {a.shape}")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            bad = a[~(np.isfinite(a) & (a == np.round(a)))][0]
            raise LabelError(f"{where}: class labels must be integers, got {bad!r}")
    elif a.dtype.kind not in "iub":
        raise LabelError(f"{where}: class labels must be integers, got dtype {a.dtype}")
    a = a.astype(np.int64)
    bad = np.flatnonzero((a < 0) | (a >= num_classes))
    if len(bad):
        i = int(bad[0])
        raise LabelError(
            f"{where}: label {int(a[i])} at index {i} is outside 0..{num_classes - 1} "
            f"({len(bad)} such labels); set pairing.num_classes to cover every class"
        )
    return a


def class_index(condition: Any, num_classes: int) -> int:
    """One condition (int, numpy/torch scalar, "3") -> a checked class index."""
    if isinstance(condition, torch.Tensor):
        condition = condition.detach().cpu().numpy()
    if isinstance(condition, str):
        try:
            condition = int(condition.strip())
        except ValueError:
            raise LabelError(f"class must be an integer 0..{num_classes - 1}, got {condition!r}") from None
    a = np.asarray(condition)
    if a.size != 1:
        raise LabelError(f"expected one class label, got shape {a.shape}")
    return int(check_labels(a.reshape(1), num_classes, where="class")[0])


# -- sources ----------------------------------------------------------------------------------


def default_mnist_path() -> Path:
    return shared_data_dir() / "mnist5k" / "mnist5k.npz"


def load_mnist5k(path: str | Path | None = None, size: int = 32, channels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """MNIST 5k: (N, channels, size, size) in [0, 1] (28x28 padded by 2 pixels to 32), labels (N,)."""
    p = Path(path) if path else default_mnist_path()
    if p.is_dir():
        p = p / "mnist5k.npz"
    if not p.is_file():
        raise ImageDataError(
            f"MNIST 5k not found at {p}; set REGEN_SHARED_DATA or pairing.data_path, or use pairing.source=digits"
        )
    try:
        with np.load(p, allow_pickle=False) as z:
            images, labels = z["images"], z["labels"]
    except (OSError, ValueError, KeyError) as err:
        raise ImageDataError(f"{p}: cannot read MNIST arrays 'images' and 'labels' ({err})") from None
    images = to_images(images, channels=channels, size=28, where=str(p))  # (N, C, 28, 28)
    if size >= 28 and (size - 28) % 2 == 0:
        pad = (size - 28) // 2
        images = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # (N, C, size, size)
    else:
        images = to_images(images, channels=channels, size=size, where=str(p))
    return images, labels.astype(np.int64)


def load_digits_images(size: int = 32, channels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits (0..16), up-sampled to size x size in [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images / 16.0).astype(np.float32)  # (N, 8, 8)
    return to_images(images, channels=channels, size=size, where="sklearn digits"), d.target.astype(np.int64)


#: Pillow modes of 16-bit samples: scaled by 65535 (``convert("L")`` would clip them to 255, i.e. white).
_MODES_16 = ("I;16", "I;16B", "I;16L", "I;16N")
_BACKGROUND = {"black": 0.0, "white": 1.0}


def _has_alpha(img: Any) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info


def _decode(img: Any, channels: int, alpha: str, where: str) -> tuple[np.ndarray, bool]:
    """A loaded PIL image -> ((H, W) or (H, W, C) array, whether transparency was composited).

    8-bit images keep Pillow's conversion (uint8); 16-bit grey is scaled by its true depth (0..65535 -> [0, 1]);
    transparency is composited on the ``alpha`` background or refused.
    """
    if img.mode in _MODES_16 or (img.mode == "I" and img.format == "PNG"):  # 16-bit PNG grey opens as I;16 or I
        arr = np.asarray(img, dtype=np.int64)
        if arr.min() < 0 or arr.max() > 65535:
            raise ImageDataError(f"{where}: 16-bit image holds values in [{arr.min()}, {arr.max()}], outside 0..65535")
        return arr.astype(np.float32) / 65535.0, False
    if img.mode in ("I", "F"):
        raise ImageDataError(f"{where}: {'32-bit integer' if img.mode == 'I' else 'floating-point'} images are not "
                             f"supported (save as 8- or 16-bit PNG)")
    if _has_alpha(img):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0  # (H, W, 4)
        a = rgba[..., 3:]
        if (a < 1).any():
            if alpha not in _BACKGROUND:
                raise ImageDataError(
                    f"{where}: the image has transparent pixels ({float((a < 1).mean()):.0%}); set pairing.alpha=black "
                    f"or pairing.alpha=white to composite it on that background"
                )
            rgb = rgba[..., :3] * a + _BACKGROUND[alpha] * (1 - a)  # (H, W, 3) composited
            return (np.einsum("hwc,c->hw", rgb, _LUMA) if channels == 1 else rgb), True
        img = img.convert("RGB")  # alpha present but fully opaque: nothing is lost
    mode = "L" if channels == 1 else "RGB"
    return np.asarray(img.convert(mode)), False  # (H, W) or (H, W, 3) uint8


def _open_image(record: dict, channels: int, size: int, alpha: str = "refuse") -> tuple[np.ndarray, bool]:
    """One image file -> ((channels, size, size) float32 in [0, 1], whether transparency was composited)."""
    from PIL import Image, UnidentifiedImageError

    where = record.get("path") or "<image bytes>"
    try:
        src = io.BytesIO(record["bytes"]) if record.get("bytes") else record["path"]
        with Image.open(src) as img:
            img.load()
            arr, composited = _decode(img, channels, alpha, str(where))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        if isinstance(err, ImageDataError):
            raise
        raise ImageDataError(f"{where}: cannot read this image file (corrupt or not an image): {err}") from None
    h, w = arr.shape[:2]
    if h != w:  # centre crop to a square before resizing
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        arr = arr[top : top + s, left : left + s]
    return to_image(arr, channels=channels, size=size, where=str(where)), composited


def load_folder(path: str | Path, size: int = 32, channels: int = 1,
                alpha: str = "refuse") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """An image folder with one sub-folder per class (HF ``imagefolder``) -> images, labels, class names.

    Sub-folders named by integers ("0", "1", ...) keep their number as the label; other names
    are numbered in sorted order. 16-bit images are scaled by their depth; images with transparency
    are refused (``alpha="refuse"``) or composited on ``"black"`` / ``"white"`` with a notice.
    """
    if alpha not in ("refuse", *_BACKGROUND):
        raise ImageDataError(f"pairing.alpha must be refuse, black or white, got {alpha!r}")
    import datasets

    root = Path(path) if path else None
    if root is None or not root.is_dir():
        raise ImageDataError(f"image folder {root} does not exist (set pairing.data_path to a folder of class sub-folders)")
    files = [f for f in root.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS]
    if not files:
        raise ImageDataError(f"image folder {root} holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
    if all(f.parent == root for f in files):
        raise ImageDataError(f"image folder {root}: put the images in one sub-folder per class (e.g. {root}/0/a.png)")
    try:
        ds = datasets.load_dataset("imagefolder", data_dir=str(root), split="train")
    except Exception as err:  # datasets raises many types here; the message is what matters
        raise ImageDataError(f"image folder {root}: cannot be read as an imagefolder dataset: {err}") from None
    ds = ds.cast_column("image", datasets.Image(decode=False))
    records = ds["image"]
    # The class is the first folder below root (HF only infers labels for two or more folders).
    folders = [Path(r["path"]).resolve().relative_to(root.resolve()).parts[0] if r.get("path") else "" for r in records]
    names = sorted(set(folders), key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0, n))
    if "" in names:
        raise ImageDataError(f"image folder {root}: cannot tell the class of every image (no file paths)")
    opened = [_open_image(r, channels, size, alpha) for r in records]
    images = np.stack([im for im, _ in opened])  # (N, C, S, S)
    composited = sum(c for _, c in opened)
    if composited:
        print(f"[image] {root}: {composited} of {len(opened)} images have transparency, composited on {alpha} "
              f"(pairing.alpha)", file=sys.stderr)
    if all(n.isdigit() for n in names):  # folders "0", "1", ... keep their numbers
        ids = np.asarray([int(f) for f in folders], dtype=np.int64)
    else:
        ids = np.asarray([names.index(f) for f in folders], dtype=np.int64)
    return images, ids, list(names)


# -- splits -----------------------------------------------------------------------------------

_warned_fallback = False


def resolve_source(source: str, data_path: str) -> str:
    """``auto`` -> ``mnist5k`` when the shared data is there, else ``digits`` (with a one-line note)."""
    global _warned_fallback
    if source not in ("auto", "mnist5k", "digits", "folder"):
        raise ImageDataError(f"pairing.source must be auto, mnist5k, digits or folder, got {source!r}")
    if source != "auto":
        return source
    p = Path(data_path) if data_path else default_mnist_path()
    if (p / "mnist5k.npz").is_file() or p.is_file():
        return "mnist5k"
    if not _warned_fallback:
        print(f"regen-image: no MNIST 5k at {p}; using scikit-learn's 8x8 digits (up-sampled)", file=sys.stderr)
        _warned_fallback = True
    return "digits"


def stratified_split(labels: np.ndarray, n_valid: int, n_test: int, seed: int, n_train: int = 0) -> dict[str, np.ndarray]:
    """Index arrays for train/valid/test, each class spread evenly, deterministic in ``seed``.

    ``n_train`` > 0 caps the training split, keeping it class-balanced.
    """
    n = len(labels)
    if n < 3:
        raise ImageDataError(f"need at least 3 images to split into train/valid/test, got {n}")
    if n_valid + n_test > n // 2:  # small data: 10% each
        n_valid = n_test = max(1, n // 10)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    # Interleave classes: rank each image within its class, then sort by (rank, random order).
    ranks = np.empty(n, dtype=np.int64)
    for c in np.unique(labels):
        members = order[labels[order] == c]
        ranks[members] = np.arange(len(members))
    interleaved = order[np.lexsort((np.arange(n), ranks[order]))]
    test, valid, train = interleaved[:n_test], interleaved[n_test : n_test + n_valid], interleaved[n_test + n_valid :]
    if n_train > 0:
        train = train[:n_train]  # still interleaved by class: the cap keeps every class
    return {"train": np.sort(train), "valid": np.sort(valid), "test": np.sort(test)}


def build_dataset(images: np.ndarray, labels: np.ndarray) -> Any:
    """(N, C, S, S) float32 + (N,) int64 -> a numpy-formatted ``datasets.Dataset`` with label/image columns."""
    import datasets

    features = datasets.Features(
        {"label": datasets.Value("int64"), "image": datasets.Array3D(shape=images.shape[1:], dtype="float32")}
    )
    ds = datasets.Dataset.from_dict({"label": labels, "image": images}, features=features)
    return ds.with_format("numpy")


@lru_cache(maxsize=8)
def _load_splits(source: str, data_path: str, size: int, channels: int, num_classes: int,
                 n_train: int, n_valid: int, n_test: int, seed: int, alpha: str = "refuse") -> Any:
    import datasets

    # 1. Read the source.
    source = resolve_source(source, data_path)
    if source == "mnist5k":
        images, labels = load_mnist5k(data_path or None, size, channels)
        where = "MNIST 5k labels"
    elif source == "digits":
        images, labels = load_digits_images(size, channels)
        where = "sklearn digits labels"
    else:
        images, labels, _ = load_folder(data_path, size, channels, alpha)
        where = f"image folder {data_path}"
    # 2. Check labels, split by class, cap the training set.
    labels = check_labels(labels, num_classes, where=where)
    parts = stratified_split(labels, n_valid, n_test, seed, n_train)
    # 3. One numpy-formatted dataset per split.
    return datasets.DatasetDict({k: build_dataset(images[idx], labels[idx]) for k, idx in parts.items()})


def load_splits(cfg: Any) -> Any:
    """The pairing's ``DatasetDict`` (cached per data settings: every call returns the same splits)."""
    if cfg.channels not in (1, 3):
        raise ImageDataError(f"pairing.channels must be 1 or 3, got {cfg.channels}")
    if cfg.image_size < 8:
        raise ImageDataError(f"pairing.image_size must be at least 8, got {cfg.image_size}")
    return _load_splits(cfg.source, cfg.data_path, cfg.image_size, cfg.channels, cfg.num_classes,
                        cfg.n_train, cfg.n_valid, cfg.n_test, cfg.split_seed, cfg.alpha)


def stack_split(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """A split as tensors: images (N, C, S, S) float32, labels (N,) int64."""
    return torch.from_numpy(np.asarray(ds["image"], dtype=np.float32)), torch.from_numpy(np.asarray(ds["label"], dtype=np.int64))
