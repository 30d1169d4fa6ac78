"""`make setup` is quiet: building the package emits no warning from our own packaging."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = """
import sys, warnings
warnings.simplefilter("always")
import setuptools.build_meta as backend
print(backend.build_wheel(sys.argv[1]))
"""


@pytest.mark.slow
def test_building_the_wheel_emits_no_packaging_warnings(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", BUILD, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    noise = [
        line
        for line in result.stderr.splitlines()
        if "Warning" in line or "deprecated" in line or "absent from" in line
    ]
    assert noise == [], "\n".join(noise)
    wheel = tmp_path / result.stdout.strip().splitlines()[-1]
    names = zipfile.ZipFile(wheel).namelist()
    assert "bytepatch/assets/entropy/default/config.json" in names  # the shipped model still ships
    assert "bytepatch/cli/main.py" in names and "bytepatch/models/__init__.py" in names
