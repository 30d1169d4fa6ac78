"""The patcher protocol and the config base every patcher config shares.

Patchers are interchangeable pipeline components (like HF tokenizers' models): each is
built from a frozen dataclass config, patches one document or a ragged batch, and
round-trips through `to_dict` / `patcher_from_dict` so datasets can record exactly how
they were made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, Union, runtime_checkable

import numpy as np

from bytepatch.ragged import Ragged
from bytepatch.strict import from_dict

if TYPE_CHECKING:
    import pyarrow as pa

C = TypeVar("C", bound="PatcherConfig")

# What the patch methods take (`as_uint8`, `as_ragged`): one document, a str as UTF-8; a
# batch of them, a `Ragged`, or an Arrow string/binary array; entropies per document.
DocumentLike = Union[str, bytes, bytearray, memoryview, np.ndarray]
BatchLike = Union[Ragged, Iterable[DocumentLike], "pa.Array", "pa.ChunkedArray"]
EntropiesLike = Union[Ragged, Iterable[np.ndarray]]


class PatcherConfig:
    """Mixin for frozen dataclass configs: strict `from_dict`, plain `to_dict`."""

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        return from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


def check_max_patch_length(value: int | None) -> None:
    if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1):
        raise ValueError(f"max_patch_length must be a positive integer or None, got {value!r}")


def plain_settings(config: Any) -> None:
    """Store a frozen config's NumPy scalar settings (`np.float32(2.0)` from an
    `np.quantile`, `np.int64(8)`) as the Python numbers they equal: the config is
    recorded as JSON (dataset metadata, checkpoints), which cannot hold NumPy scalars."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, np.generic):
            object.__setattr__(config, f.name, value.item())


@runtime_checkable
class Patcher(Protocol):
    """What every patcher offers. `entropies` is only used by patchers that need it."""

    name: ClassVar[str]
    needs_entropies: ClassVar[bool]

    @property
    def config(self) -> PatcherConfig: ...

    def patch_lengths(self, data: DocumentLike, entropies: np.ndarray | None = None) -> np.ndarray:
        """Patch lengths (int32, each >= 1, summing to len(data)) of one document."""
        ...

    def patch_batch(self, docs: BatchLike, entropies: EntropiesLike | None = None) -> Ragged:
        """Patch lengths of every document of a batch, as a ragged int32 batch."""
        ...

    def patches(self, data: DocumentLike, entropies: np.ndarray | None = None) -> list[bytes]:
        """The document cut into its patches, as byte strings (for inspection)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """`{"patcher": name, **config}`; `patcher_from_dict` inverts it."""
        ...


class PatcherBase:
    """What all patchers share: the config, inspection, and the dict round trip.
    Subclasses set `name`, `needs_entropies`, `config_class` and the two patch methods."""

    name: ClassVar[str]
    needs_entropies: ClassVar[bool]
    config_class: ClassVar[type]

    def __init__(self, config: PatcherConfig | None = None) -> None:
        self._config = config if config is not None else self.config_class()

    @property
    def config(self) -> Any:
        return self._config

    def patch_lengths(self, data: DocumentLike, entropies: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def patches(self, data: DocumentLike, entropies: np.ndarray | None = None) -> list[bytes]:
        return split_into_patches(data, self.patch_lengths(data, entropies))

    def to_dict(self) -> dict[str, Any]:
        return {"patcher": self.name, **self._config.to_dict()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._config})"


def as_uint8(data: str | bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """A document's bytes as a uint8 array, without copying when possible (a str as
    UTF-8, as the batch calls take it)."""
    if isinstance(data, str):
        return np.frombuffer(utf8(data), dtype=np.uint8)
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8 or data.ndim != 1:
            raise TypeError(f"expected a 1-D uint8 array, got {data.dtype} with shape {data.shape}")
        return data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return np.frombuffer(data, dtype=np.uint8)
    raise TypeError(f"expected str, bytes or a uint8 array, got {type(data).__name__}")


def utf8(text: str) -> bytes:
    """A str document as UTF-8. A lone surrogate (half of a UTF-16 pair, e.g. from
    `json.loads` of an escaped `"\\ud800"`, or a `surrogateescape`-decoded byte) has no
    UTF-8 form: refused naming it, as `segment` refuses it in a JSONL field, not with
    the codec's bare UnicodeEncodeError."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"the str holds a lone surrogate {text[exc.start]!r} at char {exc.start}, which has no UTF-8 form; "
            "pass the document as bytes (e.g. text.encode('utf-8', 'surrogateescape') for bytes decoded "
            "with surrogateescape)"
        ) from None


