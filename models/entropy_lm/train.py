"""Training the entropy LM (what `bytepatch train-entropy` runs): the one trainer, then calibrate and export.

    run, options = entropy_settings("tiny", steps=200, seq_len=256, held_out_fraction=0.05)
    lm = train_entropy_lm(docs, "runs/lm", run, options)     # docs: (id, bytes) pairs

The entropy LM is a sliding-window `ByteTransformer`, i.e. the trainer's `baseline`
model; `models.train.fit` trains it on raw documents (`DocumentData`: held-out
split by id hash, BOS-framed packed stream, attention kept inside each document),
with the same checkpoint format, log (`DIR/log.jsonl`), Ctrl-C checkpoint, NaN stop,
exact resume and DDP as BLT. What is particular to the entropy LM happens after
training: the default threshold is calibrated on the held-out entropies to the
target mean patch size (global rule) and the directory becomes a loadable entropy
model (`config.json` + `model.pt`, beside `checkpoint.pt` so training can be extended).
A resume that trains past an exported model removes it before its first step (`fit`'s
`before_steps`), so an interrupted run never leaves an older model beside a newer checkpoint.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bytepatch.entropy.base import score
from bytepatch.entropy.calibrate import calibrate_threshold
from bytepatch.models.entropy_lm.model import TransformerEntropyModel
from bytepatch.models.nn.transformer import TRANSFORMER_PRESETS
from bytepatch.models.train.checkpoint import CHECKPOINT_FILE, load_checkpoint, other_trainers_run
from bytepatch.models.train.config import RunConfig, TrainConfig
from bytepatch.models.train.data import DocumentData
from bytepatch.models.train.interrupt import TrainingAborted, TrainingInterrupted
from bytepatch.models.train.step import TrainingError
from bytepatch.models.train.trainer import fit

MODEL_FILES = ("config.json", "model.pt")  # the exported entropy model (config.json first: it marks it complete)

__all__ = [
    "EntropyLMOptions",
    "TrainingAborted",
    "TrainingError",
    "TrainingInterrupted",
    "entropy_settings",
    "train_entropy_lm",
]


@dataclass(frozen=True)
class EntropyLMOptions:
    """What train-entropy adds to a run: the held-out sample it scores and the calibration target."""

    eval_bytes: int = 262_144  # held-out bytes scored per evaluation and for calibration (a fixed prefix sample)
    target_patch_size: float = 4.5  # the default threshold gives this mean patch size on the held-out sample
    # How the inputs were read (train-entropy's --text-field, --id-field, --doc-per-line, --input-format),
    # kept with the checkpoint: a resume must read them the same way, or its documents are others.
    reading: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.eval_bytes < 1:
            raise ValueError(f"eval_bytes must be >= 1, got {self.eval_bytes}")
        # Checked here, before training: calibration after the whole run would only warn.
        if not (math.isfinite(self.target_patch_size) and self.target_patch_size >= 1):
            raise ValueError(f"target patch size must be a finite number >= 1 (bytes), got {self.target_patch_size}")


def entropy_settings(
    preset: str = "small",
    *,
    held_out_fraction: float = 0.05,
    eval_bytes: int = 262_144,
    target_patch_size: float = 4.5,
    reading: dict[str, Any] | None = None,
    **train: Any,
) -> tuple[RunConfig, EntropyLMOptions]:
    """(run config, entropy options) from train-entropy's settings; `train` are `TrainConfig` fields."""
    if preset not in TRANSFORMER_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(TRANSFORMER_PRESETS)}")
    if TRANSFORMER_PRESETS[preset].window is None:
        raise ValueError(f"preset {preset!r} has no sliding window; the entropy LM needs one")
    train.setdefault("device", "cpu")
    config = TrainConfig(eval_fraction=held_out_fraction, **train)
    return RunConfig("baseline", TRANSFORMER_PRESETS[preset], config), EntropyLMOptions(
        eval_bytes, target_patch_size, reading
    )


