"""Which inputs `segment` lists for their group to read, and which it reads at once."""

from __future__ import annotations

import gzip
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from bytepatch.io import InputError, ReaderConfig, Source, Span, expand_sources
from bytepatch.io.documents import Document, FileDocument
from bytepatch.io.jsonl_batch import DocumentBatch
from bytepatch.segment.reading import check_unchanged, read_documents


def _read(paths: list[str], cfg: ReaderConfig = ReaderConfig()) -> list:
    return list(read_documents([(s, Span(s.name)) for s in expand_sources(paths)], cfg))


def test_whole_plain_text_files_are_listed_for_their_group_to_read(tmp_path: Path):
    (tmp_path / "a.txt").write_bytes(b"alpha")
    (tmp_path / "b.md").write_bytes(b"")
    mtime = {name: (tmp_path / name).stat().st_mtime_ns for name in ("a.txt", "b.md")}
    assert _read([str(tmp_path)]) == [  # with the listing's mtime, which their read compares
        FileDocument("a.txt", str(tmp_path / "a.txt"), 5, mtime_ns=mtime["a.txt"]),
        FileDocument("b.md", str(tmp_path / "b.md"), 0, mtime_ns=mtime["b.md"]),
    ]


def test_everything_else_is_read_at_once(tmp_path: Path):
    (tmp_path / "a.txt.gz").write_bytes(gzip.compress(b"zipped"))
    (tmp_path / "b.jsonl").write_bytes(b'{"text": "json"}\n')
    (tmp_path / "c.txt").write_bytes(b"one\ntwo\n")
    assert _read([str(tmp_path / "a.txt.gz")]) == [Document("a.txt.gz", b"zipped")]
    [batch] = _read([str(tmp_path / "b.jsonl")])
    assert isinstance(batch, DocumentBatch) and bytes(batch.data) == b"json"
    per_line = _read([str(tmp_path / "c.txt")], ReaderConfig(doc_per_line=True))
    assert per_line == [Document("c.txt:1", b"one"), Document("c.txt:2", b"two")]


def test_a_file_over_the_cap_is_refused_by_its_reader_at_once(tmp_path: Path):
    (tmp_path / "c.txt").write_bytes(b"one\ntwo\n")
    with pytest.raises(InputError, match="max-document-bytes"):
        _read([str(tmp_path / "c.txt")], ReaderConfig(max_document_bytes=4))


def _write_input(path: Path, lines: list[bytes]) -> None:
    body = b"".join(lines)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(body))
    elif path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"text": [line.decode() for line in lines]}), path)
    else:
        path.write_bytes(body)


@pytest.mark.parametrize(
    "name, cfg",
    [
        ("a.jsonl", ReaderConfig()),
        ("a.jsonl.gz", ReaderConfig()),
        ("a.txt", ReaderConfig(doc_per_line=True)),
        ("a.parquet", ReaderConfig()),
    ],
)
@pytest.mark.parametrize("change", ["grown", "cut at a line", "same size"])
def test_a_file_read_at_once_that_changed_since_it_was_listed_is_refused(tmp_path: Path, name, cfg, change):
    """The run state (and --resume) records each input as listed: a file that grew (a log
    still written), lost whole lines, or was rewritten before it was read gave a dataset
    of other documents than the listing's, silently (rows added or dropped)."""
    path = tmp_path / name
    text = (lambda i: b'{"text": "document %d"}\n' % i) if "jsonl" in name else (lambda i: b"document %d\n" % i)
    lines = [text(i) for i in range(10, 30)]
    _write_input(path, lines)
    [source] = expand_sources([str(path)])
    if change == "grown":
        _write_input(path, lines + lines)
    elif change == "cut at a line":
        _write_input(path, lines[:10])
    else:  # the same size, other documents (a new mtime)
        _write_input(path, [line.replace(b"1", b"2") for line in lines])
        import os

        os.utime(path, ns=(source.mtime_ns + 10**9, source.mtime_ns + 10**9))
    with pytest.raises(InputError, match=f"{name}: changed while being read: listed at .*; rerun on files at rest"):
        _read_parts([(source, Span(source.name))], cfg)


