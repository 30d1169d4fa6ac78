"""The tests' one way to launch `bytepatch` under torchrun: 2 ranks on CPU (gloo), one thread each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def torchrun(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `bytepatch ARGS` as `python -m torch.distributed.run --standalone --nproc_per_node 2`.

    OMP_NUM_THREADS=1: two ranks share a 2-core machine. PYTHONFAULTHANDLER=1: a rank that
    aborts in native code (SIGABRT, SIGSEGV) prints every Python thread's stack, so a rare
    crash shows where it happened. Asserts exit status 0 (showing the end of stderr);
    returns the finished process for the caller's own checks.
    """
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "bytepatch.cli.main",
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr[-8000:]
    return result
