"""The package's import rules (docs/design.md §8): `bytepatch.cli -> bytepatch.models -> bytepatch`.

Checked statically on every module's import statements, so a lazy import inside a
function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = {
    "bytepatch": (REPO / "bytepatch", ("bytepatch.models", "bytepatch.cli", "torch")),
    "bytepatch.models": (REPO / "models", ("bytepatch.cli",)),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
    return names


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_imports_flow_one_way(layer: str):
    folder, forbidden = LAYERS[layer]
    offenders = []
    for path in sorted(folder.rglob("*.py")):
        for name in imported_modules(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_cli_and_models_install_under_bytepatch():
    import bytepatch.cli.main
    import bytepatch.models

    assert Path(bytepatch.cli.main.__file__).parent == REPO / "cli"
    assert Path(bytepatch.models.__file__).parent == REPO / "models"
