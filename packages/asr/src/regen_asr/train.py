"""Train one stage of the ASR pairing: ``python -m regen_asr.train --stage S --run RUN [--config tiny] [key=value ...]``.

The same as ``regen train asr ...``: stages extract (neural G2P), generate (CTC phonemes),
regenerate (P2G on text only) and direct (CTC characters) train into ``RUN/<stage>``.
"""

from __future__ import annotations

from regen_core.cli import domain_main
from regen_core.cli_common import set_threads


def main(argv: list[str] | None = None) -> int:
    set_threads(1)  # small models on a shared CPU train faster single-threaded
    return domain_main("asr", "train", argv)


if __name__ == "__main__":
    raise SystemExit(main())
