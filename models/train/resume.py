"""Starting or resuming a run safely: the output directory, what may change on resume, the log's tail."""

from __future__ import annotations

import json
from dataclasses import asdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bytepatch.lock import is_lock_file
from bytepatch.models.train.checkpoint import CHECKPOINT_FILE
from bytepatch.models.train.config import RESUMABLE_CHANGES, RunConfig
from bytepatch.models.train.state import atomic_write_text
from bytepatch.models.train.step import TrainingError


def prepare_output(out: Path, resume: bool, overwrite: bool, replaces: Sequence[str] = ()) -> None:
    """Refuse to train over a checkpoint unless told to resume or overwrite; refuse to resume from nothing.
    `replaces`: files the caller replaces itself with --overwrite (train-entropy's model), not foreign then."""
    if resume and overwrite:
        raise TrainingError("pass either --resume or --overwrite, not both")
    if out.exists() and not out.is_dir():
        raise TrainingError(f"{out}: exists and is not a directory")
    has_ckpt = (out / CHECKPOINT_FILE).exists()
    if resume and not has_ckpt:
        raise TrainingError(f"{out}: no {CHECKPOINT_FILE} to resume from")
    if has_ckpt and not (resume or overwrite):
        raise TrainingError(f"{out}: already holds a {CHECKPOINT_FILE}; pass --resume to continue or --overwrite")
    replaced = set(replaces) if overwrite and not resume else set()
    foreign = (
        sorted(p.name for p in out.iterdir() if not _a_runs_own(p) and p.name not in replaced) if out.is_dir() else []
    )
    if "config.json" in foreign and not resume:
        # --overwrite replaces a run: a config.json that is not a run's (an entropy model's, the
        # user's) would be replaced and the rest left beside the new run, half one, half the other.
        raise TrainingError(
            f"{out}: holds a config.json that is not a training run's (an entropy model's?), which a new run "
            "would replace; choose an empty or new directory"
        )
    if foreign and not (resume or overwrite):  # a new run would replace config.json and log.jsonl
        raise TrainingError(
            f"{out}: holds files a training run did not write ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}); choose an empty or new directory, or pass --overwrite"
        )


RUN_FILES = {CHECKPOINT_FILE, "config.json", "log.jsonl"}


def _a_runs_own(path: Path) -> bool:
    """A file a training run writes (or leaves: its lock, a killed write's temporary); a
    config.json only if it is a run's config (an entropy model's is not: `train` would
    replace it, and `train-entropy` refuses model files itself)."""
    name = path.name
    if name == "config.json":
        return is_run_config(path)
    return name in RUN_FILES or is_lock_file(name) or (name.startswith(".") and name.endswith(".tmp"))


RUN_KEYS = {"model_type", "model", "train", "data"}


def is_run_config(path: Path) -> bool:
    """Whether the file is a training run's config.json, not an entropy model's (whose
    keys differ) nor anything else of that name: told by its keys, not by validating it
    (a run's config with a value refused since, or damaged beside the run's checkpoint,
    is still the run's, for --overwrite to replace)."""
    try:
        if not path.is_file():  # a FIFO would block the read for ever: taken as damaged
            raise OSError(f"{path}: not a regular file")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # damaged: the run's if the run's checkpoint or log is beside it
        return any((path.parent / name).is_file() for name in (CHECKPOINT_FILE, "log.jsonl")) and not any(
            (path.parent / name).is_file() for name in ("model.pt", "model.safetensors")
        )
    return is_run_dict(data)


def is_run_dict(data: Any) -> bool:
    """Whether parsed JSON is shaped as a run's config (a model section, only run keys)."""
    return isinstance(data, dict) and "model" in data and set(data) <= RUN_KEYS


def check_resumable(path: Path, extra: dict[str, Any], run: RunConfig, world: int) -> None:
    """Refuse a resume whose model, trainer settings or world size differ (the data is checked by the data)."""
    saved = RunConfig.from_dict(extra["run"])
    if saved.data != run.data:
        raise TrainingError(
            f"{path}: the run config's data section differs from the checkpoint's; resume with the same one"
        )
    if saved.model_type != run.model_type or saved.model != run.model:
        raise TrainingError(
            f"{path}: the checkpoint's model ({saved.model_type}) differs from the requested one; "
            "resume without the options that set the model (--preset, --config, overrides), or with the run's"
        )
    changed = sorted(
        k
        for k, v in asdict(run.train).items()  # warmup: compared as the schedule uses it
        if k not in RESUMABLE_CHANGES | {"warmup_steps"} and getattr(saved.train, k) != v
    )
    if saved.train.warmup != run.train.warmup:
        changed.append("warmup_steps")
    if changed:
        diffs = ", ".join(f"{k}: {getattr(saved.train, k)!r} -> {getattr(run.train, k)!r}" for k in changed)
        raise TrainingError(f"{path}: cannot resume with different settings ({diffs})")
    if int(extra["world_size"]) != world:
        raise TrainingError(f"{path}: saved with {extra['world_size']} ranks, resumed with {world}; use the same")
    if run.train.steps < int(extra["step"]):
        raise TrainingError(f"{path}: checkpoint is at step {extra['step']}, beyond --steps {run.train.steps}")


def truncate_log(path: Path, step: int) -> None:
    """Drop records after the checkpointed step (the interrupted run's, about to be redone),
    and any line that is not a record: a run killed while appending leaves half a line,
    which was written after the checkpoint too."""
    if path.exists():
        if not path.is_file():  # a FIFO would block the read for ever, a directory fail with a traceback
            raise TrainingError(f"{path}: not a regular file; move it away (the run's log is rewritten here)")
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise TrainingError(f"{path}: cannot read the run's log: {exc.strerror or exc}") from None
        lines = [ln for ln in text.splitlines() if (n := _step_of(ln)) is not None and n <= step]
        atomic_write_text(path, "".join(ln + "\n" for ln in lines))


def _step_of(line: str) -> int | None:
    """The step of a log record, or None for a line that is not one."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    value = record.get("step") if isinstance(record, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
