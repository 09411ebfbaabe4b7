"""``python -m regen_talkinghead.train --stage STAGE --run DIR [--config toy|tiny|FILE] [key=value ...]``.

The shared trainer (``regen train talkinghead ...``) with the pairing filled in; the stage trains
into ``DIR/<stage>``. Stages: extract
(explicit: the fitter is saved, nothing is trained), generate, regenerate, direct.
"""

from __future__ import annotations

from regen_core.cli import domain_main


def main(argv: list[str] | None = None) -> int:
    return domain_main("talkinghead", "train", argv)


if __name__ == "__main__":
    raise SystemExit(main())
