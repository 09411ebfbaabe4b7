"""Best-by-metric follows the metric's direction (Metric.higher_is_better)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from regen_core.config import TrainConfig
from regen_core.contract import Metric, StageData
from regen_core.trainer import improves, train


class Peaked(nn.Module):
    """A validation stat ``score`` that peaks at step 3: -(step - 3)^2 = -4, -1, 0, -1, -4, -9 over steps 1..6."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.register_buffer("steps", torch.zeros(()))

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        if self.training:
            self.steps += 1  # one micro-batch per optimizer step here (grad_accum=1)
        loss = (self.w - batch["x"].mean()).pow(2).sum()
        return loss, {"score": -((float(self.steps) - 3) ** 2)}


def _run(out: Path, best_metric: Metric | None, cfg: TrainConfig | None = None) -> tuple[float, int]:
    items = [{"x": torch.ones(1)} for _ in range(4)]
    data = StageData(items, items[:2], lambda b: {"x": torch.stack([it["x"] for it in b])})
    cfg = cfg or TrainConfig(max_steps=6, batch_size=2, valid_every=1, save_every=0, best_metric="valid_score",
                             progress=False, tensorboard=False, device="cpu")
    res = train(Peaked(), data, cfg, out, best_metric=best_metric)
    log = [json.loads(line) for line in res.history.read_text().splitlines()]
    assert [row["valid_score"] for row in log if "valid_score" in row] == [-4.0, -1.0, 0.0, -1.0, -4.0, -9.0]
    best_steps = json.loads((res.best_dir / "config.json").read_text())["training"]["steps"]
    return res.best_value, best_steps


def test_best_keeps_the_highest_value_of_a_higher_is_better_metric(tmp_path: Path) -> None:
    assert _run(tmp_path / "hi", Metric("valid_score", higher_is_better=True)) == (0.0, 3)


def test_best_keeps_the_lowest_value_by_default(tmp_path: Path) -> None:
    assert _run(tmp_path / "lo", None) == (-9.0, 6)


def test_best_mode_max_from_config_overrides_keeps_the_highest(tmp_path: Path) -> None:
    """`train.generate.best_metric=... train.generate.best_mode=max` on the command line reaches train()."""
    from regen_core.examples.toy import ToyPairing
    from regen_core.pipeline import load_run_config

    base = ["max_steps=6", "batch_size=2", "valid_every=1", "save_every=0", "best_metric=valid_score",
            "progress=false", "tensorboard=false", "device=cpu"]
    run = load_run_config(ToyPairing, "toy", [f"train.generate.{kv}" for kv in base + ["best_mode=max"]])
    assert run.train.generate.best_mode == "max"
    assert _run(tmp_path / "max", None, run.train.generate) == (0.0, 3)
    run = load_run_config(ToyPairing, "toy", [f"train.generate.{kv}" for kv in base])
    assert _run(tmp_path / "min", None, run.train.generate) == (-9.0, 6)


def test_best_mode_is_min_or_max() -> None:
    from regen_core.config import ConfigError
    from regen_core.examples.toy import ToyPairing
    from regen_core.pipeline import load_run_config

    with pytest.raises(ConfigError, match="train.generate.best_mode"):
        load_run_config(ToyPairing, "toy", ["train.generate.best_mode=up"])


def test_improves_in_both_directions() -> None:
    up, down = Metric("acc", higher_is_better=True), Metric("loss", higher_is_better=False)
    assert improves(0.5, None, up) and improves(0.5, None, down)
    assert improves(0.6, 0.5, up) and not improves(0.4, 0.5, up) and not improves(0.5, 0.5, up)
    assert improves(0.4, 0.5, down) and not improves(0.6, 0.5, down)
    assert not improves(None, 0.5, up)
