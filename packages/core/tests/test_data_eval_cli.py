"""Data layer, evaluation report and the regen CLI, on the toy pairing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch

from regen_core import cli
from regen_core.data import DataError, extract_map, pad_collate, split
from regen_core.compare import interval

calls: list[int] = []


def double(y):
    calls.append(1)
    return [2 * v for v in y]


def test_extract_map_caches_by_name_version_and_config(tmp_path: Path) -> None:
    ds = datasets.Dataset.from_dict({"y": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]})
    kw = dict(name="double", input_column="y", output_column="y_prime", cache=tmp_path)
    calls.clear()
    out = extract_map(ds, double, version="1", config={"k": 1}, **kw)
    assert out["y_prime"] == [[2.0, 4.0], [6.0, 8.0], [10.0, 12.0]]
    n_first = len(calls)
    assert n_first >= 3
    extract_map(ds, double, version="1", config={"k": 1}, **kw)
    assert len(calls) == n_first, "same name/version/config must hit the cache"
    extract_map(ds, double, version="2", config={"k": 1}, **kw)
    assert len(calls) > n_first, "a new extractor version must re-extract"
    n_second = len(calls)
    extract_map(ds, double, version="2", config={"k": 2}, **kw)
    assert len(calls) > n_second, "a new extractor config must re-extract"


def test_extract_map_parallel(tmp_path: Path) -> None:
    ds = datasets.Dataset.from_dict({"y": [[float(i)] for i in range(8)]})
    out = extract_map(ds, double, name="par", version="1", input_column="y", output_column="yp", num_proc=2, cache=tmp_path)
    assert out["yp"] == [[2.0 * i] for i in range(8)]


_FORK_AFTER_THREADS = """
import pathlib, sys
import datasets, numpy as np, torch
from regen_core.data import extract_map
torch.set_num_threads(2)
x = torch.randn(4, 200000)
for _ in range(3):  # start the parent's OpenMP pool
    torch.stft(x, 1024, 256, window=torch.hann_window(1024), return_complex=True).abs().sum()
ds = datasets.Dataset.from_dict({"a": [np.random.randn(16000).astype("float32") for _ in range(8)]})
def fn(w):
    return torch.stft(torch.tensor(w), 512, 128, window=torch.hann_window(512), return_complex=True).abs().sum().item()
out = extract_map(ds, fn, name="stft", version="1", input_column="a", output_column="b", num_proc=2,
                  cache=pathlib.Path(sys.argv[1]))
