"""Where EOS goes under `decoder_alignment="reference"`: the patcher decides, as for any byte.

Under the reference alignment the byte that ends a patch reads that patch's global
state, so whether byte t's patch is closed tells the model whether position t + 1
starts a patch. For a byte that is causal: the patcher decides from bytes 0..t only.
If EOS always started a patch of its own, the last byte of every document would see
its patch closed *because EOS follows*: the framing would leak the target (the
model learns "closed here, so EOS is likely" and its bits per byte are optimistic).
Appending EOS to the last patch instead leaks the other way ("closed, so not EOS").
The only leak-free framing asks the patcher's rule about the position after the
last byte, without knowing what comes there, exactly as generation does
(`IncrementalPatcher.starts_next`): EOS starts a patch iff that rule fires.

`end_rule(spec, entropy_model)` returns that decision as a function of the document
and its patch lengths. Cost: nothing for the space and stride patchers (a look at
the last bytes); one entropy-model call on the document's last `context_length`
bytes for the entropy patcher (the same window `WindowEntropyStream` scores while
generating). Under the default strict alignment no byte reads its own patch, nothing
leaks, and EOS keeps a patch of its own (`frame`'s default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bytepatch.patchers import patcher_from_dict

EndRule = Callable[[np.ndarray, np.ndarray], bool]  # (document bytes as uint8, its patch lengths) -> EOS starts a patch
PLACEHOLDER = b"\x00"  # stands for the unknown next position; a boundary decision never reads its value


def end_rule(spec: dict[str, Any], entropy_model: Any = None) -> EndRule:
    """The patcher's decision for the position after a document's last byte (see the module docstring)."""
    patcher = patcher_from_dict(spec, model=entropy_model)
    settings = patcher.to_dict()
    cap = settings.get("max_patch_length")
    if settings["patcher"] == "entropy":
        if entropy_model is None:
            raise ValueError("the entropy patcher's end-of-document decision needs its entropy model")
        return _entropy_rule(settings, entropy_model, cap)

    def by_bytes(doc: np.ndarray, lengths: np.ndarray) -> bool:
        # The space and stride rules look back a couple of bytes (stride: at the position),
        # so patching the document plus a placeholder is exact; both run in linear time.
        if len(doc) == 0:
            return True
        ext = patcher.patch_lengths(np.concatenate([np.asarray(doc, np.uint8), np.frombuffer(PLACEHOLDER, np.uint8)]))
        return len(ext) == len(lengths) + 1

    return by_bytes


def _entropy_rule(settings: dict[str, Any], model: Any, cap: int | None) -> EndRule:
    threshold, threshold_add = settings.get("threshold"), settings.get("threshold_add")
    context = int(model.context_length)

    def by_entropy(doc: np.ndarray, lengths: np.ndarray) -> bool:
        if len(doc) == 0:
            return True  # EOS is then byte 0's position: it always starts a patch
        if cap is not None and int(lengths[-1]) >= cap:
            return True
        # h[n] depends on at most `context` bytes (BOS counted while the document is shorter);
        # one byte more gives h[n - 1] for the relative rule with its full context too.
        tail = bytes(np.asarray(doc[-(context + 1) :], np.uint8)) + PLACEHOLDER
        h = np.asarray(model.entropies([tail])[0], np.float64)
        starts = True
        if threshold is not None:
            starts = starts and bool(h[-1] > threshold)
        if threshold_add is not None:
            starts = starts and bool(h[-1] - h[-2] > threshold_add)
        return starts

    return by_entropy


def end_rule_for(signature: dict[str, Any], entropy_info: dict[str, Any] | None, device: str = "cpu") -> EndRule:
    """`end_rule` for datasets with this signature, loading their entropy model (checked by fingerprint)."""
    spec = signature.get("patcher") or {}
    model = None
    if spec.get("patcher") == "entropy":
        if not entropy_info or not entropy_info.get("name"):
            raise ValueError("the datasets were entropy-patched but do not name their entropy model")
        from bytepatch.entropy.source import open_entropy_model

        model = open_entropy_model(entropy_info["name"], device)
        want = signature.get("entropy_model_fingerprint") or entropy_info.get("fingerprint")
        if model.fingerprint != want:
            raise ValueError(
                f"entropy model {entropy_info['name']!r} has fingerprint {model.fingerprint}, but the data was "
                f"patched with {want}: the end-of-document patch decision needs that model"
            )
    return end_rule(spec, model)
