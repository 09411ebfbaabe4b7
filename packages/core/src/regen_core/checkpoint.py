"""Checkpoints and model folders, written atomically, read without pickle.

A *model folder* (the Hugging Face convention, :func:`save_pretrained`) holds::

    config.json          the resolved config, plus a "training" record (steps, seconds, parameters, ...)
    model.safetensors    the weights (the EMA weights when the stage trains with EMA)
    manifest.json        SHA-256 and size of every other file

A *training checkpoint* ``<run>/checkpoints/step_XXXXXXXX/`` (:func:`save_training_state`) holds::

    model.safetensors    the raw (non-EMA) weights
    ema.safetensors      the EMA weights (only with ema_decay > 0)
    state.safetensors    every tensor of the optimizer, scheduler and RNG states, flattened
    trainer_state.json   step, seconds, cpu_seconds, best_value and the "skeleton" that puts the
                         tensors of state.safetensors back into the nested optimizer/scheduler/RNG states
    config.json          the resolved config with the stage's "train" section
    manifest.json        as above

``<run>/checkpoints/latest.json`` names the newest complete checkpoint; the trainer keeps the
last ``keep_last`` of them, and writes ``<run>/best/`` and ``<run>/final/`` as model folders.

Every folder is written under a temporary name and renamed into place, then the
``latest.json`` pointer is replaced atomically, so a crash or SIGKILL at any moment leaves
the previous checkpoint as "latest". Loading verifies the manifest first: a truncated or
tampered file is a :class:`CheckpointError` naming the file, never a crash inside torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model
from .atomic import fsync_dir
from .errors import RegenError

MANIFEST = "manifest.json"
LATEST = "latest.json"


class CheckpointError(RegenError, RuntimeError):
    """A checkpoint or model folder is missing, truncated, tampered with or incompatible."""


# -- files --------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON to ``path`` via a temporary file + rename (readers never see half a file)."""
    from .atomic import write_json

    write_json(path, data)


def read_json(path: str | Path, what: str = "file") -> Any:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} {path} is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{what} {path} is not valid JSON (truncated or corrupt?): {err}") from None


