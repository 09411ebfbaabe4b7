"""Cross-package: every installed pairing passes the contract suite, and domains stay independent."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from regen_core import registry
from regen_core.testing import PairingContractTests

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists() and p.name != "core")

# One contract-suite class per registered pairing (core's toy included), each with its toy preset.
for _name in registry.names():
    _cls_name = "TestContract_" + _name.replace("-", "_")
    globals()[_cls_name] = type(_cls_name, (PairingContractTests,), {"pairing_name": _name, "preset": "toy"})


def test_no_duplicate_pairing_names() -> None:
    names = registry.names()  # raises DuplicatePairingError on a clash
    assert "toy" in names


@pytest.mark.parametrize("domain", DOMAINS)
def test_domain_registers_a_pairing(domain: str) -> None:
    dists = {reg.distribution for reg in registry.discover().values()}
    assert f"regen-{domain}" in dists, f"packages/{domain} is not installed or registers no pairing"


@pytest.mark.parametrize("domain", DOMAINS)
def test_domains_never_import_each_other(domain: str) -> None:
    others = {f"regen_{d}" for d in DOMAINS if d != domain}
    for path in (ROOT / "packages" / domain / "src").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            for m in mods:
                assert m.split(".")[0] not in others, f"{path} imports {m}: go through the registry instead"
