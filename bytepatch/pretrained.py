"""The front door: `load_patcher(...)` builds exactly the patcher `bytepatch segment`
builds with the same options (the command calls `build_patcher` below, so the two
cannot drift apart).

For the entropy patcher that means: the entropy model named like `--entropy-model`
(wrapped as a `SharedModel`, so the patcher pickles as a few hundred bytes and each
worker process loads the model once), the model's own default threshold unless one is
given, and, with `target_patch_size`, the threshold calibrated on a sample of the
corpus exactly as `segment --target-patch-size` samples it.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from bytepatch.entropy.ref import EntropyModelRef
from bytepatch.errors import InputError, PatcherOptionError
from bytepatch.io.documents import ReaderConfig
from bytepatch.io.sources import input_paths
from bytepatch.patchers import EntropyPatcher, EntropyPatcherConfig, Patcher, SpacePatcher, SpacePatcherConfig
from bytepatch.patchers import StridePatcher, StridePatcherConfig

CALIBRATION_SAMPLE_BYTES = 8_000_000  # enough for a threshold within 2%, cheap next to a corpus


@dataclass(frozen=True)
class BuiltPatcher:
    """A patcher plus what a dataset records about how it was made."""

    patcher: Patcher
    entropy_model: EntropyModelRef | None = None  # the entropy patcher's model, as recorded
    calibration: dict[str, Any] | None = None  # target, threshold found, sample size


def build_patcher(
    patcher: str = "entropy",
    *,
    entropy_model: Any = None,
    threshold: float | None = None,
    threshold_add: float | None = None,
    target_patch_size: float | None = None,
    calibration_data: Sequence[str | bytes] | None = None,
    reader: ReaderConfig | None = None,
    stride: int | None = None,
    max_patch_length: int | None = None,
    device: str | None = None,
    log: Any = None,
) -> BuiltPatcher:
    """The patcher `bytepatch segment` builds from these options, with its provenance.

    `entropy_model` is a name or directory (as `--entropy-model`; default "default") or
    an already loaded model. `calibration_data` (with `target_patch_size`) is either input
    paths (str), sampled like `segment` samples its inputs (read with `reader`), or
    documents (bytes). `stride` (default 4) is the stride patcher's; `device` (default
    "cpu") is where a transformer entropy model runs. An option of another patcher is an
    error, as on the command line. `log`, if given, receives the one-line calibration summary.
    """
    if patcher not in ("entropy", "space", "stride"):
        raise PatcherOptionError(f"unknown patcher {patcher!r}; known: entropy, space, stride")
    entropy_only = {
        "entropy_model": entropy_model,
        "threshold": threshold,
        "threshold_add": threshold_add,
        "target_patch_size": target_patch_size,
        "calibration_data": calibration_data,
        "device": device,
    }
    foreign = [k for k, v in entropy_only.items() if v is not None] if patcher != "entropy" else []
    foreign += ["stride"] if stride is not None and patcher != "stride" else []
    if foreign:  # silently dropped, a typo or a wrong patcher name would go unnoticed
        raise PatcherOptionError(
            f"{', '.join(foreign)} do{'es' if len(foreign) == 1 else ''} not apply to the {patcher} patcher"
        )
    if patcher == "stride":
        return BuiltPatcher(StridePatcher(StridePatcherConfig(4 if stride is None else stride, max_patch_length)))
    if patcher == "space":
        return BuiltPatcher(SpacePatcher(SpacePatcherConfig(max_patch_length)))
    if calibration_data is not None and target_patch_size is None:
        raise PatcherOptionError("calibration_data is the sample for target_patch_size; give both or neither")
    if target_patch_size is not None:
        if isinstance(target_patch_size, bool) or not isinstance(target_patch_size, numbers.Real):
            raise PatcherOptionError(f"target_patch_size must be a number of bytes, got {target_patch_size!r}")
        target_patch_size = float(target_patch_size)  # as the command line's; a NumPy scalar is no JSON
    device = "cpu" if device is None else device
    if not isinstance(device, str) or (device not in ("cpu", "auto") and not device.startswith(("cuda", "mps", "xpu"))):
        raise PatcherOptionError(f"device must be cpu, auto or an accelerator (cuda, cuda:1, ...), got {device!r}")
    model, name = _model("default" if entropy_model is None else entropy_model, device)
    ref = EntropyModelRef.of(model, name)
    calibration = None
    if target_patch_size is not None:
        given = [flag for flag, v in (("--threshold", threshold), ("--threshold-add", threshold_add)) if v is not None]
        if given:  # named as given: "--threshold" alone was said for --threshold-add too
            raise PatcherOptionError(
                f"--target-patch-size chooses the threshold; do not also pass {' or '.join(given)}"
            )
        if calibration_data is None:
            raise PatcherOptionError(
                "target_patch_size needs calibration_data: the corpus (paths or documents) to sample"
            )
        threshold, calibration = _calibrate(
            model, calibration_data, reader or ReaderConfig(), target_patch_size, max_patch_length, log
        )
    elif threshold is None and threshold_add is None:
        if model.default_threshold is None:
            # A threshold tuned for another model would give arbitrary patch sizes.
            raise PatcherOptionError(
                f"entropy model {name!r} has no default threshold; pass threshold, threshold_add or target_patch_size"
            )
        threshold = model.default_threshold
    config = EntropyPatcherConfig(threshold, threshold_add, max_patch_length)
    return BuiltPatcher(EntropyPatcher(config, model=model), ref, calibration)


def load_patcher(
    patcher: str = "entropy",
    *,
    entropy_model: Any = None,
    threshold: float | None = None,
    threshold_add: float | None = None,
    target_patch_size: float | None = None,
    calibration_data: Sequence[str | bytes] | None = None,
    reader: ReaderConfig | None = None,
    stride: int | None = None,
    max_patch_length: int | None = None,
    device: str | None = None,
    log: Any = None,
) -> Patcher:
    """The patcher `bytepatch segment --patcher PATCHER ...` would use (same defaults).

    >>> p = load_patcher("entropy", entropy_model="default", max_patch_length=16)
    >>> p.patch_batch(["hello world", b"bytes too"])  # Ragged: one lengths array per document

    The options are `build_patcher`'s (spelled out here, not `**options`, so `help()` and
    editors show them); it returns the patcher alone, without the provenance.
    """
    return build_patcher(
        patcher,
        entropy_model=entropy_model,
        threshold=threshold,
        threshold_add=threshold_add,
        target_patch_size=target_patch_size,
        calibration_data=calibration_data,
        reader=reader,
        stride=stride,
        max_patch_length=max_patch_length,
        device=device,
        log=log,
    ).patcher


def _model(entropy_model: Any, device: str) -> tuple[Any, str]:
    from bytepatch.entropy.source import open_entropy_model

    if isinstance(entropy_model, (str, Path)):
        return open_entropy_model(entropy_model, device), str(entropy_model)
    if not hasattr(entropy_model, "entropies"):
        raise TypeError(
            f"entropy_model must be a name, a directory or a loaded model, got {type(entropy_model).__name__}"
        )
    return entropy_model, getattr(getattr(entropy_model, "source", None), "name", type(entropy_model).__name__)


def _calibrate(model, data, reader: ReaderConfig, target: float, max_len: int | None, log) -> tuple[float, dict]:
    """The global threshold giving mean patch size `target` on a sample (`bytepatch.entropy.sample`)."""
    import numpy as np

    from bytepatch.entropy.calibrate import calibrate_threshold
    from bytepatch.entropy.sample import piece_entropies, sample_pieces
    from bytepatch.patchers.base import as_uint8

    if isinstance(data, (str, bytes, bytearray, memoryview, os.PathLike)):
        raise TypeError("calibration_data is a list of paths or of documents, not one str/bytes/path")
    docs = list(data)
    is_doc = [isinstance(d, (bytes, bytearray, memoryview, np.ndarray)) for d in docs]
    if any(is_doc) and not all(is_doc):
        # A document among paths was read as a file named "b'...'", a path among documents
        # sent the documents there too.
        i = is_doc.index(False) if is_doc[0] else is_doc.index(True)
        raise TypeError(
            f"calibration_data mixes documents (bytes) and paths: item 0 is a {type(docs[0]).__name__}, "
            f"item {i} a {type(docs[i]).__name__}; give a list of one or the other"
        )
    if docs and all(is_doc):
        sample = _truncate([as_uint8(d).tobytes() for d in docs], CALIBRATION_SAMPLE_BYTES)
        entropies, pieces = model.entropies(sample), len(sample)
    else:  # spread over the whole corpus, in pieces (see bytepatch.entropy.sample)
        # Silent about links to one file (each is sampled once all the same) and about
        # inputs that may be truncated: the run that reads the corpus says it, once.
        try:
            parts = sample_pieces(input_paths(docs), reader, CALIBRATION_SAMPLE_BYTES, note=None)
        except InputError as exc:
            if exc.reason != "no such file or directory":
                raise
            # Perhaps a document passed as a str, which is a path here: the error printed the whole text as its name.
            name = exc.source
            if len(name) > 80 or "\n" in name:
                name = f"{name[:60]!r}... ({len(name):,} chars)"
            raise InputError(
                name, f"{exc.reason} (calibration_data's str items are input paths; pass documents as bytes)"
            ) from None
        entropies, pieces = piece_entropies(model, parts), len(parts)
    result = calibrate_threshold(entropies, target, rule="global", max_patch_length=max_len)
    sampled = sum(map(len, entropies))
    if log is not None:
        log(
            f"calibrated threshold {result.threshold:.6g} nats: mean patch size {result.mean_patch_size:.3f} "
            f"on {sampled:,} sample bytes in {pieces:,} pieces spread over the input"
        )
    threshold = float(result.threshold)
    return threshold, {
        "target_patch_size": target,
        "threshold": threshold,
        "rule": "global",
        "sample_bytes": sampled,  # the bytes sampled (the whole corpus when it is under the sample size)
    }


def _truncate(docs: list[bytes], budget: int) -> list[bytes]:
    out, total = [], 0
    for d in docs:
        if total >= budget:
            break
        out.append(d[: budget - total])
        total += len(out[-1])
    return out
