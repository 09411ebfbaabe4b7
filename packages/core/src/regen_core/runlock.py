"""One writer per run folder: an OS-level lock held for the life of the run.

``with run_lock(out):`` takes an exclusive ``fcntl.flock`` on ``out/.regen-run.lock`` before
anything in ``out`` is read for writing, cleaned or written, and writes the holder's pid into
the file. A second writer fails at once with :class:`RunLockedError` naming that pid, having
touched nothing. The kernel drops the lock when the holder's process ends, however it ends
(``kill -9`` included), so ``--resume`` after a crash needs no clean-up. The lock is re-entrant
within one process (``regen compare`` holds it across its stages, each of which takes it again).

Under torchrun only global rank 0 takes the lock (every rank writes through rank 0).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path
from typing import Iterator

from .errors import RegenError

LOCK_NAME = ".regen-run.lock"

_held: dict[Path, list[int]] = {}  # resolved folder -> [fd, depth]
_guard = threading.Lock()


class RunLockedError(RegenError, RuntimeError):
    """Another process is writing the run folder."""


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return f"pid {text}" if text.isdigit() else "another process (pid not yet written)"


@contextlib.contextmanager
def run_lock(folder: str | Path) -> Iterator[Path]:
    """Hold the run folder ``folder`` (created if missing) for the block; refuse if another process holds it."""
    folder = Path(folder)
    if int(os.environ.get("RANK", "0")) != 0:
        yield folder
        return
    folder.mkdir(parents=True, exist_ok=True)
    key = folder.resolve()
    with _guard:
        entry = _held.get(key)
        if entry is not None:
            entry[1] += 1
    if entry is not None:
        try:
            yield folder
        finally:
            with _guard:
                entry[1] -= 1
        return
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise RunLockedError(
            f"run folder {folder} is being written by {holder}; wait for it to finish or choose another "
            f"output folder - nothing was touched"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        with _guard:
            _held[key] = [fd, 1]
        try:
            yield folder
        finally:
            with _guard:
                del _held[key]
    finally:
        os.close(fd)  # closing the last descriptor releases the flock
