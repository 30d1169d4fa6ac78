"""CLI commands never import each other: what two commands share lives in a `cli/_*.py`
helper module (or `cli/errors.py`), or in the library."""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[2] / "cli"
SHARED = {"errors", "main", "__init__"}  # main only maps command names to modules, by string


def _commands() -> set[str]:
    return {p.stem for p in CLI.glob("*.py") if not p.stem.startswith("_") and p.stem not in SHARED}


def _imported_cli_modules(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module == "bytepatch.cli":
            names += [f"bytepatch.cli.{a.name}" for a in node.names]
        out |= {n.split(".")[2] for n in names if n.startswith("bytepatch.cli.")}
    return out


def test_no_command_imports_another_command():
    commands = _commands()
    assert {"segment", "inspect_cmd", "generate", "eval_cmd"} <= commands
    offenders = {p.stem: sorted(_imported_cli_modules(p) & commands) for p in CLI.glob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_command_sets_numpys_blas_threads_before_numpy_is_imported():
    """OpenBLAS spins a thread per CPU at NumPy's import (~70 ms of CPU per process, and
    bytepatch never calls NumPy's BLAS): the console script asks for one thread, which only
    works while nothing it imports before `main()` has imported NumPy."""
    import subprocess
    import sys

    code = (
        "import sys, bytepatch, bytepatch.cli.main\n"
        "print(sorted({'numpy', 'pyarrow', 'numba', 'torch'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

    from bytepatch.cli.main import quiet_numpy_blas

    env: dict[str, str] = {}
    quiet_numpy_blas(env)
    assert env == {"OPENBLAS_NUM_THREADS": "1"}
    mine = {"OPENBLAS_NUM_THREADS": "4"}
    quiet_numpy_blas(mine)
    assert mine == {"OPENBLAS_NUM_THREADS": "4"}  # the user's choice stands


def test_the_command_collects_cycles_less_often_than_pythons_default():
    """Python's default (every 700 new container objects) re-walks the objects start-up
    imports leave, ~80 ms of an entropy `segment` start-up; `main()` raises it for its
    own process only."""
    import subprocess
    import sys

    code = (
        "import gc, sys\n"
        "before = gc.get_threshold()\n"
        "sys.argv = ['bytepatch', '--version']\n"
        "import bytepatch.cli.main as m\n"
        "try:\n    m.main()\nexcept SystemExit:\n    pass\n"
        "print(before[0], gc.get_threshold()[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after = map(int, out.split()[-2:])
    assert after == 10_000 > before
