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
  memory-mapped zero-copy by every reader (pyarrow slices it straight from the map).

A message is the encapsulation of the IPC format (continuation marker, metadata length,
a `Message` flatbuffer, padding, the body); the flatbuffer is built here, field by field,
as the Arrow schema files (Message.fbs, Schema.fbs) lay it out. `encode_table` gives the
pieces to append to a stream after its schema message: the raw buffers are the table's
own memory, never copied.
"""

from __future__ import annotations

import struct

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
        _flatten(_rebased(column), nodes, body)
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


def _rebased(array: pa.Array) -> pa.Array:
    """`array` with no slice offset anywhere in it (a batch cut from a larger table is a
    slice): concatenating one array writes its values from offset 0 (a copy of the slice;
    the groups bytepatch writes are rarely over one batch)."""
    return pa.concat_arrays([array]) if _sliced(array) else array


def _sliced(array: pa.Array) -> bool:
    if array.offset:
        return True
    if _offset_width(array.type):
        if _offset_at(array, 0):
            return True
        if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
            return _sliced(array.values)
    elif pa.types.is_struct(array.type):
        return any(_sliced(array.field(i)) for i in range(array.type.num_fields))
    return False


def _offset_width(kind: pa.DataType) -> int:
    """Bytes per offset of a list or binary type; 0 for any other."""
    if pa.types.is_large_list(kind) or pa.types.is_large_binary(kind) or pa.types.is_large_string(kind):
        return 8
    if pa.types.is_list(kind) or pa.types.is_binary(kind) or pa.types.is_string(kind):
        return 4
    return 0


def _offset_at(array: pa.Array, i: int) -> int:
    width = _offset_width(array.type)
    offsets = array.buffers()[1]
    if offsets is None or offsets.size < (i + 1) * width:
        return 0  # an empty array may have no offsets at all
    return int.from_bytes(offsets[i * width : (i + 1) * width].to_pybytes(), "little", signed=True)


def _flatten(array: pa.Array, nodes: list[tuple[int, int]], body: list[tuple[pa.Buffer | None, bool]]) -> None:
    """Field nodes and body buffers in the IPC order, depth first, a node's own buffers
    before its children's; each buffer cut to what the array's rows use (a buffer may be
    larger than its array: a view of a bigger one), as Arrow's writer does."""
    kind, n = array.type, len(array)
    nodes.append((n, array.null_count))
    buffers = array.buffers()
    validity = buffers[0].slice(0, (n + 7) // 8) if array.null_count and buffers[0] is not None else None
    body.append((validity, False))
    width = _offset_width(kind)
    if width:
        end = _offset_at(array, n)
        # n + 1 offsets even for no rows: polars reads the first offset of any offsets buffer
        offsets = buffers[1] if n else None
        body.append((_cut(offsets, (n + 1) * width) if offsets is not None else pa.py_buffer(bytes(width)), False))
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            _flatten(array.values.slice(0, end), nodes, body)
        else:  # binary or string: the document bytes are stored raw, ids compressed
            body.append((_cut(buffers[2], end), pa.types.is_binary(kind) or pa.types.is_large_binary(kind)))
    elif pa.types.is_struct(kind):
        for i in range(kind.num_fields):
            _flatten(array.field(i).slice(0, n), nodes, body)
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
        body.append((_cut(buffers[1], n * kind.bit_width // 8), pa.types.is_floating(kind)))
    else:
        raise TypeError(f"cannot encode Arrow type {kind} here")


def _cut(buffer: pa.Buffer | None, size: int) -> pa.Buffer | None:
    return None if buffer is None or size == 0 else buffer.slice(0, size)


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
