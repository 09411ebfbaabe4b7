"""Train an image run: ``python -m regen_image.train --config tiny --out DIR [--stage S] [key=value ...]``.

Without ``--stage`` every stage trains in order (extract, generate, regenerate, direct);
``--pairing image-vq`` / ``image-down`` pick the other Y'. Thin wrapper over regen_core.pipeline.
"""

from __future__ import annotations

import argparse

from regen_core import registry
from regen_core.contract import STAGES
from regen_core.errors import cli_main
from regen_core.pipeline import final_dir, load_run_config, train_stage
from regen_core.runlock import run_lock

PAIRINGS = ("image", "image-vq", "image-down")


@cli_main("regen")
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_image.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--pairing", default="image", choices=PAIRINGS, help="image (KL latents), image-vq, image-down")
    p.add_argument("--config", "-c", default="tiny", help="preset name (toy, tiny, bench) or YAML file")
    p.add_argument("--stage", action="append", choices=STAGES, help="train only this stage (repeatable)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--resume", action="store_true", help="skip finished stages, resume unfinished ones")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_args(argv)
    cls = registry.pairing_class(args.pairing)
    run_cfg = load_run_config(cls, args.config, args.overrides)
    pairing = cls(run_cfg.pairing)
    with run_lock(args.out):  # one writer for every stage of the run
        data = pairing.load_data()
        for stage in args.stage or STAGES:
            if args.resume and final_dir(args.out, stage).exists():
                print(f"{pairing.name}:{stage}: already trained")
                continue
            rec = train_stage(pairing, stage, run_cfg, args.out, resume=args.resume, data=data)
            print(f"{pairing.name}:{stage}: " + ("explicit, saved" if rec.explicit else f"{rec.steps} steps in {rec.seconds:.1f} s")
                  + f" -> {rec.folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
