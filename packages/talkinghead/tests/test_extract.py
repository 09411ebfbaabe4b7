"""The fitter recovers the true coefficients of synthetic videos, and names face-less frames."""

import numpy as np
import pytest
import torch

from regen_talkinghead.config import TalkingHeadConfig
from regen_talkinghead.data import synthetic_videos
from regen_talkinghead.extract import FaceFitter, NoFaceError, VideoShapeError
from regen_talkinghead.face import Y_PRIME_NAMES

# Stated tolerances (mean absolute error over frames) at 32x32 with the default fitter settings;
# units: identity z-scores, jaw / blink 0..1, spread / brow -1..1, angles radians, tx / ty half widths.
TOLERANCE = {"identity": 0.05, "jaw": 0.02, "spread": 0.05, "blink": 0.05, "brow": 0.05, "angle": 0.01, "shift": 0.005}


@pytest.fixture(scope="module")
def cfg():
    return TalkingHeadConfig(blink_rate=2.0)  # plenty of blinks in 1 s


def test_fitter_recovers_the_true_coefficients(cfg):
    vids, truths = synthetic_videos(cfg)
    fitter = FaceFitter(cfg.geometry(), cfg.fit_settings())
    res = fitter.fit(vids)
    err = np.concatenate([np.abs(a - b) for a, b in zip(res.y_prime, truths)]).mean(0)
    e = dict(zip(Y_PRIME_NAMES, err))
    assert max(err[:5]) < TOLERANCE["identity"], e
    for name in ("jaw", "spread", "blink", "brow"):
        assert e[name] < TOLERANCE[name], (name, e)
    assert max(e["yaw"], e["pitch"], e["roll"]) < TOLERANCE["angle"], e
    assert max(e["tx"], e["ty"]) < TOLERANCE["shift"], e
    assert np.concatenate(res.residuals).max() < 0.01  # about the 8-bit rounding
    # batched or alone: the same Y' up to float rounding amplified by the iterations
    assert np.allclose(fitter.extract(vids[1]), res.y_prime[1], atol=2e-3)


def test_faceless_frames_raise_naming_the_frame(cfg):
    vids, _ = synthetic_videos(cfg, n=1, frames=6)
    fitter = FaceFitter(cfg.geometry(), cfg.fit_settings())
    with pytest.raises(NoFaceError, match="frame 0: no face found \\(blank frame"):
        fitter.extract(np.full((5, 32, 32), 90, np.uint8))
    noisy = vids[0].copy()
    noisy[3] = np.random.default_rng(0).integers(0, 256, (32, 32))
    with pytest.raises(NoFaceError, match="frame 3: no face found") as info:
        fitter.extract(noisy)
    assert info.value.frame == 3
    # with the check off the residual says the same
    r = fitter.fit([noisy], check=False).residuals[0]
    assert r[3] > 0.1 and np.delete(r, 3).max() < 0.02
    with pytest.raises(NoFaceError, match="video 1, frame 2"):
        bad = vids[0].copy()
        bad[2] = 0
        fitter.fit([vids[0], bad])


def test_malformed_videos_are_rejected(cfg):
    fitter = FaceFitter(cfg.geometry(), cfg.fit_settings())
    with pytest.raises(VideoShapeError, match="expected frames of shape"):
        fitter.extract(np.zeros((3, 16, 16), np.uint8))
    with pytest.raises(VideoShapeError, match="NaN"):
        v = np.full((3, 32, 32), 0.5, np.float32)
        v[1, 0, 0] = np.nan
        fitter.extract(v)
    with pytest.raises(VideoShapeError, match="no frames"):
        fitter.extract(np.zeros((0, 32, 32), np.uint8))
