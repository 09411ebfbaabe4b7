"""Cross-package: every installed pairing passes the contract suite, and domains stay independent."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from regen_core import registry
from regen_core.testing import PairingContractTests

ROOT = Path(__file__).resolve().parents[1]
# Shared libraries: domains may import them; they import no domain. Core imports neither domains nor speech.
LIBRARIES = ("core", "speech")
DOMAINS = sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists() and p.name not in LIBRARIES)

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


def _imported_modules(package: str) -> list[tuple[Path, str]]:
    """(file, module) for every absolute import in ``packages/<package>/src``."""
    found = []
    for path in (ROOT / "packages" / package / "src").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(path, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
    return found


def test_libraries_are_the_shared_ones() -> None:
    for lib in LIBRARIES:
        assert (ROOT / "packages" / lib / "pyproject.toml").is_file(), f"shared library packages/{lib} is missing"


@pytest.mark.parametrize("domain", DOMAINS)
def test_domains_never_import_each_other(domain: str) -> None:
    """A domain imports the shared libraries (regen_core, regen_speech), never another domain."""
    others = {f"regen_{d}" for d in DOMAINS if d != domain}
    for path, m in _imported_modules(domain):
        assert m.split(".")[0] not in others, f"{path} imports {m}: go through the registry instead"


@pytest.mark.parametrize("library", LIBRARIES)
def test_libraries_import_no_domain(library: str) -> None:
    """Core is domain-free (it does not even import regen_speech); speech builds on core alone."""
    forbidden = {f"regen_{d}" for d in DOMAINS} | ({"regen_speech"} if library == "core" else set())
    for path, m in _imported_modules(library):
        assert m.split(".")[0] not in forbidden, f"{path} imports {m}: a shared library must not depend on it"
