"""The patcher the `--patcher`/`--threshold`/... options describe: one place for every command.

`segment` and `inspect` share it, so a text inspected and the same text segmented
patch alike (same defaults, same threshold rules, same entropy model).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import click

from bytepatch.entropy.ref import EntropyModelSource
from bytepatch.io import ReaderConfig
from bytepatch.patchers import EntropyPatcherConfig, PatcherSpec, SpacePatcherConfig, StridePatcherConfig

CALIBRATION_SAMPLE_BYTES = 8_000_000  # enough for a threshold within 2%, cheap next to a corpus


@dataclass(frozen=True)
class PatcherChoice:
    """What the options chose: the patcher, its entropy model (entropy patcher only) and,
    when --target-patch-size chose the threshold, how (recorded in the dataset)."""

    spec: PatcherSpec
    entropy_model: EntropyModelSource | None = None
    calibration: dict[str, Any] | None = None


def patcher_from_options(patcher: str, model_name: str, threshold: float | None, threshold_add: float | None,
                         target: float | None, stride: int, max_len: int | None, inputs=(),
                         reader: ReaderConfig | None = None, device: str = "cpu") -> PatcherChoice:  # fmt: skip
    """The patcher, entropy model and calibration the command-line options describe.

    Calibration (`target`) samples `inputs` read with `reader`; commands without a
    corpus pass `target=None`.
    """
    if patcher == "stride":
        return PatcherChoice(PatcherSpec("stride", StridePatcherConfig(stride, max_len)))
    if patcher == "space":
        return PatcherChoice(PatcherSpec("space", SpacePatcherConfig(max_len)))
    source = _entropy_resolver().resolve_entropy_model(model_name, device)
    model = source.model()
    calibration = None
    if target is not None:
        if threshold is not None or threshold_add is not None:
            raise click.UsageError("--target-patch-size chooses the threshold; do not also pass --threshold")
        threshold = _calibrate(model, inputs, reader, target, max_len)
        calibration = {"target_patch_size": target, "threshold": threshold, "rule": "global",
                       "sample_bytes": CALIBRATION_SAMPLE_BYTES}  # fmt: skip
    elif threshold is None and threshold_add is None:
        if model.default_threshold is None:
            # A threshold tuned for another model would give arbitrary patch sizes.
            raise click.UsageError(
                f"entropy model {model_name!r} has no default threshold; pass --threshold, --threshold-add "
                "or --target-patch-size"
            )
        threshold = model.default_threshold
    spec = PatcherSpec("entropy", EntropyPatcherConfig(threshold, threshold_add, max_len))
    return PatcherChoice(spec, source, calibration)


def _calibrate(model, inputs, reader: ReaderConfig, target: float, max_len: int | None) -> float:
    """The global threshold giving mean patch size `target` on a sample of the corpus
    (`bytepatch.entropy.sample`: round-robin over the inputs, long documents truncated)."""
    from bytepatch.entropy.calibrate import calibrate_threshold
    from bytepatch.entropy.sample import sample_documents

    sample = sample_documents(inputs, reader, CALIBRATION_SAMPLE_BYTES)
    result = calibrate_threshold(model.entropies(sample), target, rule="global", max_patch_length=max_len)
    click.echo(f"calibrated threshold {result.threshold:.6g} nats: mean patch size {result.mean_patch_size:.3f} "
               f"on {sum(map(len, sample)):,} sample bytes from {len(sample):,} documents", err=True)  # fmt: skip
    return float(result.threshold)


def _entropy_resolver():
    # Imported here: the space and stride paths never load entropy-model code.
    return importlib.import_module("bytepatch.cli._entropy_model")
