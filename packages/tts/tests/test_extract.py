"""Extractors, frame features, durations from timings, and bad audio."""

import numpy as np
import pytest
import torch

from regen_tts.extract import (
    ExtractError,
    LogMel,
    MelExtractor,
    durations_from_timings,
    f0_yin,
)

SR = 8000


def tone(freq=200.0, seconds=0.5, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_logmel_matches_librosa_and_batches():
    import librosa

    mel = LogMel(SR, 256, 64, 256, 20)
    y = np.random.default_rng(0).standard_normal(4000).astype(np.float32) * 0.1
    ours = MelExtractor(mel).extract(y)
    ref = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=256, hop_length=64, n_mels=20, power=1.0, pad_mode="reflect")
    assert ours.shape == (4000 // 64 + 1, 20)
    assert np.abs(ours - np.log(np.maximum(ref.T, 1e-5))).max() < 1e-3
    short = y[:1500]
    batched = MelExtractor(mel).extract_batch([y, short])
    assert np.allclose(batched[0], ours, atol=1e-5) and batched[1].shape[0] == 1500 // 64 + 1
    assert np.allclose(batched[1], MelExtractor(mel).extract(short), atol=1e-4)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 1000), np.float32), "mono"),
    (np.array([0.1, np.nan, 0.2] * 100, np.float32), "NaN"),
    (np.zeros(0, np.float32), "no audio"),
])
def test_bad_waveforms_are_named_errors(bad, match):
    with pytest.raises(ExtractError, match=match):
        MelExtractor(LogMel(SR, 256, 64, 256, 20)).extract(bad)


def test_silent_audio_gives_the_floor():
    m = MelExtractor(LogMel(SR, 256, 64, 256, 20)).extract(np.zeros(1000, np.float32))
    assert np.allclose(m, np.log(1e-5))


def test_yin_finds_the_pitch_of_a_tone_and_no_pitch_in_noise():
    f0, voiced = f0_yin(tone(200.0), SR, 64, 60)
    assert voiced[5:-5].all() and abs(np.median(f0[voiced]) - 200.0) < 3.0
    _, v_noise = f0_yin(np.random.default_rng(1).standard_normal(4000).astype(np.float32), SR, 64, 60)
    assert v_noise.mean() < 0.2


def test_durations_from_timings_sum_to_frames():
    d = durations_from_timings([0.0, 0.011, 0.2, 0.2, 0.5], 70, 100.0)
    assert d.sum() == 70 and (d >= 0).all() and d.tolist()[:2] == [1, 19]
    with pytest.raises(ExtractError):
        durations_from_timings([0.3, 0.1], 10, 100.0)
