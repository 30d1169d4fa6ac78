"""Entropy streams: the entropy of the *next* byte of a growing document, one byte at a time.

    stream = entropy_stream(entropy_model)
    h0 = stream.next_entropy          # h[0]: the model's entropy given BOS alone
    stream.push(b0)
    h1 = stream.next_entropy          # h[1], given BOS, b0 ... (docs/design.md §2)

Generation needs h[t + 1] as soon as byte t is known, to decide whether byte t + 1
opens a patch. Two implementations behind one API (tested to agree):

- `WindowEntropyStream`, for any `EntropyModel`: h[t] depends on at most the last
  `context_length` bytes, so it scores those bytes plus a placeholder byte and keeps
  the placeholder's entropy (a byte's entropy never depends on the byte itself).
  Exact for the n-gram model (bit for bit what `entropies` gives on the whole text);
  costs `context_length` positions per byte, nothing for an order-6 n-gram but
  ~7,000 transformer positions for the paper's entropy LM.
- `TransformerEntropyStream`, for the transformer entropy LM: steps its
  `ByteTransformer` with windowed KV caches, one position per byte. Equal to the
  batch scorer up to float rounding (float32 on the model's device, no autocast), so
  a boundary whose entropy lies within rounding of the threshold may fall differently.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import torch

from bytepatch.entropy.base import EntropyModel
from bytepatch.ids import BOS_ID, OFFSET
from bytepatch.models.entropy_lm import TransformerEntropyModel
from bytepatch.models.generation.stepper import TransformerStepper


class EntropyStream(Protocol):
    next_entropy: float  # nats: entropy of the byte that comes next

    def push(self, byte: int) -> None: ...

    def push_many(self, data: bytes) -> np.ndarray:
        """Push bytes in one batched pass; float64 (len(data),): `next_entropy` after each push."""
        ...


def entropy_of_logits(logits: torch.Tensor) -> float:
    """Entropy (nats) of softmax(logits) over the whole vocabulary, as the batch scorer computes it."""
    return float(entropies_of_logits(logits))


def entropies_of_logits(logits: torch.Tensor) -> np.ndarray:
    """Entropies (nats, float64) of softmax over the last axis of logits (..., vocab)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return (-(logp.exp() * logp).sum(-1)).double().cpu().numpy()


class WindowEntropyStream:
    """Any `EntropyModel`, re-scored on its last `context_length` bytes per byte."""

    PLACEHOLDER = b"\x00"  # stands for the unknown next byte; its value cannot matter

    def __init__(self, model: EntropyModel) -> None:
        if not isinstance(model.context_length, int) or model.context_length < 1:
            raise ValueError(f"entropy model has no usable context_length ({model.context_length!r})")
        self.model = model
        self.tail = b""  # the last context_length bytes: all h[t] can depend on
        self.next_entropy = self._score()

    def push(self, byte: int) -> None:
        self.tail = (self.tail + bytes([byte]))[-self.model.context_length :]
        self.next_entropy = self._score()

    def push_many(self, data: bytes) -> np.ndarray:
        """One scoring call for all of `data`: its last context_length bytes before each byte are there."""
        if not data:
            return np.empty(0)
        text = self.tail + bytes(data)
        h = np.asarray(self.model.entropies([text + self.PLACEHOLDER])[0], dtype=np.float64)
        values = h[len(self.tail) + 1 :]  # after pushing data[j], the next byte sits at index len(tail) + j + 1
        if not np.isfinite(values).all():
            raise ValueError("entropy model returned a non-finite entropy")
        self.tail = text[-self.model.context_length :]
        self.next_entropy = float(values[-1])
        return values

    def _score(self) -> float:
        # While the document is shorter than the context, the tail is the whole document
        # and the placeholder sees BOS too, as it should; after that BOS is out of reach.
        h = self.model.entropies([self.tail + self.PLACEHOLDER])[0]
        value = float(np.asarray(h)[-1])
        if not math.isfinite(value):
            raise ValueError(f"entropy model returned a non-finite entropy ({value})")
        return value


class TransformerEntropyStream:
    """The transformer entropy LM stepped with KV caches: one position per byte."""

    def __init__(self, model: TransformerEntropyModel) -> None:
        self.stepper = TransformerStepper(model.model.eval())
        self.next_entropy = entropy_of_logits(self.stepper.step(BOS_ID))

    def push(self, byte: int) -> None:
        self.next_entropy = entropy_of_logits(self.stepper.step(byte + OFFSET))

    def push_many(self, data: bytes) -> np.ndarray:
        """All of `data` through the stepper in one batched pass (a prefill)."""
        if not data:
            return np.empty(0)
        values = entropies_of_logits(self.stepper.feed([b + OFFSET for b in data]))
        self.next_entropy = float(values[-1])
        return values


def entropy_stream(model: EntropyModel, cached: bool = True) -> EntropyStream:
    """The fastest exact-enough stream for `model`; `cached=False` forces the generic one."""
    if cached and isinstance(model, TransformerEntropyModel):
        return TransformerEntropyStream(model)
    return WindowEntropyStream(model)
