"""``python -m regen_tts.train [--codec] --stage STAGE --run DIR [--config toy|tiny|FILE] [key=value ...]``.

The shared trainer (``regen train tts ...``) with the pairing filled in; the stage trains into
``DIR/<stage>``; ``--codec`` trains the ``tts-codec`` pairing instead. Stages: extract, generate,
regenerate, direct.
"""

from __future__ import annotations

import sys

from regen_core.cli import domain_main


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = "tts-codec" if "--codec" in argv else "tts"
    return domain_main(name, "train", [a for a in argv if a != "--codec"])


if __name__ == "__main__":
    raise SystemExit(main())
