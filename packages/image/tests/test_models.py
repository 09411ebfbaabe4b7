"""Shapes, seeding, metrics sanity, drawing and the entry points at toy size."""

import json

import numpy as np
import pytest
import torch

from regen_core.pipeline import load_run_config
from regen_image import metrics as M
from regen_image.pairing import ImageDownPairing, ImagePairing, ImageVQPairing


@pytest.fixture(scope="module")
def pairings():
    return {cls.name: cls(load_run_config(cls, "toy").pairing) for cls in (ImagePairing, ImageVQPairing, ImageDownPairing)}


@pytest.mark.parametrize("name, shape, dtype", [("image", (2, 8, 8), np.float32), ("image-vq", (8, 8), np.int64),
                                                ("image-down", (1, 8, 8), np.float32)])
def test_y_prime_shapes_and_round_trip(pairings, name, shape, dtype):
    torch.manual_seed(0)
    p = pairings[name]
    ex = p.build("extract").eval()
    y = p.load_data()["test"][0]["image"]
    yp = ex.extract(y)
    assert yp.shape == shape and yp.dtype == dtype
    gen, regen = p.build("generate", ex).eval(), p.build("regenerate", ex).eval()
    sampled = gen.sample(3, seed=0)
    assert sampled.shape == shape
    image = regen.sample(sampled)
    assert image.shape == (1, 32, 32) and 0 <= image.min() and image.max() <= 1
    assert regen.sample(yp).shape == (1, 32, 32)


def test_explicit_down_sampling_is_average_pooling(pairings):
    ex = pairings["image-down"].build("extract")
    y = np.zeros((1, 32, 32), dtype=np.float32)
    y[0, :4, :4] = 1.0
    yp = ex.extract(y)
    assert yp[0, 0, 0] == pytest.approx(1.0) and yp[0, 1:, :].sum() == 0
    assert not any(p.requires_grad for p in ex.parameters())


def test_temperature_zero_is_the_same_for_every_seed(pairings):
    torch.manual_seed(0)
    gen = pairings["image"].build("generate").eval()
    assert np.array_equal(gen.sample(1, seed=0, temperature=0.0), gen.sample(1, seed=5, temperature=0.0))
    with pytest.raises(ValueError, match="outside"):
        gen.sample(10, seed=0)


def test_fid_and_precision_recall_sanity():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 4))
    b = rng.normal(size=(400, 4))
    assert M.fid(a, a) == pytest.approx(0.0, abs=1e-6)
    assert M.fid(a, b) < 0.2  # same distribution: small (finite-sample bias only)
    assert M.fid(a, b + 3.0) > 30  # mean shifted by 3 in 4 dims: ~36
    p, r = M.precision_recall(a, a, k=3)
    assert p == 1.0 and r == 1.0
    p, r = M.precision_recall(a, a + 100.0, k=3)
    assert p == 0.0 and r == 0.0
    p, r = M.precision_recall(a, a[:, :] * 0.01, k=3)  # collapsed samples: precise, low recall
    assert p > 0.9 and r < 0.2


@pytest.mark.slow
def test_classifier_learns_and_set_metrics_of_real_images(pairings):
    from regen_image.data import stack_split

    p = pairings["image"]
    data = p.load_data()
    images, labels = stack_split(data["train"])
    clf = M.train_classifier(images, labels, num_classes=10, steps=200, width=8, feature_dim=8)
    assert M.accuracy(clf, images, labels) > 0.5
    test = data["test"]
    refs = [test[i]["image"] for i in range(len(test))]
    xs = [int(test[i]["label"]) for i in range(len(test))]
    scores = p.set_metrics(refs, refs, xs)  # a set against itself
    assert scores["fid"] == pytest.approx(0.0, abs=1e-4)
    assert scores["precision"] == 1.0 and scores["recall"] == 1.0
    assert scores["fid_real_vs_real"] > 0
    noise = [np.random.default_rng(i).random((1, 32, 32)).astype(np.float32) for i in range(len(refs))]
    assert p.set_metrics(noise, refs, xs)["fid"] > scores["fid"]
    per = p.metrics(refs[0], refs[0], xs[0])
    assert set(per) == {"cond_acc", "class_confidence"} and 0 <= per["class_confidence"] <= 1


def test_grid_and_panel_are_written(tmp_path, pairings):
    from PIL import Image

    from regen_image.visualise import save_grid

    rows = [[np.full((1, 32, 32), c / 9, dtype=np.float32)] * 3 for c in range(10)]
    path = save_grid(rows, tmp_path / "g.png", pad=2, scale=1)
    assert Image.open(path).size == (3 * 34 + 2, 10 * 34 + 2)
    files = pairings["image-vq"].visualise(tmp_path, "ex", x=3, y_prime=np.zeros((8, 8), dtype=np.int64),
                                           prediction=rows[0][0], reference=rows[1][0])
    assert files[0].exists()


