"""Shipped (pretrained) models: find them, verify them, load them, package new ones, start training from them.

A *shipped model* is a run folder inside a domain package, ``src/regen_<domain>/pretrained/<pairing>/``
(part of the package's wheel)::

    run_config.json                    the resolved run config it was trained with
    <stage>/final/                     one model folder per stage: config.json, model.safetensors, manifest.json
    eval_subset/                       the first test examples (``datasets`` on disk) that provenance's
                                       ``subset`` metrics were measured on, for re-evaluation
    provenance.json                    commit, preset, overrides, seeds, budgets, data fingerprint, the metrics
                                       measured on the test split when shipped, and the SHA-256 of every file

Any folder of that layout loads the same way: a shipped name (``pretrained`` = the pairing's own), a local
run folder, a folder downloaded from the Hugging Face Hub (``hf download ORG/NAME --local-dir DIR``), or
``ORG/NAME`` when it is in the local Hugging Face cache. :func:`resolve` turns any of these into a folder,
:func:`from_pretrained` loads ``(pairing, models)`` after checking every checksum.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, Sequence

from . import checkpoint as ckpt
from .atomic import fsync_dir
from .errors import RegenError

#: The model spec meaning "the model this package ships for the pairing" (the default of every ``--model``).
DEFAULT = "pretrained"
#: The folder inside a domain package that holds its shipped models.
FOLDER = "pretrained"
PROVENANCE = "provenance.json"
EVAL_SUBSET = "eval_subset"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class PretrainedError(RegenError, LookupError):
    """A model spec names no shipped model, folder or cached download, or a shipped model fails its checks."""


# -- finding ---------------------------------------------------------------------------------------


def package_folder(pairing: str) -> Path:
    """``regen_<domain>/pretrained`` of the package that registers ``pairing`` (nothing is imported)."""
    from importlib.resources import files

    from . import registry

    reg = registry.discover().get(pairing)
    if reg is None:
        registry.pairing_class(pairing)  # raises the registry's own error, naming what is installed
    top = reg.value.split(":")[0].split(".")[0]
    return Path(str(files(top))) / FOLDER


def shipped(pairings: Sequence[str] | None = None) -> dict[str, Path]:
    """Shipped model name -> folder, over the installed pairings (or ``pairings``).

    A package's ``pretrained/<name>/`` holds a model of the pairing its provenance.json names; the model named
    like its pairing is that pairing's default (``--model pretrained``), others are variants (e.g. a model
    fine-tuned on other data, ``asr-fsdd``)."""
    from . import registry

    out: dict[str, Path] = {}
    wanted = list(pairings or registry.names())
    folders = {package_folder(name) for name in wanted}
    for root in sorted(folders):
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            if folder.name.startswith("."):  # a half-written .tmp- / .old- folder is never a shipped model
                continue
            prov = folder / PROVENANCE
            if prov.is_file() and ckpt.read_json(prov, "model provenance").get("pairing") in wanted:
                out[folder.name] = folder
    return out


def _hub_snapshot(repo_id: str) -> Path:
    """The local Hugging Face cache's snapshot of ``repo_id`` (never downloads: run ``hf download`` first)."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError as err:  # pragma: no cover - datasets depends on huggingface_hub
        raise PretrainedError(f"{repo_id!r} looks like a Hugging Face model id but huggingface_hub is missing: {err}") from None
    try:
        return Path(snapshot_download(repo_id=repo_id, local_files_only=True))
    except LocalEntryNotFoundError:
        raise PretrainedError(
            f"model {repo_id!r} is neither a folder nor a model in the local Hugging Face cache: download it first "
            f"(`hf download {repo_id}` or `hf download {repo_id} --local-dir DIR` and pass DIR)"
        ) from None


