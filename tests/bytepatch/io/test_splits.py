"""Splits inside files read exactly the documents (and ids) of reading the whole file."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bytepatch.io import ReaderConfig, Span, expand_sources, read_source
from bytepatch.io.splits import plan_splits

LINES = st.lists(st.text(alphabet="ab\u00e9 ", max_size=30), max_size=60)


def documents(path: Path, cfg: ReaderConfig, target: int | None) -> list[tuple[str, bytes]]:
    sources = expand_sources([str(path)])
    parts = [(s, Span(s.name)) for s in sources] if target is None else plan_splits(sources, cfg, target)
    return [(d.id, d.data) for s, span in parts for d in read_source(s.path, cfg, span)]


@settings(max_examples=40, deadline=None)
@given(lines=LINES, target=st.integers(1, 200), final_newline=st.booleans(), blank=st.booleans())
def test_line_splits_read_what_the_whole_file_reads(tmp_path_factory, lines, target, final_newline, blank):
    root = tmp_path_factory.mktemp("s")
    rows = [("" if blank and i % 3 == 0 else '{"text": "%s"}' % t) for i, t in enumerate(lines)]
    (root / "c.jsonl").write_text("\n".join(rows) + ("\n" if final_newline else ""), encoding="utf-8")
    (root / "c.txt").write_text("\n".join(lines) + ("\n" if final_newline else ""), encoding="utf-8")
    for name, cfg in (("c.jsonl", ReaderConfig()), ("c.txt", ReaderConfig(doc_per_line=True))):
        assert documents(root / name, cfg, target) == documents(root / name, cfg, None)


def test_splits_are_about_the_target_size(tmp_path: Path):
    path = tmp_path / "c.jsonl"
    path.write_text("".join('{"text": "%s"}\n' % ("x" * 80) for _ in range(1000)))  # 93 bytes a line
    spans = [span for _, span in plan_splits(expand_sources([str(path)]), ReaderConfig(), 10_000)]
    assert len(spans) == 10 and spans[3].first_line == 1 + 3 * 108 and spans[-1].end is None


@pytest.mark.parametrize("group_rows, target, expected", [(10, 1, 10), (10, 10**9, 1), (100, 1, 1)])
def test_parquet_splits_between_row_groups(tmp_path: Path, group_rows, target, expected):
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": [f"document {i}" for i in range(100)]}), path, row_group_size=group_rows)
    cfg = ReaderConfig()
    assert len(plan_splits(expand_sources([str(path)]), cfg, target)) == expected
    assert documents(path, cfg, target) == documents(path, cfg, None)


def test_unsplittable_inputs_are_one_split(tmp_path: Path):
    import gzip

    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(b'{"text": "x"}\n' * 100))
    (tmp_path / "b.txt").write_text("one document\n" * 100)
    spans = plan_splits(expand_sources([str(tmp_path)]), ReaderConfig(), 1)
    assert [(s.name, span.whole) for s, span in spans] == [("a.jsonl.gz", True), ("b.txt", True)]


def test_ids_do_not_depend_on_the_working_directory(tmp_path: Path, monkeypatch):
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "sub" / "a.jsonl").write_text('{"text": "x"}\n{"text": "y"}\n')
    (corpus / "b.txt").write_text("doc")
    expected = [("b.txt", b"doc"), ("sub/a.jsonl:1", b"x"), ("sub/a.jsonl:2", b"y")]
    assert documents(corpus, ReaderConfig(), None) == expected
    monkeypatch.chdir(corpus / "sub")
    assert documents(Path(".."), ReaderConfig(), None) == expected
    assert [s.name for s in expand_sources(["a.jsonl", str(corpus / "b.txt")])] == ["a.jsonl", "b.txt"]
    assert [s.name for s in expand_sources([f"{corpus}/**/*.jsonl"])] == ["sub/a.jsonl"]


def test_two_inputs_with_one_id_name_are_refused(tmp_path: Path):
    from bytepatch.io import InputError

    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "a.txt").write_text(d)
    with pytest.raises(InputError, match="same id name 'a.txt'"):
        expand_sources([str(tmp_path / "x" / "a.txt"), str(tmp_path / "y" / "a.txt")])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_as_an_input_is_one_split_not_read_to_plan_them(tmp_path: Path):
    """Planning splits read a FIFO named as an input to find its line ends, so nothing was
    left for the reading: a run with --num-shards waited on it for ever. A pipe is read
    once, whole, as stdin is."""
    fifo = tmp_path / "p.jsonl"
    os.mkfifo(fifo)
    sources = expand_sources([str(fifo)])
    writer = threading.Thread(target=lambda: fifo.write_bytes(b'{"text": "a"}\n' * 50))
    writer.start()
    try:
        assert [span for _, span in plan_splits(sources, ReaderConfig(), 20)] == [Span("p.jsonl")]
        docs = [
            d.data
            for s, span in plan_splits(sources, ReaderConfig(), 20)
            for d in read_source(s.path, ReaderConfig(), span)
        ]
    finally:
        writer.join()
    assert docs == [b"a"] * 50


@settings(max_examples=300, deadline=None)
@example(names=["a%3A3", "a%253A3"])  # both gave a%253A3: an escape equal to a name kept as it is
@given(names=st.lists(st.text(alphabet="a:#%3A25", min_size=1, max_size=8), min_size=2, max_size=6, unique=True))
def test_escaped_id_names_are_distinct_and_never_end_like_a_line_or_row_id(names):
    """Ids are `name`, `name:line` or `name#row`: unambiguous when no escaped name ends in
    `:digits` or `#digits` and no two names escape alike."""
    import re

    from bytepatch.io.sources import escaped_id_name

    escaped = [escaped_id_name(n) for n in names]
    assert len(set(escaped)) == len(names)
    assert not any(re.search(r"[:#][0-9]+\Z", e) for e in escaped)
    ids = list(escaped) + [f"{e}{sep}{k}" for e in escaped for sep in ":#" for k in (0, 1, 3, 12)]
    assert len(set(ids)) == len(ids)
