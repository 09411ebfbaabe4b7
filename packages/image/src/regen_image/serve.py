"""The image tab of ``regen serve``: a class -> a grid of samples, regeneration (with its Y') and direct.

Regeneration draws Y' (latents, VQ tokens or an 8x8 image, by pairing) for the class, then decodes
it; the direct baseline draws pixels. The page shows the Y' grid, both image grids and the time
each step took. A class outside the run's range or too many images raise the same typed errors as
``python -m regen_image.sample``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from regen_core.errors import LimitError
from regen_core.serve import StepTimer, guard, output_path

MAX_IMAGES = 64  # most images one request draws (the page's slider stops there too)
PER_ROW = 8  # images per grid row


def _rows(images: Any) -> list[list[Any]]:
    images = list(images)
    return [images[i : i + PER_ROW] for i in range(0, len(images), PER_ROW)]


def y_prime_tiles(y_prime: Any) -> list[np.ndarray]:
    """Each sample's Y' as a (H, W) picture in [0, 1] (min-max per sample), for the Y' grid."""
    from .visualise import y_prime_picture

    tiles = []
    for one in np.asarray(y_prime.detach().cpu() if hasattr(y_prime, "detach") else y_prime):
        pic = y_prime_picture(one)
        if pic is None:
            continue
        lo, hi = float(pic.min()), float(pic.max())
        tiles.append((pic - lo) / (hi - lo) if hi > lo else np.zeros_like(pic))
    return tiles


def respond(pairing: Any, models: Mapping[str, Any], cls: Any, n: Any = 8, seed: Any = 0,
            temperature: float = 1.0) -> dict[str, Any]:
    """One request: ``{"grid", "y_prime", "direct" (PNG paths; direct None without a direct stage), "timing"}``."""
    import torch
    from regen_core.errors import InputError
    from regen_core.pipeline import PipelineError

    from .data import class_index
    from .sampling import sample_images
    from .visualise import save_grid

    k = class_index(cls, pairing.config.num_classes)
    n = int(n or 0)
    if n < 1:
        raise InputError(f"the number of images must be at least 1, got {n}")
    if n > MAX_IMAGES:
        raise LimitError(f"{n} images asked for; the page draws at most {MAX_IMAGES} per request")
    for s in ("generate", "regenerate"):
        if s not in models:
            raise PipelineError(f"the run has no trained {s} stage")
    labels = torch.full((n,), k, dtype=torch.long)
    seed = int(seed or 0)
    timer = StepTimer()
    with torch.no_grad():
        with timer("generate (class -> Y')"):
            y_prime = models["generate"].sample_batch(labels, seed=seed, temperature=temperature)
        with timer("regenerate (Y' -> images)"):
            images = models["regenerate"].decode_batch(y_prime).float().cpu()
    out: dict[str, Any] = {"grid": str(save_grid(_rows(images.numpy()), output_path("image-regeneration", ".png"))),
                           "y_prime": None, "direct": None}
    tiles = y_prime_tiles(y_prime)
    if tiles:
        out["y_prime"] = str(save_grid(_rows(tiles), output_path("image-y-prime", ".png"), scale=4))
    if "direct" in models:
        direct, seconds = sample_images(dict(models), "direct", labels, seed=seed, temperature=temperature)
        timer.seconds["direct (class -> images)"] = seconds
        out["direct"] = str(save_grid(_rows(direct.numpy()), output_path("image-direct", ".png")))
    shape = tuple(np.asarray(y_prime[0].detach().cpu()).shape)
    out["timing"] = timer.markdown(f"{n} images of class {k}; Y' per image: {shape}")
    return out


def build_tab(pairing: Any, models: Mapping[str, Any]) -> None:
    """The tab's controls (inside an open ``gradio.Tab``)."""
    import gradio as gr

    name = pairing.name
    k = pairing.config.num_classes
    with gr.Row():
        cls = gr.Dropdown([str(i) for i in range(k)], value="0", label="class", allow_custom_value=True,
                          elem_id=f"{name}-class")
        n = gr.Slider(1, MAX_IMAGES, value=8, step=1, label="images", elem_id=f"{name}-n")
        seed = gr.Number(0, precision=0, label="seed", elem_id=f"{name}-seed")
    run = gr.Button("Sample", variant="primary", elem_id=f"{name}-run")
    with gr.Row():
        grid = gr.Image(label="regeneration: class -> Y' -> image", type="filepath", interactive=False,
                        elem_id=f"{name}-grid")
        direct = gr.Image(label="direct baseline: class -> image", type="filepath", interactive=False,
                          elem_id=f"{name}-direct")
    y_prime = gr.Image(label=f"Y' ({pairing.y_prime.modality}, each sample min-max scaled)", type="filepath",
                       interactive=False, elem_id=f"{name}-y-prime")
    timing = gr.Markdown(elem_id=f"{name}-timing")

    def handle(cls: str, n: float, seed: float) -> tuple:
        r = respond(pairing, models, cls, int(n), int(seed or 0))
        return r["grid"], r["direct"], r["y_prime"], r["timing"]

    run.click(guard(handle), [cls, n, seed], [grid, direct, y_prime, timing])
