"""Fuzzing the torch file reader behind checkpoints and entropy LMs (issue 13.11): a
damaged file is refused with an error naming it, or loads as exactly what was saved."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from hypothesis import given, settings

from bytepatch.models.files import atomic_torch_save, safe_torch_load
from tests.fuzz_mutations import mutation


def saved() -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "format": 1,
        "model": {"w": torch.randn(16, 8, generator=g), "b": torch.zeros(8, dtype=torch.bfloat16)},
        "extra": {"step": 7, "name": "run", "lr": [0.1, 0.01]},
    }


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b and type(a) is type(b)


@settings(max_examples=80, deadline=None)
@given(mutation())
def test_damaged_torch_files(scratch, damage):
    path = Path(tempfile.mkdtemp(prefix="fz-", dir=scratch)) / "checkpoint.pt"
    atomic_torch_save(saved(), path)
    path.write_bytes(damage(path.read_bytes()))
    try:
        got = safe_torch_load(path)
    except (ValueError, FileNotFoundError) as exc:
        assert str(path) in str(exc), f"error does not name the file: {exc}"
        return
    assert same(got, saved()), "a damaged file loaded as other content"
