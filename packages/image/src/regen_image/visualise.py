"""Drawing: PNG grids of images (one row per class) and one-example panels (Y', prediction, reference)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np


def _to_hwc_uint8(image: Any) -> np.ndarray:
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 2:
        a = a[None]
    a = np.clip(a, 0, 1)
    a = a[0] if a.shape[0] == 1 else np.transpose(a[:3], (1, 2, 0))  # (H, W) or (H, W, 3)
    return (a * 255 + 0.5).astype(np.uint8)


def save_grid(rows: Sequence[Sequence[Any]], path: str | Path, pad: int = 2, scale: int = 2) -> Path:
    """Rows of (C, H, W) images in [0, 1] -> one PNG (white gutters, nearest-neighbour up-scaling)."""
    from PIL import Image

    rows = [list(r) for r in rows if len(r)]
    if not rows:
        raise ValueError("save_grid needs at least one image")
    tiles = [[_to_hwc_uint8(im) for im in r] for r in rows]
    h, w = tiles[0][0].shape[:2]
    colour = tiles[0][0].ndim == 3
    n_cols = max(len(r) for r in tiles)
    shape = (len(tiles) * (h + pad) + pad, n_cols * (w + pad) + pad) + ((3,) if colour else ())
    canvas = np.full(shape, 255, dtype=np.uint8)
    for i, r in enumerate(tiles):
        for j, t in enumerate(r):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            canvas[y : y + h, x : x + w] = t
    img = Image.fromarray(canvas)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    from regen_core.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG" if path.suffix.lower() == ".png" else None)
    return path


def y_prime_picture(y_prime: Any) -> np.ndarray | None:
    """A drawable (H, W) array for any Y': latent channels side by side, token ids, or a small image."""
    if y_prime is None:
        return None
    a = np.asarray(y_prime)
    if a.ndim == 2:  # VQ tokens (h, w)
        return a.astype(np.float32)
    if a.ndim == 3 and a.dtype.kind == "f":
        if a.shape[0] in (1, 3) and a.min() >= 0 and a.max() <= 1:  # a down-sampled image
            return a[0] if a.shape[0] == 1 else a.mean(0)
        return np.concatenate([c for c in a], axis=1)  # latents: channels side by side (h, c*w)
    return None


def example_panel(path: str | Path, *, title: str, y_prime: Any, prediction: Any, reference: Any) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("Y' (sampled)", y_prime_picture(y_prime), "viridis"), ("prediction", prediction, "gray")]
    if reference is not None:
        panels.append(("a reference of the class", reference, "gray"))
    panels = [p for p in panels if p[1] is not None]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.4 * len(panels), 2.6))
    for ax, (name, img, cmap) in zip(np.atleast_1d(axes), panels):
        a = np.asarray(img, dtype=np.float32)
        if a.ndim == 3:
            a = a[0] if a.shape[0] == 1 else np.transpose(a[:3], (1, 2, 0))
        ax.imshow(a, cmap=cmap, interpolation="nearest")
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
