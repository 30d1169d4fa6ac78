"""Training data for BLT and the byte baseline: packed, shuffled, rank-sharded, exactly resumable batches.

    from bytepatch.models.data import DocumentSource, PackedLoader, evaluation_batches
    source = DocumentSource(["data/train"])            # refuses mismatched patcher settings
    train_docs, held_out = source.split(0.05)
    loader = PackedLoader(source, train_docs, batch_size=8, seq_len=1024, seed=0)
    batch = next(loader)  # ids (B, T), targets (B, T), patch_lengths (B, P), n_bytes

`packing` holds the row rules (BOS/EOS framing, the row-boundary cut), `sources`
the datasets and the held-out split, `loader` the order, sharding and resume.
"""

from bytepatch.models.data.loader import PackedLoader, evaluation_batches, packed_batches
from bytepatch.models.data.packing import IGNORE_INDEX, PAD_ID, Framed, Row, collate, frame, pack_row, window_lengths
from bytepatch.models.data.sources import (
    DataError,
    DatasetMismatchError,
    DocumentSource,
    check_signature,
    content_signature,
    data_signature,
)

__all__ = [
    "IGNORE_INDEX",
    "PAD_ID",
    "DataError",
    "DatasetMismatchError",
    "DocumentSource",
    "Framed",
    "PackedLoader",
    "Row",
    "check_signature",
    "collate",
    "content_signature",
    "data_signature",
    "evaluation_batches",
    "frame",
    "pack_row",
    "packed_batches",
    "window_lengths",
]