def as_ragged(docs: Any) -> Ragged:
    """A batch of documents as a ragged uint8 batch: a `Ragged` as is, a list of
    str/bytes/uint8 arrays (str as UTF-8), or a pyarrow string/binary array (zero-copy;
    a view type is cast, which copies)."""
    if isinstance(docs, Ragged):
        return _byte_ragged(docs)
    if type(docs).__module__.startswith("pyarrow"):
        return _arrow_ragged(docs)
    if isinstance(docs, (str, bytes, bytearray, memoryview)):
        raise TypeError("pass a batch of documents (e.g. [text]), not a single document; patch_lengths takes one")
    if isinstance(docs, Mapping):
        # A `datasets.map(batched=True)` batch: iterated, its column names were patched as the documents.
        raise TypeError(
            f"pass the documents, not a dict of columns ({', '.join(map(repr, list(docs)[:5]))}): "
            "e.g. patch_batch(batch['text']); patch_table takes a whole batch"
        )
    if docs is None or not isinstance(docs, Iterable):
        raise TypeError(f"pass a batch of documents (a list of str/bytes, an Arrow array), got {type(docs).__name__}")
    out = []
    for i, d in enumerate(docs):
        try:
            # Contiguous: the rows are joined through the buffer protocol, which takes no
            # strided array (a slice like `arr[::2]` was refused as "not a bytes-like object").
            out.append(utf8(d) if isinstance(d, str) else np.ascontiguousarray(as_uint8(d)))
        except TypeError as exc:  # which one, in a batch of thousands
            raise TypeError(f"document {i}: {exc}") from None
        except ValueError as exc:  # a lone surrogate in a str
            raise ValueError(f"document {i}: {exc}") from None
    return Ragged.from_bytes(out)


def _byte_ragged(docs: Ragged) -> Ragged:
    """A `Ragged` of documents as the kernels take it: uint8 bytes and integer offsets. Other
    values were patched by element (the stride rule) or sent to the entropy model as
    their raw bytes, 4 or 8 per value, and refused as a count mismatch."""
    values, offsets = docs.values, docs.offsets
    if values.dtype != np.uint8 or values.ndim != 1:
        raise TypeError(
            f"a Ragged batch of documents holds 1-D uint8 bytes, got {values.dtype} values with shape {values.shape}"
        )
    if offsets.dtype.kind not in "iu":
        raise TypeError(f"a Ragged batch's offsets are integers, got {offsets.dtype}")
    return docs


def _arrow_ragged(array: Any) -> Ragged:
    import pyarrow as pa

    from bytepatch.io.columnar import VIEW_TYPES

    if isinstance(array, (pa.Array, pa.ChunkedArray)) and pa.types.is_dictionary(array.type):
        # A pandas categorical (`pa.Table.from_pandas`), polars' Categorical: `segment` reads
        # such a column (decoded, bytepatch.io.columnar), so every engine's patch_table does.
        if isinstance(array, pa.ChunkedArray):  # chunk by chunk: their dictionaries may differ
            array = pa.chunked_array([c.dictionary_decode() for c in array.chunks], array.type.value_type)
        else:
            array = array.dictionary_decode()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    if isinstance(array, pa.Array) and pa.types.is_null(array.type):
        # What pyarrow infers for a column of no values or only None (`{"text": []}`).
        if len(array):
            raise ValueError("document 0 is null (a null is not an empty document)")
        return Ragged(np.zeros(0, dtype=np.uint8), np.zeros(1, dtype=np.int64))
    if not isinstance(array, pa.Array) or not (
        pa.types.is_string(array.type)
        or pa.types.is_large_string(array.type)
        or pa.types.is_binary(array.type)
        or pa.types.is_large_binary(array.type)
        or array.type in VIEW_TYPES  # polars' default
    ):
        raise TypeError(
            f"expected a pyarrow string or binary array, got {getattr(array, 'type', type(array).__name__)}"
        )
    if array.null_count:
        row = array.is_null().to_pylist().index(True)
        raise ValueError(f"document {row} is null (a null is not an empty document)")
    array = array.cast(pa.large_binary())
    _, offsets_buf, data_buf = array.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, dtype=np.uint8)
    start = int(offsets[0]) if len(offsets) else 0
    return Ragged(data[start : int(offsets[-1])], offsets - start)


def split_into_patches(data: str | bytes | np.ndarray, lengths: np.ndarray) -> list[bytes]:
    """The document's bytes (a str as UTF-8) cut at `lengths`."""
    raw = as_uint8(data).tobytes() if isinstance(data, (str, np.ndarray)) else bytes(data)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    return [raw[s:e] for s, e in zip(starts.tolist(), ends.tolist())]


def single(offsets_len: int) -> np.ndarray:
    return np.array([0, offsets_len], dtype=np.int64)
