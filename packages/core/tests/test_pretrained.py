"""Shipped models: packaging, checksums, resolving a model spec, re-evaluation, fine-tuning with --init."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from regen_core import checkpoint as ckpt
from regen_core import cli, pretrained, zoo
from regen_core.pretrained import PretrainedError


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> Path:
    """The toy pairing built by the zoo at toy size: DIR/toy/{run, evaluation, model}."""
    out = tmp_path_factory.mktemp("zoo")
    return zoo.build("toy", out, config="toy", n_subset=4, log=None)


@pytest.fixture
def shipped_toy(packaged, tmp_path, monkeypatch) -> Path:
    """``packaged`` installed as the toy pairing's shipped model (in a stand-in package folder)."""
    folder = tmp_path / "pkg" / "pretrained"
    shutil.copytree(packaged, folder / "toy")
    monkeypatch.setattr(pretrained, "package_folder", lambda pairing: folder)
    return folder / "toy"


def test_packaged_model_layout_provenance_and_half_weights(packaged):
    prov = pretrained.verify(packaged)
    for key in ("commit", "preset", "overrides", "seeds", "budgets", "data", "test_split", "subset", "files", "machine"):
        assert key in prov, key
    assert prov["preset"] == "toy" and prov["subset"]["n"] == 4
    assert set(prov["test_split"]["metrics"][0]) >= {"name", "regeneration", "direct"}
    dtype = torch.float16 if prov["weights_dtype"] == "float16" else torch.float32
    weights = load_file(str(packaged / "generate" / "final" / "model.safetensors"))
    assert all(t.dtype == dtype for t in weights.values() if t.is_floating_point())
    # every file is listed, provenance itself excepted
    listed = set(prov["files"])
    assert "run_config.json" in listed and "generate/final/model.safetensors" in listed
    assert not any(name.endswith("provenance.json") for name in listed)


def test_reevaluation_matches_the_recorded_figures(packaged):
    result = zoo.reevaluate(packaged)
    assert result["mismatches"] == []
    assert result["measured"]["regeneration"].keys() >= result["recorded"]["regeneration"].keys() - set(zoo.TIMING_METRICS)


def test_reevaluation_catches_changed_weights(packaged, tmp_path):
    """The comparison can fail: other weights (re-checksummed so loading passes) give other figures."""
    copy = tmp_path / "m"
    shutil.copytree(packaged, copy)
    path = copy / "regenerate" / "final" / "model.safetensors"
    from safetensors.torch import save_file

    tensors = {k: (v + 0.5 if v.is_floating_point() else v) for k, v in load_file(str(path)).items()}
    save_file(tensors, str(path))
    manifest = json.loads((path.parent / "manifest.json").read_text())
    manifest["model.safetensors"] = {"sha256": ckpt.sha256_file(path), "bytes": path.stat().st_size}
    (path.parent / "manifest.json").write_text(json.dumps(manifest))
    pretrained.update_provenance(copy, files=pretrained.file_checksums(copy))
    assert zoo.reevaluate(copy)["mismatches"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "remove", "extra"])
def test_a_damaged_shipped_model_is_refused_naming_the_file(packaged, tmp_path, damage):
    copy = tmp_path / "m"
    shutil.copytree(packaged, copy)
    target = copy / "direct" / "final" / "model.safetensors"
    if damage == "flip":
        data = bytearray(target.read_bytes())
        data[-1] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "remove":
        target.unlink()
    else:
        (copy / "stray.bin").write_bytes(b"x")
    with pytest.raises(PretrainedError) as err:
        pretrained.from_pretrained(copy)
    assert ("stray.bin" if damage == "extra" else "direct/final/model.safetensors") in str(err.value)


def test_resolve_a_model_spec(shipped_toy, tmp_path, monkeypatch):
    assert pretrained.resolve("pretrained", "toy") == shipped_toy
    assert pretrained.resolve(None, "toy") == shipped_toy
    assert pretrained.resolve("toy") == shipped_toy  # a shipped name
    assert pretrained.resolve(str(tmp_path)) == tmp_path  # a local folder
    with pytest.raises(PretrainedError, match="needs to know the pairing"):
        pretrained.resolve("pretrained")
    with pytest.raises(PretrainedError, match="does not exist"):
        pretrained.resolve(str(tmp_path / "missing"))
    with pytest.raises(PretrainedError, match="not a folder, a shipped model"):
        pretrained.resolve("no-such-model")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(PretrainedError, match="is a file"):
        pretrained.resolve(str(tmp_path / "file.txt"))
    pairing, models = pretrained.from_pretrained("pretrained", "toy")
    assert pairing.name == "toy" and {"generate", "regenerate", "direct"} <= set(models)
    assert pretrained.shipped(["toy"]) == {"toy": shipped_toy}


