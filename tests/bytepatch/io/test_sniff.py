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
    assume(not any(data.startswith(m) for o, m, _ in SIGNATURES if o == 0) and data[257:263] != b"ustar ")
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


def test_names_alone_refuse_nothing_but_compressed_content_is_refused(tmp_path: Path):
    """Refusing by suffix refused text (a crawl's `globo.com.br` of HTML); the bytes decide."""
    cases = {
        "d.jsonl.xz": (lzma.compress(TEXT), "looks like xz-compressed data"),
        "d.txt.bz2": (bz2.compress(TEXT), "looks like bzip2-compressed data"),
        "p.parquet.gz": (gzip.compress(parquet_bytes(tmp_path)), "looks like a Parquet file"),
        "blob.br": (
            bytes([0x8B, 0x02, 0x80, 0x01]) + bytes(range(128, 256)),
            "looks like Brotli-compressed data \\(its name",
        ),
    }
    for name, (data, match) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match=f"{name}: {match}"):
            list(read_source(str(tmp_path / name), ReaderConfig()))
    texts = {"globo.com.br": b"<html>ol\xc3\xa1</html>", "notes.tar": TEXT, "old.lzma": b"plain notes\n"}
    texts["latin1.com.br"] = "<title>Notícias</title>\r\n".encode("latin-1")  # not UTF-8, still text
    # "custard" puts "ustar" at byte 257: not a tar header ("ustar\0" or "ustar ").
    texts["recipe.txt"] = b"x" * 256 + b"custard pie\n"
    for name, data in texts.items():
        (tmp_path / name).write_bytes(data)
        assert [d.data for d in read_source(str(tmp_path / name), ReaderConfig())] == [data]
        assert detect_format(name) == "text"


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
    cut = tmp_path / "cut.json"  # a JSON Lines download cut in its last line
    cut.write_text(lines.read_text() + '{"text": "thr')
    with pytest.raises(InputError, match=r"cut.json:3: malformed JSON") as err:
        list(read_source(str(cut), ReaderConfig()))
    assert "JSON Lines" not in str(err.value)
    package = tmp_path / "package.json"  # one minified JSON document
    package.write_text('{"name": "x", "version": "1.0"}\n')
    with pytest.raises(InputError, match=r"package.json:1: missing field 'text'.*read as JSON Lines: --text-field"):
        list(read_source(str(package), ReaderConfig()))
    blank_first = tmp_path / "spaced.json"  # a document after a blank line: its first line holding anything
    blank_first.write_text('\n{\n  "text": "x"\n}\n')
    with pytest.raises(InputError, match=r"spaced.json:2: malformed JSON.*--input-format text"):
        list(read_source(str(blank_first), ReaderConfig()))


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


