"""Load an LJSpeech-format folder into a ``datasets.Dataset``.

The format: ``<folder>/metadata.csv`` with lines ``id|text|normalized`` (UTF-8, no header, no
quoting; a line with only ``id|text`` uses the text as its normalised form) and the audio in
``<folder>/wavs/<id>.wav``.

Every speech loader in :mod:`regen_speech` returns the same columns (see
:data:`BASE_FEATURES`): ``id``, ``text``, ``normalized``, ``speaker``, ``audio`` (float32 samples,
mono), ``sample_rate`` and ``duration`` (seconds); audio is decoded with soundfile, not the HF
``Audio`` feature. The dataset is written once to an Arrow cache keyed by the folder's contents
(metadata bytes, wav names, sizes and modification times) and the loading options, so a changed
folder is re-read and an unchanged one loads instantly (memory-mapped, see :func:`build_dataset`).
"""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .audio import audio_info, load_audio
from regen_core.errors import RegenError

METADATA = "metadata.csv"
WAVS = "wavs"


class SpeechDataError(RegenError, ValueError):
    """A speech dataset folder is missing, incomplete or malformed."""


def base_features() -> "Any":
    """The ``datasets.Features`` shared by the speech loaders."""
    import datasets

    return datasets.Features(
        {
            "id": datasets.Value("string"),  # utterance id (the wav's stem)
            "text": datasets.Value("string"),  # the transcript as written
            "normalized": datasets.Value("string"),  # the transcript as read aloud
            "speaker": datasets.Value("string"),  # speaker name
            "audio": datasets.Sequence(datasets.Value("float32")),  # (T,) mono samples in [-1, 1]
            "sample_rate": datasets.Value("int32"),  # Hz
            "duration": datasets.Value("float32"),  # seconds
        }
    )


def read_metadata(folder: str | os.PathLike) -> list[tuple[str, str, str]]:
    """``metadata.csv`` -> [(id, text, normalized)]; :class:`SpeechDataError` names the bad line."""
    root = Path(folder)
    if not root.is_dir():
        raise SpeechDataError(f"LJSpeech folder not found: {root}")
    meta = root / METADATA
    if not meta.is_file():
        raise SpeechDataError(f"{meta}: missing (an LJSpeech folder needs metadata.csv with lines id|text|normalized)")
    try:
        lines = meta.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise SpeechDataError(f"{meta}: not UTF-8 text ({e})") from e
    rows: list[tuple[str, str, str]] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) not in (2, 3):
            raise SpeechDataError(f"{meta}:{n}: expected 'id|text|normalized' (2 or 3 fields), got {len(parts)} fields: {line[:80]!r}")
        uid, text = parts[0].strip(), parts[1].strip()
        normalized = parts[2].strip() if len(parts) == 3 and parts[2].strip() else text
        if not uid or "/" in uid or "\\" in uid:
            raise SpeechDataError(f"{meta}:{n}: bad utterance id {uid!r} (empty or containing a path separator)")
        if not text:
            raise SpeechDataError(f"{meta}:{n}: empty text for id {uid!r}")
        if uid in seen:
            raise SpeechDataError(f"{meta}:{n}: duplicate id {uid!r} (first on line {seen[uid]})")
        seen[uid] = n
        rows.append((uid, text, normalized))
    if not rows:
        raise SpeechDataError(f"{meta}: no utterances")
    return rows


def wav_path(folder: str | os.PathLike, uid: str) -> Path:
    """Where an LJSpeech folder keeps utterance ``uid``."""
    return Path(folder) / WAVS / f"{uid}.wav"


def check_wavs(folder: str | os.PathLike, ids: list[str]) -> list[Path]:
    """The wav path of every id; :class:`SpeechDataError` listing the missing ones."""
    paths = [wav_path(folder, uid) for uid in ids]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise SpeechDataError(f"{len(missing)} wav file(s) listed in metadata.csv are missing: {', '.join(missing[:5])}{more}")
    return paths


def content_key(files: list[Path], *parts: Any) -> str:
    """A hash of file names, sizes and modification times plus ``parts`` (loading options)."""
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(repr(parts).encode())
    return h.hexdigest()[:32]


