"""Train an image run: ``python -m regen_image.train --run DIR [--config tiny] [--stage S] [key=value ...]``.

Without ``--stage`` every stage trains in order (extract, generate, regenerate, direct) into
``DIR/<stage>``; ``--pairing image-vq`` / ``image-down`` pick the other Y'. ``--resume`` keeps
finished stages and resumes unfinished ones. (``--out DIR`` is the old spelling of ``--run DIR``.)
"""

from __future__ import annotations

import argparse

from regen_core import registry
from regen_core.cli_common import add_config_args, add_run_arg, parse, train_stages
from regen_core.errors import cli_main
from regen_core.contract import STAGES
from regen_core.pipeline import load_run_config

PAIRINGS = ("image", "image-vq", "image-down")
PROG = "python -m regen_image.train"


@cli_main(PROG)
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--pairing", default="image", choices=PAIRINGS, help="image (KL latents), image-vq, image-down")
    p.add_argument("--stage", action="append", choices=STAGES, help="train only this stage (repeatable)")
    add_run_arg(p, old=("--out",))
    p.add_argument("--resume", action="store_true", help="skip finished stages, resume unfinished ones")
    add_config_args(p, default="tiny")
    args = parse(p, argv)
    cls = registry.pairing_class(args.pairing)
    run_cfg = load_run_config(cls, args.config, args.overrides)
    train_stages(cls(run_cfg.pairing), run_cfg, args.run, stages=args.stage or STAGES, resume=args.resume)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
