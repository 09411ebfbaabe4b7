"""``python -m regen_melody.evaluate --run RUN [--out DIR] [key=value ...]``: regeneration vs direct on the held-out chorales.

The same as ``regen evaluate --run RUN``: report.json / report.md (metrics with 95% intervals
over seeds, both sides' budgets) into ``--out`` (default ``RUN/evaluation``).
"""

from __future__ import annotations

from regen_core.cli import domain_main


def main(argv: list[str] | None = None) -> int:
    return domain_main("melody", "evaluate", argv)


if __name__ == "__main__":
    raise SystemExit(main())
