"""Data loading and bad input: converted where unambiguous, else a clear ImageDataError."""

from pathlib import Path

import numpy as np
import pytest
import torch

from regen_image.config import ImageConfig
from regen_image.data import (ImageDataError, LabelError, check_labels, class_index, load_folder, load_splits,
                              resolve_source, stratified_split, to_image, to_images)


def test_layouts_and_dtypes_are_converted():
    hwc = (np.random.default_rng(0).random((28, 28, 3)) * 255).astype(np.uint8)
    img = to_image(hwc, channels=1, size=32)
    assert img.shape == (1, 32, 32) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0
    grey = to_image(torch.ones(32, 32), channels=3, size=32)  # torch, (H, W), grey -> RGB
    assert grey.shape == (3, 32, 32) and np.allclose(grey, 1.0)
    batch = to_images(np.zeros((5, 16, 16), dtype=np.int64), channels=1, size=32)
    assert batch.shape == (5, 1, 32, 32)
    rgba = to_images(np.ones((2, 4, 8, 8), dtype=np.float32), channels=1, size=8)
    assert rgba.shape == (2, 1, 8, 8) and np.allclose(rgba, 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.full((8, 8), 2.0, dtype=np.float32), r"\[0, 1\]"),
        (np.full((8, 8), np.nan, dtype=np.float32), "NaN"),
        (np.zeros((8, 6), dtype=np.uint8), "square"),
        (np.zeros((2, 8, 8), dtype=np.uint8), "channel axis"),
        (np.full((8, 8), 300, dtype=np.int32), "0..255"),
        (np.zeros((1, 1, 8, 8)), "one image"),
        (np.full((8, 8), "a"), "numeric"),
    ],
)
def test_bad_images_raise_clear_errors(bad, match):
    with pytest.raises(ImageDataError, match=match):
        to_image(bad, channels=1, size=8)


def test_labels_are_checked():
    assert check_labels([0, 3.0, 9], 10).tolist() == [0, 3, 9]
    with pytest.raises(LabelError, match="label 10 at index 1"):
        check_labels([0, 10], 10)
    with pytest.raises(LabelError, match="label -1"):
        check_labels(np.array([-1]), 10)
    with pytest.raises(LabelError, match="integers"):
        check_labels([0.5], 10)
    assert class_index("3", 10) == 3 and class_index(np.int64(4), 10) == 4 and class_index(torch.tensor(5), 10) == 5
    with pytest.raises(LabelError):
        class_index("three", 10)
    with pytest.raises(LabelError):
        class_index(12, 10)


def test_split_is_stratified_and_deterministic():
    labels = np.repeat(np.arange(10), 50)
    a, b = stratified_split(labels, 50, 50, 0), stratified_split(labels, 50, 50, 0)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert np.bincount(labels[a["test"]], minlength=10).tolist() == [5] * 10
    assert not set(a["train"]) & set(a["test"]) and not set(a["valid"]) & set(a["test"])
    assert sum(len(v) for v in a.values()) == 500
    capped = stratified_split(labels, 50, 50, 0, n_train=100)  # labels sorted by class: a naive cap keeps 2 classes
    assert np.bincount(labels[capped["train"]], minlength=10).tolist() == [10] * 10


def test_missing_shared_data_falls_back_to_digits(monkeypatch, tmp_path):
    monkeypatch.setenv("REGEN_SHARED_DATA", str(tmp_path / "nowhere"))
    assert resolve_source("auto", "") == "digits"
    with pytest.raises(ImageDataError, match="MNIST 5k not found"):
        load_splits(ImageConfig(source="mnist5k"))
    data = load_splits(ImageConfig(source="digits", n_train=100))
    ex = data["train"][0]
    assert ex["image"].shape == (1, 32, 32) and 0 <= int(ex["label"]) < 10
    assert len(data["train"]) == 100


def test_labels_out_of_range_in_a_source(monkeypatch):
    with pytest.raises(LabelError, match="num_classes"):
        load_splits(ImageConfig(source="digits", num_classes=5))


