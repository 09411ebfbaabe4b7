"""``python -m regen_melody.evaluate --run RUN``: regeneration vs direct on the held-out chorales (report.md/json)."""

from regen_core.cli import domain_main

if __name__ == "__main__":
    raise SystemExit(domain_main("melody", "evaluate"))