def _decode(rows: list[dict], sample_rate: int, verbose: bool) -> Iterator[dict]:
    """Rows with ``path`` replaced by ``audio`` (T,) float32, ``sample_rate`` and ``duration``."""
    for row in rows:
        row = dict(row)
        loaded = load_audio(row.pop("path"), sample_rate, verbose=verbose)
        row["audio"] = loaded.audio  # (T,) float32
        row["sample_rate"] = sample_rate
        row["duration"] = loaded.duration
        yield row


def _column(values: list, typ: "Any") -> "Any":
    """A pyarrow array of one column; variable-length numpy arrays go in without a Python detour."""
    import pyarrow as pa

    if values and isinstance(values[0], np.ndarray) and pa.types.is_list(typ):
        lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)  # (B + 1,)
        flat = np.concatenate(values).astype(typ.value_type.to_pandas_dtype(), copy=False)  # (sum T,)
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=typ.value_type))
    return pa.array(values, type=typ)


def build_dataset(
    rows: list[dict], features: "Any", sample_rate: int, key: str, *, verbose: bool = False, batch_size: int = 64
) -> "Any":
    """A memory-mapped Dataset of ``rows`` (each with a ``path`` to decode), cached under ``key``.

    The rows are decoded batch by batch into an Arrow stream file ``<cache>/speech/<key>.arrow``
    (written beside and renamed into place, so an interrupted build leaves nothing), which
    ``datasets.Dataset.from_file`` then memory-maps: memory use stays at one batch.
    """
    import datasets
    import pyarrow as pa

    from regen_core.data import cache_dir

    folder = cache_dir() / "speech"
    key = hashlib.sha256(f"{key}|{features}|{batch_size}".encode()).hexdigest()[:32]  # a schema change re-reads
    path = folder / f"{key}.arrow"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        schema = features.arrow_schema
        tmp = folder / f".{key}.{os.getpid()}.tmp"
        try:
            with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
                decoded = _decode(rows, sample_rate, verbose)
                while True:
                    batch = list(itertools.islice(decoded, batch_size))
                    if not batch:
                        break
                    arrays = [_column([r[f.name] for r in batch], f.type) for f in schema]
                    writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
    return datasets.Dataset.from_file(str(path))


def common_rate(paths: list[Path], folder: str | os.PathLike) -> int:
    """The sample rate shared by all files, or :class:`SpeechDataError` naming two that differ."""
    rates: dict[int, Path] = {}
    for p in paths:
        rates.setdefault(audio_info(p)[0], p)
    if len(rates) > 1:
        (r1, p1), (r2, p2) = list(rates.items())[:2]
        raise SpeechDataError(
            f"{folder}: wav files have different sample rates ({p1.name}: {r1} Hz, {p2.name}: {r2} Hz); "
            f"pass sample_rate= to resample them all"
        )
    return next(iter(rates))


def load_ljspeech(
    folder: str | os.PathLike,
    sample_rate: int | None = None,
    *,
    speaker: str | None = None,
    limit: int | None = None,
    verbose: bool = False,
) -> "Any":
    """An LJSpeech-format folder as a ``datasets.Dataset`` with :func:`base_features` columns.

    ``sample_rate``: resample every file to it (None keeps the files' rate, which must then be
    the same for all). ``speaker``: the speaker column (default the folder's name). ``limit``:
    the first ``limit`` utterances only.
    """
    root = Path(folder)
    meta = read_metadata(root)
    if limit is not None:
        meta = meta[: max(0, limit)]
    paths = check_wavs(root, [uid for uid, _, _ in meta])
    rate = sample_rate if sample_rate is not None else common_rate(paths, root)
    name = speaker if speaker is not None else root.resolve().name
    rows = [
        {"id": uid, "text": text, "normalized": norm, "speaker": name, "path": str(p)}
        for (uid, text, norm), p in zip(meta, paths, strict=True)
    ]
    key = content_key([root / METADATA, *paths], "ljspeech", rate, name, limit)
    return build_dataset(rows, base_features(), rate, key, verbose=verbose)
