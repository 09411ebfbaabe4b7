"""TeleMelody's metrics on hand-made melodies."""

import pytest

from regen_melody.extract import extract_template
from regen_melody.metrics import dtw, melody_metrics, overlap

import numpy as np


def mel(pitches, onsets, durs, meter="4/4"):
    return {"pitch": pitches, "onset": onsets, "duration": durs, "meter": meter, "syllables": [], "chord_hint": [],
            "key_hint": -1, "title": "t"}


REF = mel([60, 62, 64, 65, 67, 65, 64, 62, 60], [0, 1, 2, 3, 4, 5, 6, 7, 8], [1] * 8 + [4])


def test_ground_truth_follows_its_own_template():
    m = melody_metrics(REF, REF)
    assert m["RA"] == 1.0 and m["AA"] == 1.0 and m["TA"] == 1.0
    assert m["PD"] == pytest.approx(1.0) and m["DD"] == pytest.approx(1.0) and m["MD"] == pytest.approx(0.0)


def test_template_metrics_use_the_attached_template():
    shifted = dict(mel([p + 1 for p in REF["pitch"]], [o + 0.5 for o in REF["onset"]], REF["duration"]))
    shifted["template"] = extract_template(REF)
    m = melody_metrics(shifted, REF)
    assert m["RA"] == 1.0  # half a beat late still lies in the same beat
    assert m["CA"] < 0.5  # a semitone off leaves the chords
    assert m["PD"] == pytest.approx(2 / 9)  # only F (twice) is common to C D E F G F E D C and its semitone shift
    late = dict(mel(REF["pitch"], [o + 1 for o in REF["onset"]], REF["duration"]), template=extract_template(REF))
    assert melody_metrics(late, REF)["RA"] == 0.0


def test_cadence_accuracy_penalises_a_missing_cadence():
    t = extract_template(REF)
    t["cadence"][3] = 2  # ask for an authentic cadence on the 4th note, which moves on after one beat
    pred = dict(REF, template=t)
    assert melody_metrics(pred, REF)["AA"] == pytest.approx(7 / 8)


def test_melody_distance_grows_with_contour_difference():
    flat = mel([64] * 9, REF["onset"], REF["duration"])
    zigzag = mel([60, 72] * 4 + [60], REF["onset"], REF["duration"])
    assert 0 < melody_metrics(flat, REF)["MD"] < melody_metrics(zigzag, REF)["MD"]
    assert dtw(np.array([0.0, 1, 2]), np.array([0.0, 1, 1, 2])) == 0.0
    assert overlap(np.array([1.0, 0]), np.array([0.0, 1])) == 0.0


def test_key_normalised_pitch_overlap_ignores_the_key_but_not_the_tune():
    up_a_tone = mel([p + 2 for p in REF["pitch"]], REF["onset"], REF["duration"])  # the same tune in D major
    m = melody_metrics(up_a_tone, REF)
    assert m["PD"] < 0.7 and m["PDk"] == pytest.approx(1.0)
    other = mel([60, 64, 67, 72, 67, 64, 60, 67, 60], REF["onset"], REF["duration"])  # another C-major tune
    assert melody_metrics(other, REF)["PDk"] == pytest.approx(5 / 9)  # C (2 of 3), E (2), G (1 of 3) shared
