"""Small real datasets for the loader tests, written by the `segment` pipeline itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bytepatch.cli.main import cli


def write_dataset(tmp: Path, name: str, docs: list[str], *patcher_args: str) -> Path:
    """Segment `docs` (one JSONL record each, ids doc-0, doc-1, ...) into tmp/name."""
    src = tmp / f"{name}.jsonl"
    src.write_text("".join(json.dumps({"id": f"doc-{i}", "text": d}) + "\n" for i, d in enumerate(docs)))
    out = tmp / name
    args = ["segment", str(src), "-o", str(out), "--id-field", "id", "-q", *(patcher_args or ("--patcher", "space"))]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


DOCS = [f"Document {i}: " + " ".join(f"w{i}x{j}" for j in range(3 + (7 * i) % 40)) + "." for i in range(40)]
DOCS[5] = ""  # empty documents are kept: they frame to BOS EOS
DOCS[9] = "ünïcödé ✓ " * 30  # multi-byte UTF-8, a document longer than a row


@pytest.fixture(scope="session")
def space_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data"), "space", DOCS)


@pytest.fixture(scope="session")
def docs() -> list[str]:
    return DOCS
