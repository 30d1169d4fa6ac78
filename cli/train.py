"""`bytepatch train`: train BLT (or the byte baseline) on datasets written by `bytepatch segment`."""

from __future__ import annotations

import click

from bytepatch.cli._output_lock import output_lock


@click.command("train")
@click.argument("args", metavar="DATASET... [KEY=VALUE...]", nargs=-1, required=True)
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--preset", default=None, help="Model preset (BLT: tiny, small, 400m, 1b; baseline: tiny, small, base, entropy-paper).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Run config JSON (e.g. a previous run's config.json).")
@click.option("--model", "model_type", type=click.Choice(["blt", "baseline"]), default=None,
              help="BLT or the byte-level baseline transformer.  [default: blt]")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Optimizer steps in total.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Rows per step and rank.")
@click.option("--seq-len", type=click.IntRange(min=2), default=None, help="Ids per row (BOS/EOS included).")
@click.option("--lr", type=float, default=None, help="Peak learning rate.")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default=None, help="[default: auto]")
@click.option("--eval-dataset", "eval_datasets", multiple=True,
              help="Held-out dataset(s); default: hold out train.eval_fraction of the documents by id hash.")
@click.option("--resume", is_flag=True, help="Continue from OUTPUT/checkpoint.pt exactly where it stopped.")
@click.option("--overwrite", is_flag=True, help="Start afresh even if OUTPUT holds a checkpoint.")
@click.option("--stop-at", type=int, default=None,
              help="Stop (with a checkpoint) after this step, e.g. before a job's time limit; continue with --resume.")
def train(args: tuple[str, ...], output: str, preset: str | None, config_file: str | None,
          model_type: str | None, steps: int | None, batch_size: int | None, seq_len: int | None,
          lr: float | None, device: str | None, eval_datasets: tuple[str, ...], resume: bool, overwrite: bool,
          stop_at: int | None) -> None:  # fmt: skip
    """Train a BLT (or the byte baseline) on DATASET... and write checkpoints to OUTPUT.

    Arguments of the form key=value (that are not existing paths) override the model config (dotted for BLT
    parts: encoder.dim=64, latent.n_layers=4) or, with a train. prefix, the
    trainer (train.warmup_steps=10, train.eval_every=50); unknown keys are an
    error. OUTPUT gets config.json, log.jsonl (one JSON record per log/eval
    event) and checkpoint.pt. Multi-GPU / multi-node: launch with torchrun.

    Examples:

    \b
        bytepatch train data/train -o runs/tiny --preset tiny --steps 200 --device cpu
        bytepatch train data/train -o runs/base --model baseline --preset small n_layers=6
        bytepatch train data/train -o runs/tiny --resume
        torchrun --standalone --nproc_per_node 8 -m bytepatch.cli.main \\
            train data/train -o runs/1b --preset 1b
    """
    from pathlib import Path

    from bytepatch.models.train import (
        CONFIG_FILE,
        RunConfig,
        TrainConfig,
        TrainingError,
        apply_overrides,
        load_run_config,
        preset_config,
    )
    from bytepatch.models.train import train as run_training

    # One variadic argument, split here: click allows only one nargs=-1 argument per command.
    overrides = [a for a in args if "=" in a and not Path(a).exists()]
    datasets = [a for a in args if a not in overrides]
    if not datasets:
        raise click.UsageError("no DATASET given")
    try:
        if resume and not config_file and not preset and (Path(output) / CONFIG_FILE).exists():
            run = load_run_config(Path(output) / CONFIG_FILE)  # resume: the saved run unless told otherwise
            if model_type and model_type != run.model_type:
                raise click.ClickException(f"{output} holds a {run.model_type} run, not {model_type}")
        elif config_file:
            if preset:
                raise click.ClickException("pass --preset or --config, not both")
            run = load_run_config(config_file)
            if model_type and model_type != run.model_type:
                raise click.ClickException(f"{config_file} configures a {run.model_type} model, not {model_type}")
        else:
            kind = model_type or "blt"
            run = RunConfig(kind, preset_config(kind, preset or "tiny"), TrainConfig())
        flags = {"steps": steps, "batch_size": batch_size, "seq_len": seq_len, "lr": lr, "device": device}
        run = apply_overrides(run, [f"train.{k}={v}" for k, v in flags.items() if v is not None] + overrides)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc

    try:
        with output_lock(output, "train"):
            summary = run_training(run, datasets, output, eval_datasets=list(eval_datasets) or None,
                                   resume=resume, overwrite=overwrite, stop_at=stop_at)  # fmt: skip
    except TrainingError as exc:
        raise click.ClickException(str(exc)) from exc
    if summary["rank"] != 0:  # under torchrun, one summary line
        return
    bpb = summary["held_out_bits_per_byte"]
    held = f"held-out {bpb:.4f} bits/byte" if bpb is not None else "not evaluated yet"
    click.echo(f"{summary['checkpoint']}: step {summary['step']}/{summary['steps']}, loss {summary['loss']:.4f}, "
               f"{held}, {summary['train_flops']:.3g} training FLOPs", err=True)  # fmt: skip
