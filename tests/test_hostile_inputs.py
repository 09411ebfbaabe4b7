"""The bad-input catalogue of every command line: one row per (entry point, argv, exit status, message fragment).

Each row runs the entry point's ``main`` in this process and checks that it returns the expected exit status
and prints exactly one line, ``regen: error: ...`` holding the fragment, with no traceback. A new entry point
joins by adding rows; a row may name a fault (``readonly``: every write under the output folder fails with
EROFS; ``enospc``: the checkpoint write fails with ENOSPC) and the runs it needs (``{toy}``, ``{melody}``,
``{tts}``, ``{image}``: toy-sized runs trained once per session; ``{tmp}``: a fresh folder per row).
"""

from __future__ import annotations

import builtins
import errno
import importlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
# Toy corpora and caches of this suite, apart from a user's cache (reused across runs, like the melody suite's).
os.environ.setdefault("REGEN_CACHE", os.path.join(tempfile.gettempdir(), "regen-hostile-test-cache"))


@dataclass(frozen=True)
class Row:
    id: str  # pytest id
    module: str  # the module whose main(argv) is the entry point
    argv: tuple[str, ...]  # with {toy} {melody} {tts} {image} {tmp} placeholders
    code: int  # expected exit status
    fragment: str  # expected in the one error line
    fault: str = ""  # "", "readonly" or "enospc"


TRAIN = ("train", "toy", "--stage", "generate", "--config", "toy", "--run", "{tmp}/run")
LONG_LYRICS = "la " * 4001

