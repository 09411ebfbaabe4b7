"""Metric values checked against hand-computed numbers."""

import numpy as np
import pytest

from regen_tts.extract import LogMel
from regen_tts.metrics import N_CEPS, Judge, cepstrum_matrix, mel_cepstral_distortion

N_MELS = 80


def _cos(k: int) -> np.ndarray:
    n = np.arange(N_MELS)
    return np.cos(np.pi * k * (n + 0.5) / N_MELS)


def test_mel_cepstra_are_cosine_series_coefficients():
    m = cepstrum_matrix(N_MELS, N_CEPS + 1)
    log_mel = 1.5 + 0.25 * _cos(2) - 0.75 * _cos(9)
    c = m @ log_mel
    expected = np.zeros(N_CEPS + 1)
    expected[[0, 2, 9]] = [1.5, 0.25, -0.75]
    np.testing.assert_allclose(c, expected, atol=1e-12)


def test_mcd_against_hand_computed_value():
    # log-mels differing by 0.5 cos(3 w) (+ an energy offset, which c0's exclusion ignores):
    # MCD = 10 / ln 10 * sqrt(2 * 0.5^2) = 4.342945 * 0.707107 = 3.0709 dB.
    m = cepstrum_matrix(N_MELS, N_CEPS + 1)
    ref = np.linspace(-3.0, 1.0, N_MELS)
    pred = ref + 0.5 * _cos(3) + 2.0
    mcd = mel_cepstral_distortion((m @ pred)[None], (m @ ref)[None])
    assert mcd[0] == pytest.approx(3.0709, abs=1e-4)


def test_mcd_is_the_rms_db_difference_of_smooth_log_spectra():
    rng = np.random.default_rng(0)
    m = cepstrum_matrix(N_MELS, N_CEPS + 1)
    diff = sum(rng.normal(0, 0.3) * _cos(k) for k in range(1, N_CEPS + 1))  # within the kept cepstra
    ref = rng.normal(size=N_MELS)
    mcd = mel_cepstral_distortion((m @ (ref + diff))[None], (m @ ref)[None])[0]
    rms_db = np.sqrt(np.mean((20 / np.log(10) * diff) ** 2))  # log-amplitude difference in dB
    assert mcd == pytest.approx(rms_db, rel=1e-9)
    assert 1.0 < mcd < 20.0


def test_judge_on_waveforms_gain_changes_lsd_not_mcd():
    judge = Judge(LogMel(16000, 1024, 256, 1024, N_MELS))
    ref = np.random.default_rng(1).normal(0, 0.1, 16000).astype(np.float32)
    same = judge.all(ref, ref)
    assert same["mcd"] == pytest.approx(0, abs=1e-9) and same["lsd"] == pytest.approx(0, abs=1e-9)
    half = judge.all(0.5 * ref, ref)
    assert half["mcd"] == pytest.approx(0, abs=1e-4)  # a gain moves c0 only
    assert judge.lsd(0.5 * ref, ref) == pytest.approx(20 * np.log10(2), abs=1e-3)  # 6.0206 dB at every bin


def test_lsd_in_a_band_keeps_only_the_low_bins():
    judge = Judge(LogMel(16000, 1024, 256, 1024, N_MELS))
    rng = np.random.default_rng(2)
    ref = rng.normal(0, 0.1, 16000).astype(np.float32)
    spec = np.fft.rfft(ref)
    spec[np.fft.rfftfreq(len(ref), 1 / 16000) > 6000] *= 0.1  # -20 dB above 6 kHz only
    pred = np.fft.irfft(spec, len(ref)).astype(np.float32)
    assert judge.lsd(pred, ref, max_hz=4000) < 1.0 < judge.lsd(pred, ref)
    assert judge.lsd(0.5 * ref, ref, max_hz=4000) == pytest.approx(20 * np.log10(2), abs=1e-3)
