"""The face model and its renderer: shapes, range, determinism, and that each coefficient moves what it should."""

import numpy as np
import pytest
import torch

from regen_talkinghead.face import COEFF_NAMES, N_COEFF, N_ID, FaceGeometry, FaceModel

GEO = FaceGeometry(size=32, grid=32)


@pytest.fixture(scope="module")
def face():
    return FaceModel(GEO)


def render(face, **coeffs):
    c = torch.zeros(1, N_COEFF)
    for k, v in coeffs.items():
        c[0, COEFF_NAMES.index(k)] = v
    with torch.no_grad():
        return face.render(torch.zeros(1, N_ID), c)[0].numpy()


def test_render_shape_range_and_determinism(face):
    ident, c = torch.randn(3, N_ID), torch.randn(3, N_COEFF) * 0.2
    a, b = face.render(ident, c), face.render(ident, c)
    assert a.shape == (3, 32, 32) and torch.equal(a, b)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    # the face covers the middle, the background the corners
    img = render(face)
    assert img[12:20, 6:12].mean() > 0.4 and img[0, 0] < 0.15


def test_jaw_opens_a_dark_mouth_below_the_nose_and_pose_moves_the_face(face):
    closed, open_ = render(face), render(face, jaw=1.0)
    mouth = np.s_[19:26, 11:21]
    assert open_[mouth].min() < closed[mouth].min() - 0.1, "an open jaw shows the dark mouth cavity"
    assert np.abs(open_[:12] - closed[:12]).max() < 0.02, "the jaw does not move the upper face"
    shifted = render(face, tx=0.2)
    com = lambda im: (im * np.arange(32)[None]).sum() / im.sum()  # noqa: E731
    assert com(shifted) - com(closed) > 1.5, "tx moves the face to the right"


def test_blink_and_brow_change_the_eye_region_only(face):
    base = render(face)
    for name in ("blink", "brow"):
        moved = render(face, **{name: 1.0})
        diff = np.abs(moved - base)
        assert diff[6:16].max() > 0.05, f"{name} changes the eye region"
        assert diff[20:].max() < 0.02, f"{name} leaves the mouth alone"


def test_landmarks_follow_the_jaw_and_pose(face):
    z, c = torch.zeros(1, N_ID), torch.zeros(1, N_COEFF)
    lm0 = face.landmarks(z, c)[0]
    assert lm0.shape == (len(face.landmark_names), 2)
    c[0, COEFF_NAMES.index("jaw")] = 1.0
    lm1 = face.landmarks(z, c)[0]
    lo, up = face.landmark_names.index("lip_lower"), face.landmark_names.index("lip_upper")
    assert float(lm1[lo, 1] - lm1[up, 1]) > float(lm0[lo, 1] - lm0[up, 1]) + 2.0, "lips part (pixels, y down)"
    c[0, COEFF_NAMES.index("ty")] = 0.2
    assert torch.allclose(face.landmarks(z, c, pose=False), lm1.unsqueeze(0)), "pose=False ignores the head pose"


def test_render_is_differentiable_in_every_coefficient(face):
    ident = torch.zeros(2, N_ID, requires_grad=True)
    c = torch.full((2, N_COEFF), 0.1, requires_grad=True)
    face.render(ident, c).sum().backward()
    assert (ident.grad.abs().sum(0) > 0).all() and (c.grad.abs().sum(0) > 0).all()


def test_bad_shapes_are_named(face):
    with pytest.raises(ValueError, match="render expects"):
        face.render(torch.zeros(1, 3), torch.zeros(1, N_COEFF))
