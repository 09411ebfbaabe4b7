"""Metrics: perfect on the reference itself, worse for a frozen or a shifted face, each in its direction."""

import numpy as np
import pytest

from regen_talkinghead.config import TalkingHeadConfig
from regen_talkinghead.extract import FaceFitter
from regen_talkinghead.data import synthetic_videos
from regen_talkinghead.metrics import Judge, pearson, psnr, ssim


@pytest.fixture(scope="module")
def setup():
    cfg = TalkingHeadConfig()
    vids, _ = synthetic_videos(cfg, n=1, frames=20)
    return Judge(FaceFitter(cfg.geometry(), cfg.fit_settings())), vids[0]


def test_basic_metrics():
    a = np.random.default_rng(0).random((3, 32, 32))
    assert psnr(a, a) == pytest.approx(100.0)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, 1 - a) < 0.2
    assert pearson(np.arange(5), np.arange(5)) == pytest.approx(1.0) and pearson(np.ones(5), np.arange(5)) == 0.0


def test_reference_scores_itself_perfectly_and_a_frozen_face_scores_worse(setup):
    judge, ref = setup
    same = judge(ref, ref)
    assert same["lipsync_corr"] > 0.999 and same["lmd"] < 1e-3 and same["mouth_lmd"] < 1e-3
    assert same["motion_error"] < 1e-6 and same["fit_residual"] < 0.005 and same["mouth_mse"] == 0.0
    frozen = np.repeat(ref[:1], len(ref), 0)  # the first frame held: no lip movement, no motion
    f = judge(frozen, ref)
    assert f["lipsync_corr"] == 0.0 and f["mouth_lmd"] > 0.1 and f["motion_error"] > 2.0
    assert f["psnr"] < same["psnr"] and f["mouth_mse"] > 0
    shifted = np.roll(ref, 2, axis=2)  # the head 2 pixels to the right
    s = judge(shifted, ref)
    assert 1.5 < s["lmd"] < 2.5 and s["mouth_lmd"] < 0.3, "pose error counts in lmd, not in the pose-free mouth_lmd"


def test_length_mismatch_is_an_error(setup):
    judge, ref = setup
    with pytest.raises(ValueError, match="frames"):
        judge(ref[:10], ref)
