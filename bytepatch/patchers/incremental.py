"""Incremental patching: each boundary decision as soon as it is known, identical to batch patching.

Every rule of docs/design.md §3 decides whether byte t starts a patch from what is known
*before* byte t arrives:

- entropy: h[t] (and h[t-1] for the relative rule), and h[t] is the entropy model's
  prediction for byte t from bytes 0..t-1 (docs/design.md §2);
- space: bytes t-2 and t-1 (byte t-1 is space-like and byte t-2 is not);
- stride: t alone;
- max_patch_length: the length of the open patch.

So the API asks first and commits second: `starts_next(entropy)` says whether the
*next* byte opens a patch without consuming anything (a generator needs this before
it samples the byte, e.g. to close the current patch and run the global model), and
`push(byte, entropy)` feeds byte t with h[t] and returns the same decision. `finish()`
returns the patch lengths, equal to what `Patcher.patch_lengths` gives on the whole
document (property-tested for every patcher and cap).

    inc = IncrementalPatcher.from_patcher(SpacePatcher())
    for b in b"hello world":
        inc.push(b)                       # True at 'h' and at 'w'
    inc.finish()                          # array([6, 5], dtype=int32)

Trade-off: one Python call per byte (about a microsecond), which suits streaming and
generation; whole corpora belong to the batch kernels. The state is a small frozen
value (`PatchState`) advanced by pure functions, so a caller can keep and restore
it (e.g. to try several continuations) without copying the patcher.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Iterable

import numpy as np

from bytepatch.kernels.space_classes import SPACE_LIKE
from bytepatch.patchers.base import Patcher, PatcherConfig, as_uint8
from bytepatch.patchers.entropy import EntropyPatcherConfig
from bytepatch.patchers.space import SpacePatcherConfig
from bytepatch.patchers.spec import PatcherSpec
from bytepatch.patchers.stride import StridePatcherConfig


@dataclass(frozen=True)
class PatchState:
    """Everything the rules need from the bytes pushed so far."""

    n_bytes: int = 0  # bytes pushed
    open_length: int = 0  # bytes in the open (last) patch: the max_patch_length cut needs it
    last_space_like: bool = True  # byte n-1 is space-like; BOS counts as space-like (docs/design.md §3)
    last_ends_patch: bool = False  # space rule: byte n-1 is a space-like byte after a non-space-like one
    last_entropy: float | None = None  # h[n-1], for the relative entropy rule


RULE_CONFIGS = (EntropyPatcherConfig, SpacePatcherConfig, StridePatcherConfig)


def rule_fires(config: PatcherConfig, state: PatchState, entropy: float | None) -> bool:
    """Whether the patcher's own rule (cap aside) starts a patch at byte `state.n_bytes` >= 1."""
    if isinstance(config, EntropyPatcherConfig):
        h = _finite(entropy)
        fire = True
        if config.threshold is not None:
            fire = h > config.threshold
        if config.threshold_add is not None:
            # The comparison the batch kernel makes: float64 difference of the two values.
            fire = fire and h - float(state.last_entropy) > config.threshold_add  # type: ignore[arg-type]
        return fire
    if isinstance(config, SpacePatcherConfig):
        return state.last_ends_patch
    if isinstance(config, StridePatcherConfig):
        return state.n_bytes % config.stride == 0
    raise TypeError(f"no incremental rule for {type(config).__name__}")


def starts_patch(config: PatcherConfig, state: PatchState, entropy: float | None = None) -> bool:
    """Whether the next byte (index `state.n_bytes`) starts a patch; pure, consumes nothing.

    Cutting at `max_patch_length` while scanning is the same as splitting long patches
    into pieces of m left to right (docs/design.md §3), because a cut restarts the count.
    """
    if isinstance(config, EntropyPatcherConfig):
        _finite(entropy)  # h[0] is not needed to decide, but is required to stay in step
    if state.n_bytes == 0:
        return True
    cap = getattr(config, "max_patch_length", None)
    if cap is not None and state.open_length >= cap:
        return True
    return rule_fires(config, state, entropy)


