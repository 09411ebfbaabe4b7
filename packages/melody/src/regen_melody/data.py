"""Melodies (Y) and lyrics (X) from music21's bundled corpus and from users' score folders.

A *melody* is one plain dict (one row of the ``melody`` column)::

    pitch      list[int]    MIDI pitch per note (rests are gaps between notes)
    onset      list[float]  onset in quarter lengths; bar b starts at b * bar_ql (pick-ups shifted)
    duration   list[float]  quarter lengths
    syllables  list[str]    the syllable sung on each note ("" for melisma / no lyrics), or []
    chord_hint list[int]    absolute chord id per note read from the score's harmony (0 = none), or []
    key_hint   int          tonic pitch class + 12 * minor from the score, -1 when the score has none
    meter      str          time signature, e.g. "4/4", "6/8"
    title      str          where it came from

Parsing a score is slow (music21), so a whole source is parsed once, in parallel, and the
note sequences are cached as a Hugging Face dataset under ``regen_core.data.cache_dir()``.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .errors import CorruptScoreError, MelodyInputError, NoNotesError, PolyphonyWarning, TemplateError, UnusualMeterError
from .theory import add_pitch_weight, chord_id, chord_span, infer_chords, meter_info

PARSER_VERSION = "3"  # bump when score_to_melody changes: invalidates the parse cache
SIXTEENTH = 0.25  # the position grid, in quarter lengths
SUPPORTED_SUFFIXES = (".mid", ".midi", ".xml", ".musicxml", ".mxl", ".abc", ".krn")
FOLK_COLLECTIONS = ("essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs")


@dataclass(frozen=True)
class Source:
    """One unit of parsing work: a corpus path, a file, or one tune of a multi-tune ABC file."""

    kind: str  # "corpus" (music21 corpus name), "file" (a path), "abc" (ABC text of one tune)
    ref: str  # corpus name / path / ABC text
    title: str  # human-readable origin, e.g. "bach/bwv269" or "essenFolksong/han1.abc#12"
    paired: bool = False  # keep only melodies that carry lyrics (chorales)
    harmony: bool = False  # read chords and key from the other parts of the score


# -- scores -> melodies -----------------------------------------------------------------------------

_QUALITY_OF_KIND = {"major": 1, "minor": 2, "diminished": 3, "augmented": 4}


def _symbol_chord(cs: Any) -> int:
    """A music21 ChordSymbol -> absolute chord id of :mod:`regen_melody.theory` (0 when unknown)."""
    try:
        root = cs.root().pitchClass
    except Exception:  # noqa: BLE001 - a malformed symbol is simply no hint
        return 0
    kind = (cs.chordKind or "major").lower()
    for name, q in _QUALITY_OF_KIND.items():
        if kind.startswith(name) or (name == "major" and kind in ("dominant", "dominant-seventh", "major-seventh")):
            return chord_id(root, q - 1)
    if kind.startswith("half-diminished"):
        return chord_id(root, 2)
    return chord_id(root, 0)


def _top_voice(part: Any, where: str) -> list[tuple[float, float, int, str]]:
    """(offset, duration, midi, syllable) of the highest note at each onset of one part."""
    flat = part.stripTies().flatten()
    by_onset: dict[float, tuple[float, int, str]] = {}
    chordal = False
    for n in flat.notes:
        dur = float(n.quarterLength)
        if dur <= 0:  # grace notes
            continue
        if n.isChord:
            chordal = True
            pitches = [p.midi for p in n.pitches]
            if not pitches:
                continue
            midi = max(pitches)
        else:
            midi = n.pitch.midi
        syl = ""
        if n.lyrics:
            lyr = n.lyrics[0]
            if lyr.text:
                syl = lyr.text.strip()
                if lyr.syllabic in ("begin", "middle"):
                    syl += "-"
        off = round(float(n.offset), 6)
        if off in by_onset:
            chordal = True
            if by_onset[off][1] >= midi:
                continue
        by_onset[off] = (dur, midi, syl)
    if chordal:
        warnings.warn(f"{where}: polyphonic part (chords or several voices); took the top voice", PolyphonyWarning, stacklevel=3)
    notes = [(off, d, m, s) for off, (d, m, s) in sorted(by_onset.items())]
    trimmed = []
    for i, (off, d, m, s) in enumerate(notes):
        if i + 1 < len(notes):
            d = min(d, notes[i + 1][0] - off)  # overlapping voices: a note ends where the next begins
        trimmed.append((off, d, m, s))
    return trimmed


def _window_chords(score: Any, onsets: list[float], bar_ql: float, span: float, shift: float, key_hint: int) -> list[int]:
    """Chord hint per melody note from all parts' notes in each chord window (absolute ids)."""
    import numpy as np

    events = []
    for part in score.parts:
        for n in part.stripTies().flatten().notes:
            d = float(n.quarterLength)
            if d <= 0:
                continue
            for p in n.pitches:
                events.append((float(n.offset) + shift, d, p.pitchClass))
    if not events:
        return []
    end = max(o + d for o, d, _ in events)
    n_win = int(np.ceil(end / span)) + 1
    weights = np.zeros((n_win, 12))
    for o, d, pc in events:
        add_pitch_weight(weights, o, d, pc, span)
    tonic = key_hint % 12 if key_hint >= 0 else 0
    minor = key_hint >= 12
    chords = infer_chords(weights, tonic=tonic, minor=minor)
    return [int(chords[min(int(o // span), n_win - 1)]) for o in onsets]




def score_to_melody(score: Any, where: str, *, harmony: bool = False) -> dict[str, Any]:
    """One melody from a parsed music21 score: its top part, top voice; pick-up aligned to the bar grid."""
    from music21 import stream

    # 1. The melody part: the first (top) part; several parts means polyphony.
    parts = list(score.parts) if isinstance(score, stream.Score) and len(score.parts) else [score]
    if len(parts) > 1 and not harmony:
        warnings.warn(f"{where}: {len(parts)} parts; took the top part as the melody", PolyphonyWarning, stacklevel=2)
    part = parts[0]
    notes = _top_voice(part, where)
    if not notes:
        raise NoNotesError(f"{where}: the score has no pitched notes (expected a melody)")

    # 2. Metre: the first time signature (4/4 when the score has none).
    flat = part.flatten()
    sigs = list(flat.getElementsByClass("TimeSignature")) or list(score.flatten().getElementsByClass("TimeSignature"))
    if sigs:
        ts = sigs[0]
        meter, bar_ql = ts.ratioString, float(ts.barDuration.quarterLength)
        if len({s.ratioString for s in sigs}) > 1:
            warnings.warn(f"{where}: the metre changes ({', '.join(sorted({s.ratioString for s in sigs}))}); "
                          f"positions follow the first one, {meter}", UserWarning, stacklevel=2)
    else:
        meter, bar_ql = "4/4", 4.0
    try:
        meter_info(meter)
    except TemplateError as err:
        raise UnusualMeterError(f"{where}: {err}") from None
    if bar_ql <= 0 or bar_ql / SIXTEENTH > 48:
        raise UnusualMeterError(f"{where}: time signature {meter} has a bar of {bar_ql} quarters; at most 12 are supported")

    # 3. Pick-up: shift onsets so bar lines fall on multiples of the bar length.
    measures = list(part.getElementsByClass("Measure"))
    shift = float(measures[0].paddingLeft) if measures else 0.0
    first = notes[0][0] + shift
    shift -= (first // bar_ql) * bar_ql  # leading empty bars are dropped

    # 4. Key and chord hints from the score when it carries harmony.
    key_hint, chord_hint = -1, []
    if harmony:
        try:
            k = score.analyze("key")
            if k.mode in ("major", "minor"):
                key_hint = k.tonic.pitchClass + (12 if k.mode == "minor" else 0)
        except Exception:  # noqa: BLE001 - no hint then
            key_hint = -1
    else:
        keys = list(flat.getElementsByClass("Key"))
        if keys and keys[0].mode in ("major", "minor"):
            key_hint = keys[0].tonic.pitchClass + (12 if keys[0].mode == "minor" else 0)
    onsets = [round(o + shift, 6) for o, _, _, _ in notes]
    if harmony and isinstance(score, stream.Score) and len(score.parts) > 1:
        chord_hint = _window_chords(score, onsets, bar_ql, chord_span(meter), shift, key_hint)
    else:
        symbols = list(flat.getElementsByClass("ChordSymbol"))
        if symbols:
            marks = [(float(cs.offset) + shift, _symbol_chord(cs)) for cs in symbols]
            chord_hint = []
            for o in onsets:
                active = [c for t, c in marks if t <= o + 1e-9]
                chord_hint.append(active[-1] if active else 0)
    syllables = [s for _, _, _, s in notes]
    return {
        "pitch": [int(m) for _, _, m, _ in notes],
        "onset": onsets,
        "duration": [round(float(d), 6) for _, d, _, _ in notes],
        "syllables": syllables if any(syllables) else [],
        "chord_hint": [int(c) for c in chord_hint],
        "key_hint": int(key_hint),
        "meter": meter,
        "title": where,
    }


def lyrics_of(melody: dict[str, Any]) -> str:
    """The lyrics line sung by a melody: syllables joined, '-' marks a syllable continuing its word."""
    words, cur = [], ""
    for s in melody.get("syllables") or []:
        if not s:
            continue
        if s.endswith("-"):
            cur += s[:-1]
        else:
            words.append(cur + s)
            cur = ""
    if cur:
        words.append(cur)
    return " ".join(words)


#: music21 caches parsed scores as pickles in a shared temporary folder under predictable names and unpickles
#: them on the next parse, so another local user who can write there could run code in ours. Every parse here
#: passes ``forceSource=True``: music21 neither reads nor writes those pickles (regen caches the melodies it
#: extracts itself, as Arrow datasets under the user's cache folder).
NO_PICKLES = True


def parse_file(path: str | Path, *, harmony: bool = False) -> dict[str, Any]:
    """One melody from a MIDI / MusicXML / ABC / Humdrum file (top part, top voice)."""
    from music21 import converter

    path = Path(path)
    if not path.is_file():
        raise MelodyInputError(f"{path}: no such file")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise MelodyInputError(f"{path}: unsupported file type {path.suffix!r} (expected one of {', '.join(SUPPORTED_SUFFIXES)})")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="music21")
            score = converter.parse(str(path), forceSource=NO_PICKLES)
    except Exception as err:  # noqa: BLE001 - music21 raises many unrelated types on bad files
        raise CorruptScoreError(f"{path}: cannot parse as {path.suffix.lstrip('.')} ({type(err).__name__}: {err})") from None
    if hasattr(score, "scores") and len(getattr(score, "scores", [])):  # an opus: the first piece
        score = score.scores[0]
    return score_to_melody(score, str(path), harmony=harmony)


def _parse_source(src: Source) -> dict[str, Any] | None:
    """Worker: parse one source; None when it is unusable (counted by the caller)."""
    from music21 import converter, corpus

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if src.kind == "corpus":
                score = corpus.parse(src.ref, forceSource=NO_PICKLES)
            elif src.kind == "abc":
                score = converter.parse(src.ref, format="abc", forceSource=NO_PICKLES)
            else:
                score = converter.parse(src.ref, forceSource=NO_PICKLES)
            mel = score_to_melody(score, src.title, harmony=src.harmony)
    except Exception:  # noqa: BLE001 - one bad tune in a corpus of thousands is skipped, not fatal
        return None
    if src.paired and not mel["syllables"]:
        return None
    return mel


# -- sources ------------------------------------------------------------------------------------------


def chorale_sources(limit: int = 0) -> list[Source]:
    """Bach chorales (music21's corpus.chorales.Iterator order); melody = soprano, harmony = all four voices."""
    from music21 import corpus

    names = list(corpus.chorales.Iterator(returnType="filename"))
    if limit:
        names = names[:limit]
    return [Source("corpus", n, n, paired=True, harmony=True) for n in names]


def split_abc(text: str) -> list[str]:
    """The tunes of a multi-tune ABC file (each starts at an ``X:`` line; the file header is prepended)."""
    chunks = re.split(r"(?m)^(?=X:)", text)
    header = chunks[0] if chunks and not chunks[0].startswith("X:") else ""
    keep_header = "\n".join(line for line in header.splitlines() if re.match(r"^[A-Za-z]:", line))
    return [(keep_header + "\n" + c) if keep_header else c for c in chunks if c.startswith("X:")]


def folk_sources(collections: Iterable[str] = FOLK_COLLECTIONS, limit: int = 0) -> list[Source]:
    """The tunes of music21's folk-song ABC collections, one source per tune, interleaved across collections."""
    from music21 import corpus

    per: list[list[Source]] = []
    for coll in collections:
        paths = sorted(str(p) for p in corpus.getCorePaths() if f"/{coll}/" in str(p).replace(os.sep, "/"))
        if not paths:
            raise MelodyInputError(f"music21's corpus has no collection {coll!r} (known: {', '.join(FOLK_COLLECTIONS)})")
        items = []
        for p in paths:
            text = Path(p).read_text(encoding="latin-1")
            for i, tune in enumerate(split_abc(text)):
                items.append(Source("abc", tune, f"{coll}/{Path(p).name}#{i + 1}"))
        per.append(items)
    out: list[Source] = []
    for i in range(max((len(x) for x in per), default=0)):  # round-robin, so a limit samples every collection
        out.extend(x[i] for x in per if i < len(x))
    return out[:limit] if limit else out


def folder_sources(folder: str | Path) -> list[Source]:
    """Every MIDI / MusicXML / ABC file under a user's folder (sorted, recursive)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MelodyInputError(f"melody folder {folder} does not exist")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES and p.is_file())
    if not files:
        raise MelodyInputError(f"melody folder {folder} holds no {'/'.join(SUPPORTED_SUFFIXES)} files")
    return [Source("file", str(p), str(p.relative_to(folder))) for p in files]


# -- parallel parse + cache ----------------------------------------------------------------------------


def melody_features() -> Any:
    import datasets

    return datasets.Features({
        "pitch": datasets.Sequence(datasets.Value("int32")),
        "onset": datasets.Sequence(datasets.Value("float32")),
        "duration": datasets.Sequence(datasets.Value("float32")),
        "syllables": datasets.Sequence(datasets.Value("string")),
        "chord_hint": datasets.Sequence(datasets.Value("int32")),
        "key_hint": datasets.Value("int32"),
        "meter": datasets.Value("string"),
        "title": datasets.Value("string"),
    })


def parse_all(sources: list[Source], *, num_proc: int = 1, progress: bool = True, desc: str = "parse") -> tuple[list[dict], int]:
    """Parse sources (in ``num_proc`` processes when > 1); returns (melodies in source order, number skipped)."""
    from tqdm.auto import tqdm

    results: list[dict | None]
    if num_proc > 1 and len(sources) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(num_proc) as pool:
            it = pool.imap(_parse_source, sources, chunksize=max(1, min(16, len(sources) // (num_proc * 8) or 1)))
            results = list(tqdm(it, total=len(sources), desc=desc, disable=not progress, unit="piece"))
    else:
        results = [_parse_source(s) for s in tqdm(sources, desc=desc, disable=not progress, unit="piece")]
    kept = [r for r in results if r is not None]
    return kept, len(results) - len(kept)


def cached_melodies(name: str, sources: list[Source], *, num_proc: int = 1, progress: bool = True, cache: Path | None = None) -> Any:
    """A ``datasets.Dataset`` of the melodies of ``sources``, parsed once and cached on disk."""
    import datasets
    from regen_core.data import cache_dir, fingerprint

    key = fingerprint(PARSER_VERSION, name, [(s.kind, s.title, s.paired, s.harmony, len(s.ref)) for s in sources])
    folder = (cache or cache_dir() / "melody" / "parsed") / f"{name}-{key}"
    if (folder / "dataset_info.json").exists():
        return datasets.load_from_disk(str(folder))
    melodies, skipped = parse_all(sources, num_proc=num_proc, progress=progress, desc=f"parse {name}")
    if skipped and progress:
        print(f"[melody] {name}: skipped {skipped} of {len(sources)} pieces (unparseable, no notes, or no lyrics)")
    if not melodies:
        raise MelodyInputError(f"{name}: none of {len(sources)} pieces gave a usable melody")
    ds = datasets.Dataset.from_list(melodies, features=melody_features())
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    ds.save_to_disk(str(tmp))
    try:
        os.replace(tmp, folder)
    except OSError:  # another process won the race: use theirs
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return datasets.load_from_disk(str(folder))


def default_num_proc() -> int:
    return max(1, min(8, (os.cpu_count() or 1)))


def corpus_available() -> bool:
    """music21's corpus is bundled with the wheel; False only for a stripped install."""
    try:
        from music21 import corpus

        return bool(corpus.getCorePaths())
    except Exception:  # noqa: BLE001
        return False

