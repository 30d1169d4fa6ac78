"""The patcher that `--patcher`, `--threshold`, ... describe: one place for every command.

`segment` and `inspect` share it, and it is a thin layer over `bytepatch.build_patcher`
(the library's front door), so a text inspected, the same text segmented, and the
patcher a script builds with the same options all patch alike.
"""

from __future__ import annotations

from typing import Sequence

import click

from bytepatch.cli.errors import user_errors
from bytepatch.io import ReaderConfig
from bytepatch.pretrained import BuiltPatcher, build_patcher


def patcher_from_options(
    patcher: str,
    model_name: str,
    threshold: float | None,
    threshold_add: float | None,
    target: float | None,
    stride: int,
    max_len: int | None,
    inputs: Sequence[str] = (),
    reader: ReaderConfig | None = None,
    device: str = "cpu",
    quiet: bool = False,
) -> BuiltPatcher:
    """The patcher (with its entropy model, if any) and its provenance, from command-line options.

    With `target` (--target-patch-size) the threshold is calibrated on a sample of
    `inputs` read with `reader`; commands without a corpus pass `target=None`. `quiet`
    drops the line saying what calibration found (it is recorded in the metadata).
    """
    model = None
    if patcher == "entropy":
        from bytepatch.cli._entropy_model import resolve_entropy_model  # n-gram/model code only when needed

        model = resolve_entropy_model(model_name, device)
        if threshold is None and threshold_add is None and target is None and model.default_threshold is None:
            # A threshold tuned for another model would give arbitrary patch sizes. The flags
            # named are this command's: `inspect` has no --target-patch-size to suggest.
            ctx = click.get_current_context(silent=True)
            taken = {o for p in ctx.command.params for o in p.opts} if ctx else None
            flags = [f for f in ("--threshold", "--threshold-add", "--target-patch-size") if not taken or f in taken]
            named = " or ".join(filter(None, [", ".join(flags[:-1]), flags[-1]])) if flags else "a threshold"
            raise click.UsageError(f"entropy model {model_name!r} has no default threshold; pass {named}")
    with user_errors():  # options that do not go together are a usage error (exit 2)
        return build_patcher(
            patcher,
            entropy_model=model,
            threshold=threshold,
            threshold_add=threshold_add,
            target_patch_size=target,
            calibration_data=list(inputs) if target is not None else None,
            reader=reader,
            stride=stride if patcher == "stride" else None,  # the command line says which options go together
            max_patch_length=max_len,
            log=None if quiet else lambda m: click.echo(m, err=True),
        )
