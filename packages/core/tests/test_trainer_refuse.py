"""One refusal for a folder that already holds a run, made before anything in it is cleaned (issue review B4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from regen_core.config import TrainConfig
from regen_core.contract import StageData
from regen_core.trainer import TrainerError, train


class Fit(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        loss = (self.w - batch["x"].mean()).pow(2).sum()
        return loss, {}


def _train(out: Path, resume: bool = False):
    items = [{"x": torch.ones(1)} for _ in range(4)]
    data = StageData(items, items[:2], lambda b: {"x": torch.stack([it["x"] for it in b])})
    cfg = TrainConfig(max_steps=2, batch_size=2, save_every=2, progress=False, tensorboard=False, device="cpu")
    return train(Fit(), data, cfg, out, resume=resume)


def test_direct_train_refuses_before_cleaning_a_held_run(tmp_path: Path) -> None:
    """A direct caller of train() (asr / tts finetune) into a held folder changes nothing, stale files included."""
    out = tmp_path / "run"
    _train(out)
    stale = [out / ".tmp-killed", out / "checkpoints" / ".tmp-killed"]
    for d in stale:
        d.mkdir()
        (d / "part").write_bytes(b"half a file")
    with pytest.raises(TrainerError, match="already holds a run"):
        _train(out)
    assert all((d / "part").exists() for d in stale), "the refused run cleaned the folder it refused to touch"
    from regen_core.trainer import refuse_existing  # the same check pipeline.train_stage makes under its run lock

    with pytest.raises(TrainerError, match="already holds a run"):
        refuse_existing(out, resume=False)
    assert refuse_existing(out, resume=True) is not None
    _train(out, resume=True)  # resuming is the run's own: it may clean what its killed writer left
    assert not any(d.exists() for d in stale)
