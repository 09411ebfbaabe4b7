"""Melodies out: MIDI and MusicXML with each syllable under its note, and a piano-roll PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from regen_core.atomic import atomic_path, check_output_file
from regen_core.errors import OutputPathError

from .theory import chord_name, transpose_chord


def to_stream(y: dict[str, Any], title: str = "") -> Any:
    """A music21 Score (one part) of a melody, rests filling the gaps, syllables as lyrics."""
    from music21 import meter, metadata, note, stream, tempo

    part = stream.Part()
    part.insert(0, meter.TimeSignature(y.get("meter") or "4/4"))
    part.insert(0, tempo.MetronomeMark(number=96))
    syl = list(y.get("syllables") or [])
    for i, (p, o, d) in enumerate(zip(y["pitch"], y["onset"], y["duration"])):
        n = note.Note(int(p))
        n.quarterLength = max(0.25, round(float(d) * 4) / 4)
        if i < len(syl) and syl[i]:
            text = syl[i]
            n.addLyric(text[:-1] if text.endswith("-") else text)
            n.lyrics[0].syllabic = "begin" if text.endswith("-") else "single"
        part.insert(round(float(o) * 4) / 4, n)
    score = stream.Score()
    score.insert(0, metadata.Metadata(title=title or str(y.get("title") or "melody")))
    score.insert(0, part)
    return score


def write_midi(y: dict[str, Any], path: str | Path, title: str = "") -> Path:
    score = to_stream(y, title)
    with atomic_path(path) as tmp:
        score.write("midi", fp=str(tmp))
    return Path(path)


def write_musicxml(y: dict[str, Any], path: str | Path, title: str = "") -> Path:
    score = to_stream(y, title).makeNotation()
    with atomic_path(path) as tmp:
        score.write("musicxml", fp=str(tmp))
    return Path(path)


def write(y: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """By suffix: .mid/.midi -> MIDI, .musicxml/.xml -> MusicXML."""
    suffix = Path(path).suffix.lower()
    if suffix in (".mid", ".midi"):
        return write_midi(y, path, title)
    if suffix in (".musicxml", ".xml"):
        return write_musicxml(y, path, title)
    raise OutputPathError(f"output {path}: unsupported suffix {suffix!r} (use .mid or .musicxml)")


#: A piano roll names syllables, chords and cadences up to this many notes (beyond, notes only).
MAX_LABELLED_NOTES = 600


def piano_roll(path: str | Path, melodies: dict[str, dict[str, Any]], template: dict[str, Any] | None = None, title: str = "") -> Path:
    """One row per melody: notes as bars over time (quarter lengths), syllables on top, chords below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = check_output_file(path)
    rows = [(k, v) for k, v in melodies.items() if v is not None and v.get("pitch")]
    fig, axes = plt.subplots(len(rows), 1, figsize=(12, 2.6 * len(rows)), squeeze=False)
    from matplotlib.collections import PolyCollection

    for ax, (name, y) in zip(axes[:, 0], rows):
        boxes = [[(o, p - 0.4), (o + max(d, 0.1), p - 0.4), (o + max(d, 0.1), p + 0.4), (o, p + 0.4)]
                 for p, o, d in zip(y["pitch"], y["onset"], y["duration"])]
        ax.add_collection(PolyCollection(boxes, facecolors="tab:blue", alpha=0.8, linewidths=0))
        labels = len(y["pitch"]) <= MAX_LABELLED_NOTES  # beyond, thousands of labels would only blot the roll
        syl = (y.get("syllables") or []) if labels else []
        for i, (p, o) in enumerate(zip(y["pitch"], y["onset"])):
            if i < len(syl) and syl[i]:
                ax.text(o, p + 0.7, syl[i], fontsize=6, rotation=45)
        t = y.get("template") or (template if name not in ("reference", "direct") else None)  # direct has no template
        if labels and t and len(t.get("chord", [])) == len(y["pitch"]):
            last = None
            for o, c, k in zip(y["onset"], t["chord"], t["cadence"]):
                if c != last:
                    sounding = transpose_chord(int(c), -int(t.get("transpose", 0)))  # template chords are in C / Am
                    ax.text(o, min(y["pitch"]) - 3, chord_name(sounding), fontsize=6, color="tab:green")
                    last = c
                if k:
                    ax.axvline(o, color="tab:red" if k == 2 else "tab:orange", lw=0.6, alpha=0.6)
        end = max(o + d for o, d in zip(y["onset"], y["duration"]))
        ax.set_xlim(min(y["onset"]) - 0.5, end + 0.5)
        ax.set_ylim(min(y["pitch"]) - 5, max(y["pitch"]) + 4)
        ax.set_ylabel(f"{name}\nMIDI pitch", fontsize=8)
    axes[-1, 0].set_xlabel("time (quarter notes)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
