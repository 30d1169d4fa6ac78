"""The README's annotated tree of `models/` names files that exist, and every file of `models/` is in it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_tree_matches_models_folder() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Where the model code lives", 1)[1].split("```", 2)[1]
    named = {m.group(1) for m in re.finditer(r"^  (\S+)", block, re.MULTILINE)}
    missing = sorted(n for n in named if not (ROOT / "models" / n).exists())
    assert missing == [], f"README names files that do not exist: {missing}"
    folders = {n.rstrip("/") for n in named if n.endswith("/")}
    files = {p.relative_to(ROOT / "models").as_posix() for p in (ROOT / "models").rglob("*.py")}
    unlisted = sorted(
        f for f in files if f not in named and not f.endswith("/__init__.py") and f.split("/")[0] not in folders
    )
    assert unlisted == [], f"models/ files missing from the README tree: {unlisted}"


def test_models_md_module_map_names_files_that_exist() -> None:
    text = (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    block = text.split("Module map, one noun per file:", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`([\w/]+\.py)`", block))
    present = {p.relative_to(ROOT / "models").as_posix() for p in (ROOT / "models").rglob("*.py")}
    missing = sorted(n for n in named if not any(p == n or p.endswith("/" + n) for p in present))
    assert named and missing == [], f"docs/models.md's module map names files that do not exist: {missing}"
