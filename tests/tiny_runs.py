"""The tests' shared `bytepatch` calls: one in-process CLI invocation and a tiny BLT checkpoint trained with it."""

from __future__ import annotations

import sysconfig
from pathlib import Path

from click.testing import CliRunner, Result

from bytepatch.cli.main import cli

# Real text nobody here wrote, present in every Python install (~350 lines).
JSON_DECODER = Path(sysconfig.get_paths()["stdlib"]) / "json" / "decoder.py"


def invoke(*args: str, ok: bool = True) -> Result:
    """Run `bytepatch ARGS` in-process (exceptions propagate); with `ok`, assert it exited 0."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def train_tiny(data: Path, run: Path, *extra: str, steps: int = 3, batch_size: int = 2, seq_len: int = 64) -> Path:
    """Train the tiny preset on CPU for a few steps with `bytepatch train DATA -o RUN`; returns RUN.

    `extra` are further options or `key=value` overrides (e.g. `--model baseline`, `train.log_every=1`).
    """
    invoke(
        "train",
        str(data),
        "-o",
        str(run),
        "--preset",
        "tiny",
        "--steps",
        str(steps),
        "--batch-size",
        str(batch_size),
        "--seq-len",
        str(seq_len),
        "--device",
        "cpu",
        "train.eval_batches=1",
        *extra,
    )
    return run