print("extracted", len(out))
"""


@pytest.mark.slow
def test_extract_map_parallel_after_multithreaded_torch(tmp_path: Path) -> None:
    # A parent that ran multi-threaded torch ops forked datasets workers whose first parallel
    # kernel (torch.stft's pad) hung forever in the dead OpenMP pool; `make demo` hung on it.
    proc = subprocess.run([sys.executable, "-c", _FORK_AFTER_THREADS, str(tmp_path)], capture_output=True,
                          text=True, timeout=60, env={**__import__("os").environ, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "extracted 8" in proc.stdout


def test_split_is_deterministic_and_grouped() -> None:
    ds = datasets.Dataset.from_dict({"i": list(range(100)), "spk": [f"s{i % 10}" for i in range(100)]})
    a, b = split(ds, seed=3), split(ds, seed=3)
    assert a["test"]["i"] == b["test"]["i"] and len(a["train"]) + len(a["valid"]) + len(a["test"]) == 100
    g = split(ds, valid=0.2, test=0.2, seed=1, key=lambda ex: ex["spk"])
    spk = {name: set(g[name]["spk"]) for name in g}
    assert not spk["train"] & spk["test"] and not spk["train"] & spk["valid"]
    by_column = split(ds, valid=0.2, test=0.2, seed=1, key="spk")
    assert by_column["test"]["i"] == g["test"]["i"]
    with pytest.raises(DataError, match="at least 3"):
        split(datasets.Dataset.from_dict({"i": [1]}))


def test_pad_collate() -> None:
    coll = pad_collate(pad_values={"ids": -1}, dtypes={"ids": torch.long})
    batch = coll([{"ids": [1, 2, 3], "x": 1.0, "t": "a"}, {"ids": [4], "x": 2.0, "t": "b"}])
    assert batch["ids"].tolist() == [[1, 2, 3], [4, -1, -1]]
    assert batch["ids_lengths"].tolist() == [3, 1]
    assert batch["x"].tolist() == [1.0, 2.0] and batch["t"] == ["a", "b"]
    with pytest.raises(DataError):
        coll([])


def test_interval() -> None:
    r = interval([1.0, 2.0, 3.0])
    assert r["mean"] == pytest.approx(2.0) and r["std"] == pytest.approx(1.0)
    assert r["ci95"][0] == pytest.approx(2 - 4.302653 / np.sqrt(3), rel=1e-5)
    assert interval([5.0])["ci95"] is None


@pytest.mark.slow
def test_cli_compare_train_evaluate_sample(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert cli.main(["compare", "toy", "--config", "toy", "--run", str(out)]) == 0
    report = json.loads((out / "evaluation" / "report.json").read_text())
    names = [m["name"] for m in report["metrics"]]
    assert "mse_to_reference" in names and "seconds_per_sample" in names
    row = report["metrics"][0]
    assert len(row["direct"]["per_seed"]) == 2 and "difference" in row and "winner" in row
    b = report["budgets"]
    assert b["regeneration"]["steps"] == 40 and b["direct"]["steps"] == 20
    assert b["direct"]["parameters"] > 0 and b["regeneration"]["seconds"] > 0
    assert b["regeneration"]["cpu_seconds"] > 0 and b["direct"]["cpu_seconds"] > 0
    assert "training CPU seconds" in (out / "evaluation" / "report.md").read_text()
    assert "| metric |" in (out / "evaluation" / "report.md").read_text()
    assert list((out / "evaluation" / "examples" / "regeneration").glob("*.png"))
    # retraining a stage into the same folder without --resume is refused, nothing overwritten
    before = (out / "generate" / "final" / "model.safetensors").read_bytes()
    assert cli.main(["train", "toy", "--stage", "generate", "--config", "toy", "--run", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (out / "generate" / "final" / "model.safetensors").read_bytes() == before
    # --out, which named the run folder before --run, still works and says it is deprecated
    assert cli.main(["train", "toy", "--stage", "generate", "--config", "toy", "--out", str(out), "--resume",
                     "train.generate.max_steps=25"]) == 0
    assert "--out is deprecated, use --run" in capsys.readouterr().err
    assert json.loads((out / "generate" / "final" / "config.json").read_text())["training"]["steps"] == 25
    assert cli.main(["evaluate", "--run", str(out), "evaluate.seeds=[7]"]) == 0
    assert json.loads((out / "evaluation" / "report.json").read_text())["seeds"] == [7]
    assert cli.main(["sample", "--run", str(out), "--x", "2", "--out", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "regeneration_seed0.png").exists()
    assert cli.main(["extract", "toy", "--config", "toy", "--split", "test", "--n", "3", "--out", str(tmp_path / "e")]) == 0
    assert len(datasets.load_from_disk(str(tmp_path / "e"))) == 3


def test_cli_errors_are_one_clear_line(tmp_path: Path, capsys) -> None:
    assert cli.main(["train", "toy", "--stage", "generate", "--run", str(tmp_path), "train.generate.max_step=3"]) == 2
    err = capsys.readouterr().err
    assert "max_step" in err and "Traceback" not in err
    assert cli.main(["train", "nope", "--stage", "generate", "--run", str(tmp_path)]) == 2
    assert "no pairing named 'nope'" in capsys.readouterr().err
    assert cli.main(["evaluate", "--run", str(tmp_path / "missing")]) == 2


@pytest.mark.slow
def test_console_script_list_and_help() -> None:
    exe = Path(sys.executable).parent / "regen"
    res = subprocess.run([str(exe), "list"], capture_output=True, text=True, check=True)
    assert "toy  label -> signal -> signal" in res.stdout
    res = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    assert "compare" in res.stdout


def test_export_of_a_pairing_without_the_onnx_hook_is_one_clear_line(tmp_path: Path, capsys) -> None:
    assert cli.main(["export", "toy", "--onnx", str(tmp_path / "o"), "--model", str(tmp_path)]) == 2
    assert "pairing 'toy' has no ONNX export" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
