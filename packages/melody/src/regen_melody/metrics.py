"""Metrics, as TeleMelody's evaluation scripts compute them (re-implemented, per melody).

Template accuracy of a melody against the template it was given (the regenerated melody
carries it in ``prediction["template"]``; a melody without one, e.g. the direct baseline's, is
judged against the template extracted from the reference):

- TA: tonality - the melody, moved by the template's shift, is major when its duration-weighted
  pitch-class histogram weighs C over A, minor when A over C (a tie scores 0.5);
- CA: chord - share of notes whose pitch class belongs to the template chord ("no chord" passes);
- RA: rhythm - share of notes whose onset falls in the template's beat;
- AA: cadence - share of notes (all but the last) that realise their cadence label: half needs
  >= 1 beat duration and >= 1.5 beats to the next onset, authentic >= 1 beat and >= 2 beats, none
  needs < 1 beat duration or < 2 beats to the next onset (beats of the metre).

Similarity to the ground truth:

- PD: overlap of the pitch histograms (pitches folded into 60..83);
- PDk (not one of TeleMelody's seven): PD after moving each melody to C major / A minor by its
  own estimated key (``extract.find_key``, the same for both sides). TeleMelody's melodies are
  in C major / A minor (its TA script reads the C vs A weight of the output as is), so its PD
  compares melodies in one key; plain PD here also asks for the reference's key, which the
  lyrics do not carry;
- DD: overlap of the duration histograms, durations counted in multiples of each melody's own
  shortest note (TeleMelody's binning);
- MD: melody distance - DTW between the mean-centred pitch contours (sampled at each melody's
  shortest duration, rests holding the previous pitch), divided by the prediction's length.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .extract import extract_template
from .theory import beat_of, chord_pitch_classes, find_key, meter_info, shift_to_c

N_DUR_BINS = 132


def _template_for(prediction: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    t = prediction.get("template")
    return t if t else extract_template(reference)


def tonality_accuracy(pred: dict[str, Any], t: dict[str, Any]) -> float:
    hist = np.zeros(12)
    for p, d in zip(pred["pitch"], pred["duration"]):
        hist[(int(p) + t["transpose"]) % 12] += float(d)
    if hist[0] == hist[9]:
        return 0.5
    return float((hist[0] > hist[9]) == (t["mode"] == 0))


def chord_accuracy(pred: dict[str, Any], t: dict[str, Any]) -> float:
    n = len(t["chord"])
    ok = 0
    for i in range(min(n, len(pred["pitch"]))):
        pcs = chord_pitch_classes(int(t["chord"][i]))
        ok += (not pcs) or ((int(pred["pitch"][i]) + t["transpose"]) % 12 in pcs)
    return ok / max(1, n)


def rhythm_accuracy(pred: dict[str, Any], t: dict[str, Any]) -> float:
    n = len(t["beat"])
    ok = sum(beat_of(float(pred["onset"][i]), t["meter"]) == int(t["beat"][i]) for i in range(min(n, len(pred["onset"]))))
    return ok / max(1, n)


def cadence_accuracy(pred: dict[str, Any], t: dict[str, Any]) -> float:
    _, beat, _ = meter_info(t["meter"])
    n = min(len(t["cadence"]), len(pred["onset"]))
    if n < 2:
        return 1.0
    ok = 0
    for i in range(n - 1):
        ioi = (float(pred["onset"][i + 1]) - float(pred["onset"][i])) / beat
        dur = float(pred["duration"][i]) / beat
        c = int(t["cadence"][i])
        if c == 1:
            ok += dur >= 1 - 1e-6 and ioi >= 1.5 - 1e-6
        elif c == 2:
            ok += dur >= 1 - 1e-6 and ioi >= 2 - 1e-6
        else:
            ok += dur < 1 - 1e-6 or ioi < 2 - 1e-6
    return ok / (len(t["cadence"]) - 1)


def _fold(p: int) -> int:
    p = int(p)
    if p < 60:
        return 60 + p % 12
    if p >= 84:
        return 72 + p % 12
    return p


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Histogram overlap of two count vectors (1 = identical distributions)."""
    a = a / max(a.sum(), 1e-12)
    b = b / max(b.sum(), 1e-12)
    return float(np.minimum(a, b).sum())


