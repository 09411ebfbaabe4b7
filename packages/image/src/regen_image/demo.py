"""The image demo (a few CPU minutes): ``python -m regen_image.demo --out DIR``.

1. trains the ``tiny`` preset of the ``image`` pairing (KL autoencoder, latent diffusion,
   pixel-diffusion baseline) into ``DIR/run`` (finished stages are kept when run again) and writes
   regen_core's comparison report, ``DIR/evaluation/report.md``;
2. samples a grid per class from both sides: DIR/grid.png (regeneration), DIR/grid_direct.png.
"""

from __future__ import annotations

from pathlib import Path

from regen_core import registry
from regen_core.cli_common import demo_overrides, demo_parser, parse, set_threads, train_and_evaluate
from regen_core.errors import cli_main

from . import sample

PROG = "python -m regen_image.demo"


@cli_main(PROG)
def main(argv: list[str] | None = None) -> int:
    p = demo_parser(PROG, __doc__, default_config="tiny", threads=None)
    p.add_argument("--pairing", default="image", choices=("image", "image-vq", "image-down"))
    args = parse(p, argv)
    set_threads(args.threads)
    out = Path(args.out)
    # 1. Every stage into DIR/run, then regeneration vs direct into DIR/evaluation.
    pairing_cls = registry.pairing_class(args.pairing)
    done = train_and_evaluate(pairing_cls, out, args.config, demo_overrides(pairing_cls, args), progress=True)
    print((done.evaluation / "report.md").read_text())
    print(f"outputs: {out}\nreport: {done.evaluation / 'report.json'} and {done.evaluation / 'report.md'}")
    # 2. A grid per class from both sides.
    return sample.main(["--run", str(done.run), "--n", "4", "--side", "both", "--out", str(out / "grid.png")])


if __name__ == "__main__":
    raise SystemExit(main())