def train_entropy_lm(
    docs: Iterable[tuple[str, bytes]],
    output: str | Path,
    run: RunConfig,
    options: EntropyLMOptions = EntropyLMOptions(),
    *,
    resume: bool = False,
    overwrite: bool = False,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
    stop_after: Callable[[int], bool] | None = None,
) -> TransformerEntropyModel | None:
    """Train on (id, bytes) documents and write the model directory `output`; returns the model (rank 0).

    `stop_after(step)` returning True stops like Ctrl-C does (checkpoint, then
    `TrainingInterrupted`); tests use it to interrupt a run at a known step.
    """
    out = Path(output)
    replaced = _check_model_files(out, resume, overwrite)
    opened: list[DocumentData] = []
    record: dict[str, Any] = {"target_patch_size": options.target_patch_size}
    if options.reading is not None:
        record["reading"] = dict(options.reading)

    def open_data(run: RunConfig, saved: Any, rank: int, world: int) -> DocumentData:
        if saved is not None and (other := other_trainers_run(out, saved, "train-entropy")) is not None:
            raise ValueError(other)
        t = run.train
        opened.append(
            DocumentData(
                docs,
                batch_size=t.batch_size,
                seq_len=t.seq_len,
                seed=t.seed,
                eval_fraction=t.eval_fraction,
                eval_bytes=options.eval_bytes,
                rank=rank,
                world=world,
                record=record,  # for a resume that does not repeat them
            )
        )
        return opened[-1]

    summary = fit(
        run,
        open_data,
        out,
        resume=resume,
        overwrite=overwrite,
        log=log,
        interrupt_after=stop_after,
        write_config=False,
        before_steps=lambda: _remove_model_files(out, replaced),
        replaces=replaced,
    )
    if summary["rank"] != 0:
        return None
    return _export(out, run, options, opened[-1], summary, log)


# An n-gram entropy model's weights (fit-entropy), replaced with --overwrite as this model's are: left
# beside the new config.json, they rode along with every copy of the directory.
NGRAM_FILE = "ngram.npz"


def _check_model_files(out: Path, resume: bool, overwrite: bool) -> tuple[str, ...]:
    """A finished model in `out` (this kind's or an n-gram's) is replaced only with --overwrite
    (or rewritten by --resume, which needs this run's checkpoint). Returns the model files
    --overwrite replaces: removed only once the run is set up (`_remove_model_files`), so a
    run refused for its inputs or settings leaves the model as it was."""
    existing = [name for name in (*MODEL_FILES, NGRAM_FILE) if (out / name).is_file()]
    if existing and not (resume or overwrite or (out / CHECKPOINT_FILE).exists()):
        # No checkpoint: --resume has nothing to continue, so it is not offered.
        raise TrainingError(
            f"{out}: already holds an entropy model ({', '.join(existing)}); pass --overwrite to replace it, "
            "or choose another directory"
        )
    return tuple(existing) if overwrite and not resume else ()


def _remove_model_files(out: Path, replaced: tuple[str, ...] = ()) -> None:
    """Remove an exported model before training past it (a resume that extends a finished
    run): left beside newer checkpoints, an interrupted run's directory held a complete,
    older model that loaded as the run's result. config.json goes first, in one unlink: it
    marks a model complete (`TransformerEntropyModel.save` writes it last), so from then on
    the directory is an unfinished run, as one interrupted before its first export is."""
    for name in dict.fromkeys((*MODEL_FILES, *replaced)):  # config.json, then model.pt (and an n-gram's ngram.npz)
        (out / name).unlink(missing_ok=True)


def _export(
    out: Path,
    run: RunConfig,
    options: EntropyLMOptions,
    data: DocumentData,
    summary: dict[str, Any],
    log: Callable[[str], None],
) -> TransformerEntropyModel:
    """Calibrate the default threshold on the held-out entropies and write config.json + model.pt."""
    model, _, _ = load_checkpoint(out)  # the weights exactly as checkpointed, in eval mode
    lm = TransformerEntropyModel(model, device=run.train.device)
    hs = data.entropies
    bpb = summary["held_out_bits_per_byte"]
    if hs is None or bpb is None:  # resumed a finished run (e.g. to rewrite the model directory)
        hs, bits, n = score(lm, data.eval_docs)
        bpb = bits / max(n, 1)
    training: dict[str, Any] = {
        "config": {**asdict(run.train), **asdict(options)},
        "corpus": data.info["corpus"],
        "final_loss": summary["loss"],
        "held_out_bits_per_byte": bpb,
        "held_out_sample_bytes": sum(map(len, hs)),
    }
    try:
        cal = calibrate_threshold(hs, options.target_patch_size, rule="global")
        lm.default_threshold = cal.threshold
        training["calibration"] = {
            "rule": "global",
            "target_patch_size": options.target_patch_size,
            "threshold": cal.threshold,
            "mean_patch_size": cal.mean_patch_size,
        }
        log(f"default threshold {cal.threshold:.4f} nats -> mean patch size {cal.mean_patch_size:.3f} on held-out")
    except ValueError as exc:  # e.g. a held-out sample too small or a model too flat for the target
        training["calibration"] = {"error": str(exc)}
        log(f"warning: no default threshold calibrated ({exc}); pass --threshold when segmenting")
    lm.training = training
    lm.save(out)
    log(f"{out}: entropy model written ({lm.fingerprint}); held-out {bpb:.4f} bits/byte")
    return lm