ROWS = [
    # -- regen (core CLI) ----------------------------------------------------------------------------
    Row("train-max_steps-0", "regen_core.cli", (*TRAIN, "train.generate.max_steps=0"), 2, "'train.generate.max_steps': must be > 0"),
    Row("train-max_steps-neg", "regen_core.cli", (*TRAIN, "train.generate.max_steps=-3"), 2, "'train.generate.max_steps': must be > 0"),
    Row("train-lr-neg", "regen_core.cli", (*TRAIN, "train.generate.lr=-1"), 2, "'train.generate.lr': must be > 0"),
    Row("train-batch-0", "regen_core.cli", (*TRAIN, "train.generate.batch_size=0"), 2, "'train.generate.batch_size': must be > 0"),
    Row("train-accum-0", "regen_core.cli", (*TRAIN, "train.generate.grad_accum=0"), 2, "'train.generate.grad_accum': must be > 0"),
    Row("train-save_every-neg", "regen_core.cli", (*TRAIN, "train.generate.save_every=-2"), 2, "'train.generate.save_every': must be >= 0"),
    Row("train-unknown-key", "regen_core.cli", (*TRAIN, "train.generate.max_step=3"), 2, "max_step"),
    Row("train-unknown-pairing", "regen_core.cli", ("train", "nope", "--stage", "generate", "--run", "{tmp}/r"), 2, "nope"),
    Row("train-existing-run", "regen_core.cli", ("train", "toy", "--stage", "generate", "--config", "toy", "--run", "{toy}"), 2,
        "already holds a run"),
    Row("train-readonly-folder", "regen_core.cli", TRAIN, 2, "read-only file system", fault="readonly"),
    Row("train-disk-full", "regen_core.cli", TRAIN, 2, "no space left on the device", fault="enospc"),
    Row("compare-lr-0", "regen_core.cli", ("compare", "toy", "--config", "toy", "--run", "{tmp}/c", "train.direct.lr=0"), 2,
        "'train.direct.lr': must be > 0"),
    Row("sample-x-out-of-range", "regen_core.cli", ("sample", "--run", "{toy}", "--x", "99", "--out", "{tmp}/s"), 2,
        "class number 0..3, got '99'"),
    Row("sample-x-not-a-number", "regen_core.cli", ("sample", "--run", "{toy}", "--x", "abc", "--out", "{tmp}/s"), 2,
        "class number"),
    Row("sample-index-out-of-range", "regen_core.cli", ("sample", "--run", "{toy}", "--index", "9999", "--out", "{tmp}/s"), 2,
        "--index 9999 is out of range"),
    Row("evaluate-missing-run", "regen_core.cli", ("evaluate", "--run", "{tmp}/missing"), 2, "not a regen run folder"),
    Row("evaluate-bad-seeds", "regen_core.cli", ("evaluate", "--run", "{toy}", "evaluate.seeds=[]"), 2, "'evaluate.seeds'"),
    # -- melody -----------------------------------------------------------------------------------
    *[Row(f"compose-meter-{m.replace('/', '_')}", "regen_melody.compose",
          ("--lyrics", "Twinkle, twinkle, little star.", "--model", "{melody}", "--out", "{tmp}/s.mid", "--meter", m), 2,
          f"meter {m!r} is not a time signature") for m in ("7/0", "4/3", "abc")],
    Row("compose-too-long", "regen_melody.compose", ("--lyrics", LONG_LYRICS, "--model", "{melody}", "--out", "{tmp}/s.mid"), 2,
        "at most 4000 are supported"),
    Row("compose-empty-lyrics", "regen_melody.compose", ("--lyrics", "1 2 3", "--model", "{melody}", "--out", "{tmp}/s.mid"), 2,
        "hold no word"),
    Row("compose-out-is-folder", "regen_melody.compose", ("--lyrics", "la la", "--model", "{melody}", "--out", "{tmp}"), 2,
        "is a folder"),
    Row("compose-out-mp3", "regen_melody.compose", ("--lyrics", "la la", "--model", "{melody}", "--out", "{tmp}/s.mp3"), 2,
        "use a .mid or .musicxml name"),
    Row("compose-missing-run", "regen_melody.compose", ("--lyrics", "la la", "--model", "{tmp}/none", "--out", "{tmp}/s.mid"), 2,
        "not a regen run folder"),
    Row("compose-readonly-folder", "regen_melody.compose", ("--lyrics", "la la", "--model", "{melody}", "--out", "{tmp}/out/s.mid"), 2,
        "read-only file system", fault="readonly"),
    # -- tts --------------------------------------------------------------------------------------
    Row("synthesize-out-is-folder", "regen_tts.synthesize", ("--text", "hi", "--model", "{tts}", "--out", "{tmp}"), 2, "is a folder"),
    Row("synthesize-out-mp3", "regen_tts.synthesize", ("--text", "hi", "--model", "{tts}", "--out", "{tmp}/x.mp3"), 2,
        "audio is written as .wav or .flac"),
    Row("synthesize-no-words", "regen_tts.synthesize", ("--text", "?!", "--model", "{tts}", "--out", "{tmp}/x.wav"), 2, ""),
    Row("synthesize-unknown-speaker", "regen_tts.synthesize",
        ("--text", "hi", "--speaker", "nobody", "--model", "{tts}", "--out", "{tmp}/x.wav"), 2, "nobody"),
    Row("synthesize-missing-model", "regen_tts.synthesize", ("--text", "hi", "--model", "{tmp}/none", "--out", "{tmp}/x.wav"), 2,
        "does not exist"),
    Row("synthesize-readonly-folder", "regen_tts.synthesize", ("--text", "hi", "--model", "{tts}", "--out", "{tmp}/out/x.wav"), 2,
        "read-only file system", fault="readonly"),
    # -- image ------------------------------------------------------------------------------------
    Row("image-sample-class-11", "regen_image.sample", ("--run", "{image}", "--class", "11", "--out", "{tmp}/g.png"), 2, "11"),
    Row("image-sample-n-0", "regen_image.sample", ("--run", "{image}", "--n", "0", "--out", "{tmp}/g.png"), 2, "--n must be at least 1"),
    Row("image-sample-n-huge", "regen_image.sample", ("--run", "{image}", "--n", "100000", "--out", "{tmp}/g.png"), 2,
        "at most 4096 per call"),
    Row("image-sample-out-is-folder", "regen_image.sample", ("--run", "{image}", "--out", "{tmp}"), 2, "is a folder"),
    Row("image-sample-out-jpg", "regen_image.sample", ("--run", "{image}", "--out", "{tmp}/g.xyz"), 2, "written as PNG"),
    Row("image-train-lr-0", "regen_image.train", ("--config", "toy", "--run", "{tmp}/r", "train.generate.lr=0"), 2,
        "'train.generate.lr': must be > 0"),
    # -- asr --------------------------------------------------------------------------------------
    Row("transcribe-missing-run", "regen_asr.transcribe", ("{tmp}/a.wav", "--model", "{tmp}/none"), 2, "not a regen run folder"),
    Row("asr-finetune-steps-0", "regen_asr.finetune", ("--run", "{tmp}/none", "--out", "{tmp}/o", "--steps", "0"), 2, ""),
]


