"""Fuzzing the corpus readers (issue 13.11): random and damaged JSONL, text, Parquet and
Arrow files give either a clean `InputError` naming the file, or exactly the rows an
independent reading of the same bytes gives. Never another exception, never other data."""

from __future__ import annotations

import gzip
import io
import json
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bytepatch.io import InputError, ReaderConfig, read_source
from bytepatch.io.sniff import binary_kind, foreign_encoding
from tests.fuzz_mutations import mutation

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
texts = st.lists(st.text(max_size=40), min_size=1, max_size=8)


def read(path: Path, **kw) -> list[tuple[str, bytes]] | InputError:
    try:
        return [(d.id, bytes(d.data)) for d in read_source(str(path), ReaderConfig(**kw))]
    except InputError as exc:
        assert str(path) in str(exc), f"error does not name the file: {exc}"
        return exc


def write(data: bytes, suffix: str, scratch: Path) -> Path:
    d = Path(tempfile.mkdtemp(prefix="fuzz-", dir=scratch))
    path = d / f"input{suffix}"
    path.write_bytes(data)
    return path


def jsonl_reference(data: bytes, name: str) -> list[tuple[str, bytes]] | None:
    """An independent reading: every non-blank line (blank: JSON whitespace only) a JSON
    object with a string "text"."""
    rows = []
    for i, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip(b" \t\r"):
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
            text = obj["text"]
            if not isinstance(text, str):
                return None
            rows.append((f"{name}:{i}", text.encode("utf-8")))
        except (ValueError, KeyError, TypeError, UnicodeError):
            return None
    return rows


@SETTINGS
@given(texts, mutation(), st.booleans())
def test_jsonl(scratch, values, damage, gz):
    clean = "".join(json.dumps({"text": t}) + "\n" for t in values).encode()
    data = damage(clean)
    path = write(gzip.compress(data) if gz else data, ".jsonl.gz" if gz else ".jsonl", scratch)
    got = read(path)
    expected = jsonl_reference(data, str(path))
    if isinstance(got, InputError):
        assert (
            expected is None
            or any(len(line) > 0 and line.strip() == b"" for line in data.split(b"\n"))
            or expected is None
        )
    else:
        assert got == expected


@SETTINGS
@given(st.binary(max_size=400), st.booleans())
@example(b"\xff\xfeU\x00\n\x00", True)  # UTF-16LE: refused, not cut at its 0x0A bytes
def test_text_is_read_byte_for_byte(scratch, data, per_line):
    """Any bytes, as they are: always with --input-format text; guessed (a .txt name),
    unless their first bytes are a compressed or binary format's, or a UTF-16/32 byte
    order mark (io/sniff.py)."""
    path = write(data, ".txt", scratch)
    got = read(path, doc_per_line=per_line)
    if binary_kind(data) is not None:
        assert isinstance(got, InputError) and "not text" in str(got)
        got = read(path, doc_per_line=per_line, input_format="text")
    elif foreign_encoding(data) is not None:
        assert isinstance(got, InputError) and "byte order mark), not UTF-8" in str(got)
        got = read(path, doc_per_line=per_line, input_format="text")
    if not per_line:
        assert got == [(str(path), data)]
    else:
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines = lines[:-1]
        assert got == [(f"{path}:{i}", line) for i, line in enumerate(lines, start=1)]


@SETTINGS
@given(mutation())
def test_damaged_gzip_text(scratch, damage):
    clean = gzip.compress(b"some text to compress " * 40)
    path = write(damage(clean), ".txt.gz", scratch)
    got = read(path)
    try:
        data = path.read_bytes()
        # Python's gzip reads zero bytes as an empty stream; `gzip -t` and bytepatch refuse it.
        expected = gzip.decompress(data) if data else None
    except Exception:  # noqa: BLE001 - any failure of the reference means: must be refused
        expected = None
    if isinstance(got, InputError):
        assert expected is None
    else:
        assert expected is not None and got == [(str(path), expected)]


def _table(values: list[str]) -> pa.Table:
    return pa.table({"text": values, "id": [f"d{i}" for i in range(len(values))]})


def _columnar_reference(path: Path, fmt: str) -> list[bytes] | None:
    try:
        if fmt == "parquet":
            table = pq.read_table(path, columns=["text"])  # what the reader reads
        else:
            with pa.memory_map(str(path)) as src:
                try:
                    table = pa.ipc.open_file(src).read_all()
                except pa.ArrowInvalid:
                    src.seek(0)
                    table = pa.ipc.open_stream(src).read_all()
        table.validate(full=True)
        col = table.column("text")
        if col.null_count or col.type not in (pa.string(), pa.large_string(), pa.binary(), pa.large_binary()):
            return None
        return [v.encode() if isinstance(v, str) else v for v in col.to_pylist()]
    except Exception:  # noqa: BLE001 - whatever the reference cannot read must be refused
        return None


@SETTINGS
@given(texts, mutation(), st.sampled_from(["parquet", "arrow-file", "arrow-stream"]))
def test_parquet_and_arrow(scratch, values, damage, fmt):
    sink = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(_table(values), sink)
    else:
        table = _table(values)
        writer = pa.ipc.new_file if fmt == "arrow-file" else pa.ipc.new_stream
        with writer(sink, table.schema) as w:
            w.write_table(table)
    kind = "parquet" if fmt == "parquet" else "arrow"
    path = write(damage(sink.getvalue()), f".{kind}", scratch)
    got = read(path)
    expected = _columnar_reference(path, kind)
    if isinstance(got, InputError):
        return  # refusing is always allowed for damaged binary input
    assert expected is not None, "read rows the reference could not read"
    assert [b for _, b in got] == expected
