"""``python -m regen_image.showcase --out DIR [--model MODEL ...]``: sample grids of every class, both sides.

For each model (default: the ``image`` model this package ships; ``--model`` repeatable: ``image-vq``,
``image-down``, run folders): ``DIR/<model>/regeneration.png`` (class -> Y' -> image), ``direct.png`` (class ->
image), one row per class, ``--n`` samples each, and for the regeneration side the test images reconstructed
through Y' (``y_prime.png``: reference row above its extract -> regenerate row). ``DIR/outputs.md`` lists the
files and the models' cards.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from regen_core.errors import cli_main


def showcase(model: str | Path, out: str | Path, *, n: int = 8, seed: int = 0) -> list:
    import torch

    from regen_core.pipeline import load_run
    from regen_core.showcase import Output

    from .sampling import sample_images
    from .visualise import save_grid

    out = Path(out)
    pairing, models = load_run(model)
    k = pairing.config.num_classes
    labels = torch.tensor([c for c in range(k) for _ in range(n)])
    outputs = []
    for side in ("regeneration", "direct"):
        if side == "direct" and "direct" not in models:
            continue
        images, secs = sample_images(models, side, labels, seed=seed)
        rows = [list(images[i : i + n].numpy()) for i in range(0, len(images), n)]
        path = save_grid(rows, out / f"{side}.png")
        outputs.append(Output(path, f"{pairing.name} {side} side: {n} samples of each of the {k} classes (one row per "
                                    f"class) in {secs:.1f} s"))
    test = pairing.load_data()["test"]
    refs = torch.stack([torch.as_tensor(test[i][pairing.y.name]).float() for i in range(min(n, len(test)))])
    with torch.no_grad():
        rebuilt = models["regenerate"].decode_batch(models["extract"].extract_batch(refs))  # Y -> Y' -> Y
    path = save_grid([list(refs.numpy()), list(rebuilt.float().numpy())], out / "y_prime.png")
    outputs.append(Output(path, f"{pairing.name}: test images (top) and the same images through Y' = "
                                f"{pairing.y_prime.modality} {pairing.y_prime.shape} and back (bottom): what the regenerator can restore"))
    return outputs


@cli_main("python -m regen_image.showcase")
def main(argv: Sequence[str] | None = None) -> int:
    from regen_core.cli_common import model_folder, set_threads
    from regen_core.showcase import model_card, print_outputs, write_summary

    p = argparse.ArgumentParser(prog="python -m regen_image.showcase", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", metavar="MODEL",
                   help="pretrained (default: the image model this package ships), image-vq, image-down, a run folder; repeatable")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--n", type=int, default=8, help="samples per class")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    set_threads(args.threads)
    outputs, cards = [], []
    for spec in args.model or ["pretrained"]:
        folder = model_folder(spec, "image")
        outputs += showcase(folder, Path(args.out) / folder.name, n=args.n)
        cards.append(model_card(folder))
    summary = write_summary(args.out, "image: sample grids of every class, both sides", outputs, cards)
    print_outputs(outputs)
    print(f"summary: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
