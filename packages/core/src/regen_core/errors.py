"""Errors that are the user's to fix, and the one way every command line reports them.

Every typed error a user can cause (a bad config, a missing run, unreadable input, a refused
output path) derives from :class:`RegenError`. Each entry point's ``main`` is wrapped by
:func:`cli_main`, which prints such an error as one line, ``<prog>: error: <message>``, and
returns exit status 2; an :class:`OSError` from the file system (no space left, read-only or
missing folder, a folder where a file was named) is reported the same way, naming the path.
Anything else is a bug and keeps its traceback. ``REGEN_TRACEBACK=1`` shows the traceback of a
user error too.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from typing import Any, Callable, TypeVar

#: Exit status of a command refused because of its input (argparse uses the same).
EXIT_USAGE = 2


class RegenError(Exception):
    """Base of every error caused by the user's input or environment; the CLI prints it as one line."""


class InputError(RegenError, ValueError):
    """A condition X or another input given on the command line is invalid (out of range, unparsable)."""


class OutputPathError(RegenError, ValueError):
    """An output path cannot be written as asked (a folder where a file is wanted, an unknown extension, ...)."""


class LimitError(RegenError, ValueError):
    """A request is larger than the stated limit (input too long, output too large for its format)."""


#: File-system failures that are the environment's, not regen's: reported as one line.
_OS_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.EISDIR: "is a directory",
    errno.ENOTDIR: "not a directory",
    errno.ENOENT: "no such file or directory",
    errno.ENAMETOOLONG: "file name too long",
}


def describe_os_error(err: OSError) -> str | None:
    """One line for a file-system failure, or None when ``err`` is not one we report as the user's."""
    what = _OS_ERRNOS.get(err.errno or -1)
    if what is None:
        return None
    where = err.filename if err.filename is not None else None
    return f"{where}: {what}" if where else f"{what} ({err.strerror or err})"


def one_line(err: BaseException) -> str:
    """The message of ``err`` on one line (newlines joined)."""
    text = str(err).strip() or type(err).__name__
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


F = TypeVar("F", bound=Callable[..., Any])


def cli_main(prog: str) -> Callable[[F], F]:
    """Decorate an entry point's ``main``: user errors become ``prog: error: ...`` on stderr and exit status 2."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def main(*args: Any, **kwargs: Any) -> int:
            try:
                return fn(*args, **kwargs)
            except RegenError as err:
                if os.environ.get("REGEN_TRACEBACK"):
                    raise
                print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
                return EXIT_USAGE
            except OSError as err:
                line = describe_os_error(err)
                if line is None or os.environ.get("REGEN_TRACEBACK"):
                    raise
                print(f"{prog}: error: {line}", file=sys.stderr)
                return EXIT_USAGE

        return main  # type: ignore[return-value]

    return wrap
