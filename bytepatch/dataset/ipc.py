"""Arrow IPC record batch messages whose buffers are compressed one by one, or kept raw.

The Arrow IPC format compresses each body buffer on its own: a compressed buffer is its
uncompressed length (int64) then an LZ4 frame, and a length of -1 marks one stored as is
(Arrow's C++ writer does this for buffers that do not shrink enough, so readers decode
it; tests hold that pyarrow, polars and Hugging Face `datasets` do). pyarrow's writer
offers one choice for the whole batch, so this module writes the message itself:

- offsets, ids and patch lengths (small integers, repetitive) are LZ4-compressed: 3-5x
  smaller at GB/s;
- document bytes and floating-point values are stored raw. LZ4 halves text at ~0.4
  GB/s, the largest single cost of writing a space-patched shard, and raw text is
  memory-mapped zero-copy by pyarrow and Hugging Face `datasets` (sliced straight from
  the map; polars' stream reader copies it).

A message is the encapsulation of the IPC format (continuation marker, metadata length,
a `Message` flatbuffer, padding, the body); the flatbuffer is built here, field by field,
as the Arrow schema files (Message.fbs, Schema.fbs) lay it out. `encode_table` gives the
pieces to append to a stream after its schema message: the raw buffers are the table's
own memory, never copied.
"""

from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa

ALIGNMENT = 8  # body buffers and the metadata are padded to it (Arrow's IPC alignment)
CONTINUATION = b"\xff\xff\xff\xff"
RAW = -1  # a buffer's "uncompressed length" when it is stored as is
SMALL_PIECE = 64 << 10  # smaller buffers are copied into one piece with their neighbours
_METADATA_V5 = 4  # MetadataVersion.V5
_HEADER_RECORD_BATCH = 3  # MessageHeader.RecordBatch
_LZ4_FRAME = 0  # CompressionType.LZ4_FRAME
_BUFFER = 0  # BodyCompressionMethod.BUFFER: each buffer compressed on its own


def encode_table(table: pa.Table, max_rows: int) -> list[pa.Buffer | bytes]:
    """The table's record batches (at most `max_rows` rows each) as IPC messages: pieces
    to write one after the other."""
    codec = pa.Codec("lz4")
    pieces: list[pa.Buffer | bytes] = []
    for batch in table.to_batches(max_chunksize=max_rows):
        pieces += encode_batch(batch, codec)
    return pieces


def encode_batch(batch: pa.RecordBatch, codec: pa.Codec) -> list[pa.Buffer | bytes]:
    """One record batch as an encapsulated IPC message (see the module docstring)."""
    nodes: list[tuple[int, int]] = []
    body: list[tuple[pa.Buffer | None, bool]] = []  # (buffer, stored raw)
    for column in batch.columns:
        _flatten(column, nodes, body)
    refs: list[tuple[int, int]] = []
    pieces: list[pa.Buffer | bytes] = []
    small = bytearray()  # small pieces joined: one write each, not three per buffer
    offset = 0
    for buf, raw in body:
        if buf is None or buf.size == 0:
            refs.append((offset, 0))
            continue
        data = buf if raw else codec.compress(buf)
        small += struct.pack("<q", RAW if raw else buf.size)
        if data.size < SMALL_PIECE:
            small += data
        else:  # appended as it is: the table's own memory, or the codec's output
            pieces += [bytes(small), data]
            small.clear()
        size = 8 + data.size
        small += bytes(-size % ALIGNMENT)
        refs.append((offset, size))
        offset += size + -size % ALIGNMENT
    meta = _message_flatbuffer(batch.num_rows, nodes, refs, offset)
    meta += bytes(-(len(meta) + 8) % ALIGNMENT)
    first = CONTINUATION + struct.pack("<i", len(meta)) + meta
    return [first, *pieces, bytes(small)] if small else [first, *pieces]


def _flatten(array: pa.Array, nodes: list[tuple[int, int]], body: list[tuple[pa.Buffer | None, bool]]) -> None:
    """Field nodes and body buffers in the IPC order, depth first, a node's own buffers
    before its children's; each buffer cut to the rows the array holds (a batch cut from
    a larger table is a slice of it, as Arrow's writer handles it too). A slice's offsets
    are rebased to start at 0 (a copy of n + 1 integers); its values, document bytes and
    floats stay views of the table's memory."""
    kind, n, start = array.type, len(array), array.offset
    nodes.append((n, array.null_count))
    buffers = array.buffers()
    body.append((_bits(buffers[0], start, n) if array.null_count else None, False))
    width = _offset_width(kind)
    if width:
        offsets, first, last = _row_offsets(buffers[1], width, start, n)
        body.append((offsets, False))
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            _flatten(array.values.slice(first, last - first), nodes, body)  # `values` ignores the slice
        else:  # binary or string: the document bytes are stored raw, ids compressed
            body.append(
                (_cut(buffers[2], first, last - first), pa.types.is_binary(kind) or pa.types.is_large_binary(kind))
            )
    elif pa.types.is_struct(kind):
        for i in range(kind.num_fields):
            _flatten(array.field(i).slice(0, n), nodes, body)  # `field` applies the struct's slice
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
        size = kind.bit_width // 8
        body.append((_cut(buffers[1], start * size, n * size), pa.types.is_floating(kind)))
    else:
        raise TypeError(f"cannot encode Arrow type {kind} here")


