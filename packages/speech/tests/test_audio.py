"""regen_speech.audio: conversions are reported, defects raise typed errors naming the file."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import soundfile as sf

from regen_speech.audio import (
    AudioError,
    AudioNotFoundError,
    ClippingWarning,
    CorruptAudioError,
    EmptyAudioError,
    NonFiniteAudioError,
    SampleRateError,
    SilentAudioError,
    load_audio,
    save_wav,
)


def _tone(sr: int, seconds: float = 0.5, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)  # (T,)


def test_stereo_at_another_rate_is_downmixed_and_resampled_and_says_so(tmp_path, capsys):
    left, right = _tone(44100, freq=440), _tone(44100, freq=220, amp=0.25)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 44100)  # (T, 2)

    got = load_audio(path, 16000, verbose=True)

    assert got.audio.shape == (8000,) and got.audio.dtype == np.float32
    assert (got.sample_rate, got.source_rate, got.source_channels) == (16000, 44100, 2)
    assert any("down-mixed 2 channels" in n for n in got.notes)
    assert any("44100 Hz -> 16000 Hz" in n for n in got.notes)
    assert "resampled" in capsys.readouterr().out  # verbose prints what was done
    # the down-mix is the channel mean: its spectrum holds both tones at their mean amplitudes
    spec = np.abs(np.fft.rfft(got.audio)) / (len(got.audio) / 2)
    freqs = np.fft.rfftfreq(len(got.audio), 1 / 16000)
    assert spec[np.argmin(np.abs(freqs - 440))] == pytest.approx(0.25, abs=0.02)
    assert spec[np.argmin(np.abs(freqs - 220))] == pytest.approx(0.125, abs=0.02)


def test_multichannel_kept_as_channels_first(tmp_path):
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([_tone(8000), _tone(8000, amp=0.1)], axis=1), 8000)
    got = load_audio(path, 8000, mono=False)
    assert got.audio.shape == (2, 4000) and got.notes == ()


def test_same_rate_mono_has_no_notes(tmp_path):
    path = tmp_path / "mono.wav"
    sf.write(path, _tone(8000), 8000)
    got = load_audio(path, 8000)
    assert got.notes == () and got.audio.shape == (4000,)


@pytest.mark.parametrize(
    ("name", "make", "error"),
    [
        ("empty.wav", lambda p: sf.write(p, np.zeros(0, np.float32), 8000), EmptyAudioError),
        ("zero_bytes.wav", lambda p: p.write_bytes(b""), EmptyAudioError),
        ("silent.wav", lambda p: sf.write(p, np.zeros(800, np.float32), 8000), SilentAudioError),
        ("nan.wav", lambda p: sf.write(p, np.array([0.1, np.nan, 0.2], np.float32), 8000, subtype="FLOAT"), NonFiniteAudioError),
        ("corrupt.wav", lambda p: p.write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really audio"), CorruptAudioError),
    ],
)
def test_bad_files_raise_typed_errors_naming_the_file(tmp_path, name, make, error):
    path = tmp_path / name
    make(path)
    with pytest.raises(error) as info:
        load_audio(path, 8000)
    assert isinstance(info.value, AudioError) and isinstance(info.value, ValueError)
    assert name in str(info.value) and info.value.path == str(path)


def test_header_of_a_zero_byte_file_is_an_empty_audio_error(tmp_path):
    from regen_speech.audio import audio_info

    (tmp_path / "zero.wav").write_bytes(b"")
    with pytest.raises(EmptyAudioError, match="zero.wav"):
        audio_info(tmp_path / "zero.wav")


def test_missing_file_is_both_audio_error_and_file_not_found(tmp_path):
    with pytest.raises(AudioNotFoundError) as info:
        load_audio(tmp_path / "nope.wav", 8000)
    assert isinstance(info.value, FileNotFoundError) and "nope.wav" in str(info.value)


def test_silence_allowed_on_request(tmp_path):
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(800, np.float32), 8000)
    assert load_audio(path, 8000, allow_silent=True).audio.shape == (800,)


def test_clipped_audio_warns_but_loads(tmp_path):
    path = tmp_path / "clipped.wav"
    sf.write(path, np.clip(3 * _tone(8000), -1, 1), 8000)
    with pytest.warns(ClippingWarning, match="clipped"):
        got = load_audio(path, 8000)
    assert got.clipped_fraction > 0.1 and any("clipped" in n for n in got.notes)


def test_bad_sample_rate(tmp_path):
    path = tmp_path / "mono.wav"
    sf.write(path, _tone(8000), 8000)
    for bad in (0, -16000, 16000.5, True):
        with pytest.raises(SampleRateError):
            load_audio(path, bad)


def test_save_wav_round_trip_and_checks(tmp_path):
    x = _tone(16000)
    path = save_wav(tmp_path / "sub" / "out.wav", x, 16000)
    back = load_audio(path, 16000).audio
    assert np.max(np.abs(back - x)) < 1e-3  # 16-bit quantisation only
    assert not list(path.parent.glob(".*tmp"))  # atomic write leaves no temporary file
    with pytest.warns(ClippingWarning, match="clipped"):
        save_wav(tmp_path / "loud.wav", 3 * x, 16000)
    with pytest.warns(ClippingWarning):  # what was written is clipped, and reading it says so
        assert np.abs(load_audio(tmp_path / "loud.wav", 16000).audio).max() <= 1.0
    with pytest.raises(NonFiniteAudioError):
        save_wav(tmp_path / "nan.wav", np.array([0.0, np.inf], np.float32), 16000)
    with pytest.raises(EmptyAudioError):
        save_wav(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="shape"):
        save_wav(tmp_path / "cube.wav", np.zeros((2, 2, 2), np.float32), 16000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean signal writes without any warning
        save_wav(tmp_path / "clean.wav", x, 16000)