def advance(state: PatchState, byte: int, entropy: float | None, starts: bool) -> PatchState:
    """The state after pushing `byte` (whose start decision was `starts`)."""
    space_like = bool(SPACE_LIKE[byte])
    return PatchState(
        n_bytes=state.n_bytes + 1,
        open_length=1 if starts else state.open_length + 1,
        last_space_like=space_like,
        last_ends_patch=space_like and not state.last_space_like,
        last_entropy=None if entropy is None else float(entropy),
    )


def _finite(entropy: float | None) -> float:
    if entropy is None:
        raise ValueError("the entropy patcher needs the entropy h[t] of every byte (nats), known before byte t")
    h = float(entropy)
    if not math.isfinite(h):
        raise ValueError(f"entropies must be finite, got {entropy!r}")
    return h


def _config_of(patcher: Patcher | PatcherSpec | PatcherConfig | dict[str, Any]) -> PatcherConfig:
    if isinstance(patcher, PatcherConfig):
        return patcher
    if isinstance(patcher, PatcherSpec):
        return patcher.config
    if isinstance(patcher, dict):
        return PatcherSpec.from_dict(patcher).config
    return patcher.config


class IncrementalPatcher:
    """Patches one document as it grows; see the module docstring for the protocol."""

    def __init__(self, config: Patcher | PatcherSpec | PatcherConfig | dict[str, Any]) -> None:
        """`config`: a patcher, its config or `PatcherSpec`, or its `to_dict()` (e.g. from a dataset's metadata)."""
        self.config = _config_of(config)
        if not isinstance(self.config, RULE_CONFIGS):
            raise TypeError(f"no incremental rule for {type(self.config).__name__}")
        self.state = PatchState()
        self._lengths: list[int] = []
        self._finished = False

    @property
    def needs_entropies(self) -> bool:
        return isinstance(self.config, EntropyPatcherConfig)

    @property
    def n_bytes(self) -> int:
        return self.state.n_bytes

    def starts_next(self, entropy: float | None = None) -> bool:
        """Would the next byte start a patch? (entropy patcher: pass h of that next byte.)"""
        return starts_patch(self.config, self.state, entropy)

    def push(self, byte: int, entropy: float | None = None) -> bool:
        """Feed byte t (with h[t] for the entropy patcher); True if it starts a new patch."""
        if self._finished:
            raise ValueError("this document is finished; start a new IncrementalPatcher")
        # A bool, float or one-byte bytes/str failed inside the rules ("The truth value of an
        # array ... is ambiguous", "only integers ... are valid indices", a bare TypeError).
        if isinstance(byte, bool) or not isinstance(byte, (int, np.integer)) or not 0 <= byte <= 255:
            raise ValueError(f"a byte is an integer in 0..255, got {byte!r}")
        starts = self.starts_next(entropy)
        self.state = advance(self.state, byte, entropy if self.needs_entropies else None, starts)
        if starts:
            self._lengths.append(1)
        else:
            self._lengths[-1] += 1
        return starts

    def push_bytes(self, data: bytes | np.ndarray, entropies: Iterable[float] | None = None) -> np.ndarray:
        """Feed a chunk; returns its start flags (bool, one per byte)."""
        arr = as_uint8(data)
        if entropies is None:
            hs: list[float | None] = [None] * len(arr)
        else:
            hs = [float(h) for h in np.asarray(entropies, dtype=np.float64).ravel()]
            if len(hs) != len(arr):
                raise ValueError(f"got {len(hs)} entropies for {len(arr)} bytes (need one per byte)")
        return np.array([self.push(b, h) for b, h in zip(arr.tolist(), hs)], dtype=bool)

    def lengths(self) -> np.ndarray:
        """Patch lengths so far (int32); the last patch may still grow."""
        return np.asarray(self._lengths, dtype=np.int32)

    def finish(self) -> np.ndarray:
        """The document's patch lengths, as `Patcher.patch_lengths` gives them; no more pushes."""
        self._finished = True
        return self.lengths()

    def fork(self) -> IncrementalPatcher:
        """An independent copy (same config and state), e.g. to try a continuation."""
        other = IncrementalPatcher(self.config)
        other.state = replace(self.state)
        other._lengths = list(self._lengths)
        other._finished = self._finished
        return other

    def __repr__(self) -> str:
        return f"IncrementalPatcher({self.config}, n_bytes={self.n_bytes}, patches={len(self._lengths)})"


__all__ = ["IncrementalPatcher", "PatchState", "advance", "rule_fires", "starts_patch"]
