"""The helpers every domain entry point shares: --run with deprecated aliases, budgets, train_stages, the demo layout."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from regen_core.cli_common import (
    USER_ERRORS, add_run_arg, demo_overrides, demo_parser, parse, renamed_flags, scaled_budgets, train_and_evaluate,
    train_stages,
)
from regen_core.errors import cli_main
from regen_core.config import ConfigError
from regen_core.examples.toy import ToyPairing
from regen_core.pipeline import load_run_config


def test_run_flag_and_its_deprecated_alias(capsys) -> None:
    p = argparse.ArgumentParser(prog="x")
    add_run_arg(p, old=("--out",))
    assert parse(p, ["--run", "a"]).run == "a"
    assert capsys.readouterr().err == ""
    assert parse(p, ["--out", "b"]).run == "b"
    assert "x: note: --out is deprecated, use --run" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(p, [])
    assert "--run" in capsys.readouterr().err


def test_renamed_flags_rewrites_and_notes(capsys) -> None:
    assert renamed_flags(["--model", "r", "--model=s", "--out", "o"], {"--model": "--run"}, "p") == \
        ["--run", "r", "--run=s", "--out", "o"]
    assert capsys.readouterr().err.count("--model is deprecated") == 2


def test_scaled_budgets_leave_unlimited_stages_alone() -> None:
    cfg = load_run_config(ToyPairing, "toy", ["train.generate.max_seconds=10", "train.direct.max_cpu_seconds=4"])
    assert scaled_budgets(cfg, 1.0) == []
    assert scaled_budgets(cfg, 0.5) == ["train.generate.max_seconds=5.0"]
    assert scaled_budgets(cfg, 0.5, keys=("max_seconds", "max_cpu_seconds")) == \
        ["train.generate.max_seconds=5.0", "train.direct.max_cpu_seconds=2.0"]


def test_demo_budget_scale_scales_steps_and_seconds_of_every_side_alike(capsys) -> None:
    p = demo_parser("demo", None, default_config="toy")
    args = parse(p, ["--out", "o", "--budget-scale", "0.25", "train.generate.max_seconds=8",
                     "train.direct.max_cpu_seconds=8"])
    over = demo_overrides(ToyPairing, args)
    assert over[:2] == ["train.generate.max_seconds=8", "train.direct.max_cpu_seconds=8"]  # the user's own first
    cfg = load_run_config(ToyPairing, "toy", over)
    base = load_run_config(ToyPairing, "toy", [])
    for stage in ("generate", "regenerate", "direct"):
        for key in ("max_steps", "warmup_steps"):
            want = getattr(base.train, stage).__getattribute__(key)
            assert getattr(getattr(cfg.train, stage), key) == (max(1, round(want * 0.25)) if want else 0)
    assert cfg.train.generate.max_seconds == 2.0 and cfg.train.direct.max_cpu_seconds == 2.0
    assert cfg.train.regenerate.max_seconds == 0.0  # no limit stays no limit
    assert demo_overrides(ToyPairing, parse(p, ["--out", "o", "train.direct.lr=0.01"])) == ["train.direct.lr=0.01"]  # scale 1
    for bad in ("0", "-1", "nan", "inf"):
        with pytest.raises(SystemExit):
            parse(p, ["--out", "o", "--budget-scale", bad])
        assert "--budget-scale: must be a finite number > 0" in capsys.readouterr().err


def test_cli_main_is_one_line_and_status_2(capsys) -> None:
    @cli_main("prog")
    def main() -> int:
        raise ConfigError("config key 'x': bad")

    assert issubclass(ConfigError, USER_ERRORS)  # every user error derives from regen_core.errors.RegenError
    assert main() == 2
    assert capsys.readouterr().err == "prog: error: config key 'x': bad\n"


def test_demo_layout_and_kept_stages(tmp_path: Path) -> None:
    args = parse(demo_parser("demo", None, default_config="toy"), ["--out", str(tmp_path), "train.generate.max_steps=3"])
    done = train_and_evaluate(ToyPairing, args.out, args.config, args.overrides, log=None)
    assert done.run == tmp_path / "run" and done.evaluation == tmp_path / "evaluation"
    assert (tmp_path / "run" / "generate" / "final" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "evaluation" / "report.json").read_text())["metrics"]
    lines: list[str] = []
    records = train_stages(done.pairing, done.run_cfg, done.run, data=done.data, log=lines.append)
    assert all(r is None for r in records.values()) and all("already trained" in ln for ln in lines)
