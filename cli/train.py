"""`bytepatch train`: train BLT (or the byte baseline) on datasets written by `bytepatch segment`."""

from __future__ import annotations

import sys

import click

from bytepatch.cli._output_lock import output_lock
from bytepatch.cli._threads import set_torch_threads, threads_option


@click.command("train")
@click.argument("args", metavar="DATASET... [KEY=VALUE...]", nargs=-1, required=True)
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option(
    "--preset",
    default=None,
    help="Model preset (BLT: tiny, small, 400m, 1b, 7b; baseline: tiny, small, base, entropy-paper).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Run config JSON (e.g. a previous run's config.json).",
)
@click.option(
    "--model",
    "model_type",
    type=click.Choice(["blt", "baseline"]),
    default=None,
    help="BLT or the byte-level baseline transformer.  [default: blt]",
)
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Optimizer steps in total.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Rows per step and rank.")
@click.option("--seq-len", type=click.IntRange(min=2), default=None, help="Ids per row (BOS/EOS included).")
@click.option("--lr", type=float, default=None, help="Peak learning rate.")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default=None, help="[default: auto]")
@click.option(
    "--eval-dataset",
    "eval_datasets",
    multiple=True,
    help="Held-out dataset(s); default: hold out train.eval_fraction of the documents by id hash.",
)
@click.option(
    "--resume", is_flag=True, help="Continue from the run directory's checkpoint.pt exactly where it stopped."
)
@click.option("--overwrite", is_flag=True, help="Start afresh even if the run directory holds a checkpoint.")
@click.option(
    "--parallel",
    type=click.Choice(["ddp", "fsdp"]),
    default=None,
    help="Under torchrun: replicate the model (ddp) or shard it with FSDP2 (fsdp).  [default: ddp]",
)
@click.option("--compile", "compile_model", is_flag=True, help="torch.compile the model for training.")
@click.option(
    "--activation-checkpointing",
    is_flag=True,
    help="Recompute transformer blocks in the backward pass (less memory, ~1/3 more compute).",
)
@click.option(
    "--init",
    "init",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Fine-tune: start from the weights and model config of a run directory or a transformers BLT directory.",
)
@click.option(
    "--stop-at",
    type=click.IntRange(min=1),
    default=None,
    help="Stop (with a checkpoint) after this step, e.g. before a job's time limit; continue with --resume.",
)
@threads_option
def train(
    args: tuple[str, ...],
    output: str,
    preset: str | None,
    config_file: str | None,
    model_type: str | None,
    steps: int | None,
    batch_size: int | None,
    seq_len: int | None,
    lr: float | None,
    device: str | None,
    eval_datasets: tuple[str, ...],
    resume: bool,
    overwrite: bool,
    parallel: str | None,
    compile_model: bool | None,
    activation_checkpointing: bool | None,
    stop_at: int | None,
    init: str | None,
    threads: int | None,
) -> None:
    """Train a BLT (or the byte baseline) on DATASET... and write checkpoints to the
    run directory given by -o/--output.

    Arguments of the form key=value (that are not existing paths) override the model config (dotted for BLT
    parts: encoder.dim=64, latent.n_layers=4) or, with a train. prefix, the
    trainer (train.warmup_steps=10, train.eval_every=50); unknown keys are an
    error. The run directory gets config.json, log.jsonl (one JSON record per
    log/eval event) and checkpoint.pt; `bytepatch report RUN --html` draws its curves. Multi-GPU / multi-node: launch with torchrun.

    \b
    Examples:
        bytepatch train data/train -o runs/tiny --preset tiny --steps 200 --device cpu
        bytepatch train data/train -o runs/base --model baseline --preset small n_layers=6
        bytepatch train data/train -o runs/tiny --resume
        bytepatch train data/blt -o runs/blt-ft --init blt-1b-hf --steps 1000 --lr 1e-4
        torchrun --standalone --nproc_per_node 8 -m bytepatch.cli.main \\
            train data/train -o runs/1b --preset 1b --parallel fsdp --activation-checkpointing
    """
    set_torch_threads(threads)
    from dataclasses import replace
    from pathlib import Path

    from bytepatch.models.train import (
        RunConfig,
        TrainConfig,
        TrainingError,
        TrainingAborted,
        TrainingInterrupted,
        apply_overrides,
        load_run_config,
        preset_config,
    )
    from bytepatch.models.errors import DatasetMismatchError
    from bytepatch.models.train import train as run_training

    # One variadic argument, split here: click allows only one nargs=-1 argument per command.
    overrides = [a for a in args if "=" in a and not Path(a).exists()]
    datasets = [a for a in args if a not in overrides]
    if not datasets:
        raise click.UsageError("no DATASET given")
    if init and (resume or preset or config_file):
        raise click.ClickException(
            "--init starts a new run from its weights and config; drop --resume/--preset/--config"
        )
    init_state, init_note = None, None
    try:
        if resume and not config_file and (saved := _saved_run(Path(output))) is not None:
            run = saved  # resume: the saved run unless told otherwise
            if model_type and model_type != run.model_type:
                raise click.ClickException(f"{output} holds a {run.model_type} run, not {model_type}")
            if preset:
                # The preset's model (another than the run's is refused by the trainer) with the run's
                # own trainer settings: from the defaults, a --steps left out silently became 1,000.
                run = replace(run, model=preset_config(run.model_type, preset))
        elif config_file:
            if preset:
                raise click.ClickException("pass --preset or --config, not both")
            run = load_run_config(config_file)
            if model_type and model_type != run.model_type:
                raise click.ClickException(f"{config_file} configures a {run.model_type} model, not {model_type}")
        elif init:
            run, init_state, init_note = _init_run(init, model_type)
        else:
            kind = model_type or "blt"
            run = RunConfig(kind, preset_config(kind, preset or "tiny"), TrainConfig())
        flags = {
            "steps": steps,
            "batch_size": batch_size,
            "seq_len": seq_len,
            "lr": lr,
            "device": device,
            "parallel": parallel,
        }
        switches = {"compile": compile_model, "activation_checkpointing": activation_checkpointing}
        run = apply_overrides(
            run,
            [f"train.{k}={v}" for k, v in flags.items() if v is not None]
            + [f"train.{k}=true" for k, on in switches.items() if on]
            + overrides,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc

    try:
        with output_lock(output, "train"):
            summary = run_training(
                run,
                datasets,
                output,
                eval_datasets=list(eval_datasets) or None,
                resume=resume,
                overwrite=overwrite,
                stop_at=stop_at,
                init_state=init_state,
            )
    # ValueError: a setting refused where the schedule, optimizer or data is built.
    except (TrainingError, ValueError) as exc:
        # Data patched otherwise than --init's model: say how that model patches, where it needs saying.
        mismatch = isinstance(exc, DatasetMismatchError) or isinstance(exc.__cause__, DatasetMismatchError)
        note = f" ({init_note})" if mismatch and init_note else ""
        raise click.ClickException(f"{exc}{note}") from exc
    # Ctrl-C, SIGTERM: the checkpoint is written, the run can go on; after a second signal
    # (TrainingAborted) the last checkpoint written stays.
    except (TrainingInterrupted, TrainingAborted) as exc:
        click.echo(f"{output}: {exc}", err=True)
        sys.exit(128 + exc.signum)
    if summary["rank"] != 0:  # under torchrun, one summary line
        return
    bpb = summary["held_out_bits_per_byte"]
    held = f"held-out {bpb:.4f} bits/byte" if bpb is not None else "not evaluated yet"
    click.echo(
        f"{summary['checkpoint']}: step {summary['step']}/{summary['steps']}, loss {summary['loss']:.4f}, "
        f"{held}, {summary['train_flops']:.3g} training FLOPs",
        err=True,
    )


def _saved_run(out):
    """The run a resume continues: DIR/config.json, or, when that is missing or unreadable, the run
    config stored in the checkpoint (the defaults would differ: "cannot resume with different
    settings"); None without a checkpoint (the trainer then says there is nothing to resume)."""
    import json

    from bytepatch.models.train import CHECKPOINT_FILE, CONFIG_FILE, RunConfig, load_run_config
    from bytepatch.models.train.checkpoint import read_checkpoint

    config = out / CONFIG_FILE
    problem = "is missing"
    if config.exists() and not config.is_file():  # a FIFO would block the read for ever: taken as damaged
        problem = "is not a regular file"
    elif config.exists():
        try:
            json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # damaged: the checkpoint's copy is the run's
            problem = f"is unreadable ({exc})"
        else:  # readable: a value refused there is the user's to mend, not to be ignored
            try:
                return load_run_config(config)
            except ValueError as exc:
                # A train-entropy directory: its config.json is the model's; say whose run it is.
                raise click.ClickException(_other_trainers_run(out) or str(exc)) from exc
    if not (out / CHECKPOINT_FILE).is_file():
        return None
    try:
        run = RunConfig.from_dict(read_checkpoint(out, settings_only=True)["extra"]["run"])
    except (ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"note: {config} {problem}; resuming with the run config saved in {out / CHECKPOINT_FILE}", err=True)
    return run


def _other_trainers_run(out):
    """The message for a run directory whose checkpoint train-entropy wrote, else None."""
    from bytepatch.models.train import CHECKPOINT_FILE
    from bytepatch.models.train.checkpoint import other_trainers_run, read_checkpoint

    if not (out / CHECKPOINT_FILE).is_file():
        return None
    try:
        extra = read_checkpoint(out, settings_only=True)["extra"]
    except (OSError, ValueError):  # damaged: the trainer says so
        return None
    return other_trainers_run(out, extra, "train")


def _init_run(path: str, model_type: str | None):
    """(run config, weights, how it patches when that needs saying) of `train --init PATH`:
    the model and the data signature it was trained on."""
    from bytepatch.models.train import RunConfig, TrainConfig, load_checkpoint

    try:
        model, config, meta = load_checkpoint(path)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot load --init {path!r}: {exc}") from exc
    if model_type and model_type != meta["model_type"]:
        raise click.ClickException(f"--init {path} holds a {meta['model_type']} model, not {model_type}")
    # A BLT learnt on patches from this patcher and entropy model: pin the datasets to them. The
    # baseline never read a patch boundary, so it takes data patched any way: nothing to pin.
    data = meta.get("data") or {}
    pinned = data.get("signature") if meta["model_type"] == "blt" else None
    run = RunConfig(meta["model_type"], config, TrainConfig(), data=pinned)
    return run, model.state_dict(), data.get("patching_note")  # the note: e.g. one byte per patch
