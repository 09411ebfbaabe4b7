"""``python -m regen_melody.bench_render --out FILE.json [--melody song.musicxml]``: time the song's renderings.

Times :func:`render.write_wav` (FluidSynth) and :func:`render.write_score` (LilyPond, PDF and PNG) on a
melody (``--melody``: a MIDI / MusicXML / ABC file, e.g. the demo's ``song.musicxml``; default: a built-in
14-note "Twinkle, twinkle" line) and on that melody repeated (``--repeats``, bars laid end to end), after one
untimed warm-up call (imports). Writes one JSON record: per size, notes, seconds of music, wall seconds
and output bytes per format, the soundfont and the programs' versions, the machine's load.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from regen_core.atomic import write_json
from regen_core.errors import InputError, cli_main

#: The default melody: "Twinkle, twinkle, little star, how I wonder what you are", G major, 4/4.
TWINKLE = {"pitch": [67, 67, 74, 74, 76, 76, 74, 72, 72, 71, 71, 69, 69, 67],
           "onset": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0],
           "duration": [1.0] * 6 + [2.0] + [1.0] * 6 + [2.0], "meter": "4/4", "title": "Twinkle",
           "syllables": ["Twin-", "kle,", "twin-", "kle,", "lit-", "tle", "star,", "how", "I", "won-", "der", "what",
                         "you", "are."]}


def repeated(y: dict[str, Any], times: int) -> dict[str, Any]:
    """``y`` played ``times`` times, each copy starting on the bar after the previous one ends."""
    from .theory import meter_info

    bar = meter_info(y.get("meter") or "4/4")[0]
    end = max(o + d for o, d in zip(y["onset"], y["duration"]))
    span = math.ceil(end / bar - 1e-9) * bar
    out: dict[str, Any] = {"meter": y.get("meter") or "4/4", "title": y.get("title", ""), "pitch": [], "onset": [],
                           "duration": [], "syllables": []}
    syl = list(y.get("syllables") or []) + [""] * (len(y["pitch"]) - len(y.get("syllables") or []))
    for r in range(times):
        out["pitch"] += list(y["pitch"])
        out["duration"] += list(y["duration"])
        out["onset"] += [float(o) + r * span for o in y["onset"]]
        out["syllables"] += syl
    return out


def _version(program: str) -> str:
    from .render import find_program

    done = subprocess.run([find_program(program, program), "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else "?"


@cli_main("python -m regen_melody.bench_render")
def main(argv: list[str] | None = None) -> int:
    from .render import find_soundfont, melody_seconds, write_score, write_wav

    ap = argparse.ArgumentParser(prog="python -m regen_melody.bench_render", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--melody", default="", help="MIDI / MusicXML / ABC file (default: a built-in 14-note line)")
    ap.add_argument("--repeats", default="1,12", help="comma-separated: the melody repeated this many times")
    ap.add_argument("--formats", default="wav,pdf,png", help="comma-separated among wav, pdf, png, ly")
    args = ap.parse_args(argv)
    if args.melody:
        from .data import parse_file

        base = parse_file(args.melody)
    else:
        base = TWINKLE
    formats = [f for f in args.formats.split(",") if f]
    writers = {"wav": write_wav, "pdf": write_score, "png": write_score, "ly": write_score}
    unknown = sorted(set(formats) - set(writers))
    if unknown:
        raise InputError(f"--formats: unknown {', '.join(unknown)} (use wav, pdf, png, ly)")
    try:
        repeats = [int(r) for r in args.repeats.split(",") if r]
    except ValueError:
        raise InputError(f"--repeats {args.repeats!r}: expected comma-separated whole numbers") from None
    load_start = [round(x, 2) for x in os.getloadavg()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="regen-bench-render-") as tmp:
        for f in formats:  # warm-up: imports, first program start
            writers[f](base, Path(tmp) / f"warm.{f}")
        for times in repeats:
            y = repeated(base, times)
            row: dict[str, Any] = {"repeats": times, "notes": len(y["pitch"]), "music_s": round(melody_seconds(y), 3)}
            for f in formats:
                path = Path(tmp) / f"song{times}.{f}"
                t0 = time.perf_counter()
                writers[f](y, path)
                row[f"{f}_wall_s"] = round(time.perf_counter() - t0, 3)
                row[f"{f}_bytes"] = path.stat().st_size
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "bench": "render", "melody": args.melody or "built-in TWINKLE", "rows": rows,
        "soundfont": str(find_soundfont()) if "wav" in formats else None,
        "programs": {p: _version(p) for p, f in (("fluidsynth", "wav"), ("lilypond", "pdf"), ("lilypond", "png"))
                     if f in formats},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg_start": load_start, "loadavg_end": [round(x, 2) for x in os.getloadavg()]},
        "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
