"""Pairing registry: Python entry points in the ``regen.pairings`` group, loaded on demand.

A package registers a pairing in its pyproject::

    [project.entry-points."regen.pairings"]
    tts = "regen_tts.pairing:TTSPairing"

Nothing is imported until a pairing is asked for, and no folder is scanned.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any
from .errors import RegenError

GROUP = "regen.pairings"


class RegistryError(RegenError):
    """Base class for registry problems."""


class DuplicatePairingError(RegistryError):
    """Two installed distributions register the same pairing name."""


class UnknownPairingError(RegistryError, KeyError):
    """No installed distribution registers the asked-for name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class Registered:
    name: str  # registry name
    value: str  # "module:Class"
    distribution: str  # distribution that declared it, e.g. "regen-tts"
    entry_point: EntryPoint

    def load(self) -> type:
        return self.entry_point.load()


def _distribution_name(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"] if dist is not None else "<unknown distribution>"


def discover() -> dict[str, Registered]:
    """All registered pairings by name, without importing any of them."""
    found: dict[str, Registered] = {}
    seen_values: dict[tuple[str, str], Registered] = {}
    for ep in entry_points(group=GROUP):
        reg = Registered(ep.name, ep.value, _distribution_name(ep), ep)
        key = (reg.name, reg.distribution)
        if key in seen_values:  # the same distribution seen twice on sys.path (editable + wheel)
            continue
        seen_values[key] = reg
        if reg.name in found:
            other = found[reg.name]
            raise DuplicatePairingError(
                f"pairing name {reg.name!r} is registered twice: by {other.distribution} ({other.value}) "
                f"and by {reg.distribution} ({reg.value}); uninstall one or rename its entry point"
            )
        found[reg.name] = reg
    return dict(sorted(found.items()))


def names() -> list[str]:
    return list(discover())


def pairing_class(name: str) -> type:
    """Import and return the pairing class registered under ``name``."""
    registered = discover()
    if name not in registered:
        known = ", ".join(registered) or "none installed"
        raise UnknownPairingError(f"no pairing named {name!r} is installed (installed: {known})")
    return registered[name].load()


def create(name: str, config: Any | None = None) -> Any:
    """Instantiate the pairing ``name`` with ``config`` (default: its config class's defaults)."""
    cls = pairing_class(name)
    return cls(config if config is not None else cls.config_class())


GENERIC_NAMES = frozenset({"x", "y", "y_prime"})


def describe(cls: type) -> str:
    """``name  X -> Y' -> Y`` as printed by ``regen list``: each spec's name, or its modality where the name
    is only a generic column name (``x``, ``y``, ``y_prime``)."""

    def label(spec: Any) -> str:
        return spec.modality if spec.name in GENERIC_NAMES else spec.name

    return f"{cls.name}  {label(cls.x)} -> {label(cls.y_prime)} -> {label(cls.y)}"
