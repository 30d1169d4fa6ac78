"""An input that changes between the listing and its read, for the tests of both engines."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest


def append_after_listing(monkeypatch: pytest.MonkeyPatch, module: ModuleType, corpus: Path) -> None:
    """Make `module.expand_sources` (the engine's listing) append a JSONL line to `corpus`
    once it has listed the inputs, as a writer still at work on the file would."""
    listed = module.expand_sources

    def list_then_append(inputs, **options):
        sources = listed(inputs, **options)
        with open(corpus, "a") as f:
            f.write('{"text": "written later"}\n')
        return sources

    monkeypatch.setattr(module, "expand_sources", list_then_append)
