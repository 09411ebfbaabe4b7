"""The atomic-write helper (issue 19, item 9): whole files only, the mode of a replaced file kept, formats by extension."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from regen_core.atomic import atomic_path, write_json, write_text
from regen_core.checkpoint import write_json_atomic
from regen_core.errors import OutputPathError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("old_mode", [0o644, 0o640, 0o664])
def test_replaced_file_keeps_its_permissions(tmp_path: Path, old_mode: int) -> None:
    for name, write in [("a.json", lambda p: write_json_atomic(p, {"x": 1})), ("b.txt", lambda p: write_text(p, "hi"))]:
        p = tmp_path / name
        p.write_bytes(b"old")
        os.chmod(p, old_mode)
        write(p)
        assert mode(p) == old_mode, name
        assert p.read_bytes() != b"old"


def test_new_file_gets_the_umask_default(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "new.json", [1])
    finally:
        os.umask(old)
    assert mode(tmp_path / "new.json") == 0o644


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    p = tmp_path / "keep.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert p.read_text() == "old" and sorted(x.name for x in tmp_path.iterdir()) == ["keep.txt"]


def test_folder_target_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match="is a folder"):
        write_text(tmp_path, "x")
