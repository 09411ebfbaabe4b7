"""Every domain's ``python -m regen_<domain>.zoo`` and showcase at toy size, and every shipped model re-evaluated.

The zoo run trains, evaluates and packages each pairing the package ships; the packaged model must load
through ``--model``'s resolver with its checksums and reproduce the figures its provenance records.
Shipped models (``regen_<domain>/pretrained/<pairing>``) are re-evaluated on their saved test subset with the
recorded seeds: the figures must match (one torch thread, CPU, deterministic).
"""

from __future__ import annotations

import importlib
import json
import shutil

import pytest

from regen_core import pretrained, zoo

DOMAINS = ("tts", "asr", "melody", "image", "talkinghead")


@pytest.mark.parametrize("domain", DOMAINS)
def test_zoo_recipe_at_toy_size(domain, tmp_path):
    module = importlib.import_module(f"regen_{domain}.zoo")
    assert module.main(["--out", str(tmp_path), "--config", "toy", "--n-subset", "2"]) == 0
    for name in module.PAIRINGS:
        model = tmp_path / name / "model"
        prov = pretrained.verify(model)
        assert prov["preset"] == "toy" and 1 <= prov["subset"]["n"] <= 2  # a toy test split may hold fewer
        assert (tmp_path / name / "evaluation" / "report.json").is_file()
        result = zoo.reevaluate(model)
        assert result["mismatches"] == [], result["mismatches"]
    for name, stages in getattr(module, "SHARED", {}).items():  # tts-codec's direct baseline is tts's, copied
        assert pretrained.verify(tmp_path / name / "model")["shared_stages"] == stages
        for stage, other in stages.items():
            copied = tmp_path / name / "run" / stage / "final"
            assert (copied / "model.safetensors").read_bytes() == \
                (tmp_path / other / "run" / stage / "final" / "model.safetensors").read_bytes()
            saved = json.loads((copied / "config.json").read_text())
            assert saved["training"]["copied_from"] and saved["regen"]["pairing"] == name
    # the domain's showcase runs on the packaged model (as make demo runs it on the shipped one)
    showcase = importlib.import_module(f"regen_{domain}.showcase")
    shown = tmp_path / "showcase"
    assert showcase.main(["--model", str(tmp_path / module.PAIRINGS[0] / "model"), "--out", str(shown)]) == 0
    listed = [line.split("`")[1] for line in (shown / "outputs.md").read_text().splitlines() if line.startswith("- `")]
    assert listed and all((shown / name).is_file() and (shown / name).stat().st_size > 0 for name in listed), listed
    assert "regeneration vs direct on the test split" in (shown / "outputs.md").read_text()  # the model card


SHIPPED = pretrained.shipped()


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_reproduces_its_recorded_figures(name):
    result = zoo.reevaluate(SHIPPED[name])
    assert result["mismatches"] == [], result["mismatches"]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_package_readme_states_the_shipped_figures(name):
    """A package README's figures for its shipped model are the ones its provenance records (zoo.readme_row)."""
    folder = SHIPPED[name]
    readme = folder.parents[3] / "README.md"  # packages/<domain>/README.md
    assert zoo.readme_row(folder) in readme.read_text(), f"{readme} lacks the row for {name}: {zoo.readme_row(folder)}"


def test_shipped_models_stay_small():
    total = sum(pretrained.folder_bytes(f) for f in SHIPPED.values())
    assert total <= zoo.SIZE_LIMIT_BYTES, f"shipped models take {total / 1e6:.1f} MB (limit {zoo.SIZE_LIMIT_BYTES / 1e6:.1f} MB)"


def test_a_shared_stage_must_be_the_model_this_recipe_trains(tmp_path):
    """zoo.share_stage refuses another pairing's stage trained with other settings, and one not built yet."""
    from regen_core.config import to_dict
    from regen_core.examples.toy import ToyPairing
    from regen_core.pipeline import load_run_config, train_stage

    cfg = load_run_config(ToyPairing, "toy", ["train.direct.max_steps=3"])
    pairing = ToyPairing(cfg.pairing)
    with pytest.raises(zoo.ZooError, match="not built"):
        zoo.share_stage(pairing, cfg, "direct", tmp_path / "other" / "run", tmp_path / "mine" / "run", log=None)
    train_stage(pairing, "direct", cfg, tmp_path / "other" / "run")
    other = load_run_config(ToyPairing, "toy", ["train.direct.max_steps=4"])
    with pytest.raises(zoo.ZooError, match="train.direct.max_steps"):
        zoo.share_stage(pairing, other, "direct", tmp_path / "other" / "run", tmp_path / "mine" / "run", log=None)
    halved = load_run_config(ToyPairing, "toy", ["train.direct.max_steps=3", "paired.share=0.5"])
    with pytest.raises(zoo.ZooError, match="paired.share"):  # the other side would train on half the pairs
        zoo.share_stage(pairing, halved, "direct", tmp_path / "other" / "run", tmp_path / "mine" / "run", log=None)
    wider = load_run_config(ToyPairing, "toy", ["train.direct.max_steps=3", f"pairing.hidden={cfg.pairing.hidden * 2}"])
    with pytest.raises(zoo.ZooError, match="pairing.hidden"):
        zoo.share_stage(ToyPairing(wider.pairing), wider, "direct", tmp_path / "other" / "run", tmp_path / "mine" / "run",
                        log=None)
    zoo.share_stage(pairing, cfg, "direct", tmp_path / "other" / "run", tmp_path / "mine" / "run", log=None)
    copied = json.loads((tmp_path / "mine" / "run" / "direct" / "final" / "config.json").read_text())
    assert copied["regen"]["pairing"] == "toy" and copied["pairing"] == to_dict(pairing.config)
    zoo.share_stage(pairing, cfg, "direct", tmp_path / "other" / "run", tmp_path / "mine" / "run", log=None)  # resumed
    train_stage(pairing, "direct", load_run_config(ToyPairing, "toy", ["train.direct.max_steps=2"]), tmp_path / "x" / "run")
    shutil.rmtree(tmp_path / "mine" / "run" / "direct" / "final")
    shutil.copytree(tmp_path / "x" / "run" / "direct" / "final", tmp_path / "mine" / "run" / "direct" / "final")
    with pytest.raises(zoo.ZooError, match="is not the copy"):  # a resumed build whose stage is another model
        zoo.share_stage(pairing, cfg, "direct", tmp_path / "other" / "run", tmp_path / "mine" / "run", log=None)
