"""The image demo (a few CPU minutes): ``python -m regen_image.demo --out DIR``.

1. trains the ``tiny`` preset of the ``image`` pairing (KL autoencoder, latent diffusion,
   pixel-diffusion baseline) and writes the comparison report (``regen compare``);
2. samples a grid per class from both sides: DIR/grid.png (regeneration), DIR/grid_direct.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from regen_core.cli import main as regen_main

from . import sample
from regen_core.errors import cli_main


@cli_main("regen")
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_image.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--pairing", default="image", choices=("image", "image-vq", "image-down"))
    p.add_argument("--config", default="tiny")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_args(argv)
    out = Path(args.out)
    rc = regen_main(["compare", args.pairing, "--config", args.config, "--out", str(out), "--resume", *args.overrides])
    if rc:
        return rc
    return sample.main(["--model", str(out), "--n", "4", "--side", "both", "--out", str(out / "grid.png")])


if __name__ == "__main__":
    raise SystemExit(main())