def test_a_fine_tune_ships_as_a_variant(shipped_toy, tmp_path, monkeypatch):
    """python -m regen_<domain>.zoo --package-run FT --name PAIRING-VARIANT --install: listed, loadable by name,
    re-evaluated like the others; the default stays the model named like the pairing."""
    ft = tmp_path / "ft"
    assert cli.main(["train", "toy", "--stage", "generate", "--init", "pretrained", "--run", str(ft),
                     "train.generate.max_steps=2", "pairing.data_seed=5"]) == 0
    assert zoo.main(["--package-run", str(ft), "--name", "toy-seed5", "--out", str(tmp_path / "z"), "--install"],
                    pairings=("toy",), prog="zoo") == 0
    found = pretrained.shipped(["toy"])
    assert set(found) == {"toy", "toy-seed5"} and pretrained.resolve("pretrained", "toy") == shipped_toy
    assert pretrained.read_provenance(found["toy-seed5"])["packaged_run"] == str(ft)
    assert zoo.reevaluate(found["toy-seed5"])["mismatches"] == []
    assert zoo.main(["--package-run", str(ft), "--name", "other", "--out", str(tmp_path / "z")], pairings=("toy",), prog="zoo") == 2
    # without --name a fine-tune would replace the default: refused
    assert zoo.main(["--package-run", str(ft), "--out", str(tmp_path / "z2"), "--install"], pairings=("toy",), prog="zoo") == 2
    assert pretrained.verify(shipped_toy)  # the default is untouched
    # a half-written folder is never listed
    shutil.copytree(found["toy-seed5"], found["toy-seed5"].with_name(".tmp-toy-x"))
    assert set(pretrained.shipped(["toy"])) == {"toy", "toy-seed5"}


def test_no_shipped_model_names_the_command_that_builds_one(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "package_folder", lambda pairing: tmp_path / "empty")
    with pytest.raises(PretrainedError, match=r"ships no pretrained model for 'toy'.*zoo"):
        pretrained.resolve("pretrained", "toy")


def test_a_hugging_face_cache_folder(packaged, tmp_path, monkeypatch):
    """ORG/NAME resolves to the snapshot the user downloaded into the local Hugging Face cache (no network)."""
    cache = tmp_path / "hub"
    repo = cache / "models--someone--regen-toy"
    rev = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(packaged, repo / "snapshots" / rev)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(rev)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(cache))
    pairing, models = pretrained.from_pretrained("someone/regen-toy")
    assert pairing.name == "toy" and "generate" in models
    # `hf download ORG/NAME --local-dir DIR` leaves its own metadata beside the files: not part of the model
    local = tmp_path / "local"
    shutil.copytree(packaged, local)
    (local / ".cache" / "huggingface" / "download").mkdir(parents=True)
    (local / ".cache" / "huggingface" / "download" / "run_config.json.metadata").write_text("x")
    assert pretrained.from_pretrained(str(local))[0].name == "toy"
    with pytest.raises(PretrainedError, match="local Hugging Face cache"):
        pretrained.resolve("someone/not-downloaded")


def test_regen_evaluate_and_sample_with_a_shipped_model(shipped_toy, tmp_path, capsys):
    assert cli.main(["evaluate", "--model", "toy", "--out", str(tmp_path / "ev"), "evaluate.seeds=[0]"]) == 0
    assert (tmp_path / "ev" / "report.json").is_file()
    assert not (shipped_toy / "evaluation").exists()  # the shipped folder is never written to
    assert cli.main(["evaluate", "--model", "toy"]) == 2  # a shipped model needs --out
    assert "give --out" in capsys.readouterr().err
    assert cli.main(["sample", "--model", "toy", "--out", str(tmp_path / "s")]) == 0
    assert cli.main(["zoo"]) == 0
    assert "| toy |" in capsys.readouterr().out


