"""The optional hooks of contract.py are what the installed pairings really implement."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from regen_core import registry
from regen_core.contract import OnnxExport, ParsesX, SetMetrics, Stochastic, TimedOutput, Visualiser, Visualises

HOOKS = {"visualise": Visualises, "parse_x": ParsesX, "set_metrics": SetMetrics, "output_seconds": TimedOutput,
         "export_onnx": OnnxExport}


def _params(fn: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.kind) for p in inspect.signature(fn).parameters.values() if p.name != "self"]


@pytest.mark.parametrize("name", registry.names())
def test_pairing_hooks_have_the_declared_signatures(name: str) -> None:
    cls = registry.pairing_class(name)
    for attr, proto in HOOKS.items():
        if not hasattr(cls, attr):
            continue
        declared = _params(getattr(proto, attr))
        got = _params(getattr(cls, attr))
        assert [n for n, _ in got[: len(declared)]] == [n for n, _ in declared], (
            f"{name}.{attr}{inspect.signature(getattr(cls, attr))} does not match contract.{proto.__name__}.{attr}"
        )
        assert [k for _, k in got[: len(declared)]] == [k for _, k in declared], f"{name}.{attr}: parameter kinds differ"


def test_visualiser_signature_is_the_visualises_hook() -> None:
    assert _params(Visualiser.__call__) == _params(Visualises.visualise)


def test_isinstance_finds_hooks_and_their_absence() -> None:
    class Drawer:
        def visualise(self, folder, name, *, x, y_prime, prediction, reference) -> list[Path]:
            return []

    class Deterministic:
        stochastic = False

    assert isinstance(Drawer(), Visualises) and not isinstance(Drawer(), ParsesX)
    assert isinstance(Deterministic(), Stochastic) and not isinstance(Drawer(), Stochastic)


@pytest.mark.parametrize("name", registry.names())
def test_init_keeps_names_real_settings(name: str) -> None:
    """A pairing's ``init_keeps`` (contract.KeepsOnInit) names fields of its config, so --init can check them."""
    import dataclasses

    from regen_core.contract import KeepsOnInit

    cls = registry.pairing_class(name)
    pairing = cls(cls.config_class())
    if not isinstance(pairing, KeepsOnInit):
        return
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    assert set(pairing.init_keeps) <= fields, f"{name}.init_keeps names unknown settings {set(pairing.init_keeps) - fields}"
