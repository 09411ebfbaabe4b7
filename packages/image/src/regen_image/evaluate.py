"""Evaluate a trained run (regeneration vs direct): ``python -m regen_image.evaluate --run RUN [--out DIR] [key=value ...]``.

The same as ``regen evaluate --run RUN``: per-example metrics plus the pairing's set metrics
(FID beside the real-vs-real FID, precision/recall) over the configured seeds; writes report.json /
report.md into ``--out`` (default ``RUN/evaluation``). (``--model RUN`` is the old spelling of ``--run RUN``.)
"""

from __future__ import annotations

import sys

from regen_core.cli import domain_main
from regen_core.cli_common import renamed_flags


def main(argv: list[str] | None = None) -> int:
    argv = renamed_flags(list(sys.argv[1:] if argv is None else argv), {"--model": "--run"}, "python -m regen_image.evaluate")
    return domain_main("image", "evaluate", argv)


if __name__ == "__main__":
    raise SystemExit(main())
