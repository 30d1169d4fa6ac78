"""Bounded memory on hostile input: streaming decompression and --max-document-bytes (issue 13.6)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bytepatch.io import InputError, ReaderConfig, read_source

CAP = 1 << 20


def read(path: Path, **kw) -> list:
    return list(read_source(str(path), ReaderConfig(max_document_bytes=CAP, **kw)))


def bomb(path: Path, n_bytes: int, line: bytes | None = None) -> Path:
    """A small gzip file that inflates to `n_bytes` (zeros), or one line of it."""
    with gzip.open(path, "wb", compresslevel=9) as f:
        if line is not None:
            f.write(line)
        for _ in range(n_bytes >> 20):
            f.write(b"\0" * (1 << 20))
    return path


def test_a_gzip_bomb_stops_at_the_cap_naming_the_file(tmp_path):
    path = bomb(tmp_path / "bomb.txt.gz", 64 << 20)
    assert path.stat().st_size < 200_000
    with pytest.raises(
        InputError, match=r"bomb.txt.gz: document is over --max-document-bytes \(1,048,576\) after decompression"
    ):
        read(path)


def test_a_gzip_bomb_never_holds_more_than_the_cap(tmp_path):
    """Peak memory stays near the cap, not the inflated size (a subprocess, so RSS is its own)."""
    path = bomb(tmp_path / "bomb.txt.gz", 512 << 20)
    code = (
        "import sys; from bytepatch.io import ReaderConfig, read_source, InputError\n"
        "try: list(read_source(sys.argv[1], ReaderConfig(max_document_bytes=1 << 20)))\n"
        "except InputError as e: print(e)\n"
    )
    # A fresh parent measures its only child: ru_maxrss survives exec, so a child forked
    # straight from this (large) test process would report the test's own size.
    parent = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", parent, sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    message, peak_kb = out.splitlines()[0], int(out.splitlines()[-1])
    assert "over --max-document-bytes" in message
    assert peak_kb < 400_000, f"{peak_kb / 1e3:.0f} MB peak for a 1 MB cap"


def test_a_gzipped_jsonl_line_without_end_is_refused_naming_the_line(tmp_path):
    path = bomb(tmp_path / "lines.jsonl.gz", 8 << 20, line=b'{"text": "ok"}\n{"text": "')
    with pytest.raises(InputError, match=r"lines.jsonl.gz:2: no end of line within"):
        read(path)


def test_a_jsonl_document_over_the_cap_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps({"text": "ok"}) + "\n" + json.dumps({"text": "é" * CAP}) + "\n")
    with pytest.raises(InputError, match=r"big.jsonl:2: (document of 2,097,152 bytes is over|no end of line)"):
        read(path)


def test_text_lines_over_the_cap_are_refused(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_bytes(b"short\n" + b"x" * (CAP + 10) + b"\n")
    with pytest.raises(InputError, match=r"lines.txt:2: no end of line"):
        read(path, doc_per_line=True)
    with pytest.raises(InputError, match=r"lines.txt: document of 1,048,593 bytes is over --max-document-bytes"):
        read(path)


def test_a_parquet_cell_over_the_cap_is_refused_naming_the_row(tmp_path):
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"text": ["a", "b" * (CAP + 1)]}), path)
    with pytest.raises(InputError, match=r"big.parquet \(row 1\): document of 1,048,577 bytes is over"):
        read(path)


def test_documents_up_to_the_cap_are_read_exactly(tmp_path):
    path = bomb(tmp_path / "exact.txt.gz", CAP)
    (doc,) = read(path)
    assert bytes(doc.data) == b"\0" * CAP


def test_the_cli_option(tmp_path):
    from click.testing import CliRunner

    from bytepatch.cli.main import cli

    path = tmp_path / "doc.txt"
    path.write_bytes(b"y" * 5000)
    result = CliRunner().invoke(
        cli, ["segment", str(path), "-o", str(tmp_path / "o"), "--patcher", "space", "--max-document-bytes", "4096"]
    )
    assert (
        result.exit_code == 1
        and "doc.txt: document of 5,000 bytes is over --max-document-bytes (4,096)" in result.output
    )
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_a_text_file_over_the_cap_is_refused_naming_it_and_one_at_the_cap_is_read(tmp_path):
    over = tmp_path / "over.txt"
    over.write_bytes(b"x" * (CAP + 1))
    with pytest.raises(InputError, match="over --max-document-bytes") as err:
        read(over)
    assert "over.txt" in str(err.value)
    exact = tmp_path / "exact.txt"
    exact.write_bytes(b"y" * CAP)
    (doc,) = read(exact)
    assert doc.data == b"y" * CAP


def test_a_plain_file_is_read_in_one_go_and_anything_unusual_goes_the_general_way(tmp_path):
    from bytepatch.io.text import _read_plain_file

    path = tmp_path / "a.txt"
    path.write_bytes(b"hello\n")
    assert _read_plain_file(str(path), CAP) == b"hello\n"
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert _read_plain_file(str(empty), CAP) == b""
    assert _read_plain_file(str(path), 3) is None  # over the cap: the general path names it
    assert _read_plain_file(str(tmp_path / "missing.txt"), CAP) is None  # so does a missing file
    assert _read_plain_file("/dev/null", CAP) is None  # not a regular file: read as a stream
    if hasattr(os, "mkfifo"):  # a pipe is not even opened here (opening waits for a writer)
        pipe = tmp_path / "pipe"
        os.mkfifo(pipe)
        got: list = []
        probe = threading.Thread(target=lambda: got.append(_read_plain_file(str(pipe), CAP)), daemon=True)
        probe.start()
        probe.join(timeout=10)
        assert got == [None]
    assert [bytes(d.data) for d in read(Path("/dev/null"))] == [b""]
