"""Evaluate a trained run (regeneration vs direct): ``python -m regen_image.evaluate [--model MODEL | --run RUN] [--out DIR] [key=value ...]``.

The same as ``regen evaluate``: per-example metrics plus the pairing's set metrics (FID beside the real-vs-real
FID, precision/recall) over the configured seeds; writes report.json / report.md into ``--out`` (default
``RUN/evaluation``; required for a shipped model, the default without ``--model``/``--run``).
"""

from __future__ import annotations

from regen_core.cli import domain_main


def main(argv: list[str] | None = None) -> int:
    return domain_main("image", "evaluate", argv)


if __name__ == "__main__":
    raise SystemExit(main())