# -- toy runs, trained once per session ----------------------------------------------------------------


@pytest.fixture(scope="session")
def toy_run(tmp_path_factory) -> Path:
    from regen_core import cli

    out = tmp_path_factory.mktemp("toy") / "run"
    assert cli.main(["compare", "toy", "--config", "toy", "--run", str(out), "evaluate.n_test=2"]) == 0
    return out


def _train_all(pairing_cls: type, config: str, out: Path, overrides: list[str]) -> Path:
    from regen_core.contract import STAGES
    from regen_core.pipeline import load_run_config, train_stage

    run_cfg = load_run_config(pairing_cls, config, overrides)
    pairing = pairing_cls(run_cfg.pairing)
    data = pairing.load_data()
    for stage in STAGES:
        train_stage(pairing, stage, run_cfg, out, data=data)
    return out


@pytest.fixture(scope="session")
def melody_run(tmp_path_factory) -> Path:
    from regen_melody.pairing import MelodyPairing

    return _train_all(MelodyPairing, "toy", tmp_path_factory.mktemp("melody") / "run", [])


@pytest.fixture(scope="session")
def tts_run(tmp_path_factory) -> Path:
    from regen_tts.pairing import TTSPairing

    return _train_all(TTSPairing, "toy", tmp_path_factory.mktemp("tts") / "run", [])


@pytest.fixture(scope="session")
def image_run(tmp_path_factory) -> Path:
    from regen_image.pairing import ImagePairing

    steps = [f"train.{s}.max_steps=2" for s in ("extract", "generate", "regenerate", "direct")]
    return _train_all(ImagePairing, "toy", tmp_path_factory.mktemp("image") / "run", steps)


RUNS = {"toy": "toy_run", "melody": "melody_run", "tts": "tts_run", "image": "image_run"}


# -- faults ------------------------------------------------------------------------------------------


def _readonly(monkeypatch, folder: Path) -> None:
    """Every write inside ``folder`` fails as on a read-only mount (also for root, who ignores modes)."""
    root = str(folder.resolve())

    def inside(path) -> bool:
        try:
            return os.path.abspath(os.fspath(path)).startswith(root)
        except TypeError:
            return False

    def refuse(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

    real_open, real_os_open, real_mkdir = builtins.open, os.open, os.mkdir

    def fake_open(file, mode="r", *a, **k):
        if inside(file) and any(c in mode for c in "wax+"):
            refuse(file)
        return real_open(file, mode, *a, **k)

    def fake_os_open(path, flags, *a, **k):
        if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real_os_open(path, flags, *a, **k)

    def fake_mkdir(path, *a, **k):
        if inside(path):
            refuse(path)
        return real_mkdir(path, *a, **k)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(os, "open", fake_os_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)


def _enospc(monkeypatch) -> None:
    """The first checkpoint's weights cannot be written: the disk is full."""
    from regen_core import checkpoint

    def full(model, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(checkpoint, "save_weights", full)


# -- the catalogue -----------------------------------------------------------------------------------


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input_is_one_line_and_exit_status(row: Row, request, tmp_path: Path, monkeypatch, capsys) -> None:
    values = {"tmp": str(tmp_path)}
    for key, fixture in RUNS.items():
        if any("{" + key + "}" in a for a in row.argv):
            values[key] = str(request.getfixturevalue(fixture))
    argv = [a.format(**values) for a in row.argv]
    if row.fault == "readonly":
        (tmp_path / "out").mkdir()
        _readonly(monkeypatch, tmp_path)
    elif row.fault == "enospc":
        _enospc(monkeypatch)
    main = importlib.import_module(row.module).main
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]  # tqdm bars aside
    errors = [line for line in lines if "error:" in line]
    assert code == row.code, err[-2000:]
    assert "Traceback" not in err
    assert len(errors) == 1 and ": error: " in errors[0], err[-2000:]
    assert row.fragment in errors[0], errors[0]


def test_every_entry_point_module_is_in_the_catalogue() -> None:
    """Entry points that take user input have rows; a new one must add some."""
    covered = {r.module for r in ROWS}
    for module in ("regen_core.cli", "regen_melody.compose", "regen_tts.synthesize", "regen_image.sample",
                   "regen_image.train", "regen_asr.transcribe", "regen_asr.finetune"):
        assert module in covered, module
