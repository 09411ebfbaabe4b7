"""One shape per entry point: every domain has config.py, train.py, evaluate.py and demo.py, with the same flags."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from regen_core import registry

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists() and p.name not in ("core", "speech"))


def _help(module: str, capsys: pytest.CaptureFixture) -> str:
    main = importlib.import_module(module).main
    assert "argv" in inspect.signature(main).parameters, f"{module}.main must take argv"
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("domain", DOMAINS)
def test_config_lives_in_config_py(domain: str) -> None:
    classes = [reg.load() for reg in registry.discover().values() if reg.distribution == f"regen-{domain}"]
    assert classes, f"regen-{domain} registers no pairing"
    for cls in classes:
        assert cls.config_class.__module__ == f"regen_{domain}.config", \
            f"{cls.__name__}.config_class is defined in {cls.config_class.__module__}, not regen_{domain}.config"


@pytest.mark.parametrize("domain", DOMAINS)
def test_train_and_evaluate_take_a_run_folder(domain: str, capsys) -> None:
    assert "--run" in _help(f"regen_{domain}.train", capsys)
    assert "--run" in _help(f"regen_{domain}.evaluate", capsys)


@pytest.mark.parametrize("domain", DOMAINS)
def test_demo_flags(domain: str, capsys) -> None:
    text = _help(f"regen_{domain}.demo", capsys)
    for flag in ("--out", "--config", "--threads", "--budget-scale", "key=value"):
        assert flag in text, f"regen_{domain}.demo --help lacks {flag}"
