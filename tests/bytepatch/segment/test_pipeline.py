"""`segment_corpus`'s `on_start`: called once, when the inputs are listed and the output
is ready and before the first document is patched; never for a job with nothing left
to do, nor after an input or output error (which must not wait for it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bytepatch.errors import InputError, OutputError
from bytepatch.io import ReaderConfig
from bytepatch.segment import SegmentOptions, segment_corpus

SPEC = {"patcher": "space", "max_patch_length": None}


class Patcher:
    """A space patcher that records when it is first asked to patch."""

    def __init__(self, events: list[str]) -> None:
        from bytepatch.patchers import PatcherSpec

        self.inner = PatcherSpec.from_dict(SPEC).build()
        self.events = events

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def patch_batch(self, docs, entropies=None):
        self.events.append("patched")
        return self.inner.patch_batch(docs, entropies)


def _run(src: Path, out: Path, events: list[str], **options) -> None:
    opts = SegmentOptions(show_progress=False, **options)
    segment_corpus([str(src)], out, Patcher(events), ReaderConfig(), opts, on_start=lambda: events.append("start"))


def test_on_start_comes_once_before_the_first_document_is_patched(tmp_path: Path) -> None:
    src = tmp_path / "doc.txt"
    src.write_text("one document, a few words\n")
    events: list[str] = []
    _run(src, tmp_path / "out", events)
    assert events[0] == "start" and events.count("start") == 1 and "patched" in events


def test_on_start_is_not_called_for_a_job_already_done(tmp_path: Path) -> None:
    src = tmp_path / "doc.txt"
    src.write_text("one document, a few words\n")
    _run(src, tmp_path / "out", [])
    events: list[str] = []
    _run(src, tmp_path / "out", events, resume=True)
    assert events == []


@pytest.mark.parametrize("case", ["missing input", "output exists"])
def test_on_start_is_not_called_before_an_input_or_output_error(tmp_path: Path, case: str) -> None:
    src = tmp_path / "doc.txt"
    src.write_text("one document, a few words\n")
    out = tmp_path / "out"
    if case == "missing input":
        src = tmp_path / "missing.txt"
    else:
        _run(src, out, [])
    events: list[str] = []
    with pytest.raises((InputError, OutputError)):
        _run(src, out, events)
    assert events == []