def resolve(spec: str | os.PathLike | None, pairing: str | None = None) -> Path:
    """The folder a model spec names: ``pretrained`` (or None/empty: ``pairing``'s shipped model), a shipped
    name, an existing local folder, or ``ORG/NAME`` in the local Hugging Face cache."""
    text = str(spec) if spec is not None else ""
    if text in ("", DEFAULT):
        if not pairing:
            raise PretrainedError(f"--model {DEFAULT} needs to know the pairing: give the shipped model's name instead "
                                  f"(--model PAIRING, e.g. --model tts; `regen zoo` lists them)")
        found = shipped([pairing])
        if pairing not in found or read_provenance(found[pairing]).get("pairing") != pairing:
            raise PretrainedError(
                f"the installed package ships no pretrained model for {pairing!r} (looked in {package_folder(pairing)}): "
                f"train one (`regen compare {pairing} --run RUN`) and pass --model RUN, or build the shipped one "
                f"(`python -m {package_folder(pairing).parent.name}.zoo --out DIR`)"
            )
        return found[pairing]
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise PretrainedError(f"model {text!r} is a file; expected a run folder or a model folder")
        return path
    if path.is_absolute() or text.startswith((".", "~")):
        raise PretrainedError(f"model folder {text} does not exist (not a regen run folder or model folder)")
    known = shipped()
    if text in known:
        return known[text]
    if _HUB_ID.match(text):
        return _hub_snapshot(text)
    names = ", ".join(known) or "none installed"
    raise PretrainedError(f"model {text!r} is not a folder, a shipped model ({names}) or a Hugging Face id ORG/NAME")


# -- checking ----------------------------------------------------------------------------------------