def test_init_fine_tunes_from_the_shipped_model(shipped_toy, tmp_path):
    run = tmp_path / "ft"
    args = ["train", "toy", "--stage", "regenerate", "--init", "pretrained", "--run", str(run),
            "train.regenerate.max_steps=1", "train.regenerate.lr=1e-9", "train.regenerate.warmup_steps=0",
            "pairing.n_examples=80", "pairing.data_seed=3"]  # other data: allowed
    assert cli.main(args) == 0
    start = load_file(str(shipped_toy / "regenerate" / "final" / "model.safetensors"))
    tuned = load_file(str(run / "regenerate" / "final" / "model.safetensors"))
    assert max(float((tuned[k].float() - start[k].float()).abs().max()) for k in start) < 1e-3
    saved = json.loads((run / "run_config.json").read_text())
    assert saved["pairing"]["data_seed"] == 3 and saved["pairing"]["hidden"] == 16  # the model's config + overrides
    from regen_core.pipeline import load_run

    pairing, models = load_run(run)  # the copied stages load with this run's settings, and say where they came from
    assert pairing.config.data_seed == 3 and {"extract", "generate", "direct"} <= set(models)
    assert "copied_from" in json.loads((run / "generate" / "final" / "config.json").read_text())["training"]
    assert json.loads((run / "regenerate" / "final" / "config.json").read_text())["regen"]["init_from"].endswith("regenerate/final")
    scratch = tmp_path / "scratch"
    assert cli.main(["train", "toy", "--stage", "regenerate", "--config", "toy", "--run", str(scratch),
                     "train.regenerate.max_steps=1", "train.regenerate.lr=1e-9", "train.regenerate.warmup_steps=0"]) == 0
    other = load_file(str(scratch / "regenerate" / "final" / "model.safetensors"))
    assert max(float((other[k].float() - start[k].float()).abs().max()) for k in start) > 1e-2


def test_init_refuses_a_setting_that_changes_the_model(shipped_toy, tmp_path, capsys):
    run = tmp_path / "ft"
    assert cli.main(["train", "toy", "--stage", "generate", "--init", "pretrained", "--run", str(run), "pairing.hidden=32"]) == 2
    err = capsys.readouterr().err
    assert "pairing.hidden: model 16, this run 32" in err
    assert not run.exists() or {p.name for p in run.iterdir()} <= {".regen-run.lock"}  # refused before anything was written
    assert cli.main(["train", "toy", "--stage", "generate", "--init", str(tmp_path / "nowhere"), "--run", str(run)]) == 2


def test_a_domain_evaluate_defaults_to_its_shipped_model(shipped_toy, tmp_path, capsys):
    from regen_core.cli import domain_main

    assert domain_main("toy", "evaluate", ["--out", str(tmp_path / "ev"), "evaluate.seeds=[0]"]) == 0
    assert (tmp_path / "ev" / "report.md").is_file()
    assert domain_main("toy", "evaluate", []) == 2  # a shipped model is never written to: --out is needed
    assert "give --out" in capsys.readouterr().err


def test_zoo_refuses_to_resume_a_run_made_with_another_config(packaged, capsys):
    """A toy check's run in the same --out must not be packaged as the zoo recipe's."""
    out = packaged.parent.parent  # the zoo --out of the module fixture (built with --config toy)
    with pytest.raises(zoo.ZooError, match="trained with another config"):
        zoo.build("toy", out, config="toy", overrides=["pairing.hidden=8"], log=None)


def test_a_model_of_another_pairing_is_refused_by_name(packaged):
    from regen_core.cli_common import model_folder

    assert model_folder(str(packaged), "toy") == packaged
    with pytest.raises(PretrainedError, match="holds a 'toy' model, not a 'melody' one"):
        model_folder(str(packaged), "melody")


def test_model_and_run_together_are_refused(capsys):
    import argparse

    from regen_core.cli_common import add_model_arg

    p = argparse.ArgumentParser(prog="x")
    add_model_arg(p, "toy")
    assert p.parse_args([]).model == "pretrained" and p.parse_args(["--run", "R"]).model == "R"
    with pytest.raises(SystemExit):
        p.parse_args(["--model", "A", "--run", "B"])
    assert "give --model or --run, not both" in capsys.readouterr().err
