"""Visemes, the random processes, and the toy corpus: deterministic, the documented columns, real speech."""

import numpy as np
import pytest

from regen_talkinghead.config import TalkingHeadConfig
from regen_talkinghead.face import Y_PRIME_NAMES
from regen_talkinghead.motion import (
    VisemeError,
    blink_track,
    face_track,
    mouth_track,
    ou_process,
    targets,
    utterance_rng,
)


def test_viseme_table_and_coarticulation():
    assert targets("p")[0][0] == 0.0 and targets("ɑː")[0][0] > 0.8  # bilabial closed, open vowel open
    assert targets("uː")[0][1] < -0.8 and targets("iː")[0][1] > 0.8  # rounded vs spread
    assert len(targets("aɪ")) == 2 and targets("ˈaɪ") == targets("aɪ")  # diphthong; stress ignored
    assert targets("tʃ") == targets("tʃ")[:1] and targets("ʲ") == []  # affricate; a bare modifier
    with pytest.raises(VisemeError, match="'ж'"):
        targets("ж")
    # "p a p": closed, open, closed; the bilabial's dominance pulls the frames next to it down
    track = mouth_track(["p", "ɑ", "p"], [0.0, 0.2, 0.6], [0.2, 0.6, 0.8], 20, 25)
    jaw = track[:, 0]
    assert jaw[2] < 0.15 and jaw[10] > 0.7 and jaw[18] < 0.15
    assert 0.05 < jaw[6] < jaw[10], "coarticulation: the vowel's onset is blended with the closure"


def test_random_processes_are_seeded_and_have_their_statistics():
    a = ou_process(utterance_rng(0, "u1"), 5000, 0.1, 1.0, 25)
    b = ou_process(utterance_rng(0, "u1"), 5000, 0.1, 1.0, 25)
    assert np.array_equal(a, b) and not np.array_equal(a, ou_process(utterance_rng(1, "u1"), 5000, 0.1, 1.0, 25))
    assert 0.07 < a.std() < 0.13
    lag1 = np.corrcoef(a[:-1], a[1:])[0, 1]
    assert abs(lag1 - np.exp(-1 / 25)) < 0.03
    blinks = blink_track(np.random.default_rng(0), 25 * 600, 0.4, 25)
    onsets = np.sum((blinks[1:] > 0.5) & (blinks[:-1] <= 0.5))
    assert 150 < onsets < 330, "about 0.4 blinks per second over 10 minutes"
    ident, coeffs = face_track("u1", ["_", "a", "_"], [0, 0.1, 0.3], [0.1, 0.3, 0.4], 10, TalkingHeadConfig())
    assert ident.shape == (5,) and coeffs.shape == (10, 9)


@pytest.fixture(scope="module")
def toy():
    from regen_core.pipeline import load_run_config
    from regen_talkinghead.pairing import TalkingHeadPairing

    cfg = load_run_config(TalkingHeadPairing, "toy").pairing
    return TalkingHeadPairing(cfg)


def test_toy_corpus_columns_and_alignment(toy):
    data = toy.load_data()
    cfg = toy.config
    ex = data["train"][0]
    audio, video = ex["x"]["audio"], ex["video"]
    assert set(data["train"].column_names) >= {"id", "speaker", "text", "x", "video", "true_y_prime"}
    assert video.shape[1:] == (cfg.size, cfg.size) and len(video) == cfg.n_frames(len(audio))
    assert ex["true_y_prime"].shape == (len(video), len(Y_PRIME_NAMES))
    assert np.abs(audio).max() > 0.05, "real speech, not silence"
    assert ex["x"]["reference"].shape == (cfg.size, cfg.size)
    # the reference is the same face, neutral and frontal: the true identity rendered with zero coefficients
    from regen_talkinghead.data import reference_frame
    from regen_talkinghead.face import FaceModel

    again = reference_frame(FaceModel(cfg.geometry()), ex["true_y_prime"][0, :5].astype(np.float32))
    assert np.array_equal(again, ex["x"]["reference"])
    # the mouth opens while speaking
    jaw = ex["true_y_prime"][:, 5]
    assert jaw.max() > 0.3 and jaw.min() < 0.15


def test_config_errors_are_clear():
    from regen_core.data import DataError
    from regen_talkinghead.pairing import TalkingHeadPairing

    with pytest.raises(DataError, match="sample_rate"):
        TalkingHeadPairing(TalkingHeadConfig(sample_rate=22050))
    with pytest.raises(DataError, match="power of two"):
        TalkingHeadPairing(TalkingHeadConfig(size=24))