def _read_parts(parts, cfg: ReaderConfig) -> list:
    return list(read_documents(parts, cfg))


@contextmanager
def _unblocking(fifo: Path, after: float = 5.0) -> Iterator[list[bool]]:
    """Runs the body; should it still be waiting on `fifo` after `after` seconds (an open
    or read blocked for ever), opens and closes the FIFO's write end, over and over, so
    the reader sees an end of file and the test fails instead of hanging. Yields a list
    that holds True once that had to be done."""
    done, hung = threading.Event(), []

    def unblock() -> None:
        if done.wait(after):
            return
        while not done.is_set():
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # ENXIO while nobody reads it
                hung[:] = [True]
            except OSError:
                pass
            done.wait(0.05)

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    try:
        yield hung
    finally:
        done.set()
        thread.join()


def _write_any(path: Path) -> None:
    if path.suffix == ".arrow":
        import pyarrow as pa

        with pa.ipc.new_file(path, pa.schema([("text", pa.string())])) as writer:
            writer.write_table(pa.table({"text": ["one", "two"]}))
    else:
        _write_input(path, [b'{"text": "one", "id": "a"}\n' if "jsonl" in path.name else b"one\n"])


FIFO_CASES = [
    ("a.txt", ReaderConfig()),  # listed for its group, read by `read_file_into`
    ("a.txt", ReaderConfig(doc_per_line=True)),
    ("a.jsonl", ReaderConfig()),  # the fast reader
    ("a.jsonl", ReaderConfig(id_field="id")),  # the line reader
    ("a.jsonl.gz", ReaderConfig()),
    ("a.parquet", ReaderConfig()),
    ("a.arrow", ReaderConfig()),
]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("name, cfg", FIFO_CASES)
@pytest.mark.parametrize("how", ["read", "split", "read_source"])
def test_a_file_replaced_by_a_fifo_after_the_listing_is_refused_not_waited_on(tmp_path: Path, name, cfg, how):
    """An input listed as a regular file, then replaced by a FIFO before it was read, hung
    the run for ever (a Parquet file's open inside pyarrow even ignored SIGTERM): every
    reader, the split planner too, opens a file listed as regular without blocking."""
    from bytepatch.io import read_source
    from bytepatch.io.splits import plan_splits
    from bytepatch.io.text import read_file_into

    path = tmp_path / name
    _write_any(path)
    [source] = expand_sources([str(path)])
    path.unlink()
    os.mkfifo(path)

    def read() -> None:
        if how == "split":
            plan_splits([source], cfg, 1)
        elif how == "read_source":  # as `iter_documents`, the Ray engine and calibration read
            list(read_source(source.path, cfg, Span(source.name, regular=source.regular)))
        for doc in _read_parts([(source, Span(source.name))], cfg):
            if isinstance(doc, FileDocument):
                read_file_into(doc, memoryview(bytearray(doc.size)))

    with _unblocking(path) as hung, pytest.raises(InputError) as caught:
        read()
    assert not hung, "waited on the FIFO"
    assert str(caught.value) == (
        f"{path}: is no longer a regular file (now a FIFO) since the inputs were listed; rerun on files at rest"
    )


