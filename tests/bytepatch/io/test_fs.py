"""bytepatch.io.fs: a URI whose scheme needs a package that is not installed."""

from __future__ import annotations

import subprocess
import sys

WITHOUT_HUB = """
import sys
sys.modules["huggingface_hub"] = None  # as if it were not installed
from bytepatch.io.errors import InputError
from bytepatch.io.fs import filesystem
try:
    filesystem("hf://datasets/org/name/data.jsonl")
except InputError as exc:
    print(exc)
"""


def test_an_hf_uri_without_huggingface_hub_names_the_bytepatch_extra():
    """README: hf:// URIs come with the `datasets` extra; the error says so, in one line."""
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_HUB], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert "hf://datasets/org/name/data.jsonl" in lines[0]
    assert "pip install huggingface_hub" in lines[0] and "pip install 'bytepatch[datasets]'" in lines[0]
