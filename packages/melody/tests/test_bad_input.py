"""Bad input: empty lyrics, other scripts, no notes, polyphony, odd metres, corrupt files."""

import warnings

import pytest

from regen_melody.data import folder_sources, parse_file, score_to_melody, split_abc
from regen_melody.errors import (
    CorruptScoreError, EmptyLyricsError, MelodyInputError, NoNotesError, PolyphonyWarning, UnsupportedScriptError,
)
from regen_melody.lyrics import syllabify


def test_empty_lyrics():
    for text in ("", "   ", "!!! ...", "123"):
        with pytest.raises(EmptyLyricsError):
            syllabify(text)


def test_unsupported_script_names_the_character():
    with pytest.raises(UnsupportedScriptError, match="position 0"):
        syllabify("你好")
    with pytest.raises(UnsupportedScriptError, match="Cyrillic"):
        syllabify("hello мир")


def test_english_and_german_syllables():
    s = syllabify("Twinkle, twinkle, little star.")
    assert [x.text for x in s] == ["Twin-", "kle,", "twin-", "kle,", "lit-", "tle", "star."]
    assert [x.cadence for x in s] == [0, 1, 0, 1, 0, 0, 2]
    assert s[0].stress == 1 and s[1].stress == 0
    g = syllabify("Ich dank dir, lieber Herre", language="de")
    assert [x.text for x in g][-4:] == ["lie-", "ber", "Her-", "re"]
    assert g[-1].cadence == 2  # the last syllable always ends on an authentic cadence


def test_corrupt_files(tmp_path):
    bad_mid = tmp_path / "bad.mid"
    bad_mid.write_bytes(b"MThd\x00\x00garbage")
    with pytest.raises(CorruptScoreError, match="bad.mid"):
        parse_file(bad_mid)
    bad_xml = tmp_path / "bad.musicxml"
    bad_xml.write_text("<score-partwise><part>")
    with pytest.raises(CorruptScoreError):
        parse_file(bad_xml)
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(MelodyInputError, match="unsupported file type"):
        parse_file(tmp_path / "x.txt")
    with pytest.raises(MelodyInputError, match="no such file"):
        parse_file(tmp_path / "missing.mid")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MelodyInputError, match="holds no"):
        folder_sources(tmp_path / "empty")


def test_abc_with_no_notes(tmp_path):
    f = tmp_path / "rest.abc"
    f.write_text("X:1\nT:silence\nM:4/4\nL:1/4\nK:C\nz4 | z4 |]\n")
    with pytest.raises(NoNotesError, match="rest.abc"):
        parse_file(f)


def test_polyphony_takes_the_top_voice_and_warns():
    from music21 import chord, note, stream

    s = stream.Score()
    p = stream.Part()
    p.append(chord.Chord(["C4", "E4", "G4"], quarterLength=1))
    p.append(note.Note("D4", quarterLength=1))
    s.insert(0, p)
    q = stream.Part()
    q.append(note.Note("C3", quarterLength=2))
    s.insert(0, q)
    with pytest.warns(PolyphonyWarning):
        m = score_to_melody(s, "poly")
    assert m["pitch"] == [67, 62]


def test_abc_round_trip_and_unusual_metre(tmp_path):
    f = tmp_path / "five.abc"
    f.write_text("X:1\nT:five\nM:5/4\nL:1/4\nK:G\nG A B c d | g4 z |]\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = parse_file(f)
    assert m["meter"] == "5/4" and m["pitch"][0] == 67 and m["key_hint"] == 7
    from regen_melody.extract import extract_template

    t = extract_template(m)
    assert t["beat"] == [0, 1, 2, 3, 4, 0] and t["transpose"] == 5
    assert len(split_abc("%header\nX:1\nK:C\nC|\n\nX:2\nK:G\nG|\n")) == 2
