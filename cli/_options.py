"""One option vocabulary for every command: the same name and short flag for the same thing.

`-m/--entropy-model` names an entropy model everywhere, `-s/--target-patch-size` is a
wanted mean patch size everywhere, `--threshold`/`--threshold-add`/`--stride`/
`--max-patch-length` mean what `bytepatch segment` means by them. Patcher options that
the chosen patcher would ignore are an error (`reject_inapplicable`), never silently
dropped. `tests/cli/test_options.py` checks the vocabulary across all commands.
"""

from __future__ import annotations

from typing import Any, Callable

import click

ENTROPY_MODEL_HELP = "Entropy model: a name (default: the n-gram model shipped with bytepatch) or a model directory."
TARGET_HELP = "Calibrate the global threshold to this mean patch size in bytes (e.g. 4.5)."

# Which patchers each patcher option applies to (the rest would ignore it).
APPLIES_TO: dict[str, tuple[str, ...]] = {
    "entropy_model": ("entropy",),
    "threshold": ("entropy",),
    "threshold_add": ("entropy",),
    "target_patch_size": ("entropy",),
    "save_entropies": ("entropy",),
    "stride": ("stride",),
}


def entropy_model_option(default: str | None = "default", help: str = ENTROPY_MODEL_HELP) -> Callable:
    """`-m/--entropy-model NAME_OR_DIR`."""
    return click.option("--entropy-model", "-m", default=default, show_default=default is not None, help=help)


def target_patch_size_option(default: float | None = None, required: bool = False, help: str = TARGET_HELP) -> Callable:
    """`-s/--target-patch-size BYTES`."""
    # No `default=None` beside `required`: recent click (8.5 here) takes an explicit None default as
    # a value given, so the option would no longer be required.
    given = {"default": default} if default is not None else {}
    return click.option(
        "--target-patch-size",
        "-s",
        type=float,
        required=required,
        show_default=default is not None,
        help=help,
        **given,
    )


def input_format_option() -> Callable:
    """`--input-format auto|text|jsonl|parquet|arrow`: every command that reads corpora takes
    it, since their readers' errors (a `.json` document, a PNG among text files) advise it."""
    from bytepatch.io.documents import FORMATS

    return click.option(
        "--input-format",
        type=click.Choice(FORMATS),
        default="auto",
        show_default=True,
        help="How to read the inputs (auto: by file name; text: any file's bytes as they are).",
    )


def max_document_bytes_option() -> Callable:
    """`--max-document-bytes N`: every command that reads corpora takes it, since their
    readers' errors for a larger document name it."""
    from bytepatch.io.documents import DEFAULT_MAX_DOCUMENT_BYTES

    return click.option(
        "--max-document-bytes",
        type=click.IntRange(min=1),
        default=DEFAULT_MAX_DOCUMENT_BYTES,
        show_default=True,
        help="Refuse a document (file, line or row) larger than this, before holding it in memory.",
    )


def given(ctx: click.Context, name: str) -> bool:
    """Whether the user set option `name` (on the command line or by environment)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source not in (
        click.core.ParameterSource.DEFAULT,
        click.core.ParameterSource.DEFAULT_MAP,
    )


def reject_inapplicable(ctx: click.Context, patcher: str, params: dict[str, Any] | None = None) -> None:
    """A usage error for a patcher option the chosen `patcher` does not use."""
    for name, patchers in APPLIES_TO.items():
        if name in ctx.params and patcher not in patchers and given(ctx, name):
            flag = "--" + name.replace("_", "-")
            uses = " or ".join(f"--patcher {p}" for p in patchers)
            raise click.UsageError(f"{flag} applies to {uses} only, not --patcher {patcher}")