def _offset_width(kind: pa.DataType) -> int:
    """Bytes per offset of a list or binary type; 0 for any other."""
    if pa.types.is_large_list(kind) or pa.types.is_large_binary(kind) or pa.types.is_large_string(kind):
        return 8
    if pa.types.is_list(kind) or pa.types.is_binary(kind) or pa.types.is_string(kind):
        return 4
    return 0


def _row_offsets(buffer: pa.Buffer | None, width: int, start: int, n: int) -> tuple[pa.Buffer, int, int]:
    """The n + 1 offsets of rows start .. start + n counted from 0, and where those rows'
    values begin and end in the values. n + 1 offsets even for no rows: polars reads the
    first offset of any offsets buffer."""
    if buffer is None or n == 0:
        return pa.py_buffer(bytes(width)), 0, 0
    offsets = np.frombuffer(buffer, dtype=np.int32 if width == 4 else np.int64, count=start + n + 1)[start:]
    first, last = int(offsets[0]), int(offsets[-1])
    if first == 0:
        return buffer.slice(start * width, (n + 1) * width), 0, last
    return pa.py_buffer(offsets - offsets[0]), first, last


def _bits(bitmap: pa.Buffer | None, start: int, n: int) -> pa.Buffer | None:
    """Bits start .. start + n of a validity bitmap, from bit 0 (shifted only when the
    slice does not start on a byte)."""
    if bitmap is None:
        return None
    if start % 8 == 0:
        return _cut(bitmap, start // 8, (n + 7) // 8)
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8, count=(start + n + 7) // 8), bitorder="little")
    return pa.py_buffer(np.packbits(bits[start : start + n], bitorder="little"))


def _cut(buffer: pa.Buffer | None, start: int, size: int) -> pa.Buffer | None:
    return None if buffer is None or size == 0 else buffer.slice(start, size)


class _Flat:
    """A flatbuffer built front to back: every table's vtable just before it (a positive
    vtable offset) and every referenced object after its reference (offsets are unsigned
    and point forward); scalars aligned to their size, as the flatbuffers verifier checks."""

    def __init__(self) -> None:
        self.buf = bytearray(4)  # the root offset, set by `root`
        self.fixups: list[tuple[int, str]] = []

    def pad_to(self, alignment: int, then: int = 0) -> None:
        """Pad so that position + `then` is a multiple of `alignment`."""
        self.buf += bytes(-(len(self.buf) + then) % alignment)

    def table(self, fields: list[tuple[str, object]]) -> tuple[int, dict[int, int]]:
        """A table of (struct format, value) fields, in vtable order; format "ref" is a
        uoffset set later by `point`. Fields are laid out in the given order after the
        vtable offset. Returns the table's position and each field's."""
        layout, size = [], 4
        for fmt, _ in fields:
            width = 4 if fmt == "ref" else struct.calcsize("<" + fmt)
            size += -(size + 4) % width  # the table starts at 4 modulo 8: aligned absolutely
            layout.append(size)
            size += width
        size += -size % 4
        vtable = struct.pack(f"<HH{len(fields)}H", 4 + 2 * len(fields), size, *layout)
        self.pad_to(2)
        start_vtable = len(self.buf)
        self.buf += vtable
        self.pad_to(8, then=4)  # a table's first 8-byte field lands at 8-alignment
        start = len(self.buf)
        body = bytearray(size)
        struct.pack_into("<i", body, 0, start - start_vtable)
        where = {}
        for i, ((fmt, value), pos) in enumerate(zip(fields, layout)):
            where[i] = start + pos
            if fmt != "ref":
                struct.pack_into("<" + fmt, body, pos, value)
        self.buf += body
        return start, where

    def struct_vector(self, fmt: str, items: list[tuple[int, ...]]) -> int:
        """A vector of structs (each `fmt`, 8-byte aligned); returns its position."""
        self.pad_to(8, then=4)
        start = len(self.buf)
        self.buf += struct.pack("<I", len(items))
        for item in items:
            self.buf += struct.pack("<" + fmt, *item)
        return start

    def point(self, at: int, target: int) -> None:
        """Set the uoffset at position `at` to refer to `target` (after it)."""
        struct.pack_into("<I", self.buf, at, target - at)

    def root(self, target: int) -> bytes:
        struct.pack_into("<I", self.buf, 0, target)
        return bytes(self.buf)


def _message_flatbuffer(
    rows: int, nodes: list[tuple[int, int]], refs: list[tuple[int, int]], body_length: int
) -> bytes:
    """The `Message` flatbuffer of a RecordBatch with LZ4 buffer compression."""
    fb = _Flat()
    # Message: version (short), header_type (ubyte), header (RecordBatch), bodyLength (long)
    message, m = fb.table([("h", _METADATA_V5), ("B", _HEADER_RECORD_BATCH), ("ref", 0), ("q", body_length)])
    # RecordBatch: length (long), nodes [FieldNode], buffers [Buffer], compression
    batch, b = fb.table([("q", rows), ("ref", 0), ("ref", 0), ("ref", 0)])
    fb.point(m[2], batch)
    compression, _ = fb.table([("b", _LZ4_FRAME), ("b", _BUFFER)])  # BodyCompression: codec, method
    fb.point(b[3], compression)
    fb.point(b[1], fb.struct_vector("qq", nodes))  # FieldNode: length, null_count
    fb.point(b[2], fb.struct_vector("qq", refs))  # Buffer: offset, length (in the body)
    return fb.root(message)