def test_a_file_named_as_compressed_is_refused_before_the_run_writes_anything(tmp_path: Path):
    """Found on reading, a `.zst` corpus stopped the run after the files before it were
    patched into shards; named so, it is now sniffed when the inputs are listed. A text
    file under such a name is still taken."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("plain text first\n")
    (corpus / "b.txt.xz").write_bytes(lzma.compress(TEXT))
    out = tmp_path / "out"
    args = ["segment", str(corpus), "--patcher", "space", "-q", "--shard-size-mb", "0.000001", "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and f"Error: {corpus / 'b.txt.xz'}: looks like xz-compressed data" in result.output
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())
    (corpus / "b.txt.xz").write_bytes(b"notes about xz, in plain text\n")
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert len(list(open_dataset(out))) == 2


def test_an_arrow_ipc_stream_is_read_as_arrow_under_arrows_and_refused_as_text(tmp_path: Path):
    """An Arrow IPC stream has no magic bytes, so a `.arrows` file (the Arrow project's name
    for the stream format) was taken as one text document of its raw bytes, exit 0; so was
    a stream under a text name."""
    table = pa.table({"text": ["hello", "world"]})
    stream = tmp_path / "corpus.arrows"
    with pa.ipc.new_stream(stream, table.schema) as writer:
        writer.write_table(table)
    assert detect_format(str(stream)) == "arrow"
    assert [(d.id, d.data) for d in read_source(str(stream), ReaderConfig())] == [
        (f"{stream}#0", b"hello"),
        (f"{stream}#1", b"world"),
    ]
    assert binary_kind(stream.read_bytes()) == "an Arrow IPC stream"
    named_text = tmp_path / "stream.bin"
    named_text.write_bytes(stream.read_bytes())
    with pytest.raises(InputError, match=r"stream.bin: looks like an Arrow IPC stream \(its first bytes\)"):
        list(read_source(str(named_text), ReaderConfig()))
    assert binary_kind("ÿÿÿÿ! in Latin-1".encode("latin-1")) is None  # the marker alone is not a stream
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["segment", str(stream), "--patcher", "space", "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [bytes(r.bytes) for r in open_dataset(out)] == [b"hello", b"world"]


UTF16_TEXT = "Grüße, zweite Zeile: ĊĀ\nsecond line\n"  # Ċ is U+010A: byte 0x0A inside a character


@pytest.mark.parametrize(
    "codec, named",
    [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32"), ("utf-32-be", "UTF-32")],
)
def test_utf16_and_utf32_text_is_refused_naming_its_encoding(tmp_path: Path, codec: str, named: str):
    """Text in UTF-16 or UTF-32 (a Windows export, as its byte order mark says) was patched
    as its raw bytes, half of them NULs, with exit 0; with --doc-per-line its lines were cut
    at every 0x0A byte, inside characters (`\\n\\x00` in UTF-16LE left the `\\x00` to the
    next line), so the documents were no longer text in any encoding."""
    bom = "" if codec in ("utf-16", "utf-32") else "\ufeff"  # Python writes the mark for these two only
    data = (bom + UTF16_TEXT).encode(codec)
    path = tmp_path / "export.txt"
    path.write_bytes(data)
    for cfg in (ReaderConfig(), ReaderConfig(doc_per_line=True)):
        with pytest.raises(InputError, match=rf"{path}: looks like {named} text \(its byte order mark\), not UTF-8"):
            list(read_source(str(path), cfg))
    assert [d.data for d in read_source(str(path), ReaderConfig(input_format="text"))] == [data]
    assert binary_kind(data) is None  # text, though not UTF-8: not reported as binary data
    gz = tmp_path / "export.txt.gz"
    gz.write_bytes(gzip.compress(data))
    with pytest.raises(InputError, match=rf"export.txt.gz: looks like {named} text"):
        list(read_source(str(gz), ReaderConfig()))
    jsonl = tmp_path / "export.jsonl"  # JSON Lines must be UTF-8: say why the first line is refused
    jsonl.write_bytes((bom + '{"text": "a"}\n').encode(codec))
    with pytest.raises(InputError, match=rf"export.jsonl:1: looks like {named} text \(its byte order mark\)"):
        list(read_source(str(jsonl), ReaderConfig()))


@pytest.mark.parametrize("extra", [(), ("--doc-per-line",), ("--threads", "2")])
def test_segment_refuses_utf16_text_in_a_directory(tmp_path: Path, extra):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "a.txt").write_text("plain UTF-8\n")
    (corpus / "b.txt").write_bytes(UTF16_TEXT.encode("utf-16"))
    args = ["segment", str(corpus), "--patcher", "space", "-q", *extra]
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert f"Error: {corpus / 'b.txt'}: looks like UTF-16 text (its byte order mark)" in result.output
    assert not (tmp_path / "out" / "manifest.json").exists()
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "forced"), "--input-format", "text"])
    assert result.exit_code == 0, result.output


def test_latin1_and_text_that_merely_starts_with_bom_like_letters_are_still_text(tmp_path: Path):
    for data in (
        "Grüße\n".encode("latin-1"),
        "\ufeffUTF-8 with its BOM\n".encode(),
        "ÿes, Latin-1\n".encode("latin-1"),
    ):
        (tmp_path / "t.txt").write_bytes(data)
        assert [d.data for d in read_source(str(tmp_path / "t.txt"), ReaderConfig())] == [data]
