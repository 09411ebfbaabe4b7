"""``python -m regen_melody.demo --out DIR``: the melody demo in about two CPU minutes.

1. trains every stage with the ``demo`` preset (stages already in DIR/run are kept): a small
   slice of the corpus (48 chorales, 240 folk tunes, parsed in parallel and cached), so a first
   run with an empty cache stays short; ``--config tiny`` trains on the whole chorale set;
2. composes a song from the demo lyrics (regeneration and direct), as MIDI, MusicXML
   (syllables under the notes) and a piano roll;
3. compares regeneration with the direct baseline on held-out chorales (DIR/evaluation/report.md).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from regen_core.errors import cli_main

LYRICS = ("Twinkle, twinkle, little star, how I wonder what you are. "
          "Up above the world so high, like a diamond in the sky.")


@cli_main("regen")
def main(argv: list[str] | None = None) -> int:
    from regen_core.evaluate import evaluate, run_budgets
    from regen_core.pipeline import final_dir, load_run, load_run_config, train_stage

    from .compose import compose
    from .extract import describe
    from .pairing import MelodyPairing
    from .render import piano_roll, write

    ap = argparse.ArgumentParser(prog="python -m regen_melody.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default="demo", help="preset or YAML (default demo; tiny = all chorales, 1500 folk tunes)")
    ap.add_argument("--lyrics", default=LYRICS)
    ap.add_argument("overrides", nargs="*", metavar="key=value")
    args = ap.parse_args(argv)
    out = Path(args.out)
    run = out / "run"

    # 1. Data (parsed in parallel once, then cached) and training (skipping finished stages).
    clock = {"start": time.perf_counter()}
    cfg = load_run_config(MelodyPairing, args.config, args.overrides)
    pairing = MelodyPairing(cfg.pairing)
    data = pairing.load_data()
    clock["data"] = time.perf_counter()
    for stage in ("extract", "generate", "regenerate", "direct"):
        if final_dir(run, stage).exists():
            print(f"melody:{stage}: already trained in {final_dir(run, stage)}")
            continue
        rec = train_stage(pairing, stage, cfg, run, data=data, resume=True)
        print(f"melody:{stage}: " + ("explicit" if rec.explicit else f"{rec.steps} steps, {rec.seconds:.1f} s"))

    clock["train"] = time.perf_counter()

    # 2. A song from the demo lyrics, both sides, G major 4/4.
    song, template = compose(run, args.lyrics, key="G", mode="major", meter="4/4", seed=0)
    direct, _ = compose(run, args.lyrics, meter="4/4", side="direct", seed=0)
    files = [write(song, out / "song.mid", "regen melody demo"), write(song, out / "song.musicxml", "regen melody demo"),
             write(direct, out / "song_direct.mid", "direct baseline"),
             piano_roll(out / "song.png", {"regeneration": song, "direct": direct}, template, args.lyrics[:70])]
    print("template:", describe(template)[:300])
    print("song:", ", ".join(str(f) for f in files))
    clock["compose"] = time.perf_counter()

    # 3. Regeneration vs direct on held-out chorales.
    pairing, models = load_run(run)
    evaluate(pairing, models, data["test"], cfg.evaluate, out / "evaluation", budgets=run_budgets(run), progress=False)
    print((out / "evaluation" / "report.md").read_text())
    clock["evaluate"] = time.perf_counter()
    names = list(clock)
    print("melody demo wall seconds: " + ", ".join(f"{b} {clock[b] - clock[a]:.1f}" for a, b in zip(names, names[1:]))
          + f", total {clock[names[-1]] - clock['start']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
