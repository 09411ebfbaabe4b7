"""``python -m regen_melody.bench_compose_length --run RUN --out FILE.json``: compose time against lyrics length.

Times ``python -m regen_melody.compose`` (load the run, syllabify, sample the template and the melody,
write MIDI + MusicXML + piano roll) on lyrics of 400, 800 and 2,000 words (``--words``), both sides,
with the cached (linear) decoder; ``--uncached-words`` also times the full-prefix recompute the cache
replaced, for comparison. RUN is any trained melody run (``python -m regen_melody.demo --out DIR`` makes
one in about a minute: use ``DIR/run``). Writes one JSON record.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any
from regen_core.errors import cli_main

#: A verse the lyrics are cut from (repeated): English, with the punctuation that places cadences.
VERSE = ("Twinkle, twinkle, little star, how I wonder what you are! Up above the world so high, like a diamond "
         "in the sky. When the blazing sun is gone, when he nothing shines upon, then you show your little light, "
         "twinkle, twinkle, all the night.")


def lyrics_of(words: int) -> str:
    """The first ``words`` words of the verse repeated, ending with a full stop."""
    pool = VERSE.split()
    text = " ".join(pool[i % len(pool)] for i in range(words))
    return text.rstrip(",.!?") + "."


def time_compose(run: str, words: int, side: str, folder: Path, *, cache: bool = True) -> dict[str, Any]:
    from . import modules
    from .compose import main
    from .lyrics import syllabify

    lyrics = lyrics_of(words)
    real = modules.AlignedTransformer.sample
    if not cache:
        modules.AlignedTransformer.sample = lambda self, *a, **k: real(self, *a, **{**k, "cache": False})
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        rc = main(["--lyrics", lyrics, "--model", run, "--out", str(folder / f"{side}_{words}.mid"), "--side", side])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        modules.AlignedTransformer.sample = real
    if rc != 0:
        raise SystemExit(f"compose of {words} words ({side}) failed with exit status {rc}")
    return {"words": words, "syllables": len(syllabify(lyrics, "en")), "side": side, "cached": cache,
            "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


@cli_main("python -m regen_melody.bench_compose_length")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m regen_melody.bench_compose_length", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="a trained melody run folder")
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--words", default="400,800,2000", help="comma-separated lyrics lengths in words")
    ap.add_argument("--sides", default="regeneration,direct")
    ap.add_argument("--uncached-words", default="", help="also time the uncached decoder at these lengths (slow)")
    args = ap.parse_args(argv)
    import torch

    rows = []
    load_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        for words in [int(w) for w in args.words.split(",") if w]:
            for side in args.sides.split(","):
                rows.append(time_compose(args.run, words, side, Path(tmp)))
                print(json.dumps(rows[-1]), flush=True)
        for words in [int(w) for w in args.uncached_words.split(",") if w]:
            for side in args.sides.split(","):
                rows.append(time_compose(args.run, words, side, Path(tmp), cache=False))
                print(json.dumps(rows[-1]), flush=True)
    result = {
        "bench": "compose_length", "run": str(args.run), "rows": rows,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "load_average_at_start": load_start,
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
