"""``python -m regen_talkinghead.evaluate --run DIR [--out DIR] [key=value ...]``: regeneration vs direct on the test split.

Writes ``report.json`` / ``report.md`` (metrics with 95% intervals over seeds, both sides' budgets)
and, per side, MP4s (with the speech) and PNG strips of the first examples.
"""

from __future__ import annotations

from regen_core.cli import domain_main


def main(argv: list[str] | None = None) -> int:
    return domain_main("talkinghead", "evaluate", argv)


if __name__ == "__main__":
    raise SystemExit(main())
