"""`regen study` at toy size (kill and resume, fingerprint refusal) and core's comparison rules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from regen_core import compare
from regen_core.cli import main
from regen_core.config import ConfigError, PairedConfig
from regen_core.examples.toy import ToyConfig, ToyPairing
from regen_core.pipeline import load_run_config, paired_data
from regen_core.study import Cell, StudyError, cell_dir, load_study_config

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _study(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "regen_core.cli", "study", "toy", "--config", "quick", "--out", str(out), "--no-progress", *extra]


def _cells(out: Path) -> dict[str, float]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.glob("cells/*/*/cell.json")}


@pytest.mark.timeout(240)
def test_quick_study_kill_resume_and_refused_fingerprint(tmp_path: Path) -> None:
    out = tmp_path / "study"
    # 1. Start the toy study, kill it once its first cell is finished.
    proc = subprocess.Popen(_study(out), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    while not _cells(out) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = _cells(out)
    assert 1 <= len(first) < 4, f"the kill should land between the first and the last of 4 cells, found {sorted(first)}"
    # 2. Resume: the finished cells are not re-trained (same files), the others are.
    res = subprocess.run(_study(out), env=ENV, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"({len(first)} finished earlier, {4 - len(first)} to run)" in res.stdout
    after = _cells(out)
    assert len(after) == 4
    assert all(after[k] == v for k, v in first.items()), "a finished cell was trained again"
    report = json.loads((out / "study.json").read_text())
    assert {(c["cell"]["share"], c["cell"]["seed"]) for c in report["cells"]} == {(0.5, 0), (0.5, 1), (1.0, 0), (1.0, 1)}
    for row in report["summaries"]:
        m = row["metric"]
        assert {"regeneration", "direct", "oracle", "difference", "winner"} <= set(m)
        assert m["regeneration"]["n"] == 2 and m["regeneration"]["ci95"] is not None
        assert row["outcome"] in ("win", "lose", "tie")
    cell = report["cells"][0]
    assert cell["n_paired"] < cell["n_train"] if cell["cell"]["share"] < 1 else cell["n_paired"] == cell["n_train"]
    for side in ("regeneration", "direct"):  # equal steps per side (the quick preset's toy plan: 40 steps)
        assert cell["budgets"][side]["steps"] == 40
    assert cell["fingerprints"]["code"]["regen_core"]["sha256"] and cell["fingerprints"]["config"]
    assert (out / "study.md").read_text().count("| toy |") == 2
    assert (out / "figures" / "headline_vs_share.png").stat().st_size > 0 and (out / "figures" / "gain.png").exists()
    # 3. A changed config is refused, naming the cells and what changed; nothing is trained.
    res = subprocess.run(_study(out, "pairings.toy.overrides=[pairing.hidden=8]"), env=ENV, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2
    assert "toy/share0.5_seed0 (cell.json): config changed" in res.stderr
    assert _cells(out) == after


def test_changed_code_is_refused_by_package(tmp_path: Path) -> None:
    from regen_core.study import cell_fingerprints, check_old_cells

    cfg = load_study_config("quick")
    cell = Cell("toy", 1.0, 0)
    fp = cell_fingerprints(cfg, cell)
    folder = cell_dir(tmp_path, cell)
    folder.mkdir(parents=True)
    old = json.loads(json.dumps(fp))
    old["code"]["regen_core"]["sha256"] = "0" * 64
    (folder / "cell.json").write_text(json.dumps({"fingerprints": old}))
    with pytest.raises(StudyError, match=r"toy/share1_seed0 \(cell.json\): code of regen_core changed"):
        check_old_cells(tmp_path, [cell], {cell.key: fp})
    (folder / "cell.json").write_text(json.dumps({"fingerprints": fp}))
    assert check_old_cells(tmp_path, [cell], {cell.key: fp}) == [cell]


def test_study_errors_are_one_line(tmp_path: Path, capsys) -> None:
    assert main(["study", "nosuch", "--config", "quick", "--out", str(tmp_path)]) == 2
    assert "no plan for nosuch" in capsys.readouterr().err
    assert main(["study", "--config", "nosuch", "--out", str(tmp_path)]) == 2
    assert "no study preset 'nosuch'" in capsys.readouterr().err
    import torch

    if not torch.cuda.is_available():
        assert main(["study", "toy", "--config", "quick", "--device", "cuda", "--out", str(tmp_path / "c")]) == 2
        assert "sees no CUDA device" in capsys.readouterr().err and not (tmp_path / "c").exists()


def test_every_study_preset_loads_and_plans(capsys) -> None:
    from regen_core.study import preset_names

    assert {"quick", "study", "gpu"} <= set(preset_names())
    for name in preset_names():
        cfg = load_study_config(name)
        assert cfg.pairings and cfg.shares and cfg.seeds
        for plan in cfg.pairings.values():
            compare.Budget(plan.budget, plan.budget_amount)  # a valid budget rule
    assert main(["study", "toy", "--config", "quick", "--plan"]) == 0
    assert json.loads(capsys.readouterr().out)["cells"] == 4
    assert main(["study", "toy", "--config", "quick"]) == 2
    assert "needs --out DIR" in capsys.readouterr().err


# -- core's comparison rules ------------------------------------------------------------------------


def test_interval_paired_difference_and_winner() -> None:
    one = compare.interval([2.0])
    assert one["ci95"] is None and one["std"] is None
    s = compare.interval([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["ci95"][0] < 2.0 < s["ci95"][1]
    lower = compare.paired_difference([1.0, 1.1, 0.9], [2.0, 2.2, 2.1])  # regeneration lower on every seed
    assert compare.winner(lower, higher_is_better=False) == "regeneration"
    assert compare.winner(lower, higher_is_better=True) == "direct"
    assert compare.outcome(compare.winner(lower, False)) == "win"
    noisy = compare.paired_difference([1.0, 3.0, 2.0], [2.0, 1.0, 2.1])
    assert compare.winner(noisy, False).startswith("neither") and compare.outcome(compare.winner(noisy, False)) == "tie"
    single = compare.paired_difference([1.0], [2.0])
    assert compare.winner(single, False) == "regeneration (one seed: no interval)"
    assert compare.outcome(compare.winner(single, False)) == "tie"
    with pytest.raises(compare.CompareError, match="same seeds"):
        compare.paired_difference([1.0], [1.0, 2.0])
    assert compare.clears(compare.summary([0.95, 0.96, 0.97]), 0.9, above=True) is True
    assert compare.clears(compare.summary([0.95]), 0.9, above=True) is None


def test_equal_budget_overrides_split_regeneration_by_the_presets_own_ratios() -> None:
    run_cfg = load_run_config(ToyPairing, "toy", ["train.generate.max_steps=30", "train.regenerate.max_steps=10"])
    out = compare.equal_budget_overrides(run_cfg, compare.Budget("steps", 100))
    assert out == ["train.generate.max_steps=75", "train.regenerate.max_steps=25", "train.direct.max_steps=100"]
    secs = compare.equal_budget_overrides(run_cfg, compare.Budget("cpu_seconds", 60), trained=("extract", "generate", "regenerate"))
    assert secs[-1] == "train.direct.max_cpu_seconds=60.0" and len(secs) == 4
    assert compare.equal_budget_overrides(run_cfg, compare.Budget("steps", 0)) == []
    with pytest.raises(compare.CompareError, match="budget kind 'hours'"):
        compare.Budget("hours", 1)
    split = compare.Budget("cpu_seconds", 100, (("extract", 0.5), ("generate", 0.3), ("regenerate", 0.2)))
    assert compare.equal_budget_overrides(run_cfg, split, trained=("extract", "generate", "regenerate")) == [
        "train.extract.max_cpu_seconds=50.0", "train.generate.max_cpu_seconds=30.0",
        "train.regenerate.max_cpu_seconds=20.0", "train.direct.max_cpu_seconds=100.0"]
    image_like = compare.equal_budget_overrides(run_cfg, compare.Budget("steps", 90), trained=("extract", "generate"))
    assert [o.split(".")[1] for o in image_like] == ["extract", "generate", "direct"]  # a decoder trained with its encoder
    with pytest.raises(compare.CompareError, match=r"budget split \('direct'"):
        compare.Budget("steps", 10, (("direct", 1.0),))


def test_paired_data_cuts_generate_and_direct_only_and_nests() -> None:
    data = ToyPairing(ToyConfig(n_examples=100)).load_data()
    n = len(data["train"])
    quarter = paired_data(data, PairedConfig(share=0.25), "generate")["train"]
    half = paired_data(data, PairedConfig(share=0.5), "direct")["train"]
    assert len(quarter) == round(0.25 * n) and len(half) == round(0.5 * n)
    rows = lambda ds: {tuple(r["y"][:3]) for r in ds}  # noqa: E731
    assert rows(quarter) <= rows(half), "a smaller paired subset must be inside a larger one"
    assert paired_data(data, PairedConfig(share=0.25), "regenerate") is data
    assert paired_data(data, PairedConfig(share=0.25), "extract") is data
    assert len(paired_data(data, PairedConfig(n=7), "generate")["train"]) == 7
    assert len(paired_data(data, PairedConfig(share=0.5), "generate")["valid"]) == len(data["valid"])


def test_paired_n_larger_than_the_training_split_is_a_config_error() -> None:
    data = {"train": list(range(10)), "test": list(range(3))}
    assert len(paired_data(data, PairedConfig(n=10), "generate")["train"]) == 10  # all of it is fine
    with pytest.raises(ConfigError, match=r"'paired.n' is 11 but the training split holds 10 examples"):
        paired_data(data, PairedConfig(n=11), "generate")
    assert paired_data(data, PairedConfig(n=11), "regenerate") is data  # Y-only stages never read paired.n
