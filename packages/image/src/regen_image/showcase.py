"""``python -m regen_image.showcase --out DIR [--model MODEL ...]``: sample grids of every class, both sides.

For each model (default: the ``image`` model this package ships; ``--model`` repeatable: other shipped names,
run folders): ``DIR/<model>/regeneration.png`` (class -> Y' -> image), ``direct.png`` (class ->
image), one row per class, ``--n`` samples each, and for the regeneration side the test images reconstructed
through Y' (``y_prime.png``: reference row above its extract -> regenerate row). ``DIR/outputs.md`` lists the
files and the models' cards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence



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


def main(argv: Sequence[str] | None = None) -> int:
    from regen_core import showcase as sc

    return sc.main(argv, prog="python -m regen_image.showcase", doc=__doc__, pairing="image", several=True,
                   title="image: sample grids of every class, both sides",
                   run=lambda model, out, args: showcase(model, out, n=args.n),
                   add_args=lambda p: p.add_argument("--n", type=int, default=8, help="samples per class"))


if __name__ == "__main__":
    raise SystemExit(main())
