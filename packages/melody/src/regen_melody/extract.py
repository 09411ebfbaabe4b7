"""Extract Y -> Y': the music template of TeleMelody (Ju et al., 2021), metre-aware.

Per melody: **tonality** (major/minor, the piece moved to C major / A minor; ``transpose`` is
the shift applied, so output can be moved back) and **register** (not TeleMelody's: the mean
pitch in that normalised key, ``register``, and the range in semitones, ``ambitus``; a
template without them leaves the register to the regenerator). Per note:

- **chord**: root + quality from a fixed vocabulary (12 roots x maj/min/dim/aug, plus 0 = no
  chord), one chord per *chord window*: half a bar when the bar has an even number of beats
  (4/4, 2/2, 6/8, 12/8: two chords per bar), the whole bar otherwise (3/4, 9/8, 5/4). Taken from
  the score's harmony when the melody carries ``chord_hint`` (chorales: all four voices), else
  inferred from the melody notes by template matching with a Viterbi pass (key prior + a bonus
  for keeping the chord);
- **beat**: index of the metrical beat the onset falls in (quarter in simple metres, dotted
  quarter in compound ones);
- **cadence**: TeleMelody's rule, in beats: a note at least one beat long whose next onset is
  at least 2 beats later is *authentic* when it is the tonic over the tonic chord; otherwise a
  note at least one beat long followed by an onset at least 1.5 beats later is *half*; else none.
  The last note counts as followed by silence.

``python -m regen_melody.extract`` parses a source (a corpus collection or a user's folder)
and prints its templates' statistics and the extraction throughput.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch
from regen_core.errors import cli_main

from .errors import NoNotesError, TemplateError
from .theory import (
    MODES, add_pitch_weight, beat_of, chord_name, chord_span, infer_chords, melody_key, meter_info, shift_to_c,
    tonic_chord, transpose_chord,
)

VERSION = "4"  # bump when extract_template changes: invalidates the extraction cache
CADENCES = ("none", "half", "authentic")

# -- template ----------------------------------------------------------------------------------------


def check_melody(y: dict[str, Any]) -> None:
    n = len(y.get("pitch") or [])
    if n == 0:
        raise NoNotesError(f"melody {y.get('title', '')!r}: no notes")
    for f in ("onset", "duration"):
        if len(y.get(f) or []) != n:
            raise TemplateError(f"melody {y.get('title', '')!r}: field {f!r} has {len(y.get(f) or [])} values for {n} notes")


def cadences(onsets: list[float], durations: list[float], pitches: list[int], chords: list[int], meter: str, minor: bool, transpose: int) -> list[int]:
    """TeleMelody's cadence rule per note (0 none, 1 half, 2 authentic), in the metre's beats."""
    _, beat, _ = meter_info(meter)
    tonic_pc, tchord = (9 if minor else 0), tonic_chord(minor)
    out = []
    for i in range(len(onsets)):
        ioi = onsets[i + 1] - onsets[i] if i + 1 < len(onsets) else np.inf
        long_note = durations[i] >= beat - 1e-6
        if long_note and ioi >= 2 * beat - 1e-6 and (pitches[i] + transpose) % 12 == tonic_pc and chords[i] == tchord:
            out.append(2)
        elif long_note and ioi >= 1.5 * beat - 1e-6:
            out.append(1)
        else:
            out.append(0)
    return out


def melody_register(pitches: list[int], transpose: int) -> tuple[int, int]:
    """(register, ambitus): the mean MIDI pitch of the melody moved to C major / A minor (rounded;
    the sounding mean is ``register - transpose``) and its range in semitones (highest - lowest)."""
    return int(round(float(np.mean(pitches)) + transpose)), int(max(pitches) - min(pitches))


def extract_template(y: dict[str, Any]) -> dict[str, Any]:
    """The template of one melody (deterministic). Chords are in the normalised key (C / Am)."""
    check_melody(y)
    pitches, onsets, durs = list(y["pitch"]), [float(o) for o in y["onset"]], [float(d) for d in y["duration"]]
    meter = y.get("meter") or "4/4"
    # 1. Tonality and the shift to C major / A minor.
    tonic, minor = melody_key(y)
    transpose = shift_to_c(tonic, minor)
    # 2. Chords: the score's harmony when present, else inferred from the melody per window.
    hints = list(y.get("chord_hint") or [])
    if len(hints) == len(pitches) and any(hints):
        chords = [transpose_chord(c, transpose) for c in hints]
    else:
        span = chord_span(meter)
        n_win = int(np.floor(max(o + d for o, d in zip(onsets, durs)) / span)) + 1
        weights = np.zeros((n_win, 12))
        for p, o, d in zip(pitches, onsets, durs):
            add_pitch_weight(weights, o, d, (p + transpose) % 12, span)
        path = infer_chords(weights, tonic=9 if minor else 0, minor=minor)
        chords = [int(path[min(int(np.floor(o / span + 1e-9)), n_win - 1)]) for o in onsets]
    # 3. Beat of every onset, and cadences.
    beats = [beat_of(o, meter) for o in onsets]
    cad = cadences(onsets, durs, pitches, chords, meter, minor, transpose)
    # 4. Register: where the melody lies (mean pitch in the normalised key) and its ambitus.
    register, ambitus = melody_register(pitches, transpose)
    return {
        "mode": int(minor),
        "transpose": int(transpose),
        "register": register,
        "ambitus": ambitus,
        "meter": meter,
        "beat": beats,
        "chord": [int(c) for c in chords],
        "cadence": cad,
        "syllables": list(y.get("syllables") or []),
    }


def check_template(t: dict[str, Any]) -> int:
    """Validate a template; returns its length."""
    n = len(t.get("beat") or [])
    if n == 0:
        raise TemplateError("template has no notes (field 'beat' is empty)")
    for f in ("chord", "cadence"):
        if len(t.get(f) or []) != n:
            raise TemplateError(f"template field {f!r} has {len(t.get(f) or [])} values for {n} notes")
    if t.get("mode") not in (0, 1):
        raise TemplateError(f"template field 'mode' must be 0 (major) or 1 (minor), got {t.get('mode')!r}")
    for f in ("register", "ambitus"):
        if t.get(f) is not None and not isinstance(t[f], (int, np.integer)):
            raise TemplateError(f"template field {f!r} must be an integer (MIDI pitch / semitones), got {t[f]!r}")
    _, _, beats = meter_info(t.get("meter") or "4/4")
    if max(t["beat"]) >= beats or min(t["beat"]) < 0:
        raise TemplateError(f"template beats must lie in 0..{beats - 1} for meter {t.get('meter')}")
    return n


def template_features() -> Any:
    import datasets

    return datasets.Features({
        "mode": datasets.Value("int32"),
        "transpose": datasets.Value("int32"),
        "register": datasets.Value("int32"),
        "ambitus": datasets.Value("int32"),
        "meter": datasets.Value("string"),
        "beat": datasets.Sequence(datasets.Value("int32")),
        "chord": datasets.Sequence(datasets.Value("int32")),
        "cadence": datasets.Sequence(datasets.Value("int32")),
        "syllables": datasets.Sequence(datasets.Value("string")),
    })


def describe(t: dict[str, Any]) -> str:
    """One line per bar-ish: chord names and cadences, for humans."""
    parts = []
    for b, c, k in zip(t["beat"], t["chord"], t["cadence"]):
        parts.append(f"{b}:{chord_name(c)}{'|' if k == 1 else '||' if k == 2 else ''}")
    reg = f" register {t['register']}/{t['ambitus']}" if t.get("register") is not None and t.get("ambitus") is not None else ""
    return f"{MODES[t['mode']]} (shift {t['transpose']:+d}){reg} {t['meter']}  " + " ".join(parts)


class TemplateExtractor(torch.nn.Module):
    """The explicit extractor Y -> Y' (no parameters: the trainer skips it)."""

    name = "melody-template"
    version = VERSION

    def extract(self, y: dict[str, Any]) -> dict[str, Any]:
        return extract_template(y)

    def forward(self, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        raise RuntimeError("the template extractor is explicit: it has nothing to train")

    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> dict[str, Any]:
        return extract_template(condition)


# -- command line ---------------------------------------------------------------------------------------


@cli_main("python -m regen_melody.extract")
def main(argv: list[str] | None = None) -> int:
    from .data import cached_melodies, chorale_sources, default_num_proc, folder_sources, folk_sources

    ap = argparse.ArgumentParser(prog="python -m regen_melody.extract", description=__doc__.split("\n\n")[0])
    ap.add_argument("source", nargs="?", default="chorales",
                    help="'chorales', 'folk', a folk collection name (essenFolksong, ...), or a folder of MIDI/MusicXML/ABC files")
    ap.add_argument("--limit", type=int, default=0, help="at most this many pieces (0 = all)")
    ap.add_argument("--num-proc", type=int, default=default_num_proc(), help="parsing processes")
    ap.add_argument("--out", default=None, help="write the templates as JSON lines here")
    args = ap.parse_args(argv)
    if args.source == "chorales":
        sources = chorale_sources(args.limit)
    elif args.source == "folk":
        sources = folk_sources(limit=args.limit)
    elif "/" not in args.source and not args.source.startswith("."):
        sources = folk_sources([args.source], limit=args.limit)
    else:
        sources = folder_sources(args.source)[: args.limit or None]
    t0 = time.perf_counter()
    from regen_core.data import fingerprint

    ds = cached_melodies(f"cli-{fingerprint(args.source, args.limit)[:8]}", sources, num_proc=args.num_proc)
    t1 = time.perf_counter()
    templates = [extract_template(ds[i]) for i in range(len(ds))]
    t2 = time.perf_counter()
    notes = sum(len(t["beat"]) for t in templates)
    cad = np.bincount([c for t in templates for c in t["cadence"]], minlength=3)
    print(f"{len(templates)} melodies, {notes} notes; parse (or cache) {t1 - t0:.1f}s, templates {t2 - t1:.2f}s "
          f"({len(templates) / max(t2 - t1, 1e-9):.0f} melodies/s)")
    print(f"minor: {sum(t['mode'] for t in templates)}, cadences none/half/authentic: {cad.tolist()}")
    if templates:
        print("first:", describe(templates[0])[:300])
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            for i, t in enumerate(templates):
                f.write(json.dumps({"title": ds[i]["title"], **t}) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
