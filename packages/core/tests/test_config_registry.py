"""Configs (unknown keys, wrong types, presets) and the entry-point registry."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from types import SimpleNamespace

import pytest

from regen_core import registry
from regen_core.config import ConfigError, TrainConfig, build_config, from_dict, run_config_class, to_dict
from regen_core.examples.toy import ToyConfig, ToyPairing
from regen_core.pipeline import load_run_config, preset_path


def test_unknown_key_is_an_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="lerning_rate"):
        build_config(TrainConfig, overrides=["lerning_rate=0.1"])
    with pytest.raises(ConfigError, match="pairing.hiden"):
        load_run_config(ToyPairing, "toy", ["pairing.hiden=3"])


def test_wrong_type_is_an_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="max_steps"):
        build_config(TrainConfig, overrides=["max_steps=lots"])
    with pytest.raises(ConfigError, match="train.generate.lr"):
        load_run_config(ToyPairing, "toy", ["train.generate.lr=fast"])


def test_a_domain_configs_own_check_is_a_config_error() -> None:
    """A config's __post_init__ raising ValueError (the domains' way to check values) comes out as ConfigError."""
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Checked:
        mode: str = "a"  # "a" or "b"

        def __post_init__(self) -> None:
            if self.mode not in ("a", "b"):
                raise ValueError(f"pairing.mode {self.mode!r}: expected a or b")

    assert build_config(Checked, overrides=["mode=b"]).mode == "b"
    with pytest.raises(ConfigError, match="pairing.mode 'c': expected a or b"):
        build_config(Checked, overrides=["mode=c"])


def test_yaml_errors_name_the_file(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_run_config(ToyPairing, bad)
    top = tmp_path / "list.yaml"
    top.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_run_config(ToyPairing, top)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("pairing:\n  nope: 1\n")
    with pytest.raises(ConfigError, match="nope"):
        load_run_config(ToyPairing, unknown)


def test_override_without_equals_is_an_error() -> None:
    with pytest.raises(ConfigError, match="key=value"):
        build_config(TrainConfig, overrides=["max_steps"])


def test_presets_and_overrides_merge_in_order() -> None:
    cfg = load_run_config(ToyPairing, "toy", ["train.generate.max_steps=7", "evaluate.seeds=[4,5]"])
    assert cfg.train.generate.max_steps == 7
    assert cfg.train.generate.batch_size == 8  # from the preset
    assert cfg.train.direct.max_steps == 20  # untouched
    assert cfg.evaluate.seeds == (4, 5)  # tuples stay tuples
    assert cfg.pairing.hidden == 16
    with pytest.raises(FrozenInstanceError):
        cfg.train.generate.max_steps = 3  # type: ignore[misc]


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="toy"):
        preset_path(ToyPairing, "huge")


def test_preset_name_is_not_shadowed_by_a_file_in_the_working_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny").mkdir()  # e.g. an output folder named like the preset
    (tmp_path / "toy").write_text("not: yaml: at: all")
    assert load_run_config(ToyPairing, "tiny") == load_run_config(ToyPairing, preset_path(ToyPairing, "tiny"))
    assert load_run_config(ToyPairing, "toy").train.direct.max_steps == 20
    (tmp_path / "mine.yaml").write_text("train:\n  generate:\n    max_steps: 3\n")
    assert load_run_config(ToyPairing, "mine.yaml").train.generate.max_steps == 3
    assert load_run_config(ToyPairing, "./mine.yaml").train.generate.max_steps == 3
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_run_config(ToyPairing, "missing.yaml")


def test_round_trip_through_dict() -> None:
    cls = run_config_class(ToyConfig)
    cfg = load_run_config(ToyPairing, "tiny")
    assert from_dict(cls, to_dict(cfg)) == cfg


def test_list_shows_toy() -> None:
    found = registry.discover()
    assert "toy" in found
    assert registry.describe(found["toy"].load()) == "toy  label -> signal -> signal"


def fake_ep(name: str, value: str, dist: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, value=value, dist=SimpleNamespace(metadata={"Name": dist}), load=lambda: None)


def test_duplicate_name_names_both_packages(monkeypatch) -> None:
    eps = [fake_ep("tts", "a.pairing:A", "regen-tts"), fake_ep("tts", "b.pairing:B", "someone-elses-tts")]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps)
    with pytest.raises(registry.DuplicatePairingError) as err:
        registry.discover()
    assert "regen-tts" in str(err.value) and "someone-elses-tts" in str(err.value)


def test_unknown_pairing_lists_installed() -> None:
    with pytest.raises(registry.UnknownPairingError, match="toy"):
        registry.pairing_class("no-such-pairing")


def test_registry_does_not_import_pairings(monkeypatch) -> None:
    loaded = []
    eps = [SimpleNamespace(name="x", value="m:X", dist=SimpleNamespace(metadata={"Name": "d"}), load=lambda: loaded.append(1))]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps)
    assert list(registry.discover()) == ["x"]
    assert loaded == []