def pitch_overlap(pred: dict[str, Any], ref: dict[str, Any]) -> float:
    ha, hb = np.zeros(128), np.zeros(128)
    for p in ref["pitch"]:
        ha[_fold(p)] += 1
    for p in pred["pitch"]:
        hb[_fold(p)] += 1
    return overlap(ha, hb)


def key_normalised_pitch_overlap(pred: dict[str, Any], ref: dict[str, Any]) -> float:
    def moved(y: dict[str, Any]) -> list[int]:
        tonic, minor = find_key([int(p) for p in y["pitch"]], [float(d) for d in y["duration"]])
        shift = shift_to_c(tonic, minor)
        return [int(p) + shift for p in y["pitch"]]

    return pitch_overlap({"pitch": moved(pred)}, {"pitch": moved(ref)})


def _sixteenths(durs: Any) -> np.ndarray:
    return np.maximum(1, np.round(np.asarray(durs, dtype=np.float64) / 0.25)).astype(np.int64)


def _dur_hist(durs: Any) -> np.ndarray:
    d = _sixteenths(durs)
    h = np.zeros(N_DUR_BINS)
    np.add.at(h, np.minimum(d // d.min(), N_DUR_BINS - 1), 1)
    return h


def duration_overlap(pred: dict[str, Any], ref: dict[str, Any]) -> float:
    return overlap(_dur_hist(ref["duration"]), _dur_hist(pred["duration"]))


def contour(y: dict[str, Any]) -> np.ndarray:
    """Pitch per sixteenth from the first onset (rests hold the previous pitch), sampled every shortest note."""
    on = np.round(np.asarray(y["onset"], dtype=np.float64) / 0.25).astype(np.int64)
    dur = _sixteenths(y["duration"])
    on = on - on[0]
    total = int(max(on[-1] + dur[-1], 1))
    grid = np.zeros(total)
    for i in range(len(on)):
        stop = on[i + 1] if i + 1 < len(on) else on[i] + dur[i]
        grid[on[i] : max(stop, on[i] + 1)] = _fold(y["pitch"][i])
    step = int(dur.min())
    return grid[::step]


def dtw(a: np.ndarray, b: np.ndarray) -> float:
    """Accumulated |a_i - b_j| along the best monotone alignment."""
    n, m = len(a), len(b)
    cost = np.abs(a[:, None] - b[None, :])  # (n, m)
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        row, prev = acc[i], acc[i - 1]
        c = cost[i - 1]
        diag_up = np.minimum(prev[:-1], prev[1:]) + c  # best of (i-1, j-1), (i-1, j) into (i, j)
        for j in range(1, m + 1):
            row[j] = min(diag_up[j - 1], row[j - 1] + c[j - 1])
    return float(acc[n, m])


def melody_distance(pred: dict[str, Any], ref: dict[str, Any]) -> float:
    a, b = contour(ref), contour(pred)
    a, b = a - a.mean(), b - b.mean()
    return dtw(a, b) / max(1, len(b))


def melody_metrics(prediction: dict[str, Any], reference: dict[str, Any]) -> dict[str, float]:
    """TeleMelody's seven metrics of one predicted melody, plus PDk."""
    if not prediction.get("pitch"):
        from .errors import NoNotesError

        raise NoNotesError("the predicted melody has no notes: nothing to judge")
    t = _template_for(prediction, reference)
    return {
        "TA": tonality_accuracy(prediction, t),
        "CA": chord_accuracy(prediction, t),
        "RA": rhythm_accuracy(prediction, t),
        "AA": cadence_accuracy(prediction, t),
        "PD": pitch_overlap(prediction, reference),
        "PDk": key_normalised_pitch_overlap(prediction, reference),
        "DD": duration_overlap(prediction, reference),
        "MD": melody_distance(prediction, reference),
    }
