"""Outputs a person can hear and read: the WAV (FluidSynth) and the engraved score (LilyPond)."""

import wave
from pathlib import Path

import numpy as np
import pytest
from regen_core.errors import OutputPathError, RegenError

from regen_melody import render
from regen_melody.errors import MissingRendererError, NoNotesError, RenderError
from regen_melody.render import RELEASE_S, melody_seconds, to_lilypond, write, write_score, write_wav

FOUR = {"pitch": [60, 64, 67, 72], "onset": [0.0, 1.0, 2.0, 3.0], "duration": [1.0, 1.0, 1.0, 1.0], "meter": "4/4",
        "syllables": ["Twin-", "kle", "lit-", "tle"]}


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())
        return x.astype(np.float64).mean(axis=1) / 32768.0, w.getframerate()


def test_wav_of_four_notes_sounds_for_the_melody_at_the_tempo(tmp_path):
    wav = write_wav(FOUR, tmp_path / "four.wav", sample_rate=16000)
    x, sr = read_mono(wav)
    assert sr == 16000
    seconds = melody_seconds(FOUR)
    assert seconds == pytest.approx(4 * 60 / render.TEMPO_BPM)
    # the last note's release is kept (at most RELEASE_S), FluidSynth's trailing silence is not
    assert seconds - 0.05 <= len(x) / sr <= seconds + RELEASE_S + 0.01
    rms = [float(np.sqrt(np.mean(x[int(a * sr):int(b * sr)] ** 2))) for a, b in ((0, 0.3), (seconds - 0.4, seconds - 0.1))]
    assert min(rms) > 0.01  # the first and the last note sound
    assert np.abs(x).max() > 0.5  # peak-normalised, not a whisper


@pytest.mark.parametrize("pitch", [57, 69, 76])
def test_wav_of_one_note_has_its_pitch(tmp_path, pitch):
    x, sr = read_mono(write_wav({"pitch": [pitch], "onset": [0.0], "duration": [2.0], "meter": "4/4"},
                                tmp_path / "one.wav"))
    seg = x[int(0.05 * sr):int(1.2 * sr)]  # the sustained note
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    freqs = np.fft.rfftfreq(len(seg), 1 / sr)
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    # the lowest strong partial is the fundamental (an octave error has nothing there) ...
    strong = freqs[(spec >= 0.1 * spec.max()) & (freqs > 50)]
    assert strong.min() == pytest.approx(f0, rel=0.02)
    # ... and the strongest is one of its harmonics (a semitone off is 6% away)
    ratio = freqs[spec.argmax()] / f0
    assert abs(ratio - round(ratio)) < 0.02 * round(ratio)


def test_wav_from_an_unreadable_soundfont_is_an_error_not_silence(tmp_path):
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"not a soundfont" * 100)
    with pytest.raises(RenderError, match="silence.*not a SoundFont"):
        write_wav(FOUR, tmp_path / "x.wav", soundfont=bad)
    assert not (tmp_path / "x.wav").exists()


def test_lilypond_source_has_key_metre_ties_and_the_syllables():
    y = {"pitch": [67, 71, 74, 67], "onset": [0.0, 1.0, 2.0, 6.0], "duration": [1.0, 1.0, 2.0, 3.0], "meter": "3/4",
         "syllables": ["Twin-", "kle", "star", 'say "hi"'], "template": {"mode": 0, "transpose": 5}}
    ly = to_lilypond(y, "a title")
    assert "\\key g \\major" in ly and "\\time 3/4" in ly and f"\\tempo 4 = {render.TEMPO_BPM}" in ly
    # the half note from beat 3 crosses the barline: a quarter tied to a quarter, then a rest to the next note
    assert "g'4 b'4 d''4~ d''4 r2 g'2." in ly
    assert '"Twin" -- "kle" "star" "say \\"hi\\""' in ly and 'title = "a title"' in ly
    flats = to_lilypond({**y, "pitch": [70, 63, 65, 70], "template": {"mode": 1, "transpose": -3}})
    assert "\\key c \\minor" in flats and "bes'4 ees'4 f'4~" in flats


def test_score_pdf_png_and_ly_are_written(tmp_path):
    ly = write(FOUR, tmp_path / "s.ly", "four notes")
    assert '"Twin" -- "kle" "lit" -- "tle"' in ly.read_text()
    pdf = write_score(FOUR, tmp_path / "s.pdf", "four notes")
    png = write(FOUR, tmp_path / "s.png", "four notes")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 3000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.ly", "s.pdf", "s.png"]  # no temporary left over


def test_missing_programs_and_soundfont_are_typed_errors_naming_the_package(tmp_path, monkeypatch):
    monkeypatch.delenv(render.SOUNDFONT_ENV, raising=False)
    monkeypatch.setattr(render, "DEFAULT_SOUNDFONT", tmp_path / "absent.sf2")
    with pytest.raises(MissingRendererError, match="timgm6mb-soundfont"):
        write_wav(FOUR, tmp_path / "a.wav")
    monkeypatch.setenv(render.SOUNDFONT_ENV, str(tmp_path / "mine.sf2"))
    with pytest.raises(MissingRendererError, match=r"\$REGEN_SOUNDFONT .*mine.sf2: no such file"):
        write_wav(FOUR, tmp_path / "a.wav")
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    with pytest.raises(MissingRendererError, match="'fluidsynth'"):
        write_wav(FOUR, tmp_path / "a.wav", soundfont=render.DEFAULT_SOUNDFONT)
    for suffix in (".pdf", ".png"):
        with pytest.raises(MissingRendererError, match="Debian package 'lilypond'"):
            write_score(FOUR, tmp_path / f"a{suffix}")
        with pytest.raises(MissingRendererError, match="lilypond"):
            render.check_renderer(tmp_path / f"a{suffix}")
    assert issubclass(MissingRendererError, RegenError) and not list(tmp_path.glob("a.*"))
    write_score(FOUR, tmp_path / "a.ly")  # the LilyPond source needs no program


def test_bad_melodies_and_formats_are_refused(tmp_path):
    empty = {"pitch": [], "onset": [], "duration": [], "meter": "4/4"}
    for name in ("e.wav", "e.pdf", "e.ly"):
        with pytest.raises(NoNotesError, match="no notes"):
            write(empty, tmp_path / name)
    with pytest.raises(OutputPathError, match="unsupported suffix '.mp3'"):
        write(FOUR, tmp_path / "x.mp3")
    with pytest.raises(ValueError, match="sample_rate"):
        write_wav(FOUR, tmp_path / "x.wav", sample_rate=100)
    assert not list(tmp_path.iterdir())


def test_compose_refuses_bad_outputs_before_loading_a_model(tmp_path, monkeypatch, capsys):
    from regen_melody.compose import main

    absent = str(tmp_path / "no-run")
    assert main(["--lyrics", "la la", "--model", absent, "--out", str(tmp_path / "a.mid"), "--out",
                 str(tmp_path / "a.mid")]) == 2
    assert "same file twice" in capsys.readouterr().err
    assert main(["--lyrics", "la la", "--model", absent, "--out", str(tmp_path / "a.mp3")]) == 2
    assert "unsupported suffix" in capsys.readouterr().err
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    assert main(["--lyrics", "la la", "--model", absent, "--out", str(tmp_path / "a.mid"), "--out",
                 str(tmp_path / "a.wav")]) == 2
    assert "Debian package 'fluidsynth'" in capsys.readouterr().err
