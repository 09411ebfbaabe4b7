"""Evaluate a trained run (regeneration vs direct): ``python -m regen_image.evaluate --model RUN [--out DIR] [key=value ...]``.

Thin wrapper over ``regen evaluate``: per-example metrics plus the pairing's set metrics
(FID beside the real-vs-real FID, precision/recall) over the configured seeds; writes report.json / report.md.
"""

from __future__ import annotations

import sys

from regen_core.cli import main as regen_main


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    argv = ["--run" if a == "--model" else a for a in argv]
    return regen_main(["evaluate", *argv])


if __name__ == "__main__":
    raise SystemExit(main())
