"""`bytepatch generate`: sample bytes from a trained checkpoint, patching online like its training data."""

from __future__ import annotations

import click

from bytepatch.cli._options import given
from bytepatch.io.fs import shown_path
from bytepatch.cli._threads import set_torch_threads, threads_option


@click.command("generate")
@click.argument("checkpoint", type=click.Path(exists=True))
@click.option("--prompt", "-p", default="", help="Text to continue (your shell's bytes, kept exactly).")
@click.option(
    "--prompt-file",
    type=click.File("rb"),
    default=None,
    help="Read the prompt's raw bytes from a file ('-' = stdin) instead.",
)
@click.option(
    "--max-bytes",
    "-n",
    type=click.IntRange(min=0),
    default=256,
    show_default=True,
    help="Generate at most this many bytes (fewer if the model ends the text).",
)
@click.option(
    "--temperature",
    "-t",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Sampling temperature; 0 = greedy.",
)
@click.option(
    "--top-p",
    type=click.FloatRange(0, 1, min_open=True),
    default=1.0,
    show_default=True,
    help="Nucleus sampling: draw from the most likely bytes holding this much probability.",
)
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None, help="Seed for reproducible sampling.")
@click.option("--echo", is_flag=True, help="Write the prompt before the continuation.")
@click.option(
    "--entropy-model",
    "-m",
    default=None,
    help="Entropy model to patch with, if it moved since training (its fingerprint must match).",
)
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto", show_default=True)
@threads_option
@click.option("--no-cache", is_flag=True, help="Re-run the whole model every byte (slow reference path).")
def generate(
    checkpoint: str,
    prompt: str,
    prompt_file,
    max_bytes: int,
    temperature: float,
    top_p: float,
    seed: int | None,
    echo: bool,
    entropy_model: str | None,
    device: str,
    threads: int | None,
    no_cache: bool,
) -> None:
    """Continue a prompt with a model trained by `bytepatch train`, byte by byte.

    CHECKPOINT is a run directory of `bytepatch train` or its checkpoint.pt. A
    BLT re-patches the growing text online with the patcher its training data
    was segmented with (same settings, same entropy model, checked by
    fingerprint): a new patch starts where that rule fires. The byte baseline
    needs no patches. Generation stops after --max-bytes bytes or when the model
    ends the text (EOS). Raw bytes go to stdout as they are sampled; they may
    not be valid UTF-8 if the model says so.

    \b
    Examples:
      bytepatch generate runs/tiny --prompt "The history of " -n 200
      bytepatch generate runs/tiny -p "def main(" --temperature 0.7 --top-p 0.9 --seed 1
      bytepatch generate runs/baseline -p "Once" -t 0 > out.txt
    """
    import sys

    from bytepatch.cli._entropy_model import recorded_entropy_model, run_places
    from bytepatch.entropy.ref import EntropyModelRef
    from bytepatch.models.entropy_lm.model import resolve_device
    from bytepatch.models.generation.generate import Sampling, iter_generate
    from bytepatch.models.train import load_checkpoint
    from bytepatch.patchers import PatcherSpec

    set_torch_threads(threads)  # not torch's default, every CPU the host reports (as train and eval)
    # given(), not the value: `-p "" --prompt-file F` was accepted, the empty prompt silently dropped
    if prompt_file is not None and given(click.get_current_context(), "prompt"):
        raise click.UsageError("pass --prompt or --prompt-file, not both")
    try:  # before the checkpoint loads: click's FloatRange lets inf and nan through, Sampling does not
        sampling = Sampling(max_bytes, temperature, top_p, seed)
    except ValueError as exc:
        raise click.ClickException(str(exc).replace("temperature", "--temperature").replace("top_p", "--top-p"))
    # argv arrives decoded with surrogateescape on POSIX: encoding the same way gives back its bytes.
    try:
        data = prompt_file.read() if prompt_file is not None else prompt.encode("utf-8", "surrogateescape")
    except OSError as exc:  # stdin closed, a device that fails to read: one line, not a traceback
        name = getattr(prompt_file, "name", None)
        where = shown_path(name) if isinstance(name, (str, bytes)) and name not in ("-", "<stdin>") else "<stdin>"
        raise click.ClickException(f"--prompt-file {where}: cannot read: {exc.strerror or exc}") from exc
    try:
        dev = resolve_device(device)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        model, _, meta = load_checkpoint(checkpoint, device=dev)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot load checkpoint {checkpoint!r}: {exc}") from exc
    patcher, entropy = None, None
    if meta["model_type"] == "baseline" and entropy_model is not None:
        raise click.ClickException("the byte baseline uses no patches, so no entropy model; drop --entropy-model")
    if meta["model_type"] != "baseline":
        try:
            patcher = PatcherSpec.from_dict(meta["data"]["patcher"])
            recorded = EntropyModelRef.from_json(meta["data"].get("entropy_model"))
        except ValueError as exc:
            raise click.ClickException(f"cannot load checkpoint {checkpoint!r}: {exc}") from exc
        note = meta["data"].get("patching_note")
        entropy = recorded_entropy_model(recorded, entropy_model, dev, near=run_places(meta), note=note)
    out = sys.stdout.buffer  # raw bytes: nothing is encoded or replaced
    if echo:
        out.write(data)
        out.flush()  # now: a reader that has left is found here, even if no byte follows
    try:
        for byte in iter_generate(
            model, data, patcher=patcher, entropy_model=entropy, sampling=sampling, cache=not no_cache
        ):
            out.write(bytes([byte]))
            out.flush()  # stream: each byte as soon as it is sampled
    except ValueError as exc:
        raise click.ClickException(f"cannot generate from {checkpoint!r}: {exc}") from exc
