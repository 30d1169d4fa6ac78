"""bytepatch.kernels.cache: the kernels load where Numba has nowhere of its own to cache them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bytepatch.kernels import cache

# Numba checks a cache directory by creating a file in it (tempfile.TemporaryFile):
# refusing that everywhere but under ALLOWED is a read-only install run by a user whose
# HOME cannot be written (the test runs as root, whom permissions do not stop).
PROBE = """
import os, sys, tempfile
allowed = sys.argv[1]
real = tempfile.TemporaryFile
def refuse(*args, dir=None, **kwargs):
    if dir is None or not allowed or not os.path.abspath(dir).startswith(allowed):
        raise PermissionError(13, "Permission denied", dir)
    return real(*args, dir=dir, **kwargs)
tempfile.TemporaryFile = refuse
import numpy as np
import numba
from bytepatch.kernels.space import space_lengths
import bytepatch.entropy.ngram_kernels
lengths, _ = space_lengths(np.frombuffer(b"ab cd", np.uint8), np.array([0, 5], np.int64))
print(lengths.tolist(), numba.config.CACHE_DIR)
"""


def _probe(tmp_path: Path, allowed: str) -> subprocess.CompletedProcess:
    """Run PROBE with $TMPDIR at tmp_path/tmp, where files may be created if `allowed` says so."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(TMPDIR=str(tmp_path / "tmp"), HOME="/nonexistent", XDG_CACHE_HOME=str(tmp_path / "xdg"))
    return subprocess.run([sys.executable, "-c", PROBE, allowed], env=env, capture_output=True, text=True, timeout=300)


def test_kernels_are_cached_in_a_private_directory_where_numba_has_none(tmp_path: Path) -> None:
    """It was `RuntimeError: cannot cache function '_slot': no locator available`, at
    import: every command that patches ended in that traceback."""
    proc = _probe(tmp_path, str(tmp_path / "tmp"))
    assert proc.returncode == 0, proc.stderr
    private = tmp_path / "tmp" / f"bytepatch-numba-{os.getuid()}"
    assert proc.stdout.split() == ["[3,", "2]", str(private)]
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert any(private.rglob("*.nbi"))  # cached there, for the next run


def test_kernels_are_compiled_in_memory_where_nothing_can_be_written(tmp_path: Path) -> None:
    proc = _probe(tmp_path, "")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[:2] == ["[3,", "2]"]


def test_a_private_directory_someone_else_may_write_is_not_used(tmp_path: Path, monkeypatch) -> None:
    """Numba loads what it finds in its cache: a directory others can fill is refused."""
    monkeypatch.setattr(cache.tempfile, "gettempdir", lambda: str(tmp_path))
    private = tmp_path / f"bytepatch-numba-{os.getuid()}"
    private.mkdir(mode=0o777)
    private.chmod(0o777)
    assert cache._private_dir() is None
    private.chmod(0o700)
    assert cache._private_dir() == str(private)
    private.rmdir()
    private.symlink_to(tmp_path)
    assert cache._private_dir() is None


def test_no_temporary_directory_at_all_is_no_private_directory(monkeypatch) -> None:
    def none() -> str:
        raise FileNotFoundError(2, "No usable temporary directory found")

    monkeypatch.setattr(cache.tempfile, "gettempdir", none)
    assert cache._private_dir() is None


@pytest.mark.parametrize("path", ["bytepatch/kernels", "bytepatch/entropy"])
def test_no_kernel_asks_numba_to_cache_unconditionally(path: str) -> None:
    root = Path(__file__).resolve().parents[3]
    for source in (root / path).glob("*.py"):
        assert "cache=True" not in source.read_text(), f"{source.name}: use cache=kernel_cache(__file__)"
