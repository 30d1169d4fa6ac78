"""Byte <-> model id mapping shared by every model (docs/design.md §1).

Ids follow BLT: `id = byte + 4`, with four special ids below the bytes. Padding is
never an id; models carry it as a separate mask.
"""

from __future__ import annotations

import numpy as np

BOE_ID = 0  # beginning of entropy-model context / boundary marker used by BLT
BOS_ID = 1
EOS_ID = 2
BPE_ID = 3
OFFSET = 4
VOCAB_SIZE = 256 + OFFSET


def bytes_to_ids(data: bytes | np.ndarray, bos: bool = False, eos: bool = False) -> np.ndarray:
    """Model ids (int64) for a byte string, optionally framed by BOS/EOS."""
    arr = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    ids = arr.astype(np.int64) + OFFSET
    parts = ([np.array([BOS_ID])] if bos else []) + [ids] + ([np.array([EOS_ID])] if eos else [])
    return np.concatenate(parts) if len(parts) > 1 else ids


def ids_to_bytes(ids: np.ndarray) -> bytes:
    """Bytes of the byte ids in `ids`; special ids are dropped (they are not text)."""
    ids = np.asarray(ids)
    return (ids[ids >= OFFSET] - OFFSET).astype(np.uint8).tobytes()
