"""The bad-input catalogue of every command line: one row per (entry point, argv, exit status, message fragment).

Each row runs the entry point's ``main`` in this process and checks that it returns the expected exit status
and prints exactly one line, ``regen: error: ...`` holding the fragment, with no traceback. A new entry point
joins by adding rows; a row may name a fault (``readonly``: every write under the output folder fails with
EROFS; ``enospc``: the checkpoint write fails with ENOSPC) and the runs it needs (``{toy}``, ``{melody}``,
``{tts}``, ``{image}``, ``{talkinghead}``: toy-sized runs trained once per session; ``{wav}``: a spoken sentence;
``{noface}``: a PNG photo with no face in it; ``{tmp}``: a fresh folder per row).

Every entry-point module under ``packages/*/src`` (a ``main`` decorated with ``cli_main`` or an
``if __name__ == "__main__"`` guard, found by reading the source) must have a row or a reason in :data:`EXEMPT`.
"""

from __future__ import annotations

import ast
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
    Row("export-run-of-another-pairing", "regen_core.cli", ("export", "asr", "--onnx", "{tmp}/o", "--run", "{toy}"), 2,
        "is a run of pairing 'toy', not 'asr'"),
    Row("export-missing-run", "regen_core.cli", ("export", "image", "--onnx", "{tmp}/o", "--run", "{tmp}/none"), 2,
        "does not exist"),
    Row("study-unknown-preset", "regen_core.cli", ("study", "toy", "--config", "nope", "--out", "{tmp}/s"), 2,
        "no study preset 'nope'"),
    # -- domain train / evaluate wrappers (python -m regen_<domain>.train|evaluate) ---------------------
    *[Row(f"{d}-train-lr-0", f"regen_{d}.train", ("--stage", "generate", "--config", "toy", "--run", "{tmp}/r", "train.generate.lr=0"), 2,
          "'train.generate.lr': must be > 0") for d in ("asr", "melody", "talkinghead", "tts")],
    *[Row(f"{d}-evaluate-missing-run", f"regen_{d}.evaluate", ("--run", "{tmp}/missing"), 2, "not a regen run folder")
      for d in ("asr", "image", "melody", "talkinghead", "tts")],
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
        "unsupported suffix '.mp3'"),
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
    *[Row(f"{d}-zoo-unknown-preset", f"regen_{d}.zoo", ("--out", "{tmp}/z", "--config", "nosuch"), 2, "has no preset")
      for d in ("tts", "asr", "melody", "image", "talkinghead")],
    *[Row(f"{d}-showcase-missing-model", f"regen_{d}.showcase", ("--model", "{tmp}/none", "--out", "{tmp}/s"), 2,
          "does not exist") for d in ("tts", "asr", "melody", "image", "talkinghead")],
    Row("synthesize-missing-model", "regen_tts.synthesize", ("--text", "hi", "--model", "{tmp}/none", "--out", "{tmp}/x.wav"), 2,
        "does not exist"),
    Row("tts-export-missing-run", "regen_tts.export", ("--run", "{tmp}/none", "--onnx", "{tmp}/o"), 2, "does not exist"),
    Row("tts-export-run-of-another-pairing", "regen_tts.export", ("--run", "{toy}", "--onnx", "{tmp}/o"), 2,
        "is a run of pairing 'toy', not 'tts'"),
    Row("tts-finetune-missing-run", "regen_tts.finetune", ("--run", "{tmp}/none"), 2, "not a regen run folder"),
    Row("tts-corpus-rate-too-low", "regen_tts.corpus", ("--out", "{tmp}/c", "--n", "2", "--rate", "10", "--quiet"), 2,
        "rate must be 80..450"),
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
    Row("g2p-eval-missing-model", "regen_asr.g2p", ("eval", "--model", "{tmp}/none"), 2, "does not exist"),
    Row("g2p-eval-not-an-extractor", "regen_asr.g2p", ("eval", "--model", "{toy}/generate/final"), 2,
        "not an extract (G2P) one"),
    # -- speech -----------------------------------------------------------------------------------
    Row("corpus-rate-too-low", "regen_speech.corpus", ("--out", "{tmp}/c", "--n", "2", "--rate", "10", "--quiet"), 2,
        "rate must be 80..450"),
    Row("corpus-unknown-voice", "regen_speech.corpus", ("--out", "{tmp}/c", "--n", "2", "--speakers", "xx-nope", "--quiet"), 2,
        "xx-nope"),
    # -- talkinghead ------------------------------------------------------------------------------
    Row("animate-photo-without-a-face", "regen_talkinghead.animate",
        ("--audio", "{wav}", "--model", "{talkinghead}", "--reference", "{noface}", "--out", "{tmp}/a.mp4"), 2, "no face found"),
    Row("animate-missing-run", "regen_talkinghead.animate", ("--audio", "{wav}", "--model", "{tmp}/none", "--out", "{tmp}/a.mp4"),
        2, "not a regen run folder"),
    Row("refine-missing-video", "regen_talkinghead.refine", ("--out", "{tmp}/o", "--video", "{tmp}/none.mp4"), 2, "none.mp4"),
    Row("realdirect-missing-run", "regen_talkinghead.realdirect", ("--run", "{tmp}/none", "--video-dir", "{tmp}", "--out",
                                                                   "{tmp}/x.json"), 2, "not a regen run folder"),
    Row("talkinghead-corpus-unknown-key", "regen_talkinghead.corpus", ("--config", "toy", "pairing.nope=1"), 2, "'pairing.nope'"),
]

