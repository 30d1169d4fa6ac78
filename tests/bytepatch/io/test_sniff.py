"""Files taken as text by their name, whose bytes or name say otherwise, are refused
naming them (a `.zst` corpus, a PNG in a docs folder were patched as raw bytes)."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import assume, given
from hypothesis import strategies as st

from bytepatch import open_dataset
from bytepatch.cli.main import cli
from bytepatch.io import InputError, ReaderConfig, detect_format, read_source
from bytepatch.io.sniff import SIGNATURES, binary_kind

TEXT = b"Plain text, even with \x00 NUL bytes and \xff invalid UTF-8, is text.\n"


def parquet_bytes(tmp_path: Path) -> bytes:
    pq.write_table(pa.table({"text": ["a"]}), tmp_path / "t.parquet")
    return (tmp_path / "t.parquet").read_bytes()


def samples(tmp_path: Path) -> dict[str, bytes]:
    return {
        "gzip": gzip.compress(TEXT),
        "xz": lzma.compress(TEXT),
        "bzip2": bz2.compress(TEXT),
        "Parquet": parquet_bytes(tmp_path),
        "PNG": b"\x89PNG\r\n\x1a\n" + bytes(40),
        "tar": b"name.txt".ljust(257, b"\x00") + b"ustar\x0000" + bytes(100),
    }


def test_every_signature_is_recognised_and_text_is_not(tmp_path: Path):
    for offset, magic, kind in SIGNATURES:
        assert binary_kind(bytes(offset) + magic + bytes(8)) == kind
    for name, data in samples(tmp_path).items():
        assert name in binary_kind(data), name
    assert binary_kind(TEXT) is None and binary_kind(b"") is None
    assert binary_kind(b"BZh is how this line starts") is None  # bzip2 needs its block magic too


@given(st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=300))
def test_prose_is_text(text: str):
    data = text.encode()
    assume(not any(data.startswith(m) for o, m, _ in SIGNATURES if o == 0) and data[257:262] != b"ustar")
    assert binary_kind(data) is None


def test_compressed_or_binary_files_named_or_guessed_text_are_refused(tmp_path: Path):
    for name, data in samples(tmp_path).items():
        path = tmp_path / f"{name}.txt"
        path.write_bytes(data)
        for cfg in (ReaderConfig(), ReaderConfig(doc_per_line=True)):
            with pytest.raises(InputError, match=f"{path}: looks like .*not text.*--input-format text"):
                list(read_source(str(path), cfg))
        # Forced, the bytes are taken as they are.
        assert [d.data for d in read_source(str(path), ReaderConfig(input_format="text"))] == [data]
    (tmp_path / "inside.txt.gz").write_bytes(gzip.compress(samples(tmp_path)["PNG"]))
    with pytest.raises(InputError, match="inside.txt.gz: looks like a PNG image"):
        list(read_source(str(tmp_path / "inside.txt.gz"), ReaderConfig()))


@pytest.mark.parametrize(
    "name, match",
    [
        ("d.jsonl.xz", "xz files are not read"),
        ("d.jsonl.bz2", "bzip2 files are not read"),
        ("d.txt.zst", "Zstandard files are not read"),
        ("corpus.tar", "tar files are not read"),
        ("p.parquet.gz", "a gzip-compressed columnar file is not read: gunzip it"),
    ],
)
def test_compressed_suffixes_other_than_gz_are_refused_by_name(name: str, match: str):
    with pytest.raises(InputError, match=f"{name}: {match}"):
        detect_format(name)
    assert detect_format(name, "text") == "text"


def test_json_files_are_json_lines_and_a_whole_json_document_is_told_so(tmp_path: Path):
    lines = tmp_path / "hf.json"
    lines.write_text(json.dumps({"text": "one"}) + "\n" + json.dumps({"text": "two"}) + "\n")
    assert detect_format(str(lines)) == "jsonl"
    assert [d.data for d in read_source(str(lines), ReaderConfig())] == [b"one", b"two"]
    pretty = tmp_path / "config.json"
    pretty.write_text('{\n  "text": "x"\n}\n')
    with pytest.raises(InputError, match=r"config.json:1: malformed JSON.*read as JSON Lines.*--input-format text"):
        list(read_source(str(pretty), ReaderConfig()))
    assert [d.data for d in read_source(str(pretty), ReaderConfig(input_format="text"))] == [pretty.read_bytes()]
    # A JSON Lines problem of a .json file gets no such hint: it is JSON Lines.
    with pytest.raises(InputError, match=r"hf.json:1: missing id field 'id'$"):
        list(read_source(str(lines), ReaderConfig(id_field="id")))


@pytest.mark.parametrize("extra", [(), ("--doc-per-line",), ("--threads", "2")])
def test_segment_refuses_an_image_in_a_directory_and_takes_it_when_told(tmp_path: Path, extra):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A page\n")
    (corpus / "logo.png").write_bytes(samples(tmp_path)["PNG"])
    args = ["segment", str(corpus), "--patcher", "space", "-q", *extra]
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "out")])
    assert result.exit_code == 1 and f"Error: {corpus / 'logo.png'}: looks like a PNG image" in result.output
    assert not (tmp_path / "out" / "manifest.json").exists()
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "forced"), "--input-format", "text"])
    assert result.exit_code == 0, result.output
    assert b"".join(r.bytes for r in open_dataset(tmp_path / "forced")).startswith(b"# A page")
