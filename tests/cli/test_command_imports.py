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
