"""Template extraction: key, chords, beats (metre-aware), cadences."""

import numpy as np
import pytest

from regen_melody.errors import TemplateError
from regen_melody.extract import extract_template
from regen_melody.theory import (
    beat_of, chord_id, chord_name, chord_span, find_key, infer_chords, meter_info, shift_to_c, tonic_chord,
)


def melody(pitches, onsets, durs, meter="4/4", **kw):
    return {"pitch": pitches, "onset": onsets, "duration": durs, "meter": meter, "syllables": [], "chord_hint": [],
            "key_hint": -1, "title": "t", **kw}


def test_meter_info_simple_and_compound():
    assert meter_info("4/4") == (4.0, 1.0, 4)
    assert meter_info("3/4") == (3.0, 1.0, 3)
    assert meter_info("6/8") == (3.0, 1.5, 2)
    assert meter_info("12/8") == (6.0, 1.5, 4)
    # two chords per bar for even beat counts, one for odd
    assert chord_span("4/4") == 2.0 and chord_span("6/8") == 1.5 and chord_span("3/4") == 3.0
    with pytest.raises(TemplateError):
        meter_info("four")
    with pytest.raises(TemplateError):  # O'Neill's collection has one; it used to hang chord windows
        meter_info("1/6")


def test_beat_positions_are_metre_aware():
    assert [beat_of(o, "4/4") for o in (0, 1, 2.5, 3.75, 4)] == [0, 1, 2, 3, 0]
    assert [beat_of(o, "6/8") for o in (0, 0.5, 1.0, 1.5, 2.5, 3.0)] == [0, 0, 0, 1, 1, 0]
    assert [beat_of(o, "3/4") for o in (0, 2, 3, 5.5)] == [0, 2, 0, 2]


def test_key_finding_and_shift():
    scale_g = [67, 69, 71, 72, 74, 76, 78, 79, 74, 71, 67]
    assert find_key(scale_g, [1.0] * len(scale_g)) == (7, False)
    a_minor = [69, 72, 76, 69, 71, 72, 74, 76, 72, 71, 69]
    assert find_key(a_minor, [1.0] * len(a_minor)) == (9, True)
    assert shift_to_c(7, False) == 5 and shift_to_c(2, False) == -2 and shift_to_c(4, True) == 5


def test_chord_inference_follows_the_notes():
    w = np.zeros((4, 12))
    w[0, [0, 4, 7]] = 1
    w[1, [5, 9, 0]] = 1
    w[2, [7, 11, 2]] = 1
    w[3, [9, 0, 4]] = 1
    assert [chord_name(c) for c in infer_chords(w)] == ["C", "F", "G", "Am"]
    w[1] = 0  # an empty window keeps a neighbour's chord
    assert chord_name(infer_chords(w)[1]) in ("C", "G")


def test_template_of_a_g_major_tune():
    # G major, 4/4: G A B G | D D G(half) ; the final G is long and last -> authentic cadence
    y = melody([67, 69, 71, 67, 74, 74, 67], [0, 1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1, 2])
    t = extract_template(y)
    assert t["mode"] == 0 and t["transpose"] == 5  # G -> C
    assert t["beat"] == [0, 1, 2, 3, 0, 1, 2]
    assert t["cadence"][-1] == 2 and t["chord"][-1] == tonic_chord(False)
    assert t["register"] == 75 and t["ambitus"] == 7  # mean 69.86 sounding, + 5 in C; D5 - G4
    assert extract_template(y) == t  # deterministic


def test_cadence_rule_half_and_none():
    # a long non-tonic note followed by a 2-beat gap -> half; short notes -> none
    y = melody([60, 62, 67, 64, 60], [0, 1, 2, 4, 5], [1, 1, 2, 1, 3])
    t = extract_template(y)
    assert t["cadence"][:2] == [0, 0]
    assert t["cadence"][2] == 1  # G (not the tonic) held 2 beats
    assert t["cadence"][4] == 2  # final tonic


def test_chord_hints_win_over_inference():
    y = melody([60, 62, 64, 65], [0, 1, 2, 3], [1, 1, 1, 1], chord_hint=[chord_id(7, 0)] * 4, key_hint=0)
    assert set(extract_template(y)["chord"]) == {chord_id(7, 0)}


def test_6_8_tune_gets_two_chord_windows_per_bar():
    # 6/8: C E G | F A C' | ... chords change at the dotted quarter
    y = melody([60, 64, 67, 65, 69, 72, 67, 71, 74, 72], [0, .5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5], [.5] * 9 + [1.5], meter="6/8")
    t = extract_template(y)
    assert t["beat"] == [0, 0, 0, 1, 1, 1, 0, 0, 0, 1]
    names = [chord_name(c) for c in t["chord"]]
    assert names[0] == "C" and names[3] == "F" and names[6] == "G"