def test_without_an_mtime_a_file_is_checked_by_size_alone(tmp_path: Path):
    """The Ray engine's actors check by size alone: a node may hold its own copy of the
    inputs at the same path, copied at another mtime. With the listing's mtime (a local
    run), a rewrite of the same size is refused too."""
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "a"}\n')
    [source] = expand_sources([str(path)])
    os.utime(path, ns=(source.mtime_ns + 10**9, source.mtime_ns + 10**9))  # copied: another mtime
    check_unchanged(Source(source.path, source.name, source.size, None, True))
    with pytest.raises(InputError, match="the same size, but modified since"):
        check_unchanged(source)
    path.write_text('{"text": "ab"}\n')
    with pytest.raises(InputError, match="listed at 14 bytes, now 15"):
        check_unchanged(Source(source.path, source.name, source.size, None, True))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_jsonl_fifo_named_as_an_input_is_read_as_a_pipe(tmp_path: Path):
    """A FIFO named `*.jsonl` went to the block reader, which took its size (0) for the
    end, read nothing and closed it: every line written to it was lost, and the run said
    0 documents. It goes to the line reader, as stdin does."""
    fifo = tmp_path / "p.jsonl"
    os.mkfifo(fifo)
    lines = b"".join(b'{"text": "doc %d"}\n' % i for i in range(3))
    writer = threading.Thread(target=lambda: fifo.write_bytes(lines))
    writer.start()
    try:
        with _unblocking(fifo) as hung:
            docs = _read([str(fifo)])
    finally:
        writer.join()
    assert not hung, "waited on the FIFO"
    assert [bytes(d.data) for d in docs] == [b"doc 0", b"doc 1", b"doc 2"]


def test_inputs_from_python_may_be_paths_and_one_path_alone_is_refused_naming_it(tmp_path: Path):
    """From Python, `segment_corpus([Path(...)])` failed with "argument of type 'PosixPath'
    is not iterable", and `segment_corpus("corpus.jsonl", ...)` read the str as paths of
    one character each: refused as "the output directory is inside the input directory /"."""
    from bytepatch.io import iter_documents
    from bytepatch.segment import SegmentOptions, segment_corpus
    from bytepatch.patchers import SpacePatcher

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(b'{"text": "hello world"}\n{"text": "x y"}\n')
    options = SegmentOptions(show_progress=False)
    manifest = segment_corpus([corpus], tmp_path / "out", SpacePatcher(), options=options)
    assert manifest["documents"] == 2
    assert [d.id for d in iter_documents([corpus])] == ["corpus.jsonl:1", "corpus.jsonl:2"]
    for one in (str(corpus), corpus):
        with pytest.raises(TypeError, match=r"inputs is a list of paths, e.g. \[.*corpus.jsonl'\], not one"):
            segment_corpus(one, tmp_path / "out2", SpacePatcher(), options=options)
        with pytest.raises(TypeError, match="inputs is a list of paths"):
            list(iter_documents(one))
    with pytest.raises(TypeError, match="input 1 must be a path .* got int: 3"):
        segment_corpus([corpus, 3], tmp_path / "out3", SpacePatcher(), options=options)
    assert not (tmp_path / "out2").exists() and not (tmp_path / "out3").exists()
    from bytepatch.segment.ray_engine import segment_with_ray

    with pytest.raises(TypeError, match="inputs is a list of paths"):  # before Ray starts
        segment_with_ray(str(corpus), tmp_path / "out4", SpacePatcher(), ReaderConfig(), options)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"workers": 2.0}, "workers must be an integer, got 2.0"),
        ({"threads": 2.5}, "threads must be an integer, got 2.5"),
        ({"window_bytes": 1e6}, "window_bytes must be an integer"),
        ({"shard_size_mb": "64"}, "--shard-size-mb must be a positive number, got '64'"),
    ],
)
def test_segment_options_of_the_wrong_type_are_refused_naming_them(options, message):
    """workers=2.0 failed inside the run ("'float' object cannot be interpreted as an
    integer"), shard_size_mb="64" in math.isfinite ("must be real number, not str"), and
    threads=2.5 was taken as it was."""
    from bytepatch.segment import SegmentOptions

    with pytest.raises(ValueError, match=message):
        SegmentOptions(**options)
    assert SegmentOptions(workers=2, shard_size_mb=1).shard_size_mb == 1