def _png(path: Path, value: int, size=(20, 24)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size + (3,), value, dtype=np.uint8)).save(path)


def test_image_folder(tmp_path):
    for c in ("0", "1", "2"):
        for i in range(3):
            _png(tmp_path / "imgs" / c / f"{i}.png", 40 * int(c) + i)
    images, labels, names = load_folder(tmp_path / "imgs", size=16)
    assert images.shape == (9, 1, 16, 16) and sorted(set(labels.tolist())) == [0, 1, 2] and names == ["0", "1", "2"]
    data = load_splits(ImageConfig(source="folder", data_path=str(tmp_path / "imgs"), image_size=16, num_classes=3))
    assert sum(len(data[s]) for s in ("train", "valid", "test")) == 9


def test_image_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageDataError, match="no image files"):
        load_folder(tmp_path / "empty")
    with pytest.raises(ImageDataError, match="does not exist"):
        load_folder(tmp_path / "missing")
    _png(tmp_path / "flat" / "a.png", 1)
    with pytest.raises(ImageDataError, match="sub-folder per class"):
        load_folder(tmp_path / "flat")
    _png(tmp_path / "bad" / "0" / "a.png", 1)
    (tmp_path / "bad" / "0" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(ImageDataError, match="broken.png"):
        load_folder(tmp_path / "bad")


def _folder_of(tmp_path: Path, name: str, images: list) -> Path:
    from PIL import Image

    root = tmp_path / name
    for i, img in enumerate(images):
        (root / str(i % 2)).mkdir(parents=True, exist_ok=True)
        (Image.fromarray(img) if isinstance(img, np.ndarray) else img).save(root / str(i % 2) / f"{i}.png")
    return root


def test_16bit_png_is_scaled_by_its_bit_depth(tmp_path):
    from PIL import Image

    ramp = (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 256).astype(np.uint16)  # 0 .. 65280
    root = _folder_of(tmp_path, "deep", [ramp, ramp // 2, ramp, ramp // 2])
    with Image.open(root / "0" / "0.png") as img:
        assert img.mode in ("I;16", "I") and np.asarray(img).max() == 65280  # a real 16-bit file
    images, labels, _ = load_folder(root, size=16)  # class 0: the ramp, class 1: half of it
    for im, label in zip(images, labels):
        np.testing.assert_allclose(im[0], (ramp if label == 0 else ramp // 2) / 65535.0, atol=1e-6)
    assert (images >= 1.0).mean() < 0.01  # not clipped to white


def test_transparent_png_is_refused_or_composited_as_asked(tmp_path, capsys):
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[..., :3] = 200  # grey ink
    rgba[..., 3] = 0
    rgba[4:12, 4:12, 3] = 255  # an opaque square on a transparent ground
    root = _folder_of(tmp_path, "alpha", [rgba, rgba])
    with pytest.raises(ImageDataError, match=r"transparent pixels.*pairing\.alpha"):
        load_folder(root, size=16)
    grey = 200 / 255.0
    on_black, _, _ = load_folder(root, size=16, alpha="black")
    assert "2 of 2 images have transparency, composited on black" in capsys.readouterr().err
    np.testing.assert_allclose(on_black[0, 0, 4:12, 4:12], grey, atol=1e-3)
    np.testing.assert_allclose(on_black[0, 0, :4], 0.0, atol=1e-6)
    on_white, _, _ = load_folder(root, size=16, alpha="white", channels=3)
    np.testing.assert_allclose(on_white[0, :, :4], 1.0, atol=1e-6)
    np.testing.assert_allclose(on_white[0, :, 4:12, 4:12], grey, atol=1e-3)
    opaque = rgba.copy()
    opaque[..., 3] = 255  # an alpha channel that hides nothing is read as RGB, without a notice
    images, _, _ = load_folder(_folder_of(tmp_path, "opaque", [opaque, opaque]), size=16)
    np.testing.assert_allclose(images, grey, atol=1e-3)
    with pytest.raises(ImageDataError, match="pairing.alpha must be"):
        load_folder(root, size=16, alpha="green")
