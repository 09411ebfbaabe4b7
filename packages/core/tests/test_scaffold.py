"""``regen new-pairing``: the scaffolded package is well-formed, imports, and its stubs say what to write."""

from __future__ import annotations

import dataclasses
import importlib
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from regen_core.cli import main as regen_main
from regen_core.config import build_config, run_config_class
from regen_core.contract import Metric, Spec
from regen_core.scaffold import ScaffoldError, new_pairing

NAME = "demo_x"
PACKAGE = "regen_demo_x"


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory):
    """The package scaffolded into a temporary folder, importable from ``src`` (not pip-installed)."""
    root = tmp_path_factory.mktemp("scaffold") / "pkg"
    files = new_pairing(NAME, root)
    sys.path.insert(0, str(root / "src"))
    try:
        yield root, files
    finally:
        sys.path.remove(str(root / "src"))
        for mod in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[mod]


def test_writes_the_package_layout(scaffolded) -> None:
    root, files = scaffolded
    rel = sorted(str(f.relative_to(root)) for f in files)
    src = f"src/{PACKAGE}"
    assert rel == sorted(["README.md", "pyproject.toml", "tests/test_contract.py", f"{src}/__init__.py", f"{src}/config.py",
                          f"{src}/pairing.py", f"{src}/train.py", f"{src}/evaluate.py", f"{src}/demo.py",
                          f"{src}/presets/toy.yaml", f"{src}/presets/tiny.yaml"])
    for f in files:
        assert "${" not in f.read_text(), f"{f} keeps an unfilled placeholder"


def test_pyproject_metadata_is_complete(scaffolded) -> None:
    """What `poetry check` validates for a PEP 621 poetry-core package, read with tomllib."""
    root, _ = scaffolded
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    project = meta["project"]
    assert project["name"] == "regen-demo-x"
    assert project["version"] == "0.1.0" and project["description"]
    assert (root / project["readme"]).is_file()
    assert project["requires-python"].startswith(">=3.10")
    assert any(d.startswith("regen-core") for d in project["dependencies"])
    assert all(isinstance(a, dict) and a.get("name") for a in project["authors"])
    assert meta["build-system"] == {"requires": ["poetry-core>=2.0"], "build-backend": "poetry.core.masonry.api"}
    assert project["entry-points"]["regen.pairings"] == {NAME: f"{PACKAGE}.pairing:DemoXPairing"}
    (pkg,) = meta["tool"]["poetry"]["packages"]
    assert (root / pkg["from"] / pkg["include"] / "__init__.py").is_file()


def test_config_is_frozen_and_every_field_commented(scaffolded) -> None:
    root, _ = scaffolded
    config = importlib.import_module(f"{PACKAGE}.config")
    cls = config.DemoXConfig
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    text = (root / "src" / PACKAGE / "config.py").read_text()
    for f in dataclasses.fields(cls):
        (line,) = [ln for ln in text.splitlines() if ln.strip().startswith(f"{f.name}:")]
        assert "  # " in line, f"field {f.name} has no comment"


def test_presets_validate_against_the_config(scaffolded) -> None:
    root, _ = scaffolded
    cls = importlib.import_module(f"{PACKAGE}.config").DemoXConfig
    for name in ("toy", "tiny"):
        path = root / "src" / PACKAGE / "presets" / f"{name}.yaml"
        assert isinstance(yaml.safe_load(path.read_text()), dict)
        cfg = build_config(run_config_class(cls), files=[path])  # an unknown key or wrong type would raise
        assert cfg.pairing.hidden > 0


def test_pairing_imports_and_each_stub_names_what_to_write(scaffolded) -> None:
    pairing_mod = importlib.import_module(f"{PACKAGE}.pairing")
    cls = pairing_mod.DemoXPairing
    assert cls.name == NAME
    assert all(isinstance(getattr(cls, a), Spec) for a in ("x", "y", "y_prime"))
    assert cls.metrics_spec and all(isinstance(m, Metric) for m in cls.metrics_spec)
    pairing = cls()
    calls = {
        "load_data": lambda: pairing.load_data(),
        "build_extract": lambda: pairing.build("extract"),
        "build_generate": lambda: pairing.build("generate", None),
        "build_regenerate": lambda: pairing.build("regenerate", None),
        "build_direct": lambda: pairing.build("direct", None),
        "stage_data": lambda: pairing.stage_data("generate", None, None),
        "metrics": lambda: pairing.metrics(0, 0),
    }
    expect = {"load_data": "'train', 'valid' and 'test'", "build_extract": "extract(y) -> y_prime",
              "build_generate": "generator X -> Y'", "build_regenerate": "regenerator Y' -> Y",
              "build_direct": "direct baseline X -> Y", "stage_data": "StageData(train, valid, collate)",
              "metrics": "score"}
    for method, call in calls.items():
        with pytest.raises(NotImplementedError) as err:
            call()
        msg = str(err.value)
        assert msg.startswith(f"{PACKAGE}.pairing.DemoXPairing.{method} is not written yet: "), msg
        assert expect[method] in msg, msg
    with pytest.raises(ValueError, match="unknown stage 'decode'"):
        pairing.build("decode")


def test_entry_points_import(scaffolded) -> None:
    for mod in ("train", "evaluate", "demo"):
        assert callable(importlib.import_module(f"{PACKAGE}.{mod}").main)


def test_cli_scaffolds_and_refuses_bad_name_or_occupied_folder(tmp_path: Path, capsys) -> None:
    out = tmp_path / "new"
    assert regen_main(["new-pairing", "speech_enhance", "--out", str(out)]) == 0
    assert (out / "src" / "regen_speech_enhance" / "pairing.py").is_file()
    capsys.readouterr()
    assert regen_main(["new-pairing", "speech_enhance", "--out", str(out)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    for bad, why in (("9lives", "not a valid identifier"), ("Demo", "not a valid identifier"), ("a-b", "not a valid identifier"),
                     ("class", "keyword"), ("core", "reserved")):
        assert regen_main(["new-pairing", bad, "--out", str(tmp_path / "other")]) == 2
        assert why in capsys.readouterr().err
        assert not (tmp_path / "other").exists()
    (tmp_path / "empty").mkdir()
    new_pairing("ok_name", tmp_path / "empty")  # an existing empty folder is fine
    (tmp_path / "file").write_text("x")
    with pytest.raises(ScaffoldError, match="not a folder"):
        new_pairing("ok_name", tmp_path / "file")


def test_refuses_installed_pairing_names_and_existing_modules(tmp_path: Path, monkeypatch, capsys) -> None:
    from regen_core import registry

    for taken in ("toy", *(n for n in registry.names() if n.isidentifier())):
        assert regen_main(["new-pairing", taken, "--out", str(tmp_path / "other")]) == 2
        err = capsys.readouterr().err
        assert f"pairing name {taken!r} is taken" in err and "registers it" in err, err
        assert not (tmp_path / "other").exists()
    (tmp_path / "site" / "regen_zz_taken").mkdir(parents=True)
    (tmp_path / "site" / "regen_zz_taken" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(ScaffoldError, match="a module regen_zz_taken is already importable"):
        new_pairing("zz_taken", tmp_path / "other")
    assert not (tmp_path / "other").exists()
