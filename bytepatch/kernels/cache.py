"""`kernel_cache(__file__)`: whether a kernel module's `numba.njit(cache=...)` can cache.

Numba caches a compiled kernel beside its source (`__pycache__`), else in the user's
cache directory (`$XDG_CACHE_HOME/numba`, `~/.cache/numba`), or where `NUMBA_CACHE_DIR`
says. Where none of them is writable (a read-only install, as root-owned site-packages
or a container image are, run by a user whose HOME is `/` or absent), a cached kernel
raised `RuntimeError: cannot cache function ...: no locator available` while the
module was imported: every command that patches failed with a traceback. Then the
kernels are cached in a private directory of this user under the temporary directory
(`$TMPDIR/bytepatch-numba-UID`, mode 0700, refused if another user owns it or may
write it: Numba loads what it finds there), and where even that is impossible they
are compiled in memory, in each process (a slower start, the same results).
"""

from __future__ import annotations

import functools
import os
import stat
import tempfile

import numba


def kernel_cache(py_file: str) -> bool:
    """The `cache=` argument for the kernels of the module at `py_file`: True where Numba
    can cache them (after pointing `numba.config.CACHE_DIR` at a private fallback if
    it must), False where it cannot."""
    return _beside(os.path.dirname(os.path.abspath(py_file))) or _elsewhere()


@functools.cache
def _beside(package_dir: str) -> bool:
    """Whether `package_dir/__pycache__` takes files: asked once per directory, not once per
    kernel module (the four of bytepatch/kernels share one)."""
    return _writable(os.path.join(package_dir, "__pycache__"))


@functools.cache
def _elsewhere() -> bool:
    explicit = numba.config.CACHE_DIR
    if explicit and _writable(explicit):
        return True
    if _writable(_user_wide()):
        return True
    fallback = _private_dir()
    if fallback is None:
        return False
    numba.config.CACHE_DIR = fallback
    return True


def _user_wide() -> str | None:
    """Numba's user-wide cache directory, as its locator computes it."""
    try:
        from numba.misc.appdirs import AppDirs

        return AppDirs(appname="numba", appauthor=False).user_cache_dir
    except Exception:  # noqa: BLE001 - another Numba: no such directory to use
        return None


def _writable(path: str | None) -> bool:
    """Whether a file can be created in `path` (made if missing), as Numba checks it."""
    if not path:
        return False
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _private_dir() -> str | None:
    """`$TMPDIR/bytepatch-numba-UID`, made 0700 and checked to be this user's alone; None
    where it cannot be (no writable temporary directory, another user's directory)."""
    if not hasattr(os, "getuid"):
        return None
    try:
        path = os.path.join(tempfile.gettempdir(), f"bytepatch-numba-{os.getuid()}")
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        return None  # a link, a file, or a directory someone else may fill: not loaded from
    return path if _writable(path) else None
