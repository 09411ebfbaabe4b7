"""The shared trainer: exact resume after SIGKILL, atomic checkpoints, DDP, NaN, tampering."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from regen_core import checkpoint as ckpt
from regen_core.config import TrainConfig
from regen_core.contract import StageData
from regen_core.trainer import NonFiniteLossError, TrainerError, lr_lambda, train

HERE = Path(__file__).parent
SCRIPT = HERE / "trainer_script.py"
sys.path.insert(0, str(HERE))
import trainer_script  # noqa: E402


def run_script(out: Path, *args: str, wait: bool = True, **kw) -> subprocess.Popen | subprocess.CompletedProcess:
    cmd = [sys.executable, str(SCRIPT), str(out), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if wait:
        return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, timeout=120)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, **kw)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def assert_same_weights(a: Path, b: Path, atol: float = 0.0) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        if atol == 0:
            assert torch.equal(wa[k], wb[k]), f"{k} differs"
        else:
            torch.testing.assert_close(wa[k], wb[k], atol=atol, rtol=0, msg=f"{k} differs")


def latest_step(out: Path) -> int:
    p = out / "checkpoints" / "latest.json"
    try:
        return json.loads(p.read_text())["step"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return -1


def test_sigkill_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    run_script(ref, "--max-steps", "40", "--save-every", "5")
    proc = run_script(killed, "--max-steps", "40", "--save-every", "5", "--sleep", "0.03", wait=False)
    deadline = time.time() + 60
    while latest_step(killed) < 15 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stopped = latest_step(killed)
    assert 15 <= stopped < 40
    assert not (killed / "final").exists()
    run_script(killed, "--max-steps", "40", "--save-every", "5", "--resume")
    assert_same_weights(ref / "final", killed / "final")
    rec = json.loads((killed / "final" / "config.json").read_text())["training"]
    assert rec["steps"] == 40


def test_kill_during_checkpoint_writes_never_corrupts_latest(tmp_path: Path) -> None:
    out = tmp_path / "run"
    # A wide model and a checkpoint every step: much of the time goes to writing checkpoints, so kills
    # at staggered moments after a checkpoint land inside writes.
    for offset in (0.005, 0.02, 0.045):
        start = latest_step(out)
        proc = run_script(out, "--max-steps", "400", "--save-every", "1", "--width", "1024", "--resume", wait=False)
        deadline = time.time() + 60
        while latest_step(out) < start + 2 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.002)
        time.sleep(offset)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        last = ckpt.latest(out / "checkpoints")
        assert last is not None, "no checkpoint was written before the kill"
        ckpt.verify(last)  # raises CheckpointError if the pointer leads to a half-written folder
        weights(last)
    assert latest_step(out) >= 5  # three runs, each killed after at least two new checkpoints


def test_crash_inside_commit_keeps_previous_latest(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "run"
    trainer_script.main([str(out), "--max-steps", "10", "--save-every", "5"])
    before = ckpt.latest(out / "checkpoints")
    original = ckpt.FolderWriter.commit

    def dying_commit(self):
        (self.tmp / "model.safetensors").write_bytes(b"half")  # a torn write, then death
        raise KeyboardInterrupt("simulated kill during checkpoint write")

    monkeypatch.setattr(ckpt.FolderWriter, "commit", dying_commit)
    with pytest.raises(KeyboardInterrupt):
        trainer_script.main([str(out), "--max-steps", "20", "--save-every", "5", "--resume"])
    monkeypatch.setattr(ckpt.FolderWriter, "commit", original)
    assert ckpt.latest(out / "checkpoints") == before
    ckpt.verify(before)
    trainer_script.main([str(out), "--max-steps", "20", "--save-every", "5", "--resume"])
    assert latest_step(out) == 20
    assert not list((out / "checkpoints").glob(".tmp-*")), "stale temporary folders were not cleaned"


def test_ddp_two_processes_match_one_process(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    args = ["--max-steps", "12", "--save-every", "0", "--batch-size", "8", "--dropout", "0"]
    run_script(one, *args)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(SCRIPT), str(two), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert res.returncode == 0, res.stderr[:3000]
    assert_same_weights(one / "final", two / "final", atol=1e-5)


def test_grad_accumulation_matches_full_batch(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    trainer_script.main([str(a), "--max-steps", "6", "--save-every", "0", "--dropout", "0"])
    trainer_script.main([str(b), "--max-steps", "6", "--save-every", "0", "--dropout", "0", "--grad-accum", "2"])
    assert_same_weights(a / "final", b / "final", atol=1e-5)


def test_nan_loss_stops_and_keeps_last_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match="loss is nan"):
        # 64 examples, batch 8: the NaN example is met in the first epoch, after checkpoints at 2, 4, ...
        trainer_script.main([str(out), "--max-steps", "40", "--save-every", "2", "--nan-at", "5", "--n", "64"])
    last = ckpt.latest(out / "checkpoints")
    if last is None:  # the NaN came in the first two steps: nothing could be kept; make sure the error said so
        pytest.skip("NaN example fell in the first steps for this seed")
    ckpt.verify(last)
    for v in weights(last).values():
        assert torch.isfinite(v).all()
    assert not (out / "final").exists()


def test_refuses_to_overwrite_without_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    trainer_script.main([str(out), "--max-steps", "5", "--save-every", "5"])
    before = (out / "final" / "model.safetensors").read_bytes()
    with pytest.raises(TrainerError, match="already holds a run"):
        trainer_script.main([str(out), "--max-steps", "5", "--save-every", "5"])
    assert (out / "final" / "model.safetensors").read_bytes() == before


@pytest.mark.parametrize("damage", ["truncate", "flip", "drop_manifest", "bad_json"])
def test_damaged_checkpoint_gives_checkpoint_error(tmp_path: Path, damage: str) -> None:
    out = tmp_path / "run"
    trainer_script.main([str(out), "--max-steps", "5", "--save-every", "5"])
    last = ckpt.latest(out / "checkpoints")
    target = last / "model.safetensors"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:50])
    elif damage == "flip":
        data = bytearray(target.read_bytes())
        data[-3] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "drop_manifest":
        (last / "manifest.json").unlink()
    else:
        (last / "trainer_state.json").write_text('{"step": 5, "seco')
    with pytest.raises(ckpt.CheckpointError) as err:
        trainer_script.main([str(out), "--max-steps", "10", "--save-every", "5", "--resume"])
    assert str(last) in str(err.value)


def test_damaged_weights_without_manifest_check_still_typed(tmp_path: Path) -> None:
    p = tmp_path / "model.safetensors"
    p.write_bytes(b"\x00\x01garbage")
    model = trainer_script.Regressor(4, 0.0)
    with pytest.raises(ckpt.CheckpointError, match="cannot read weights"):
        ckpt.load_weights(model, p)


def test_ema_and_best_and_keep_last(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = trainer_script.main([str(out), "--max-steps", "20", "--save-every", "5", "--ema", "0.9"])
    kept = sorted(p.name for p in (out / "checkpoints").glob("step_*"))
    assert kept == ["step_00000015", "step_00000020"]
    assert (out / "checkpoints" / "step_00000020" / "ema.safetensors").exists()
    assert res.best_dir is not None and res.best_value is not None
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert any("valid_loss" in row for row in log) and any("steps_per_s" in row for row in log)
    # CPU seconds are counted over the same spans as wall seconds (one thread here: no more than wall + slack)
    assert 0 < res.cpu_seconds <= 2 * res.seconds + 0.5
    record = json.loads((out / "final" / "config.json").read_text())["training"]
    assert record["cpu_seconds"] == round(res.cpu_seconds, 3)


class BatchNormRegressor(trainer_script.Regressor):
    """The regressor with a BatchNorm layer: buffers (running statistics) that EMA must carry over."""

    def __init__(self) -> None:
        super().__init__(16, 0.0)
        self.net.insert(0, torch.nn.BatchNorm1d(8))


def test_ema_carries_buffers(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = BatchNormRegressor()
    data = [dict(x=it["x"] * 3 + 5, y=it["y"]) for it in trainer_script.make_data(64)]
    cfg = TrainConfig(seed=0, max_steps=6, batch_size=8, lr=1e-2, save_every=0, ema_decay=0.9, progress=False,
                      tensorboard=False, device="cpu")
    train(model, StageData(data, None, trainer_script.collate_with_sleep(0)), cfg, tmp_path / "run")
    saved = weights(tmp_path / "run" / "final")
    bn = model.net[0]
    # The exported (EMA) model's running statistics are the trained model's, not the initial zeros/ones.
    assert torch.equal(saved["net.0.running_mean"], bn.running_mean)
    assert torch.equal(saved["net.0.num_batches_tracked"], bn.num_batches_tracked)
    assert float(saved["net.0.running_mean"].abs().mean()) > 1.0


def test_schedule_warmup_then_cosine() -> None:
    f = lr_lambda(TrainConfig(max_steps=100, warmup_steps=10, min_lr_ratio=0.1))
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(100) == pytest.approx(0.1)
    assert f(55) == pytest.approx(0.55, abs=1e-6)


def test_empty_training_set_is_an_error(tmp_path: Path) -> None:
    model = trainer_script.Regressor(4, 0.0)
    with pytest.raises(TrainerError, match="empty"):
        train(model, StageData([], None, lambda x: x), TrainConfig(progress=False, tensorboard=False), tmp_path)


def test_group_by_length_batches_similar_lengths_deterministically(tmp_path: Path) -> None:
    from regen_core.trainer import _Batches

    lengths = [(i * 37) % 100 for i in range(400)]

    def epoch(**kw) -> list[list[int]]:
        return list(_Batches(400, 20, 1, 1, 0, 3, 0, 20, **kw))  # one epoch: 20 batches of 20

    grouped, plain = epoch(lengths=lengths, group=5), epoch()
    assert sorted(i for b in grouped for i in b) == list(range(400))  # every example once per epoch
    assert grouped == epoch(lengths=lengths, group=5)  # a pure function of (seed, epoch)
    spread = lambda bs: sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in bs) / len(bs)
    assert spread(grouped) < 0.5 * spread(plain)
    model = trainer_script.Regressor(4, 0.0)
    with pytest.raises(TrainerError, match="lengths"):  # asked for, but the stage data gives none
        train(model, StageData([{"x": torch.zeros(4)}] * 4, None, lambda x: x),
              TrainConfig(group_by_length=2, progress=False, tensorboard=False), tmp_path)


def test_max_cpu_seconds_stops_on_training_cpu_time(tmp_path: Path) -> None:
    from regen_core.examples.toy import ToyConfig, ToyPairing

    pairing = ToyPairing(ToyConfig(n_examples=64, hidden=16))
    sd = pairing.stage_data("direct", pairing.load_data(), None)
    cfg = TrainConfig(max_steps=10**6, max_cpu_seconds=0.5, batch_size=8, progress=False, tensorboard=False, device="cpu")
    res = train(pairing.build("direct"), sd, cfg, tmp_path / "run")
    assert 0 < res.steps < 10**6 and res.cpu_seconds >= 0.5
    record = json.loads((res.final_dir / "config.json").read_text())["training"]
    assert record["stopped_early"] is True and record["cpu_seconds"] >= 0.5
