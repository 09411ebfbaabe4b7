"""Music theory shared by parsing, extraction, models and metrics: chords, metres, keys.

- **chords**: root + quality from a fixed vocabulary (12 roots x maj/min/dim/aug, plus 0 = no
  chord), as ids 1..48; inferred from pitch-class weights per chord window by template matching
  with a Viterbi pass (:func:`infer_chords`);
- **metres**: bar and beat lengths of a time signature (compound metres beat in dotted quarters),
  chord windows (:func:`chord_span`), the beat of an onset;
- **keys**: Krumhansl-Schmuckler key finding, the shift to C major / A minor, key names.

No parsing and no models here: :mod:`regen_melody.data` and :mod:`regen_melody.extract` both
build on this module, and neither on the other's internals.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import TemplateError

QUALITIES = ("maj", "min", "dim", "aug")
_INTERVALS = ((0, 4, 7), (0, 3, 7), (0, 3, 6), (0, 4, 8))
N_CHORDS = 1 + 12 * len(QUALITIES)  # 0 = no chord
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MODES = ("major", "minor")
# Krumhansl-Kessler key profiles (tonic first).
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


# -- chords -----------------------------------------------------------------------------------------


def chord_id(root: int, quality: int) -> int:
    """root pitch class 0..11, quality index into QUALITIES -> id 1..48."""
    return 1 + (root % 12) * len(QUALITIES) + quality


def chord_root_quality(cid: int) -> tuple[int, int] | None:
    if cid <= 0:
        return None
    return (cid - 1) // len(QUALITIES), (cid - 1) % len(QUALITIES)


def chord_pitch_classes(cid: int) -> tuple[int, ...]:
    rq = chord_root_quality(cid)
    if rq is None:
        return ()
    return tuple((rq[0] + i) % 12 for i in _INTERVALS[rq[1]])


def chord_name(cid: int) -> str:
    rq = chord_root_quality(cid)
    if rq is None:
        return "N"
    return PITCH_NAMES[rq[0]] + {"maj": "", "min": "m", "dim": "dim", "aug": "+"}[QUALITIES[rq[1]]]


def transpose_chord(cid: int, shift: int) -> int:
    rq = chord_root_quality(cid)
    return 0 if rq is None else chord_id(rq[0] + shift, rq[1])


def tonic_chord(minor: bool) -> int:
    """The tonic chord in the normalised keys: C major or A minor."""
    return chord_id(9, 1) if minor else chord_id(0, 0)


_CHORD_MASKS = np.zeros((N_CHORDS, 12))
for _c in range(1, N_CHORDS):
    _CHORD_MASKS[_c, list(chord_pitch_classes(_c))] = 1.0


def _key_prior(tonic: int, minor: bool) -> np.ndarray:
    """Bonus per chord id for diatonic function in the key (as a fraction of the window's weight)."""
    prior = np.zeros(N_CHORDS)
    if minor:
        table = {(0, 1): 0.3, (7, 0): 0.2, (5, 1): 0.2, (3, 0): 0.1, (8, 0): 0.1, (10, 0): 0.1, (7, 1): 0.05, (2, 2): 0.05}
    else:
        table = {(0, 0): 0.3, (7, 0): 0.2, (5, 0): 0.2, (9, 1): 0.1, (2, 1): 0.1, (4, 1): 0.05, (11, 2): 0.05}
    for (deg, q), bonus in table.items():
        prior[chord_id(tonic + deg, q)] = bonus
    for r in range(12):
        prior[chord_id(r, 3)] -= 0.1  # augmented chords only when the notes insist
    return prior


def infer_chords(weights: np.ndarray, *, tonic: int = 0, minor: bool = False, stay: float = 0.15) -> np.ndarray:
    """Chord id per window from pitch-class weights (W, 12): template matching + Viterbi.

    Emission: weight of chord tones - 0.6 x weight of other tones + key prior x window weight;
    transition: ``stay`` x (mean window weight) for keeping the chord. Empty windows keep it.
    """
    weights = np.asarray(weights, dtype=np.float64)  # (W, 12)
    n_win = len(weights)
    if n_win == 0:
        return np.zeros(0, dtype=np.int64)
    total = weights.sum(1, keepdims=True)  # (W, 1)
    inside = weights @ _CHORD_MASKS.T  # (W, N_CHORDS)
    emit = inside - 0.6 * (total - inside) + total * _key_prior(tonic, minor)[None, :]  # (W, N_CHORDS)
    emit[:, 0] = -1e9  # "no chord" is never inferred; empty windows keep the chord (or take the tonic's)
    bonus = stay * float(total.mean() if total.mean() > 0 else 1.0)
    score = emit[0].copy()
    back = np.zeros((n_win, N_CHORDS), dtype=np.int64)
    for w in range(1, n_win):
        best_prev = int(np.argmax(score))
        switch = score[best_prev]
        keep = score + bonus
        back[w] = np.where(keep >= switch, np.arange(N_CHORDS), best_prev)
        score = np.maximum(keep, switch) + emit[w]
    path = np.zeros(n_win, dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for w in range(n_win - 1, 0, -1):
        path[w - 1] = back[w, path[w]]
    return path



def add_pitch_weight(weights: Any, onset: float, dur: float, pc: int, span: float) -> None:
    """Add a note (onset, duration in quarter lengths, pitch class) to the pitch-class weights (W, 12) of the chord windows it overlaps."""
    t, stop = onset, onset + dur
    while t < stop - 1e-9:
        w = int(t // span)
        if w >= len(weights):
            break
        nxt = min(stop, (w + 1) * span)
        if nxt <= t:  # float rounding put t on the window's end: step into the next window
            w, nxt = w + 1, min(stop, (w + 2) * span)
            if w >= len(weights):
                break
        weights[w, pc] += nxt - t
        t = nxt


# -- metre -------------------------------------------------------------------------------------------


def meter_info(meter: str) -> tuple[float, float, int]:
    """(bar length, beat length in quarter lengths, beats per bar); compound metres beat in dotted quarters."""
    try:
        num_s, den_s = meter.split("/")
        num, den = int(num_s), int(den_s)
        if num <= 0 or den not in (1, 2, 4, 8, 16, 32):
            raise ValueError
    except ValueError:
        raise TemplateError(f"meter {meter!r} is not a time signature like '4/4' or '6/8' (denominator a power of 2)") from None
    bar = num * 4.0 / den
    if den >= 8 and num % 3 == 0 and num > 3:
        return bar, 1.5 * 8.0 / den, num // 3
    return bar, 4.0 / den, num


def chord_span(meter: str) -> float:
    """Length of a chord window: half a bar when the bar has an even number of beats, else the bar."""
    bar, beat, beats = meter_info(meter)
    return bar / 2 if beats % 2 == 0 else bar


def beat_of(onset: float, meter: str) -> int:
    bar, beat, beats = meter_info(meter)
    pos = onset - np.floor(onset / bar + 1e-9) * bar
    return int(min(beats - 1, np.floor(pos / beat + 1e-6)))


# -- key ---------------------------------------------------------------------------------------------


def find_key(pitches: list[int], durations: list[float]) -> tuple[int, bool]:
    """(tonic pitch class, minor?) by Krumhansl-Schmuckler on the duration-weighted pitch classes,
    with a small bonus for keys whose tonic is the final note (melodies end on the tonic)."""
    hist = np.zeros(12)
    for p, d in zip(pitches, durations):
        hist[p % 12] += d
    if hist.sum() == 0:
        raise TemplateError("cannot find the key of a melody with no notes")
    best, best_score = (0, False), -np.inf
    final = pitches[-1] % 12
    for minor, prof in ((False, _MAJOR), (True, _MINOR)):
        for t in range(12):
            r = np.corrcoef(hist, np.roll(prof, t))[0, 1]
            r = -1.0 if not np.isfinite(r) else r
            r += 0.1 * (t == final)
            if r > best_score:
                best, best_score = (t, minor), r
    return best


def melody_key(y: dict[str, Any]) -> tuple[int, bool]:
    """(tonic pitch class, minor?) of a melody: the score's key (``key_hint``: tonic + 12 if minor)
    when it has one, else :func:`find_key`."""
    hint = int(y.get("key_hint", -1) if y.get("key_hint") is not None else -1)
    return (hint % 12, hint >= 12) if hint >= 0 else find_key(list(y["pitch"]), [float(d) for d in y["duration"]])


def key_name(tonic: int, minor: bool) -> str:
    """(7, True) -> 'G minor' (what ``generate.parse_key`` reads back)."""
    return f"{PITCH_NAMES[tonic % 12]} {'minor' if minor else 'major'}"


def shift_to_c(tonic: int, minor: bool) -> int:
    """Semitones (in -5..6) that move the key to C major / A minor."""
    s = ((9 if minor else 0) - tonic) % 12
    return s - 12 if s > 6 else s
