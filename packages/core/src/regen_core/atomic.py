"""Atomic output files: readers see the old file or the whole new one, never half of one.

:func:`atomic_path` yields a temporary path beside the target (same folder, same suffix, so a library
that picks the format from the suffix still does); when the block ends without an error the file is
flushed to disk and renamed over the target. The result has the permissions the target had (a file
replaced keeps its mode) or, for a new file, what ``open()`` would give (``0o666`` less the umask);
a temporary file never outlives a failed write. Every writer of user-facing outputs uses it.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any, Iterator

from .errors import OutputPathError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(path: str | Path) -> None:
    """Flush a folder's entries (a rename) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_output_file(path: str | Path) -> Path:
    """Refuse an output path that names a folder (or whose parent is a file); create its parent folder."""
    p = Path(path)
    if p.is_dir():
        raise OutputPathError(f"output {p} is a folder; name a file inside it")
    if p.parent.exists() and not p.parent.is_dir():
        raise OutputPathError(f"output {p}: {p.parent} is a file, not a folder")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


@contextlib.contextmanager
def atomic_path(path: str | Path, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success rename it over ``path`` (mode kept), else delete it."""
    target = check_output_file(path)
    tmp = target.with_name(f".{target.stem}.tmp-{uuid.uuid4().hex[:8]}{target.suffix}")
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"atomic write of {target}: nothing was written to the temporary file {tmp}")
        os.chmod(tmp, mode)
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    if fsync:
        fsync_dir(target.parent)


def write_bytes(path: str | Path, data: bytes | bytearray | memoryview, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, fsync=fsync) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return Path(path)


def write_text(path: str | Path, text: str, *, fsync: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"), fsync=fsync)


def write_json(path: str | Path, data: Any, *, indent: int | None = 2, sort_keys: bool = True) -> Path:
    """Write JSON to ``path`` atomically."""
    return write_text(path, json.dumps(data, indent=indent, sort_keys=sort_keys))
