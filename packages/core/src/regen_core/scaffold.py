"""``regen new-pairing NAME --out DIR``: a new domain package, ready to install and test.

The package (templates in ``regen_core/templates/pairing``, ``$name``-style placeholders)::

    DIR/pyproject.toml                 poetry-core, PEP 621, entry point regen.pairings: NAME
    DIR/README.md                      what to write, in order; what ``make demo`` / ``make bench`` expect
    DIR/src/regen_NAME/config.py       the frozen config dataclass (a comment on every field)
    DIR/src/regen_NAME/pairing.py      the pairing: every method a stub raising NotImplementedError
                                       that names what to write
    DIR/src/regen_NAME/{train,evaluate,demo}.py   the entry points, in the shape every domain has
    DIR/src/regen_NAME/presets/{toy,tiny}.yaml    contract-test size and demo size
    DIR/tests/test_contract.py         regen_core.testing.PairingContractTests on the toy preset

``pip install -e DIR && pytest DIR`` then runs the contract suite, which fails on the stubs
with their messages until each is written.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
from importlib import resources
from pathlib import Path
from string import Template

from .errors import RegenError

TEMPLATE_ROOT = ("templates", "pairing")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
#: Names a new pairing cannot take: the package regen_<name> would shadow one of regen's own.
RESERVED = frozenset({"core", "speech", "testing"})


class ScaffoldError(RegenError, ValueError):
    """``regen new-pairing`` cannot scaffold: a bad name or an occupied output folder (the message says which)."""


def check_name(name: str) -> None:
    """NAME must be a lowercase Python identifier (the package is ``regen_NAME``), not a keyword nor reserved."""
    if not name.isidentifier() or not _NAME.fullmatch(name):
        raise ScaffoldError(f"pairing name {name!r} is not a valid identifier: use lowercase letters, digits and _, "
                            f"starting with a letter (e.g. 'speech_enhance'); the package will be regen_<name>")
    if keyword.iskeyword(name):
        raise ScaffoldError(f"pairing name {name!r} is a Python keyword")
    if name in RESERVED:
        raise ScaffoldError(f"pairing name {name!r} is reserved (regen_{name} is part of regen itself)")
    from . import registry

    registered = registry.discover()
    if name in registered:
        raise ScaffoldError(f"pairing name {name!r} is taken: the installed {registered[name].distribution} "
                            f"registers it; choose another name")
    if importlib.util.find_spec(f"regen_{name}") is not None:
        raise ScaffoldError(f"pairing name {name!r} is taken: a module regen_{name} is already importable; "
                            f"choose another name")


def placeholders(name: str) -> dict[str, str]:
    """The values substituted into the templates."""
    camel = "".join(part.capitalize() for part in name.split("_") if part)
    return {
        "name": name,  # registry name (regen train NAME ...)
        "package": f"regen_{name}",  # import name
        "distribution": f"regen-{name.replace('_', '-')}",  # PyPI / pip name
        "camel": camel,  # class-name prefix: <Camel>Pairing, <Camel>Config
    }


def _template_files(root, rel: tuple[str, ...] = ()):  # -> Iterator[tuple[tuple[str, ...], Traversable]]
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            if entry.name != "__pycache__":
                yield from _template_files(entry, (*rel, entry.name))
        elif entry.name.endswith(".tmpl"):
            yield (*rel, entry.name[: -len(".tmpl")]), entry


def new_pairing(name: str, out: str | Path) -> list[Path]:
    """Write the package for pairing ``name`` into ``out`` (absent or empty); returns the files written."""
    check_name(name)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ScaffoldError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise ScaffoldError(f"--out {out} exists and is not empty: choose a new folder (nothing was written)")
    values = placeholders(name)
    root = resources.files("regen_core").joinpath(*TEMPLATE_ROOT)
    written = []
    for rel, entry in _template_files(root):
        target = out.joinpath(*(values["package"] if part == "PACKAGE" else part for part in rel))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Template(entry.read_text(encoding="utf-8")).substitute(values), encoding="utf-8")
        written.append(target)
    if not written:
        raise ScaffoldError(f"no templates found under regen_core/{'/'.join(TEMPLATE_ROOT)} (a broken install?)")
    return written
