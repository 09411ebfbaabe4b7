"""One writer per run folder (issue 19, items 1 and 2): the lock, and refusals that change nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from regen_core import cli
from regen_core.runlock import LOCK_NAME, RunLockedError, run_lock

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def regen(*argv: str, wait: bool = True) -> subprocess.Popen | subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "regen_core.cli", *argv]
    if wait:
        return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)


def train_argv(out: Path, *extra: str) -> list[str]:
    return ["train", "toy", "--stage", "generate", "--config", "toy", "--run", str(out),
            "train.generate.max_steps=4000", "train.generate.save_every=200", "train.generate.keep_last=50", *extra]


def same_files(a: Path, b: Path) -> None:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert wa[k].equal(wb[k]), f"{a} and {b} differ in {k}"


def test_second_writer_is_refused_naming_the_pid_and_the_first_run_is_intact(tmp_path: Path) -> None:
    shared, lone = tmp_path / "shared", tmp_path / "lone"
    first = regen(*train_argv(shared), wait=False)
    reference = regen(*train_argv(lone), wait=False)  # the same run alone, at the same time (both single-threaded)
    try:
        latest = shared / "generate" / "checkpoints" / "latest.json"
        deadline = time.time() + 120
        while not latest.exists():
            assert first.poll() is None, first.stderr.read()
            assert time.time() < deadline, "the first run wrote no checkpoint in 120 s"
            time.sleep(0.05)
        # A leftover temporary folder: the second writer's stale clean-up must not run while the first holds the run.
        planted = shared / "generate" / "checkpoints" / ".tmp-step_99999999-planted"
        planted.mkdir()
        second = regen(*train_argv(shared, "train.generate.seed=1"))
        assert first.poll() is None, "the first run ended before the second was refused: the test proves nothing"
    finally:
        assert first.wait(timeout=300) == 0, first.stderr.read()
        assert reference.wait(timeout=300) == 0, reference.stderr.read()
    assert second.returncode == 2, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("regen: error:"), second.stderr
    assert f"pid {first.pid}" in lines[0] and "nothing was touched" in lines[0]
    assert planted.is_dir()
    # The first run's checkpoints and final weights equal those of the lone run, step for step.
    steps = sorted(p.name for p in (shared / "generate" / "checkpoints").glob("step_*"))
    assert steps == sorted(p.name for p in (lone / "generate" / "checkpoints").glob("step_*")) and len(steps) == 20
    for name in steps:
        same_files(shared / "generate" / "checkpoints" / name, lone / "generate" / "checkpoints" / name)
    same_files(shared / "generate" / "final", lone / "generate" / "final")
    log = (shared / "generate" / "train_log.jsonl").read_text().splitlines()
    assert len(log) == len((lone / "generate" / "train_log.jsonl").read_text().splitlines())  # no step logged twice
    # The kernel released the lock when the first run ended: resuming (or a new stage) is allowed.
    rc = cli.main(["train", "toy", "--stage", "regenerate", "--config", "toy", "--run", str(shared)])
    assert rc == 0


def test_lock_is_reentrant_in_one_process_and_exclusive_across_processes(tmp_path: Path) -> None:
    with run_lock(tmp_path / "run") as folder:
        with run_lock(folder):  # `regen compare` holds it, each stage takes it again
            assert (folder / LOCK_NAME).read_text().strip() == str(os.getpid())
        code = ("import sys; from regen_core.runlock import run_lock, RunLockedError\n"
                "try:\n    run_lock(sys.argv[1]).__enter__()\nexcept RunLockedError as e:\n    print(e); sys.exit(3)\n")
        other = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, env=ENV)
        assert other.returncode == 3 and f"pid {os.getpid()}" in other.stdout
    with run_lock(tmp_path / "run"):  # released on exit
        pass


def test_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    code = ("import sys, time; from regen_core.runlock import run_lock\n"
            "with run_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            with run_lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with run_lock(tmp_path):  # kill -9 left the lock file, not the lock
        pass


def test_refused_training_leaves_run_config_byte_identical(tmp_path: Path) -> None:
    out = tmp_path / "run"
    base = ["train", "toy", "--stage", "generate", "--config", "toy", "--run", str(out)]
    assert cli.main(base) == 0
    before = (out / "run_config.json").read_bytes()
    # refused because the stage already holds a run (no --resume), with new overrides
    assert cli.main([*base, "train.generate.max_steps=50", "pairing.hidden=8"]) == 2
    # refused at config time
    assert cli.main([*base, "train.generate.batch_size=0"]) == 2
    assert (out / "run_config.json").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.startswith(".run_config")]  # no temporary file left


@pytest.mark.parametrize("key,value", [
    ("max_steps", "0"), ("max_steps", "-5"), ("lr", "-1"), ("lr", "0"), ("lr", "nan"), ("batch_size", "0"),
    ("grad_accum", "0"), ("save_every", "-1"), ("keep_last", "0"), ("log_every", "0"), ("ema_decay", "1.0"),
    ("warmup_steps", "-1"), ("clip_grad", "-1"), ("precision", "fp8"),
])
@pytest.mark.parametrize("stage", ["extract", "generate", "regenerate", "direct"])
def test_out_of_range_train_values_are_config_errors_naming_the_key(stage: str, key: str, value: str) -> None:
    from regen_core.config import ConfigError
    from regen_core.examples.toy import ToyPairing
    from regen_core.pipeline import load_run_config

    with pytest.raises(ConfigError, match=rf"'train\.{stage}\.{key}'"):
        load_run_config(ToyPairing, "toy", [f"train.{stage}.{key}={value}"])


@pytest.mark.parametrize("override", ["evaluate.seeds=[]", "evaluate.n_test=-1", "evaluate.temperature=-0.5"])
def test_out_of_range_eval_values_are_config_errors(override: str) -> None:
    from regen_core.config import ConfigError
    from regen_core.examples.toy import ToyPairing
    from regen_core.pipeline import load_run_config

    with pytest.raises(ConfigError, match=override.split("=")[0].replace(".", r"\.")):
        load_run_config(ToyPairing, "toy", [override])


def _hold(folder: Path) -> subprocess.Popen:
    """Another process holding ``folder``'s run lock until killed."""
    code = ("import sys, time; from regen_core.runlock import run_lock\n"
            "with run_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True, env=ENV)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_evaluate_takes_the_run_lock(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "run_config.json").write_text("{}")
    holder = _hold(run)
    try:
        assert cli.main(["evaluate", "--run", str(run)]) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert f"pid {holder.pid}" in err and "Traceback" not in err
    assert not (run / "evaluation").exists()
    # a missing run folder is refused without creating it (the lock would)
    assert cli.main(["evaluate", "--run", str(tmp_path / "missing")]) == 2
    assert not (tmp_path / "missing").exists()


def test_a_second_study_on_the_same_out_is_refused_naming_the_pid(tmp_path: Path, capsys) -> None:
    out = tmp_path / "study"
    holder = _hold(out)
    try:
        assert cli.main(["study", "toy", "--config", "quick", "--out", str(out), "--no-progress"]) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert f"pid {holder.pid}" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing written: no started.json, no cell


def test_a_corrupt_run_config_is_one_clear_line_in_evaluate(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert cli.main(["train", "toy", "--stage", "generate", "--config", "toy", "--run", str(run)]) == 0
    (run / "run_config.json").write_text('{"pairing": {"hid')  # truncated
    assert cli.main(["evaluate", "--run", str(run)]) == 2
    err = capsys.readouterr().err
    assert "run_config.json" in err and "not valid JSON" in err and "Traceback" not in err
