"""``python -m regen_melody.train --stage STAGE --run RUN [--config tiny] [key=value ...]``: one stage, shared trainer.

The same as ``regen train melody ...``: the stage trains into ``RUN/<stage>``. Stages: extract
(explicit: the template extractor is saved, nothing is trained), generate, regenerate, direct.
"""

from __future__ import annotations

from regen_core.cli import domain_main


def main(argv: list[str] | None = None) -> int:
    return domain_main("melody", "train", argv)


if __name__ == "__main__":
    raise SystemExit(main())
