"""`bytepatch train-entropy`: train the transformer entropy LM (the BLT paper's model) on a corpus."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from bytepatch.cli._options import given as option_given
from bytepatch.cli._options import input_format_option, max_document_bytes_option
from bytepatch.cli._output_lock import output_lock
from bytepatch.cli._threads import set_torch_threads, threads_option

from bytepatch.io import InputError, ReaderConfig, read_inputs


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Model directory to write.")
@click.option("--preset", default="small", show_default=True, help="Model preset (tiny, small, base, entropy-paper).")
@click.option("--steps", type=click.IntRange(min=1), default=2000, show_default=True, help="Optimizer steps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True, help="Rows per step.")
@click.option("--seq-len", type=click.IntRange(min=2), default=1024, show_default=True, help="Bytes per row.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Peak learning rate (warmup, then cosine).")
@click.option("--warmup-steps", type=click.IntRange(min=0), help="Linear warmup steps [default: 5% of --steps].")
@click.option(
    "--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True, help="Model init and data order."
)
@click.option(
    "--held-out",
    "held_out",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),  # checked here, so the error names --held-out
    default=0.05,
    show_default=True,
    help="Fraction of documents (by id hash) held out for evaluation and calibration.",
)
@click.option("--eval-every", type=click.IntRange(min=1), default=200, show_default=True)
@click.option(
    "--eval-bytes",
    type=click.IntRange(min=1),
    default=262_144,
    show_default=True,
    help="Held-out bytes scored per evaluation.",
)
@click.option("--save-every", type=click.IntRange(min=1), default=200, show_default=True, help="Steps per checkpoint.")
@click.option("--log-every", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--target-patch-size",
    "-s",
    type=float,
    default=4.5,
    show_default=True,
    help="Calibrate the default threshold to this mean patch size on held-out text.",
)
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True)
@click.option("--resume", is_flag=True, help="Continue from DIR/checkpoint.pt (exactly where it stopped).")
@click.option("--overwrite", is_flag=True, help="Start afresh, replacing a model or checkpoint in --output.")
@click.option("--text-field", default="text", show_default=True, help="JSONL field / column holding the text.")
@click.option("--id-field", help="JSONL field / column to use as the document id.")
@click.option("--doc-per-line", is_flag=True, help="Plain text: one document per line, not per file.")
@input_format_option()
@max_document_bytes_option()
@threads_option
def train_entropy(
    inputs: tuple[str, ...],
    output: str,
    preset: str,
    steps: int,
    batch_size: int,
    seq_len: int,
    lr: float,
    warmup_steps: int | None,
    seed: int,
    held_out: float,
    eval_every: int,
    eval_bytes: int,
    save_every: int,
    log_every: int,
    target_patch_size: float,
    device: str,
    resume: bool,
    overwrite: bool,
    text_field: str,
    id_field: str | None,
    doc_per_line: bool,
    input_format: str,
    max_document_bytes: int,
    threads: int | None,
) -> None:
    """Train a byte-transformer entropy LM on INPUT... and write it to --output.

    Reads the same inputs as `segment` (text, JSONL, Parquet, Arrow, directories,
    globs, -). Documents whose id hashes into the --held-out fraction are never
    trained on; loss and held-out bits/byte go to stderr and DIR/log.jsonl,
    checkpoints to DIR/checkpoint.pt. When done, DIR is an entropy model whose
    default threshold gives mean patch size --target-patch-size on held-out text.

    \b
    Examples:
      bytepatch train-entropy corpus.jsonl -o lm/ --preset tiny --steps 200 --seq-len 256
      bytepatch train-entropy docs/ -o lm/ --preset small --device auto
      bytepatch train-entropy docs/ -o lm/ --preset small --resume     # after Ctrl-C
      bytepatch segment corpus.jsonl -o out/ --entropy-model lm/
    """
    set_torch_threads(threads)
    # torch is imported here, not at module top, so other commands never pay for it.
    from bytepatch.models.entropy_lm.train import (
        TrainingAborted,
        TrainingError,
        TrainingInterrupted,
        entropy_settings,
        train_entropy_lm,
    )

    try:
        run, options = entropy_settings(
            preset,
            steps=steps,
            batch_size=batch_size,
            seq_len=seq_len,
            lr=lr,
            warmup_steps=warmup_steps,
            seed=seed,
            held_out_fraction=held_out,
            eval_bytes=eval_bytes,
            eval_every=eval_every,
            save_every=save_every,
            log_every=log_every,
            device=device,
            target_patch_size=target_patch_size,
            reading={name: click.get_current_context().params[name] for name in READING_OPTIONS},
        )
        if resume:  # the checkpoint's settings for every option not given on this command line
            run, options = _resumed_settings(click.get_current_context(), output, run, options)
        read = read_inputs(inputs, ReaderConfig(**options.reading, max_document_bytes=max_document_bytes))
        docs = ((d.id, d.data) for d in read)
        with output_lock(output, "train-entropy"):
            train_entropy_lm(docs, output, run, options, resume=resume, overwrite=overwrite)
    except (InputError, TrainingError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    except (TrainingInterrupted, TrainingAborted) as exc:  # a checkpoint is there for --resume
        click.echo(f"{output}: {exc}", err=True)
        sys.exit(128 + exc.signum)


# Options whose value a resume takes from the checkpoint unless given, and the TrainConfig field each sets.
RESUMED_FIELDS = {
    "steps": "steps",
    "batch_size": "batch_size",
    "seq_len": "seq_len",
    "lr": "lr",
    "warmup_steps": "warmup_steps",
    "seed": "seed",
    "held_out": "eval_fraction",
    "eval_every": "eval_every",
    "save_every": "save_every",
    "log_every": "log_every",
    "device": "device",
}

# Options that say how the inputs are read, kept with the checkpoint (`data.reading`): a resume
# reads the inputs as the run did unless one is given, and one given otherwise is refused by
# name (read differently, a one-file corpus without --doc-per-line is one document, and the
# resume failed on the held-out split instead of continuing the run).
READING_OPTIONS = {
    "text_field": "--text-field",
    "id_field": "--id-field",
    "doc_per_line": "--doc-per-line",
    "input_format": "--input-format",
}


def _resumed_settings(ctx: click.Context, output: str, run, options):
    """(run, options) of `--resume`: the checkpoint's model and settings, except the options given
    explicitly (click's defaults are not choices: `--steps` left out must not turn a finished
    200-step run into a 2000-step one). No checkpoint: unchanged (the trainer says so)."""
    from dataclasses import replace
    from pathlib import Path

    from bytepatch.models.train import CHECKPOINT_FILE, RunConfig
    from bytepatch.models.train.checkpoint import other_trainers_run, read_checkpoint

    if not (Path(output) / CHECKPOINT_FILE).is_file():
        return run, options
    extra = read_checkpoint(output, settings_only=True)["extra"]  # the trainer reads it in full
    if (other := other_trainers_run(output, extra, "train-entropy")) is not None:
        raise ValueError(other)
    saved = RunConfig.from_dict(extra["run"])
    given = functools.partial(option_given, ctx)
    train = replace(saved.train, **{f: getattr(run.train, f) for o, f in RESUMED_FIELDS.items() if given(o)})
    if given("preset") and run.model != saved.model:
        # Said here, in train-entropy's words: the trainer's message is `train`'s (--config,
        # overrides, neither of which train-entropy has) and names the model type, not the preset.
        raise ValueError(
            f"{output}: the run was started with {_preset_of(saved.model)}, not --preset {ctx.params['preset']}; "
            "resume without --preset (the run's model is kept), or with the run's preset"
        )
    model = saved.model
    data = extra.get("data", {})
    if not given("eval_bytes") and isinstance(data.get("eval_bytes"), int):
        options = replace(options, eval_bytes=data["eval_bytes"])
    target = data.get("target_patch_size")  # absent from checkpoints written before it was kept
    if not given("target_patch_size") and isinstance(target, (int, float)) and not isinstance(target, bool):
        options = replace(options, target_patch_size=float(target))
    options = replace(options, reading=_resumed_reading(output, data.get("reading"), options.reading, given))
    return replace(run, model=model, train=train), options


def _preset_of(model: Any) -> str:
    """The preset a saved model config is, in words ("--preset tiny"), or its shape when none is."""
    from bytepatch.models.nn.transformer import TRANSFORMER_PRESETS

    name = next((n for n, config in TRANSFORMER_PRESETS.items() if config == model), None)
    if name is not None:
        return f"--preset {name}"
    return f"a model of no preset (n_layers {model.n_layers}, dim {model.dim}, n_heads {model.n_heads})"


def _resumed_reading(output: str, saved: Any, reading: dict[str, Any], given: Callable[[str], bool]) -> dict[str, Any]:
    """How a resume reads its inputs: as the run did (`saved`, the checkpoint's record), except
    that an option given with another value is refused, naming it. A checkpoint written before
    the record was kept (`saved` not a dict): the options as given, as before."""
    if not isinstance(saved, dict):
        return reading
    diffs = [
        f"{flag}: {saved.get(name)!r} -> {reading[name]!r}"
        for name, flag in READING_OPTIONS.items()
        if name in saved and given(name) and saved[name] != reading[name]
    ]
    if diffs:
        raise ValueError(
            f"{output}: cannot resume with different settings ({', '.join(diffs)}): the run read its inputs "
            "otherwise; resume without the option to read them as the run did"
        )
    return {name: saved.get(name, value) if not given(name) else value for name, value in reading.items()}
