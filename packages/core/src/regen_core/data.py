"""Data layer on Hugging Face ``datasets``.

- :func:`extract_map`: Y -> Y' over a dataset with ``Dataset.map``, cached on disk under a key
  made of the extractor's name, version and config, so changing any of them re-extracts;
- :func:`split`: deterministic train/valid/test splits (by seed, or by a key function);
- :func:`pad_sequences` / :func:`pad_collate`: padding and collation of variable-length data.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from .errors import RegenError


class DataError(RegenError, ValueError):
    """A dataset is missing, empty or malformed."""


def cache_dir() -> Path:
    """Root of regen's caches: ``$REGEN_CACHE`` or ``~/.cache/regen``."""
    root = os.environ.get("REGEN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "regen")
    return Path(root)


def shared_data_dir() -> Path:
    """The shared real-data folder: ``$REGEN_SHARED_DATA`` or ``../shared/data`` beside the repository."""
    env = os.environ.get("REGEN_SHARED_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:  # editable install: <repo>/packages/core/src/regen_core/data.py
        if (parent / "packages" / "core").is_dir():
            return parent.parent / "shared" / "data"
    return Path.cwd().parent / "shared" / "data"


def fingerprint(*parts: Any) -> str:
    """A stable hex key of JSON-able parts (config dicts, versions, upstream fingerprints)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def extract_map(
    ds: "Any",
    fn: Callable[[Any], Any],
    *,
    name: str,
    version: str,
    config: Mapping[str, Any] | None = None,
    input_column: str,
    output_column: str,
    num_proc: int | None = None,
    cache: Path | None = None,
    desc: str | None = None,
    keep_input: bool = True,
) -> "Any":
    """Add ``output_column = fn(example[input_column])`` to ``ds``, cached on disk.

    The cache key combines the dataset's own fingerprint with ``name``, ``version`` and
    ``config``: bump ``version`` when the extractor's code changes meaningfully, and any config
    change invalidates the cache by itself. ``num_proc`` > 1 extracts in parallel.
    """
    key = fingerprint(ds._fingerprint, name, version, dict(config or {}), input_column, output_column, keep_input)
    folder = (cache or cache_dir() / "extract") / name
    folder.mkdir(parents=True, exist_ok=True)

    parent = os.getpid()

    def apply(example: dict) -> dict:
        if os.getpid() != parent:
            _single_thread_after_fork()
        return {output_column: fn(example[input_column])}

    return ds.map(
        apply,
        num_proc=num_proc if num_proc and num_proc > 1 else None,
        cache_file_name=str(folder / f"{key}.arrow"),
        load_from_cache_file=True,
        new_fingerprint=key,
        remove_columns=None if keep_input else [input_column],
        desc=desc or f"extract {name}",
    )


_FORK_THREADS_SET: set[int] = set()


def _single_thread_after_fork() -> None:
    """One torch thread in a forked ``Dataset.map`` worker (once per process).

    ``datasets`` forks its workers. A parent that has run torch ops on several threads leaves
    the child an OpenMP thread pool whose threads did not survive the fork, and the child's
    first parallel kernel waits for them forever (seen with ``torch.stft``'s reflection pad).
    With one thread, torch runs kernels inline and never enters that pool; the workers are
    already the parallelism.
    """
    pid = os.getpid()
    if pid not in _FORK_THREADS_SET:
        torch.set_num_threads(1)
        _FORK_THREADS_SET.add(pid)


def split(
    ds: "Any",
    *,
    valid: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
    key: str | Callable[[dict], str] | None = None,
) -> "Any":
    """Deterministic train/valid/test ``DatasetDict``.

    With ``key`` (a column name such as "speaker", or a function of the example), every example with the same key lands in the same split: the
    distinct keys are ordered by a hash of (seed, key), stable across runs and machines, and the
    first ``test`` fraction of keys goes to test, the next ``valid`` fraction to valid; without
    ``key``, a seeded permutation of rows.
    """
    import datasets

    n = len(ds)
    if n < 3:
        raise DataError(f"need at least 3 examples to split into train/valid/test, got {n}")
    if key is None:
        order = np.random.default_rng(seed).permutation(n)
        n_test = max(1, int(round(n * test)))
        n_valid = max(1, int(round(n * valid)))
        parts = {"test": order[:n_test], "valid": order[n_test : n_test + n_valid], "train": order[n_test + n_valid :]}
    else:
        # a column name reads that column alone (no decoding of other columns, e.g. audio)
        keys = [str(k) for k in ds[key]] if isinstance(key, str) else [str(key(ex)) for ex in ds]
        groups = sorted(set(keys), key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest())
        if len(groups) < 3:
            raise DataError(f"need at least 3 distinct split keys to split by key, got {groups}")
        n_test = max(1, int(round(len(groups) * test)))
        n_valid = max(1, int(round(len(groups) * valid)))
        where = {g: ("test" if r < n_test else "valid" if r < n_test + n_valid else "train") for r, g in enumerate(groups)}
        buckets: dict[str, list[int]] = {"train": [], "valid": [], "test": []}
        for i, k in enumerate(keys):
            buckets[where[k]].append(i)
        parts = {k: np.asarray(v, dtype=np.int64) for k, v in buckets.items()}
    for name, idx in parts.items():
        if len(idx) == 0:
            raise DataError(f"split {name!r} is empty ({n} examples, valid={valid}, test={test}); use more data")
    return datasets.DatasetDict({k: ds.select(sorted(v.tolist())) for k, v in parts.items()})


def pad_sequences(seqs: Sequence[Any], pad_value: float = 0.0, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad along the first axis: list of (T_i, ...) -> ((B, T_max, ...), lengths (B,))."""
    tensors = [torch.as_tensor(np.asarray(s)) if not isinstance(s, torch.Tensor) else s for s in seqs]
    if dtype is not None:
        tensors = [t.to(dtype) for t in tensors]
    if not tensors:
        raise DataError("cannot pad an empty list of sequences")
    lengths = torch.tensor([t.shape[0] for t in tensors], dtype=torch.long)
    t_max = int(lengths.max()) if len(lengths) else 0
    out = tensors[0].new_full((len(tensors), t_max, *tensors[0].shape[1:]), pad_value)  # (B, T_max, ...)
    for i, t in enumerate(tensors):
        out[i, : t.shape[0]] = t
    return out, lengths


def lengths_to_mask(lengths: torch.Tensor, t_max: int | None = None) -> torch.Tensor:
    """(B,) lengths -> (B, T_max) bool mask, True on real positions."""
    t_max = int(lengths.max()) if t_max is None else t_max
    return torch.arange(t_max, device=lengths.device)[None, :] < lengths[:, None]


def pad_collate(
    pad_values: Mapping[str, float] | None = None, dtypes: Mapping[str, torch.dtype] | None = None
) -> Callable[[list[Mapping[str, Any]]], dict[str, Any]]:
    """A collate function for examples of dicts.

    Array-like fields are padded along their first axis (adding ``<field>_lengths``); scalars are
    stacked; strings are kept as lists. ``pad_values`` gives the padding value per field
    (default 0), ``dtypes`` an optional dtype per field.
    """
    pad_values = dict(pad_values or {})
    dtypes = dict(dtypes or {})

    def collate(items: list[Mapping[str, Any]]) -> dict[str, Any]:
        if not items:
            raise DataError("cannot collate an empty batch")
        out: dict[str, Any] = {}
        for k in items[0]:
            values = [it[k] for it in items]
            v0 = values[0]
            if isinstance(v0, str) or v0 is None:
                out[k] = values
            elif isinstance(v0, (int, float, bool, np.integer, np.floating)):
                out[k] = torch.as_tensor(values, dtype=dtypes.get(k))
            else:
                padded, lengths = pad_sequences(values, pad_values.get(k, 0.0), dtypes.get(k))
                out[k] = padded
                if len(set(lengths.tolist())) > 1 or k in pad_values:
                    out[f"{k}_lengths"] = lengths
        return out

    return collate


def take(ds: Any, n: int) -> Any:
    """The first ``n`` rows (all when n <= 0 or n >= len) of a dataset or a list of rows."""
    if isinstance(ds, (list, tuple)):
        return ds if n <= 0 else ds[:n]
    return ds if n <= 0 or n >= len(ds) else ds.select(range(n))