class FolderWriter:
    """Build a folder under a temporary name; :meth:`commit` writes the manifest and renames it into place."""

    def __init__(self, final: str | Path):
        self.final = Path(final)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.final.with_name(f".tmp-{self.final.name}-{uuid.uuid4().hex[:8]}")
        self.tmp.mkdir()

    def path(self, name: str) -> Path:
        return self.tmp / name

    def commit(self) -> Path:
        manifest = {}
        for p in sorted(self.tmp.iterdir()):
            with open(p, "rb") as f:
                os.fsync(f.fileno())
            manifest[p.name] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        with open(self.tmp / MANIFEST, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(self.tmp)
        old = None
        if self.final.exists():  # replacing e.g. best/: move the old one aside first, delete after
            old = self.final.with_name(f".old-{self.final.name}-{uuid.uuid4().hex[:8]}")
            os.rename(self.final, old)
        os.rename(self.tmp, self.final)
        fsync_dir(self.final.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def clean_stale(root: str | Path) -> None:
    """Remove temporary folders left by a run that was killed while writing."""
    root = Path(root)
    if root.is_dir():
        for p in root.iterdir():
            if p.name.startswith((".tmp-", ".old-")) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)


def verify(folder: str | Path) -> dict[str, Any]:
    """Check every file of ``folder`` against its manifest; return the manifest."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder {folder} does not exist")
    manifest = read_json(folder / MANIFEST, "checkpoint manifest")
    for name, entry in manifest.items():
        p = folder / name
        if not p.is_file():
            raise CheckpointError(f"checkpoint file {p} is missing")
        size = p.stat().st_size
        if size != entry["bytes"]:
            raise CheckpointError(f"checkpoint file {p} has {size} bytes, expected {entry['bytes']} (truncated?)")
        if sha256_file(p) != entry["sha256"]:
            raise CheckpointError(f"checkpoint file {p} does not match its SHA-256 in {MANIFEST} (tampered or corrupt)")
    return manifest


# -- tensors ----------------------------------------------------------------------------------


def save_weights(model: torch.nn.Module, path: Path) -> None:
    save_model(model, str(path))  # handles tied weights


def load_weights(model: torch.nn.Module, path: Path) -> None:
    try:
        missing, unexpected = load_model(model, str(path), strict=False)
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"cannot read weights {path}: {err}") from None
    except RuntimeError as err:  # shape mismatch
        raise CheckpointError(f"weights {path} do not fit the model: {err}") from None
    if missing or unexpected:
        raise CheckpointError(
            f"weights {path} do not fit the model: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
        )


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"cannot read tensors {path}: {err}") from None


def split_state(state: Any, prefix: str = "") -> tuple[dict[str, torch.Tensor], Any]:
    """Split a nested state (dicts/lists of tensors and plain values) into flat tensors + a JSON skeleton."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(obj: Any, key: str) -> Any:
        if isinstance(obj, torch.Tensor):
            tensors[key] = obj.detach().cpu().contiguous().clone()
            return {"__tensor__": key}
        if isinstance(obj, dict):
            return {"__dict__": [[walk_key(k), walk(v, f"{key}.{k}")] for k, v in obj.items()]}
        if isinstance(obj, (list, tuple)):
            return {"__list__": [walk(v, f"{key}.{i}") for i, v in enumerate(obj)], "tuple": isinstance(obj, tuple)}
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        raise TypeError(f"cannot store a {type(obj).__name__} at {key!r} in a checkpoint")

    def walk_key(k: Any) -> Any:
        if not isinstance(k, (str, int)):
            raise TypeError(f"checkpoint dict keys must be str or int, got {type(k).__name__}")
        return k

    return tensors, walk(state, prefix or "s")


def join_state(tensors: dict[str, torch.Tensor], skeleton: Any) -> Any:
    """Inverse of :func:`split_state`."""

    def walk(obj: Any) -> Any:
        if isinstance(obj, dict):
            if "__tensor__" in obj:
                key = obj["__tensor__"]
                if key not in tensors:
                    raise CheckpointError(f"checkpoint tensor {key!r} is missing")
                return tensors[key]
            if "__dict__" in obj:
                return {k: walk(v) for k, v in obj["__dict__"]}
            if "__list__" in obj:
                items = [walk(v) for v in obj["__list__"]]
                return tuple(items) if obj.get("tuple") else items
        return obj

    return walk(skeleton)


# -- model folders ----------------------------------------------------------------------------


def save_pretrained(folder: str | Path, model: torch.nn.Module, config: dict[str, Any]) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (+ manifest) atomically into ``folder``."""
    w = FolderWriter(folder)
    try:
        save_weights(model, w.path("model.safetensors"))
        with open(w.path("config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)
        return w.commit()
    except BaseException:
        w.abort()
        raise


def read_config(folder: str | Path) -> dict[str, Any]:
    """Verify ``folder`` and return its ``config.json``."""
    verify(folder)
    return read_json(Path(folder) / "config.json", "model config")


def load_pretrained_weights(folder: str | Path, model: torch.nn.Module) -> torch.nn.Module:
    """Verify ``folder`` and load its ``model.safetensors`` into ``model`` (strict)."""
    verify(folder)
    load_weights(model, Path(folder) / "model.safetensors")
    return model


# -- training checkpoints ----------------------------------------------------------------------


def save_training_state(
    root: Path,
    step: int,
    model: torch.nn.Module,
    ema: torch.nn.Module | None,
    state: dict[str, Any],
    record: dict[str, Any],
    config: dict[str, Any],
    keep_last: int,
) -> Path:
    """Write ``root/step_<step>/`` (see the module docstring), point ``latest.json`` at it, prune old ones.

    ``state`` holds the optimizer, scheduler and RNG states (tensors and plain values); ``record``
    the trainer's counters (step, seconds, cpu_seconds, best_value), stored in trainer_state.json.
    """
    tensors, skeleton = split_state(state)
    w = FolderWriter(root / f"step_{step:08d}")
    try:
        save_weights(model, w.path("model.safetensors"))
        if ema is not None:
            save_weights(ema, w.path("ema.safetensors"))
        save_file(tensors, str(w.path("state.safetensors")))
        with open(w.path("trainer_state.json"), "w") as f:
            json.dump({**record, "skeleton": skeleton}, f)
        with open(w.path("config.json"), "w") as f:
            json.dump(config, f, indent=2)
        folder = w.commit()
    except BaseException:
        w.abort()
        raise
    set_latest(root, folder, step)
    kept = sorted(p for p in root.glob("step_*") if p.is_dir())
    for old in kept[: max(0, len(kept) - max(1, keep_last))]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def load_training_state(
    folder: Path, model: torch.nn.Module, ema: torch.nn.Module | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify ``folder``, load its weights into ``model`` (and ``ema``); return ``(state, record)``.

    ``state`` is the nested optimizer/scheduler/RNG state given to :func:`save_training_state`,
    ``record`` the trainer's counters.
    """
    verify(folder)
    load_weights(model, folder / "model.safetensors")
    record = read_json(folder / "trainer_state.json", "trainer state")
    state = join_state(load_tensors(folder / "state.safetensors"), record.pop("skeleton"))
    if ema is not None:
        load_weights(ema, folder / "ema.safetensors")
    return state, record


def latest(root: str | Path) -> Path | None:
    """The folder ``latest.json`` in ``root`` points to, or None when there is none yet."""
    p = Path(root) / LATEST
    if not p.exists():
        return None
    data = read_json(p, "checkpoint pointer")
    return Path(root) / data["folder"]


def set_latest(root: str | Path, folder: Path, step: int) -> None:
    write_json_atomic(Path(root) / LATEST, {"folder": folder.name, "step": step})
