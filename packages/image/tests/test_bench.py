"""The bench's aggregation over seeds, its latent-vs-pixel comparisons, targets and merging (no training)."""

import json

import pytest

from regen_image import bench


def _row(method, seed, fid, acc, ips, ipcs=None):
    return {"method": method, "seed": seed, "n": 10, "fid": fid, "fid_real_vs_real": 1.0, "precision": 0.5,
            "recall": 0.5, "set_cond_acc": acc, "classifier_accuracy": 0.98, "images_per_second": ips,
            "images_per_cpu_second": ipcs if ipcs is not None else ips,
            "training": {"generate": {"steps": 8, "seconds": 10.0 + seed, "cpu_seconds": 9.0, "parameters": 1}}}


ROWS = [
    _row("latent", 0, 20.0, 0.95, 30.0), _row("latent", 1, 22.0, 0.94, 28.0), _row("latent", 2, 24.0, 0.96, 32.0),
    _row("pixel", 0, 130.0, 0.24, 2.0), _row("pixel", 1, 140.0, 0.30, 2.0), _row("pixel", 2, 120.0, 0.20, 4.0),
]


def test_summary_has_mean_and_95_interval_over_seeds():
    s = bench.summarise(ROWS)["latent"]
    fid = s["metrics"]["fid"]
    assert s["seeds"] == [0, 1, 2] and fid["per_seed"] == [20.0, 22.0, 24.0]
    assert fid["mean"] == pytest.approx(22.0) and fid["std"] == pytest.approx(2.0)
    # t(0.975, 2) = 4.3027: half-width 4.3027 * 2 / sqrt(3)
    assert fid["ci95"] == pytest.approx([22.0 - 4.9683, 22.0 + 4.9683], abs=1e-3)
    assert s["mean"]["set_cond_acc"] == pytest.approx(0.95)
    assert s["training_seconds"] == pytest.approx(11.0) and s["training_cpu_seconds"] == pytest.approx(9.0)
    assert s["step_seconds_by_stage"]["generate"]["mean"] == pytest.approx(11.0 / 8)
    assert "recon_fid" not in s["metrics"]  # only metrics every row has


def test_comparisons_are_paired_by_seed():
    c = bench.comparisons(ROWS)["latent_vs_pixel"]
    assert c["fid_difference"]["per_seed"] == [-110.0, -118.0, -96.0]
    assert c["sampling_speed_ratio"]["per_seed"] == pytest.approx([15.0, 14.0, 8.0])
    assert c["set_cond_acc_difference"]["mean"] == pytest.approx((0.71 + 0.64 + 0.76) / 3)


def test_targets_on_means_and_on_intervals():
    rows = [*ROWS[:3], *ROWS[3:]]
    summary, comps = bench.summarise(rows), bench.comparisons(rows)
    t = bench.targets(summary, comps, sample_steps=20)
    assert t[bench.TARGET_FID]["met"] and t[bench.TARGET_FID]["met_with_95_interval"]
    assert t[bench.TARGET_SPEED]["met"] and t[bench.TARGET_SPEED]["ddim_steps_both"] == 20
    assert t[bench.TARGET_SPEED]["met_with_95_interval"] is False  # ratios 15, 14, 8: the interval reaches below 4
    assert t[bench.TARGET_ACC]["met"] and t[bench.TARGET_ACC]["met_with_95_interval"] is True  # 0.95 +- 0.025
    shaky = [_row("latent", 0, 20.0, 0.94, 30.0), _row("latent", 1, 22.0, 0.92, 28.0), *ROWS[2:]]
    t = bench.targets(bench.summarise(shaky), bench.comparisons(shaky), sample_steps=20)
    assert t[bench.TARGET_ACC]["met"] and t[bench.TARGET_ACC]["met_with_95_interval"] is False  # 0.94 +- 0.05
    worse = [_row("latent", s, 150.0, 0.5, 3.0) for s in range(3)] + ROWS[3:]
    t = bench.targets(bench.summarise(worse), bench.comparisons(worse), sample_steps=20)
    assert not t[bench.TARGET_FID]["met"] and not t[bench.TARGET_SPEED]["met"] and not t[bench.TARGET_ACC]["met"]
    one = [ROWS[0], ROWS[3]]
    t = bench.targets(bench.summarise(one), bench.comparisons(one), sample_steps=20)
    assert t[bench.TARGET_FID]["met"] and t[bench.TARGET_FID]["met_with_95_interval"] is None  # one seed: no interval


def _write(path, seeds, **changes):
    header = {"quick": False, "preset": "bench_full", "overrides": [], "methods": ["latent", "pixel"], "n_eval": 0,
              "config": {"pairing": {"sample_steps": 20}}, "code": {"sha256": "abc", "files": 3},
              "data": {"source": "mnist5k"}, "machine": {}, "equal_compute": "", "seconds_total": 5.0}
    header.update(changes)
    rows = [r for r in ROWS if r["seed"] in seeds]
    path.write_text(json.dumps({**header, "seeds": seeds, "rows": rows}))
    return path


def test_merge_combines_seeds_and_refuses_different_settings(tmp_path):
    a, b = _write(tmp_path / "a.json", [0]), _write(tmp_path / "b.json", [1, 2])
    assert bench.main(["--merge", str(a), str(b), "--out", str(tmp_path / "m")]) == 0
    report = json.loads((tmp_path / "m" / "bench.json").read_text())
    assert report["seeds"] == [0, 1, 2] and report["summary"]["latent"]["metrics"]["fid"]["n"] == 3
    assert report["targets"][bench.TARGET_FID]["met_with_95_interval"] is True
    other = _write(tmp_path / "c.json", [1], code={"sha256": "def", "files": 3})
    with pytest.raises(bench.BenchMergeError, match="'code' differs"):
        bench.merge_reports([a, other])
    assert bench.main(["--merge", str(a), str(other), "--out", str(tmp_path / "x")]) == 2
    with pytest.raises(bench.BenchMergeError, match="more than one input"):
        bench.merge_reports([a, _write(tmp_path / "d.json", [0])])
    with pytest.raises(bench.BenchMergeError, match="cannot read"):
        bench.merge_reports([tmp_path / "missing.json"])


def test_code_fingerprint_is_stable():
    a, b = bench.code_fingerprint(), bench.code_fingerprint()
    assert a == b and set(a) == {"regen_core", "regen_image"}
    assert len(a["regen_image"]["sha256"]) == 64 and a["regen_image"]["files"] > 10
