"""A small reader and writer for the safetensors format, in torch only (no extra dependency).

The format (https://huggingface.co/docs/safetensors): an 8-byte little-endian
unsigned header length N, N bytes of UTF-8 JSON mapping each tensor name to
`{"dtype", "shape", "data_offsets": [begin, end]}` (offsets into the byte buffer
that follows the header; an optional `"__metadata__"` maps strings to strings),
then the buffer, each tensor stored C-contiguous, little-endian.

Why not the `safetensors` package: bytepatch's runtime dependencies are torch,
numpy, numba, click and pyarrow; reading and writing this simple format is a
hundred lines, tested byte for byte against the package (which stays a test-only
dependency). Trade-off: tensors are read into memory one by one (no lazy mmap),
which is fine for checkpoints that fit in RAM, as the released 1B and 7B do.

Every malformed file raises `ValueError` naming the file and what is wrong
(truncated header, offsets outside the buffer, overlapping tensors, byte counts
that disagree with dtype and shape, an unknown dtype).
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys
from collections.abc import Mapping
from pathlib import Path

import torch

# safetensors dtype tag -> torch dtype (the tags the format defines that torch can hold).
DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
TAGS: dict[torch.dtype, str] = {v: k for k, v in DTYPES.items()}
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the reference implementation's limit


def _element_size(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def read_header(path: str | Path) -> tuple[dict[str, dict], dict[str, str], int]:
    """(tensor entries, metadata, byte offset of the buffer) of a safetensors file."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise ValueError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
        (n,) = struct.unpack("<Q", raw)
        if n > MAX_HEADER_BYTES or 8 + n > size:
            raise ValueError(f"{path}: header length {n} does not fit the file ({size} bytes)")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header must be a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: __metadata__ must be an object of strings")
    buffer_len = size - 8 - n
    spans = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{path}: tensor {name!r}: expected keys dtype, shape, data_offsets")
        if entry["dtype"] not in DTYPES:
            raise ValueError(f"{path}: tensor {name!r}: unsupported dtype {entry['dtype']!r}")
        shape, offsets = entry["shape"], entry["data_offsets"]
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise ValueError(f"{path}: tensor {name!r}: bad shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise ValueError(f"{path}: tensor {name!r}: bad data_offsets {offsets!r}")
        begin, end = offsets
        if not 0 <= begin <= end <= buffer_len:
            raise ValueError(f"{path}: tensor {name!r}: data_offsets {offsets} outside the {buffer_len}-byte buffer")
        want = math.prod(shape) * _element_size(DTYPES[entry["dtype"]])
        if end - begin != want:
            raise ValueError(
                f"{path}: tensor {name!r}: {end - begin} bytes for {entry['dtype']} {shape} (expected {want})"
            )
        spans.append((begin, end, name))
    spans.sort()
    for (_, end, a), (begin, _, b) in zip(spans, spans[1:]):
        if begin < end:
            raise ValueError(f"{path}: tensors {a!r} and {b!r} overlap")
    return header, {str(k): str(v) for k, v in metadata.items()}, 8 + n


def load_file(path: str | Path, names: set[str] | None = None) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file (only `names`, if given), on the CPU, in their stored dtype."""
    path = Path(path)
    header, _, start = read_header(path)
    out: dict[str, torch.Tensor] = {}
    with open(path, "rb") as f:
        for name, entry in header.items():
            if names is not None and name not in names:
                continue
            begin, end = entry["data_offsets"]
            f.seek(start + begin)
            data = bytearray(f.read(end - begin))
            dtype = DTYPES[entry["dtype"]]
            if end == begin:
                tensor = torch.empty(entry["shape"], dtype=dtype)
            else:
                tensor = torch.frombuffer(data, dtype=dtype).reshape(entry["shape"])
                if sys.byteorder == "big" and tensor.element_size() > 1:  # stored little-endian
                    tensor = torch.from_numpy(tensor.numpy().byteswap())
            out[name] = tensor
    return out


def save_file(tensors: Mapping[str, torch.Tensor], path: str | Path, metadata: Mapping[str, str] | None = None) -> None:
    """Write `tensors` (any device; stored contiguous, little-endian) atomically to `path`."""
    path = Path(path)
    header: dict[str, object] = {"__metadata__": dict(metadata or {"format": "pt"})}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        if t.dtype not in TAGS:
            raise ValueError(f"{name}: dtype {t.dtype} has no safetensors tag")
        # uint8 view keeps bf16 (which NumPy lacks) intact byte for byte.
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        if sys.byteorder == "big" and t.element_size() > 1:
            data = t.numpy().byteswap().tobytes()
        header[name] = {"dtype": TAGS[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # the buffer starts 8-byte aligned, as the reference writer does
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for data in blobs:
            f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
