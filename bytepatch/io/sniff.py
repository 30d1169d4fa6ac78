"""What a file taken as text really holds, by its first bytes: compressed, archive and
binary container formats would otherwise be patched as their raw bytes (a `.zst`
corpus became documents of Zstandard frames, silently). A name alone decides nothing
(`notes.tar` may be text); only the compressions without a signature (`.br`, `.lzma`)
go by name, and then only when the bytes are not UTF-8 either (`globo.com.br` of HTML
is text).

Only files whose format was guessed (`--input-format auto`) are checked; `--input-format
text` takes any bytes as they are, for whoever means to patch them. Plain bytes that
match no signature (invalid UTF-8, NUL bytes) are text as far as bytepatch is concerned.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterable

from bytepatch.io.errors import InputError
from bytepatch.io.fs import open_listed, without_query

# (offset, signature, what it is). Each is long enough that text does not start with it
# by chance (gzip includes its method byte; bzip2 its block magic).
SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x1f\x8b\x08", "gzip-compressed data"),
    (0, b"\xfd7zXZ\x00", "xz-compressed data"),
    (0, b"\x28\xb5\x2f\xfd", "Zstandard-compressed data"),
    (0, b"\x04\x22\x4d\x18", "LZ4-compressed data"),
    (0, b"PK\x03\x04", "a zip archive (or a docx/xlsx/jar)"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (0, b"Rar!\x1a\x07", "a RAR archive"),
    (0, b"PAR1", "a Parquet file"),
    (0, b"ARROW1", "an Arrow IPC file"),
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF87a", "a GIF image"),
    (0, b"GIF89a", "a GIF image"),
    (0, b"%PDF-", "a PDF document"),
    (0, b"\x7fELF", "an executable (ELF)"),
    (0, b"SQLite format 3\x00", "an SQLite database"),
    (257, b"ustar\x00", "a tar archive"),  # POSIX
    (257, b"ustar ", "a tar archive"),  # GNU
)
HEAD_BYTES = 263  # enough for every signature above
_FIRST = {magic[0] for offset, magic, _ in SIGNATURES if offset == 0}
_BZIP2 = (b"BZh", b"1AY&SY")  # "BZh", a block size digit, then the first block's magic
# An Arrow IPC stream (what `.arrows` files, `datasets` caches and bytepatch's own shards
# hold) has no magic: it starts with the continuation marker, then the schema message's
# length, which the format pads to a multiple of 8. Four 0xFF bytes are not UTF-8, nor
# likely text in a single-byte encoding ("ÿ" is y with diaeresis in Latin-1).
_ARROW_CONTINUATION = b"\xff\xff\xff\xff"
_ARROW_MAX_SCHEMA = 1 << 26  # a schema message is small; text that happens to start so rarely gives one

# Byte order marks of the Unicode encodings other than UTF-8 (UTF-32 first: its
# little-endian mark starts with UTF-16's). Such text is refused like binary data, with its
# own advice: patched as it is, half its bytes or more are NULs, and --doc-per-line cuts it
# at every 0x0A byte, inside characters (UTF-16LE's newline is 0A 00). A single-byte text
# starting so ("ÿþ" in Latin-1) is all but unheard of; UTF-8's own mark is UTF-8.
BOMS: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xfe\x00\x00", "UTF-32", "little-endian"),
    (b"\x00\x00\xfe\xff", "UTF-32", "big-endian"),
    (b"\xff\xfe", "UTF-16", "little-endian"),
    (b"\xfe\xff", "UTF-16", "big-endian"),
)


def foreign_encoding(head: bytes | bytearray | memoryview) -> str | None:
    """The encoding (UTF-16 or UTF-32) whose byte order mark `head` starts with, if any."""
    head = bytes(head[:4])
    for mark, encoding, _ in BOMS:
        if head.startswith(mark):
            return encoding
    return None


def encoding_advice(encoding: str) -> str:
    return f"looks like {encoding} text (its byte order mark), not UTF-8"


# Compressions without a signature: named by the suffix, refused when the bytes are not
# UTF-8 either (a host name like `globo.com.br` holding HTML is text).
UNSIGNED_SUFFIXES = {".br": "Brotli-compressed data", ".lzma": "LZMA-compressed data"}


# Names of compressed or archived data that bytepatch does not open (it reads `.gz`): a
# listed file so named is sniffed before the run starts (`check_named_inputs`), so a run
# stops before patching the files listed ahead of it. Any other name is sniffed on reading.
COMPRESSED_SUFFIXES = (".zst", ".zstd", ".xz", ".bz2", ".lz4", ".br", ".lzma", ".zip", ".7z", ".rar", ".tar")


def binary_kind(head: bytes | bytearray | memoryview) -> str | None:
    """What the first bytes of a file say it is (None: nothing but text, as far as known)."""
    head = bytes(head[:HEAD_BYTES])
    if head[:1] and head[0] in _FIRST:
        for offset, magic, kind in SIGNATURES:
            if offset == 0 and head.startswith(magic):
                return kind
    if head.startswith(_BZIP2[0]) and head[3:4].isdigit() and head[4:10] == _BZIP2[1]:
        return "bzip2-compressed data"
    if head.startswith(_ARROW_CONTINUATION) and len(head) >= 8:
        length = int.from_bytes(head[4:8], "little", signed=True)
        if 0 < length <= _ARROW_MAX_SCHEMA and length % 8 == 0:
            return "an Arrow IPC stream"
    if head[257:263] in (b"ustar\x00", b"ustar "):
        return "a tar archive"
    return None


def check_text(where: str, head: bytes | bytearray | memoryview) -> None:
    """Refuse a file guessed to be text whose first bytes say it is something else (or,
    for a compression without a signature, whose name says so and bytes are not UTF-8)."""
    kind, why = binary_kind(head), "its first bytes"
    encoding = foreign_encoding(head) if kind is None else None
    if encoding is not None:
        raise InputError(
            where,
            f"{encoding_advice(encoding)}: its bytes would be patched as they are, and --doc-per-line "
            f"would cut lines inside its characters; convert it (iconv -f {encoding} -t UTF-8), "
            "or pass --input-format text to take its bytes as they are",
        )
    if kind is None:
        name = without_query(where)  # a URI's query holds options, not a suffix
        dot = name.rfind(".")
        unsigned = UNSIGNED_SUFFIXES.get(name[dot:].lower()) if dot >= 0 else None
        if unsigned is not None and _not_text(bytes(head[:HEAD_BYTES])):
            kind, why = unsigned, "its name, and bytes that are neither UTF-8 nor text"
    if kind is not None:
        raise InputError(
            where,
            f"looks like {kind} ({why}), not text; decompress or convert it, "
            "or pass --input-format text to take its bytes as they are",
        )


def check_named_inputs(paths: Iterable[str]) -> None:
    """`check_text` on each regular file among `paths` whose name is that of compressed or
    archived data (COMPRESSED_SUFFIXES), by its first bytes; other names cost nothing."""
    for path in paths:
        if not path.lower().endswith(COMPRESSED_SUFFIXES):
            continue
        try:
            # Listed as regular files: one replaced by a FIFO since is refused, not waited on.
            with os.fdopen(open_listed(path, True), "rb") as f:
                head = f.read(HEAD_BYTES)
        except OSError:
            continue  # not readable (or not a file): its reader names the error
        check_text(path, head)


_CONTROLS = frozenset(range(32)) - {9, 10, 12, 13}  # C0 controls text does not hold (tab, LF, FF, CR aside)


def _not_text(head: bytes) -> bool:
    """Whether `head` is neither UTF-8 (but for a character cut at its end) nor text in a
    single-byte encoding (Latin-1, cp1252: no C0 controls), as compressed data is."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return bool(_CONTROLS.intersection(head))
    return False
