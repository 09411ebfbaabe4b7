"""``python -m regen_melody.demo --out DIR``: the melody demo in about two CPU minutes.

1. trains every stage with the ``demo`` preset into DIR/run (finished stages are kept): a small
   slice of the corpus (48 chorales, 240 folk tunes, parsed in parallel and cached), so a first
   run with an empty cache stays short; ``--config tiny`` trains on the whole chorale set;
2. compares regeneration with the direct baseline on held-out chorales (DIR/evaluation/report.md);
3. composes a song from the demo lyrics (regeneration and direct): DIR/song.mid and
   song.musicxml (syllables under the notes), song.wav (the MIDI played by FluidSynth), song.pdf and
   song.png (the score engraved by LilyPond, lyrics under the notes), song_direct.mid and
   song.roll.png (piano rolls of both sides).
"""

from __future__ import annotations

import time
from pathlib import Path

from regen_core.cli_common import demo_overrides, demo_parser, parse, set_threads, train_and_evaluate
from regen_core.errors import cli_main


@cli_main("python -m regen_melody.demo")
def main(argv: list[str] | None = None) -> int:
    from .pairing import MelodyPairing
    from .showcase import LYRICS, check_renderers, showcase

    p = demo_parser("python -m regen_melody.demo", __doc__, default_config="demo", threads=None)
    p.add_argument("--lyrics", default=LYRICS)
    args = parse(p, argv)
    set_threads(args.threads)
    out = Path(args.out)
    check_renderers(out)  # FluidSynth, its soundfont and LilyPond are found before training

    # 1. Data (parsed in parallel once, then cached), training into DIR/run (skipping finished stages),
    #    then regeneration vs direct on held-out chorales into DIR/evaluation.
    t0 = time.perf_counter()
    done = train_and_evaluate(MelodyPairing, out, args.config, demo_overrides(MelodyPairing, args), log=lambda line: print(line, flush=True))
    print((done.evaluation / "report.md").read_text())
    t1 = time.perf_counter()

    # 2. A song from the demo lyrics, both sides, G major 4/4 (regen_melody.showcase).
    files = [(o.path, o.what) for o in showcase(done.run, out, args.lyrics)]
    t2 = time.perf_counter()
    files += [(done.run, "the trained run (every stage's model folder)"),
              (done.evaluation / "report.md", "regeneration vs direct on held-out chorales")]
    print("melody demo outputs:")
    for f, what in files:
        print(f"  {f}: {what}")
    print(f"melody demo wall seconds: data + train + evaluate {t1 - t0:.1f}, compose {t2 - t1:.1f}, total {t2 - t0:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
