"""Build the tts models this package ships: ``python -m regen_tts.zoo --out DIR [--install]``.

Trains every stage with the ``zoo`` preset, evaluates regeneration vs direct on the test split, packages
the models (float16 where the headline metric allows) with their provenance; see :mod:`regen_core.zoo`.
``--config toy`` checks the recipe in seconds.
"""

from __future__ import annotations

from typing import Sequence

from regen_core import zoo

#: The pairings whose models this package ships.
PAIRINGS = ("tts", "tts-codec")


def main(argv: Sequence[str] | None = None) -> int:
    return zoo.main(argv, pairings=PAIRINGS, prog="python -m regen_tts.zoo")


if __name__ == "__main__":
    raise SystemExit(main())
