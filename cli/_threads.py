"""`--threads` for the torch commands (train, train-entropy, eval, generate): one option, one rule.

torch's default is every CPU the host reports, which oversubscribes a container or a
shared machine (CLI training swung 5x there; one thread was 2-10x faster than the
default). The default here is what the process may really use: `OMP_NUM_THREADS` when
set (torchrun sets it), else the CPUs available by affinity and cgroup quota
(`bytepatch.cpus`), divided among the ranks torchrun starts on this node.
"""

from __future__ import annotations

import os

import click

threads_option = click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="CPU threads for torch [default: $OMP_NUM_THREADS, else the CPUs available to this process per local rank].",
)


def default_threads(environ: dict[str, str] | None = None) -> int:
    """The thread count `--threads` defaults to (see the module docstring)."""
    from bytepatch.cpus import available_cpus

    env = os.environ if environ is None else environ
    omp = env.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:
        return int(omp)
    ranks = env.get("LOCAL_WORLD_SIZE", "1")
    return max(1, available_cpus() // (int(ranks) if ranks.isdigit() and int(ranks) > 0 else 1))


def set_torch_threads(threads: int | None) -> int:
    """Apply `--threads` (or its default) to torch; returns the count used."""
    import torch

    n = threads or default_threads()
    torch.set_num_threads(n)
    return n
