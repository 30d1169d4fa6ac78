"""`make setup` is quiet: building the package emits no warning from our own packaging."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
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
    # pyproject declares MIT: the text itself goes with the package.
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), [n for n in names if "dist-info" in n]


def test_make_demo_installs_the_runtime_dependencies_only(tmp_path: Path) -> None:
    """The README's first command, `make demo`, on a fresh machine: it sets up a venv with
    the package and its runtime dependencies (torch, numpy, numba, click, pyarrow) and no
    extra; the test and bench extras (Ray, transformers, moto, ...) are `make setup`'s."""
    venv = tmp_path / "fresh-venv"  # not there yet: every setup step is due
    result = subprocess.run(
        ["make", "-n", "demo", f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    installs = [line for line in result.stdout.splitlines() if "pip install" in line and "--upgrade pip" not in line]
    assert installs, result.stdout
    assert any(re.search(r'-e "?\.(?:"|\s|$)', line) for line in installs), installs  # the package itself
    assert not any("[" in line for line in installs), installs  # no extra: `.[test,bench]` is `make setup`'s
    assert "bytepatch segment examples/sample" in result.stdout


@pytest.mark.slow
def test_the_sdist_holds_the_package_and_no_stray_part_of_the_test_suite(tmp_path: Path) -> None:
    """setuptools adds tests/test*.py to an sdist by default: five files of tests/ without
    their conftest, helpers or data, which cannot run. The sdist is the package's source."""
    code = "import sys, setuptools.build_meta as b; print(b.build_sdist(sys.argv[1]))"
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sdist = tmp_path / result.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as tar:
        names = [name.split("/", 1)[1] for name in tar.getnames() if "/" in name]
    assert "bytepatch/assets/entropy/default/ngram.npz" in names and "cli/main.py" in names
    assert "models/__init__.py" in names and "setup.py" in names and "README.md" in names
    assert [name for name in names if name.startswith("tests")] == []
