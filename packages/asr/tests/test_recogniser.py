"""Features, windows of long audio and typed errors on bad audio, for the phoneme recogniser."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from regen_asr.features import FeatureSettings, log_mel, windows
from regen_asr.recogniser import EncoderSettings
from regen_asr.generate import PhonemeRecogniser


# -- features, windows, bad audio ------------------------------------------------------------


def test_log_mel_shape_and_normalisation():
    fs = FeatureSettings(n_mels=20)
    m = log_mel(np.random.default_rng(0).normal(size=16000).astype(np.float32) * 0.1, fs)
    assert m.shape == (101, 20)
    assert torch.allclose(m.mean(0), torch.zeros(20), atol=1e-4)


def test_long_audio_is_cut_into_windows_at_pauses():
    sr = 1000
    rng = np.random.default_rng(0)
    audio = rng.normal(size=10 * sr).astype(np.float32)
    audio[3500:3700] = 0.0  # a pause inside the search zone of the first window
    wins = windows(audio, sr, max_seconds=4.0, search_seconds=1.0)
    assert wins[0][0] == 0 and wins[-1][1] == len(audio)
    assert all(b - a <= 4 * sr for a, b in wins)
    assert all(wins[i][1] == wins[i + 1][0] for i in range(len(wins) - 1))
    assert 3500 <= wins[0][1] <= 3700


@pytest.fixture(scope="module")
def recogniser():
    torch.manual_seed(0)
    enc = EncoderSettings(d_model=16, n_heads=2, layers=1, conv_channels=4, beam=2, max_window_s=1.0)
    return PhonemeRecogniser(enc, FeatureSettings(n_mels=16), stress=False).eval()


def test_recogniser_decodes_long_audio_in_windows_with_increasing_timestamps(recogniser):
    audio = np.random.default_rng(1).normal(size=16000 * 3).astype(np.float32) * 0.1
    per_window = recogniser.transcribe_tokens(audio)
    assert len(per_window) >= 3  # 1-second windows
    starts = [t.start for w in per_window for t in w]
    assert starts == sorted(starts) and all(0 <= s <= 3.0 for s in starts)
    assert isinstance(recogniser.sample(audio), list)


@pytest.mark.parametrize("audio, error", [
    (np.zeros(0, np.float32), "EmptyAudioError"),
    (np.array([0.1, np.nan, 0.2] * 1000, np.float32), "NonFiniteAudioError"),
    (np.zeros(16000, np.float32), "SilentAudioError"),
])
def test_bad_audio_gives_typed_errors(recogniser, audio, error):
    with pytest.raises(ValueError) as info:
        recogniser.sample(audio)
    assert type(info.value).__name__ == error


def test_multichannel_array_is_refused_with_a_hint(recogniser):
    with pytest.raises(ValueError, match="load_audio"):
        recogniser.sample(np.ones((2, 1600), np.float32))
