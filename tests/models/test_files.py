"""Atomic saves of checkpoints and models (`models/files.py`) under a stop signal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from bytepatch.models.files import atomic_write
from bytepatch.models.train.interrupt import TrainingAborted


class _StoppedWhileWriting(io.RawIOBase):
    """A file whose third write is where a second Ctrl-C lands (`TrainingAborted`)."""

    def __init__(self, f) -> None:
        self.f, self.writes = f, 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.writes += 1
        if self.writes == 3:
            raise TrainingAborted()
        return self.f.write(data)


def test_a_stop_signal_inside_torch_save_is_raised_as_itself(tmp_path: Path) -> None:
    """torch's zip writer ends its archive on the way out of an exception and, the archive
    being cut short, raises `RuntimeError: [enforce fail at inline_container.cc] unexpected
    pos` over it: a second Ctrl-C during a checkpoint ended `train` with that, exit 1,
    instead of the abort's one line and exit 130."""
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"the last checkpoint")
    with pytest.raises(TrainingAborted):
        atomic_write(path, lambda f: torch.save({"w": torch.zeros(50_000)}, _StoppedWhileWriting(f)))
    assert path.read_bytes() == b"the last checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temporary left


def test_other_errors_inside_a_write_are_raised_unchanged(tmp_path: Path) -> None:
    def fail(f) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(tmp_path / "model.pt", fail)
    assert not list(tmp_path.iterdir())


def test_an_error_of_a_write_made_while_handling_a_stop_is_not_taken_for_it(tmp_path: Path) -> None:
    """A caller cleaning up after Ctrl-C that saves a file: a full disk then is its error."""

    def fail(f) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            atomic_write(tmp_path / "model.pt", fail)
