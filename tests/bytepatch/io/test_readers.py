"""Corpus readers: every format, exact bytes, and errors that name file and line/row."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bytepatch.io import InputError, ReaderConfig, expand_inputs, iter_documents, read_source


def docs_of(*inputs: str, **kw) -> list[tuple[str, bytes]]:
    return [(d.id, d.data) for d in iter_documents(list(inputs), **kw)]


def test_text_files_are_kept_byte_exact(tmp_path: Path):
    raw = b"caf\xc3\xa9 \xff\xfe invalid utf-8 \x00 NUL\r\n"
    (tmp_path / "a.txt").write_bytes(raw)
    assert docs_of(str(tmp_path / "a.txt")) == [("a.txt", raw)]  # ids name the file, not the cwd path


def test_doc_per_line_keeps_every_line(tmp_path: Path):
    p = tmp_path / "lines.txt"
    p.write_bytes(b"one\n\nthree\r\nfour")
    got = docs_of(str(p), doc_per_line=True)
    assert got == [("lines.txt:1", b"one"), ("lines.txt:2", b""), ("lines.txt:3", b"three\r"), ("lines.txt:4", b"four")]


def test_jsonl_and_gzip(tmp_path: Path):
    lines = [{"text": "héllo", "id": "a"}, {"text": "", "id": 7}]
    body = "\n".join(json.dumps(x) for x in lines) + "\n\n"
    (tmp_path / "a.jsonl").write_text(body)
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as f:
        f.write(body)
    expected = [("a", "héllo".encode()), ("7", b"")]
    assert docs_of(str(tmp_path / "a.jsonl"), id_field="id") == expected
    assert docs_of(str(tmp_path / "b.jsonl.gz"), id_field="id") == expected
    assert docs_of(str(tmp_path / "a.jsonl"))[0][0] == "a.jsonl:1"


@pytest.mark.parametrize(
    "line, message",
    [
        (b'{"text": "ok"', "malformed JSON"),
        (b'{"body": "x"}', "missing field 'text'"),
        (b'{"text": 3}', "'text' is a number, not a string"),
        (b'{"text": null}', "'text' is null"),
        (b'["text"]', "expected a JSON object"),
        (b'{"text": "\xff"}', "invalid UTF-8"),
        (b'{"text": "\\ud800"}', "lone surrogate"),
        (b'{"text": "a", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),  # not a RecursionError
        ('{"text": "\u00e9"}'.encode("utf-16-le"), "invalid UTF-8"),  # not guessed to be UTF-16
        (b'\xef\xbb\xbf{"text": "a"}', "malformed JSON"),  # a byte order mark is for line 1 only
        (b'{"text": ' + b"1" * 5000 + b"}", "'text' is a number, not a string"),
        (b"\x0b", "malformed JSON"),  # vertical tab and form feed: whitespace to Python, not to JSON
        (b"\x0c", "malformed JSON"),
        (b" \x0c\r", "malformed JSON"),
    ],
)
def test_bad_jsonl_lines_name_file_and_line(tmp_path: Path, line: bytes, message: str):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(b'{"text": "fine"}\n' + line + b"\n")
    with pytest.raises(InputError, match=message) as err:
        docs_of(str(p))
    assert err.value.line == 2 and str(p) in str(err.value)


@pytest.mark.parametrize(
    "head, kind",
    [
        (gzip.compress(b'{"text": "a"}\n' * 50), "gzip-compressed data"),
        (b"\xfd7zXZ\x00\x00\x04\xe6\xd6\xb4F", "xz-compressed data"),
        (b"PAR1\x15\x04\x15\x10\n", "a Parquet file"),
    ],
)
@pytest.mark.parametrize("id_field", [None, "id"])  # the fast reader, and the line reader alone
def test_a_jsonl_file_that_is_compressed_or_binary_says_so(tmp_path: Path, head: bytes, kind: str, id_field):
    """A `.jsonl` holding gzip (a download the server did not decompress), xz or Parquet
    was refused as `invalid UTF-8 at byte 1 (JSON must be UTF-8)`, which sent the user
    looking for a bad character: its first bytes say what it is, as for a text file."""
    p = tmp_path / "data.jsonl"
    p.write_bytes(head)
    with pytest.raises(InputError, match=f"looks like {kind} \\(its first bytes\\), not JSON Lines") as err:
        docs_of(str(p), id_field=id_field)
    assert err.value.line == 1 and str(p) in str(err.value)
    p.write_bytes(b'{"text": "fine", "id": "a"}\n' + head)  # the same bytes after line 1 are a bad line, as before
    with pytest.raises(InputError, match="invalid UTF-8|malformed JSON") as err:
        docs_of(str(p), id_field=id_field)
    assert err.value.line == 2


def test_jsonl_lines_the_fast_reader_takes_the_line_reader_takes_too(tmp_path: Path):
    """Both readers must agree, whichever one a block lands on (`id_field` forces the line
    reader): a byte order mark on line 1, an integer past Python's 4,300-digit limit in
    another field, a document under the cap whose escapes make its line 3x longer."""
    big = "\u00e9" * 500_000  # 1,000,000 bytes of UTF-8, 3,000,000 as escaped JSON
    lines = ['{"id": "a", "text": "x", "n": ' + "9" * 5000 + "}", json.dumps({"id": "b", "text": big})]
    p = tmp_path / "ok.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")
    cfg = ReaderConfig(id_field="id", max_document_bytes=1 << 20)
    assert [(d.id, d.data) for d in read_source(str(p), cfg)] == [("a", b"x"), ("b", big.encode())]


def test_an_id_that_cannot_be_stored_as_utf8_names_its_line(tmp_path: Path):
    p = tmp_path / "ids.jsonl"
    p.write_bytes(b'{"id": "ok", "text": "a"}\n{"id": "x\\ud800", "text": "b"}\n')
    with pytest.raises(InputError, match=r"ids.jsonl:2: id field 'id' holds a lone surrogate"):
        docs_of(str(p), id_field="id")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_gz_named_pipe_is_read_not_taken_for_an_empty_file(tmp_path: Path):
    import threading

    fifo = tmp_path / "p.jsonl.gz"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(gzip.compress(b'{"text": "a"}\n')))
    writer.start()
    try:
        assert [d for _, d in docs_of(str(fifo))] == [b"a"]
    finally:
        writer.join(timeout=10)


@pytest.mark.parametrize("name", ["empty.jsonl.gz", "empty.txt.gz"])
def test_an_empty_gz_file_is_not_an_empty_corpus(tmp_path: Path, name: str):
    """A zero-byte .gz (a failed download) is no gzip stream; gzip itself reads it as empty."""
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(InputError, match=f"{name}: empty file, not a gzip stream"):
        docs_of(str(tmp_path / name))


def test_a_truncated_gzip_read_by_lines_names_the_line_reached(tmp_path: Path):
    p = tmp_path / "lines.txt.gz"
    p.write_bytes(gzip.compress(b"".join(b"line %d\n" % i for i in range(20_000)))[:20_000])
    with pytest.raises(InputError, match=r"lines.txt.gz:\d+: cannot read after line \d+") as err:
        docs_of(str(p), doc_per_line=True)
    assert err.value.line > 1


def test_corrupt_gzip_is_an_error(tmp_path: Path):
    p = tmp_path / "x.jsonl.gz"
    p.write_bytes(gzip.compress(b'{"text": "a"}\n' * 1000)[:60])
    with pytest.raises(InputError, match="x.jsonl.gz"):
        docs_of(str(p))


def test_parquet_and_arrow(tmp_path: Path):
    table = pa.table({"text": ["a", "bé", ""], "key": ["x", "y", "z"]})
    pq.write_table(table, tmp_path / "t.parquet")
    with pa.OSFile(str(tmp_path / "t.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    with pa.OSFile(str(tmp_path / "s.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    expected = [("t.parquet#0", b"a"), ("t.parquet#1", "bé".encode()), ("t.parquet#2", b"")]
    assert docs_of(str(tmp_path / "t.parquet")) == expected
    assert [d for _, d in docs_of(str(tmp_path / "t.arrow"))] == [b"a", "bé".encode(), b""]
    assert [i for i, _ in docs_of(str(tmp_path / "s.arrow"), id_field="key")] == ["x", "y", "z"]


def test_view_typed_text_and_ids_read_like_strings(tmp_path: Path):
    """polars writes string_view columns by default (`write_ipc`); they were refused."""
    table = pa.table({"text": pa.array(["a", "bé"], pa.string_view()), "key": pa.array([b"x", b"y"], pa.binary_view())})
    pq.write_table(table, tmp_path / "v.parquet")
    with pa.OSFile(str(tmp_path / "v.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    for name in ("v.parquet", "v.arrow"):
        assert docs_of(str(tmp_path / name), id_field="key") == [("x", b"a"), ("y", "bé".encode())]


def test_a_binary_id_that_is_not_utf8_names_its_row(tmp_path: Path):
    """A binary id column's b"\\xff" became the text "\\xff" (exit 0), which a real id can
    be too: ids are stored as UTF-8, so an id without a UTF-8 spelling stops the run, as
    the JSONL reader's lone surrogate does."""
    table = pa.table({"text": ["a", "b", "c"], "key": pa.array([b"ok", b"\\xff", b"\xff"], pa.binary())})
    pq.write_table(table, tmp_path / "b.parquet")
    with pa.OSFile(str(tmp_path / "b.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    for name in ("b.parquet", "b.arrow"):
        with pytest.raises(InputError, match=rf"{name} \(row 2\): id column 'key' is not valid UTF-8"):
            docs_of(str(tmp_path / name), id_field="key")


def test_invalid_utf8_in_a_string_column_names_its_row(tmp_path: Path):
    """A string column holding bytes that are not UTF-8 (Arrow writers do not check) was
    refused as "(row 1000): corrupt or truncated data after row 1000: ... at string index
    500": the row of the batch's start, not the bad one, and a fault it is not. Now the
    row itself, as a split inside the file reads it too (Parquet row groups)."""
    from bytepatch.io import Span, expand_sources
    from bytepatch.io.splits import plan_splits

    values = [b"fine"] * 1500 + [b"bad \xff"] + [b"fine"] * 10
    table = pa.table({"text": pa.array(values, pa.binary()).view(pa.string())})
    pq.write_table(table, tmp_path / "u.parquet", row_group_size=400)
    with pa.OSFile(str(tmp_path / "u.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table, max_chunksize=1000)
    large = pa.table({"text": pa.array(values, pa.large_binary()).view(pa.large_string())})
    with pa.OSFile(str(tmp_path / "l.arrow"), "wb") as sink, pa.ipc.new_file(sink, large.schema) as w:
        w.write_table(large, max_chunksize=1000)
    expected = r"\(row 1500\): column 'text' is a string column holding invalid UTF-8 at byte 4"
    for name in ("u.parquet", "u.arrow", "l.arrow"):
        with pytest.raises(InputError, match=rf"{name} {expected}"):
            docs_of(str(tmp_path / name))
    cfg = ReaderConfig()
    splits = plan_splits(expand_sources([str(tmp_path / "u.parquet")]), cfg, 100)
    assert len(splits) > 1 and all(isinstance(span, Span) for _, span in splits)
    with pytest.raises(InputError, match=expected):
        for source, span in splits:
            list(read_source(source.path, cfg, span))


def test_invalid_utf8_in_a_dictionary_encoded_column_names_the_row_that_uses_it(tmp_path: Path):
    """A dictionary-encoded string column with a value that is not UTF-8 still said "corrupt
    or truncated data after row 0": the bad value sits in the dictionary, which the row check
    above did not look into. Now the first row that uses it; where none of a batch's rows does
    (Arrow refuses the batch all the same), the batch's first row, saying it is the dictionary."""
    values = pa.array([b"ok", b"bad \xff"], pa.binary()).view(pa.string())
    used = pa.DictionaryArray.from_arrays(pa.array([0] * 700 + [1] + [0] * 10, pa.int32()), values)
    with (
        pa.OSFile(str(tmp_path / "used.arrow"), "wb") as sink,
        pa.ipc.new_file(sink, pa.schema([("text", used.type)])) as w,
    ):
        w.write_table(pa.table({"text": used}))
    unused = pa.DictionaryArray.from_arrays(pa.array([0] * 20, pa.int32()), values)
    with (
        pa.OSFile(str(tmp_path / "unused.arrow"), "wb") as sink,
        pa.ipc.new_file(sink, pa.schema([("text", unused.type)])) as w,
    ):
        w.write_table(pa.table({"text": unused}))
    with pytest.raises(
        InputError,
        match=r"\(row 700\): column 'text' is a dictionary-encoded string column holding invalid UTF-8 at byte 4",
    ):
        docs_of(str(tmp_path / "used.arrow"))
    with pytest.raises(InputError, match=r"\(row 0\): column 'text' is a dictionary-encoded .* whose dictionary"):
        docs_of(str(tmp_path / "unused.arrow"))


def test_a_duplicated_column_name_is_an_error_naming_it(tmp_path: Path):
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"])], names=["text", "text"])
    pq.write_table(table, tmp_path / "dup.parquet")
    with pa.OSFile(str(tmp_path / "dup.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    for name in ("dup.parquet", "dup.arrow"):
        with pytest.raises(InputError, match=f"{name}: column 'text' appears 2 times"):
            docs_of(str(tmp_path / name))


def test_an_arrow_stream_cut_between_batches_is_warned_of(tmp_path: Path, capsys):
    """Such a stream reads as a shorter valid one; only its missing end marker tells."""
    table = pa.table({"text": [f"d{i}" for i in range(8)]})
    with pa.OSFile(str(tmp_path / "full.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        ends = []
        for batch in table.to_batches(max_chunksize=2):
            w.write_batch(batch)
            ends.append(sink.tell())
    (tmp_path / "cut.arrow").write_bytes((tmp_path / "full.arrow").read_bytes()[: ends[1]])
    assert len(docs_of(str(tmp_path / "full.arrow"))) == 8
    assert capsys.readouterr().err == ""
    assert len(docs_of(str(tmp_path / "cut.arrow"))) == 4
    assert (
        f"warning: {tmp_path / 'cut.arrow'}: the Arrow IPC stream has no end-of-stream marker"
        in capsys.readouterr().err
    )
    # The legacy framing (Spark 2 interop) ends with 4 zero bytes: complete, no warning.
    legacy = pa.ipc.IpcWriteOptions(use_legacy_format=True)
    with pa.OSFile(str(tmp_path / "legacy.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema, options=legacy) as w:
            w.write_table(table)
    assert len(docs_of(str(tmp_path / "legacy.arrow"))) == 8
    assert capsys.readouterr().err == ""


def test_columnar_errors(tmp_path: Path):
    pq.write_table(pa.table({"text": ["a", None]}), tmp_path / "null.parquet")
    with pytest.raises(InputError, match="row 1") as err:
        docs_of(str(tmp_path / "null.parquet"))
    assert err.value.row == 1
    pq.write_table(pa.table({"body": ["a"]}), tmp_path / "nocol.parquet")
    with pytest.raises(InputError, match="missing column 'text'"):
        docs_of(str(tmp_path / "nocol.parquet"))
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "ints.parquet")
    with pytest.raises(InputError, match="not string or binary"):
        docs_of(str(tmp_path / "ints.parquet"))
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"text": ["abc"] * 100}), good)
    (tmp_path / "trunc.parquet").write_bytes(good.read_bytes()[:-40])
    with pytest.raises(InputError, match="trunc.parquet"):
        docs_of(str(tmp_path / "trunc.parquet"))
    (tmp_path / "junk.arrow").write_bytes(b"not arrow at all")
    with pytest.raises(InputError, match="junk.arrow"):
        docs_of(str(tmp_path / "junk.arrow"))


def test_directories_globs_and_order(tmp_path: Path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "b.txt").write_bytes(b"b")
    (tmp_path / "d" / "sub" / "a.txt").write_bytes(b"a")
    (tmp_path / "d" / ".hidden").write_bytes(b"h")
    files = expand_inputs([str(tmp_path / "d")])
    assert files == [str(tmp_path / "d" / "b.txt"), str(tmp_path / "d" / "sub" / "a.txt")]
    assert expand_inputs([str(tmp_path / "d" / "**" / "*.txt")]) == sorted(files)
    # the same file twice is read once
    assert expand_inputs([str(tmp_path / "d" / "b.txt"), str(tmp_path / "d")]) == files


def test_missing_inputs_are_errors(tmp_path: Path):
    with pytest.raises(InputError, match="no such file"):
        expand_inputs([str(tmp_path / "nope.txt")])
    with pytest.raises(InputError, match="matches no files"):
        expand_inputs([str(tmp_path / "*.nothing")])


def test_unreadable_file(tmp_path: Path, monkeypatch):
    p = tmp_path / "secret.txt"
    p.write_bytes(b"x")
    p.chmod(0)
    if os.geteuid() == 0:  # root reads any file: inject the permission error open() would raise
        real_open = open

        def denying_open(file, *args, **kwargs):
            if str(file) == str(p):
                raise PermissionError(13, "Permission denied", str(p))
            return real_open(file, *args, **kwargs)

        real_os_open = os.open

        def denying_os_open(file, *args, **kwargs):
            if str(file) == str(p):
                raise PermissionError(13, "Permission denied", str(p))
            return real_os_open(file, *args, **kwargs)

        monkeypatch.setattr("builtins.open", denying_open)
        monkeypatch.setattr("os.open", denying_os_open)  # whole text files are opened with os.open
    with pytest.raises(InputError, match="secret.txt: cannot open: Permission denied"):
        docs_of(str(p))


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_read_error_names_the_file():
    # /proc/self/mem opens but fails on read (EIO) even for root: a real I/O error.
    with pytest.raises(InputError, match="/proc/self/mem: cannot read"):
        docs_of("/proc/self/mem")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_given_as_input_is_read_whole(tmp_path: Path):
    """A pipe is a stream: never opened and closed unread (what a writer had put in it would
    be lost, and the reader would then wait forever for another writer)."""
    import threading

    pipe = tmp_path / "stream.txt"
    os.mkfifo(pipe)
    payload = b"written through a pipe\n" * 1000

    def write() -> None:
        with open(pipe, "wb") as f:  # blocks until the reader opens the pipe
            f.write(payload)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    got: list = []
    reader = threading.Thread(target=lambda: got.extend(docs_of(str(pipe))), daemon=True)
    reader.start()
    reader.join(timeout=30)
    assert not reader.is_alive(), "reading the pipe hung"
    assert [bytes(data) for _, data in got] == [payload]


@pytest.mark.parametrize("writer", [pa.ipc.new_stream, pa.ipc.new_file])
def test_an_arrow_file_with_a_column_name_not_utf8_is_one_error_naming_it(tmp_path: Path, writer):
    """A damaged schema (a field name's bytes not UTF-8: Arrow does not check them) raised
    pyarrow's UnicodeDecodeError from `schema.names`, a traceback (found by test_fuzz_readers)."""
    path = tmp_path / "a.arrow"
    table = pa.table({"text": ["one", "two"], "zq": [1, 2]})
    with pa.OSFile(str(path), "wb") as sink, writer(sink, table.schema) as w:
        w.write_table(table)
    data = path.read_bytes()
    assert data.count(b"zq") >= 1
    path.write_bytes(data.replace(b"zq", b"\xe9q"))
    with pytest.raises(InputError, match="a column name is not valid UTF-8"):
        list(read_source(str(path), ReaderConfig()))


@pytest.mark.parametrize("keep", [0.99, 0.5, 0.05, 9])
def test_an_arrow_ipc_file_cut_short_says_so(tmp_path: Path, keep: float):
    """An IPC file (magic ARROW1) cut anywhere lacks its footer, written last; the reader
    then tried the stream format on it and said `Expected to read 1330795073 metadata bytes,
    but only read N` (the magic taken as a message length), which told nothing."""
    table = pa.table({"text": [f"row {i} " * 20 for i in range(500)]})
    full = tmp_path / "full.arrow"
    with pa.OSFile(str(full), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table, max_chunksize=50)
    data = full.read_bytes()
    cut = tmp_path / "cut.arrow"
    cut.write_bytes(data[: int(keep if keep > 1 else len(data) * keep)])
    with pytest.raises(InputError, match=r"cut.arrow: an Arrow IPC file without a readable footer .*cut short") as err:
        docs_of(str(cut))
    assert "metadata bytes" not in str(err.value)
