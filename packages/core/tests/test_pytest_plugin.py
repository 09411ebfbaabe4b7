"""regen's pytest plugin (regen_core.testing): a private cache per session, one torch thread, the slow marker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

INNER = '''
import os, torch, pytest

@pytest.mark.slow
def test_slow():
    pass

def test_env():
    print("CACHE=" + os.environ["REGEN_CACHE"])
    print("THREADS=" + str(torch.get_num_threads()))
'''


def _run_inner(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_inner.py").write_text(INNER)
    full_env = {k: v for k, v in os.environ.items() if k not in ("REGEN_CACHE", "REGEN_TEST_CACHE")}
    full_env.update(env, OMP_NUM_THREADS="2")
    return subprocess.run([sys.executable, "-m", "pytest", "-s", "-q", "-p", "no:cacheprovider", "--strict-markers",
                           str(tmp_path / "test_inner.py"), *args], cwd=tmp_path, env=full_env, capture_output=True,
                          text=True, timeout=120)


def test_this_session_is_isolated() -> None:
    cache = os.environ["REGEN_CACHE"]
    assert os.environ.get("REGEN_TEST_CACHE") == cache or Path(cache).name.startswith("regen-test-cache-")
    assert torch.get_num_threads() == 1


def test_user_cache_is_never_used_and_session_cache_is_removed(tmp_path: Path) -> None:
    user = tmp_path / "user-cache"
    res = _run_inner(tmp_path, REGEN_CACHE=str(user))
    assert res.returncode == 0, res.stdout + res.stderr
    cache = re.search(r"CACHE=(\S+)", res.stdout).group(1)
    assert cache != str(user) and Path(cache).parent == Path(tempfile.gettempdir())
    assert not Path(cache).exists(), "the session cache was not removed"
    assert "THREADS=1" in res.stdout


def test_explicit_test_cache_is_kept(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    keep.mkdir()
    res = _run_inner(tmp_path, REGEN_TEST_CACHE=str(keep))
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"CACHE={keep}" in res.stdout and keep.is_dir()


def test_slow_marker_is_registered_and_selectable(tmp_path: Path) -> None:
    res = _run_inner(tmp_path, "-m", "not slow")
    assert res.returncode == 0, res.stdout + res.stderr  # --strict-markers: an unregistered marker is an error
    assert "1 passed, 1 deselected" in res.stdout
