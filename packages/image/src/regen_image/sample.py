"""Sample a PNG grid from a trained run.

    python -m regen_image.sample --class 3 --n 16 --out grid.png              # the shipped model
    python -m regen_image.sample --model RUN --n 8 --side both --out grid.png   # a run folder; one row per class

``--side regeneration`` (default) samples X -> Y' -> Y; ``direct`` the pixel baseline; ``both``
writes ``<out>`` and ``<out stem>_direct.png``. ``--run RUN`` means ``--model RUN``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from regen_core.atomic import check_output_file
from regen_core.cli_common import add_model_arg, model_folder, parse
from regen_core.errors import InputError, LimitError, OutputPathError, cli_main
from regen_core.pipeline import load_run

from .data import class_index
from .sampling import sample_images
from .visualise import save_grid


#: Most images one call draws (a grid beyond this is a very large PNG): split the request instead.
MAX_IMAGES = 4096


@cli_main("python -m regen_image.sample")
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_image.sample", description=__doc__.split("\n\n")[0])
    add_model_arg(p, "image", what=" (from regen_image.train / regen compare)")
    p.add_argument("--class", dest="cls", default=None, help="class to draw (default: every class, one row each)")
    p.add_argument("--n", type=int, default=16, help="images per class")
    p.add_argument("--side", choices=("regeneration", "direct", "both"), default="regeneration")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--out", required=True, help="PNG file")
    args = parse(p, argv)
    out = Path(args.out)
    check_output_file(out)
    if out.suffix.lower() != ".png":
        raise OutputPathError(f"--out {out}: the grid is written as PNG; name a .png file")
    if args.n < 1:
        raise InputError(f"--n must be at least 1, got {args.n}")
    pairing, models = load_run(model_folder(args.model, "image"))
    k = pairing.config.num_classes
    classes = [class_index(args.cls, k)] if args.cls is not None else list(range(k))
    if args.n * len(classes) > MAX_IMAGES:
        raise LimitError(f"{args.n * len(classes)} images asked for; at most {MAX_IMAGES} per call (lower --n or pass --class)")
    labels = torch.tensor([c for c in classes for _ in range(args.n)])
    sides = ("regeneration", "direct") if args.side == "both" else (args.side,)
    for side in sides:
        images, seconds = sample_images(models, side, labels, seed=args.seed, temperature=args.temperature)
        per_row = 8 if len(classes) == 1 else args.n
        rows = [list(images[i : i + per_row].numpy()) for i in range(0, len(images), per_row)]
        path = out if side == sides[0] else out.with_name(f"{out.stem}_direct{out.suffix}")
        save_grid(rows, path)
        print(f"{side}: {len(images)} images in {seconds:.2f} s ({len(images) / seconds:.1f} images/s) -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
