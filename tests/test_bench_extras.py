"""A benchmark whose extra is missing says which `pip install` to run, in one line, before
it spends minutes building corpora (README: "A missing extra is an error naming the
`pip install` to run")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WITHOUT = """
import runpy, sys
sys.modules[sys.argv[1]] = None  # as if the package were not installed
script = sys.argv[2]
sys.argv = [script]
runpy.run_path(script, run_name="__main__")
"""


@pytest.mark.parametrize(
    ("script", "missing", "extra"),
    [("bench/segment.py", "tokenizers", "bench"), ("bench/engines.py", "ray", "ray")],
)
def test_a_benchmark_without_its_extra_names_the_pip_install(script: str, missing: str, extra: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT, missing, str(ROOT / script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pip install 'bytepatch[{extra}]'" in lines[0], result.stderr[-2000:]
