"""Train one stage of the ASR pairing: ``python -m regen_asr.train --stage S --out RUN [--config tiny] [key=value ...]``.

The same as ``regen train asr ...``: stages extract (neural G2P), generate (CTC phonemes),
regenerate (P2G on text only) and direct (CTC characters) train into ``RUN/<stage>``.
"""

from __future__ import annotations

import sys

from regen_core.cli import domain_main


def main() -> int:
    import torch

    torch.set_num_threads(1)  # small models on a shared CPU train faster single-threaded
    return domain_main("asr", "train")


if __name__ == "__main__":
    sys.exit(main())