@pytest.mark.slow
def test_train_sample_and_quick_bench_entry_points(tmp_path):
    from regen_image import bench, sample, train

    tiny = [f"train.{s}.max_steps=2" for s in ("extract", "generate", "regenerate", "direct")]
    run = tmp_path / "run"
    assert train.main(["--config", "toy", "--run", str(run), *tiny]) == 0
    assert sample.main(["--run", str(run), "--class", "3", "--n", "4", "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").exists()
    assert sample.main(["--run", str(run), "--class", "11", "--out", str(tmp_path / "x.png")]) == 2
    assert train.main(["--config", "toy", "--run", str(run), "pairing.no_such_key=1"]) == 2
    out = tmp_path / "bench"
    small = ["pairing.n_train=64", "pairing.n_test=16", "pairing.classifier_steps=5", "pairing.sample_steps=2",
             "pairing.prior_dim=16", "pairing.prior_layers=1", "pairing.unet_channels=[8,16]",
             "pairing.ae_channels=[8,16,16]", *tiny]
    assert bench.main([*small, "--quick", "--preset", "toy", "--out", str(out), "--methods", "latent", "pixel"]) == 0
    report = json.loads((out / "bench.json").read_text())
    assert set(report["summary"]) == {"latent", "pixel"}
    assert report["summary"]["latent"]["mean"]["images_per_second"] > 0
    assert "latent_fid_below_pixel_fid" in report["targets"]
    assert "latent_vs_pixel" in report["comparisons"] and report["code"]["regen_image"]["sha256"]
    row = next(r for r in report["rows"] if r["method"] == "latent")
    assert 0 <= row["recon_cond_acc"] <= 1 and row["recon_fid"] >= 0  # the reconstruction ceiling
    assert not any(s["reused"] for s in row["training"].values()) and row["training"]["extract"]["steps"] == 2
    # A second run in the same folder reuses the trained stages and says so, with their recorded steps.
    assert bench.main([*small, "--quick", "--preset", "toy", "--out", str(out), "--methods", "latent"]) == 0
    again = json.loads((out / "bench.json").read_text())["rows"][0]["training"]
    assert all(s["reused"] for s in again.values()) and again["extract"]["steps"] == 2


def test_vq_dead_codes_are_restarted():
    import dataclasses

    from regen_image.extract import VQAutoencoder

    cls = ImageVQPairing
    cfg = dataclasses.replace(load_run_config(cls, "toy").pairing, vq_restart_every=1)
    torch.manual_seed(0)
    vq = VQAutoencoder(cfg).train()
    batch = {"image": torch.rand(4, 1, 32, 32)}
    before = vq.vq.quantize.embedding.weight.detach().clone()
    vq.usage.zero_()  # as if no code had been used for a long time
    _, stats = vq(batch)
    used = stats["codes_used"]
    assert stats["restarted"] >= 16 - used > 0  # every unused (and any rarely used) code is re-seeded
    assert not torch.equal(before, vq.vq.quantize.embedding.weight)


def test_latent_statistics_are_fixed_at_build_time(pairings):
    """The latent normalisation is set before training, so an EMA copy of the model carries it too."""
    import copy

    torch.manual_seed(0)
    p = pairings["image"]
    ex = p.build("extract").eval()
    gen = p.build("generate", ex)
    assert not torch.allclose(gen.data_std, torch.ones_like(gen.data_std))
    assert torch.equal(copy.deepcopy(gen).data_mean, gen.data_mean)
    assert not any(b.requires_grad for b in (gen.data_mean, gen.data_std))


def test_autoencoder_reconstruction_loss_choice(pairings):
    import dataclasses

    from regen_image.extract import KLAutoencoder, VQAutoencoder, reconstruction_loss

    rec, y = torch.tensor([1.0, -1.0]), torch.tensor([-1.0, -1.0])
    assert float(reconstruction_loss("l1", rec, y)) == pytest.approx(1.0)
    assert float(reconstruction_loss("mse", rec, y)) == pytest.approx(2.0)
    cfg = pairings["image"].config
    for cls in (KLAutoencoder, VQAutoencoder):
        with pytest.raises(ValueError, match="ae_loss"):
            cls(dataclasses.replace(cfg, ae_loss="huber"))
    # The loss the KL autoencoder trains on follows ae_loss: squared error plus the weighted KL.
    torch.manual_seed(0)
    ae = KLAutoencoder(dataclasses.replace(cfg, ae_loss="mse")).eval()
    batch = {"image": torch.rand(2, 1, 32, 32)}
    loss, stats = ae(batch)
    with torch.no_grad():
        target = batch["image"] * 2 - 1
        mse = float(((ae.vae.decode(ae.extract_batch(batch["image"])).sample - target) ** 2).mean())
    assert float(loss.detach()) == pytest.approx(mse + cfg.kl_weight * stats["kl"], rel=1e-4)
    assert load_run_config(ImagePairing, "tiny").pairing.ae_loss == "mse"  # the demo preset loads and uses it