#: Entry-point modules with no row, each with its reason. Benchmarks and demos measure or chain the commands the
#: rows above already check; internal workers take no user input.
EXEMPT = {
    "regen_asr.bench": "benchmark script (writes JSON figures; arguments are sizes for a measurement)",
    "regen_image.bench": "benchmark script",
    "regen_melody.bench": "benchmark script",
    "regen_melody.bench_compose_length": "benchmark script",
    "regen_melody.bench_render": "benchmark script",
    "regen_melody.pd_analysis": "analysis script behind a benchmark NOTES entry",
    "regen_talkinghead.bench": "benchmark script",
    "regen_tts.bench": "benchmark script",
    "regen_tts.align_bench": "benchmark script",
    "regen_tts.bench_vocoder": "benchmark script (its --model goes through the resolver the synthesize rows cover)",
    "regen_tts.bench_intelligibility": "benchmark script (as regen_tts.bench_vocoder)",
    "regen_tts.bench_codec": "benchmark script (codec vs vocoder reconstruction; writes JSON figures)",
    "regen_asr.demo": "demo: compare + evaluate through regen_core.cli, whose config checks the train rows cover",
    "regen_image.demo": "demo (as regen_asr.demo)",
    "regen_melody.demo": "demo (as regen_asr.demo)",
    "regen_talkinghead.demo": "demo (as regen_asr.demo)",
    "regen_tts.demo": "demo (as regen_asr.demo)",
    "regen_melody.extract": "maintainer tool that rebuilds the melody extractor's shipped tables",
    "regen_speech._espeak_c": "internal worker process spawned by regen_speech.espeak, not a user command",
    "regen_talkinghead.face3d": "maintainer tool: one --build flag that rebuilds the shipped 3D face model",
}


# -- toy runs: session fixtures in tests/conftest.py (shared with the browser test of regen serve) ------------


RUNS = {"toy": "toy_run", "melody": "melody_run", "tts": "tts_run", "image": "image_run", "talkinghead": "talkinghead_run",
        "wav": "speech_wav", "noface": "noface_png"}


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


def _guarded_or_cli_main(tree: ast.Module) -> bool:
    """Whether a module is an entry point: a function decorated ``@cli_main(...)`` or an ``if __name__ ==`` guard."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                f = d.func if isinstance(d, ast.Call) else d
                if getattr(f, "id", getattr(f, "attr", None)) == "cli_main":
                    return True
        if (isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and isinstance(node.test.left, ast.Name)
                and node.test.left.id == "__name__"):
            return True
    return False


def entry_modules(root: Path) -> set[str]:
    """Dotted names of the entry-point modules under ``root/packages/*/src``."""
    found = set()
    for path in sorted(root.glob("packages/*/src/**/*.py")):
        if _guarded_or_cli_main(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            parts = path.relative_to(root).parts[3:]  # after packages/<dir>/src
            found.add(".".join(parts)[: -len(".py")].removesuffix(".__main__"))
    return found


def test_every_entry_point_module_is_in_the_catalogue() -> None:
    """Entry points found in the source have rows (or a reason in EXEMPT); a new one must add some."""
    found = entry_modules(Path(__file__).resolve().parents[1])
    assert "regen_core.cli" in found and "regen_tts.export" in found, found  # the discovery itself works
    covered = {r.module for r in ROWS}
    missing = sorted(found - covered - set(EXEMPT))
    assert not missing, f"entry points with neither a catalogue row nor an EXEMPT reason: {missing}"
    assert not covered & set(EXEMPT), covered & set(EXEMPT)
    stale = sorted((covered | set(EXEMPT)) - found)
    assert not stale, f"rows or exemptions for modules that are not entry points (renamed?): {stale}"


def test_discovery_finds_a_guard_and_a_decorator() -> None:
    assert _guarded_or_cli_main(ast.parse('if __name__ == "__main__":\n    main()\n'))
    assert _guarded_or_cli_main(ast.parse('@cli_main("x")\ndef main(): ...\n'))
    assert not _guarded_or_cli_main(ast.parse("def main(): ...\n"))


def test_export_of_another_pairings_run_is_refused_before_writing(toy_run: Path, tmp_path: Path, capsys) -> None:
    """asr, image and tts refuse a toy run through one helper, naming both pairings, with no --onnx folder left."""
    from regen_core import cli

    for name in ("asr", "image", "tts"):
        assert cli.main(["export", name, "--onnx", str(tmp_path / name), "--run", str(toy_run)]) == 2
        err = capsys.readouterr().err
        assert f"is a run of pairing 'toy', not {name!r}" in err and "Traceback" not in err, err
        assert not (tmp_path / name).exists()
    # --model, the old spelling, still works and says it is deprecated
    assert cli.main(["export", "asr", "--onnx", str(tmp_path / "m"), "--model", str(toy_run)]) == 2
    err = capsys.readouterr().err
    assert "--model is deprecated, use --run" in err and "not 'asr'" in err
    assert not (tmp_path / "m").exists()