def file_checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` except provenance.json, by relative POSIX path."""
    return {p.relative_to(folder).as_posix(): ckpt.sha256_file(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != PROVENANCE and "__pycache__" not in p.parts
            and p.relative_to(folder).parts[:2] != (".cache", "huggingface")}  # `hf download --local-dir` metadata


def read_provenance(folder: str | Path) -> dict[str, Any]:
    return ckpt.read_json(Path(folder) / PROVENANCE, "model provenance")


def verify(folder: str | Path) -> dict[str, Any]:
    """Check every file of a packaged model against provenance.json's checksums; return the provenance.

    A missing, extra or changed file is a :class:`PretrainedError` naming it."""
    folder = Path(folder)
    prov = read_provenance(folder)
    want = prov.get("files")
    if not isinstance(want, dict) or not want:
        raise PretrainedError(f"{folder / PROVENANCE} lists no file checksums (not a packaged model)")
    have = file_checksums(folder)
    for name, digest in want.items():
        if name not in have:
            raise PretrainedError(f"packaged model {folder}: file {name} is missing")
        if have[name] != digest:
            raise PretrainedError(f"packaged model {folder}: {name} does not match its SHA-256 in {PROVENANCE} (corrupt or changed)")
    extra = sorted(set(have) - set(want))
    if extra:
        raise PretrainedError(f"packaged model {folder}: files not listed in {PROVENANCE}: {', '.join(extra[:5])}")
    return prov


# -- loading -------------------------------------------------------------------------------------------


def from_pretrained(spec: str | os.PathLike | None = DEFAULT, pairing: str | None = None) -> tuple[Any, dict[str, Any]]:
    """``(pairing, models by stage)`` from a model spec (see :func:`resolve`); checksums are verified first.

    A run folder gives every trained stage; a single model folder (``RUN/<stage>/final``) gives that stage."""
    from .pipeline import load_model, load_run

    folder = resolve(spec, pairing)
    if (folder / PROVENANCE).is_file():
        verify(folder)
    if (folder / "config.json").is_file() and not (folder / "run_config.json").is_file():
        p, stage, model = load_model(folder)
        models = {stage: model}
    else:
        p, models = load_run(folder)
    if pairing and p.name != pairing:
        raise PretrainedError(f"model {str(spec)!r} ({folder}) is a {p.name!r} model, not {pairing!r}")
    return p, models


def folder_pairing(folder: str | Path) -> str | None:
    """The pairing a packaged model, run folder or model folder holds (None when it says nothing)."""
    from .contract import STAGES

    folder = Path(folder)
    if (folder / PROVENANCE).is_file():
        return read_provenance(folder).get("pairing")
    configs = [folder / "config.json", *(folder / s / "final" / "config.json" for s in STAGES)]
    for cfg in configs:
        if cfg.is_file():
            meta = ckpt.read_json(cfg, "model config").get("regen")
            if isinstance(meta, dict) and meta.get("pairing"):
                return str(meta["pairing"])
    return None


def load_eval_subset(folder: str | Path) -> Any:
    """The test examples a packaged model's ``subset`` metrics were measured on."""
    import datasets

    path = Path(folder) / EVAL_SUBSET
    if not path.is_dir():
        raise PretrainedError(f"{folder} has no {EVAL_SUBSET}/ (not a packaged model)")
    return datasets.load_from_disk(str(path))


# -- packaging -------------------------------------------------------------------------------------------


def _cast_weights(src: Path, dst: Path, half: bool) -> None:
    from safetensors.torch import load_file, save_file
    import torch

    tensors = load_file(str(src))
    if half:
        tensors = {k: (v.half() if v.dtype == torch.float32 else v) for k, v in tensors.items()}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(dst))


def package_run(run: str | Path, dest: str | Path, *, half: bool = True, eval_subset: Any = None,
                provenance: dict[str, Any] | None = None) -> Path:
    """Copy a run folder's final models into ``dest`` (fp16 floats when ``half``), with the evaluation subset
    and provenance.json (checksums of every file). Written under a temporary name, renamed into place."""
    from .pipeline import final_dir
    from .contract import STAGES

    run, dest = Path(run), Path(dest)
    stages = [s for s in STAGES if final_dir(run, s).is_dir()]
    if not stages:
        raise PretrainedError(f"{run} holds no trained stage (no */final folders) to package")
    tmp = dest.with_name(f".tmp-{dest.name}-{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir(parents=True)
        shutil.copy2(run / "run_config.json", tmp / "run_config.json")
        for stage in stages:
            src = final_dir(run, stage)
            ckpt.verify(src)
            w = ckpt.FolderWriter(tmp / stage / "final")
            try:
                shutil.copy2(src / "config.json", w.path("config.json"))
                _cast_weights(src / "model.safetensors", w.path("model.safetensors"), half)
                w.commit()
            except BaseException:
                w.abort()
                raise
        if eval_subset is not None:
            eval_subset.save_to_disk(str(tmp / EVAL_SUBSET))
            for junk in (tmp / EVAL_SUBSET).glob("cache-*.arrow"):
                junk.unlink()
        prov = {**(provenance or {}), "weights_dtype": "float16" if half else "float32", "files": file_checksums(tmp)}
        (tmp / PROVENANCE).write_text(json.dumps(prov, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        swap_in(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def swap_in(tmp: Path, dest: Path) -> None:
    """Put the finished folder ``tmp`` at ``dest``: an existing ``dest`` is moved aside first and deleted only once
    ``tmp`` is in place, so a crash leaves the old or the new folder (and a dot-folder shipped() ignores)."""
    old = dest.with_name(f".old-{dest.name}-{uuid.uuid4().hex[:8]}") if dest.exists() else None
    if old is not None:
        os.rename(dest, old)
    os.rename(tmp, dest)
    fsync_dir(dest.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def update_provenance(folder: str | Path, **fields: Any) -> dict[str, Any]:
    """Add ``fields`` to a packaged model's provenance.json (checksums are kept: provenance is not checksummed)."""
    folder = Path(folder)
    prov = {**read_provenance(folder), **fields}
    ckpt.write_json_atomic(folder / PROVENANCE, prov)
    return prov


def folder_bytes(folder: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
