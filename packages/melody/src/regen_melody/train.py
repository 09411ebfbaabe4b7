"""``python -m regen_melody.train --stage STAGE --out RUN [--config tiny] [key=value ...]``: one stage, shared trainer."""

from regen_core.cli import domain_main

if __name__ == "__main__":
    raise SystemExit(domain_main("melody", "train"))
