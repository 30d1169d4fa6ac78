"""--threads for the torch commands: its default and that it reaches torch."""

from __future__ import annotations

import torch
from click.testing import CliRunner

from bytepatch.cli import _threads
from bytepatch.cli.main import cli


def test_default_prefers_omp_num_threads_then_available_cpus_per_local_rank(monkeypatch):
    monkeypatch.setattr("bytepatch.cpus.available_cpus", lambda: 8)
    assert _threads.default_threads({"OMP_NUM_THREADS": "3"}) == 3
    assert _threads.default_threads({}) == 8
    assert _threads.default_threads({"LOCAL_WORLD_SIZE": "4"}) == 2
    assert _threads.default_threads({"LOCAL_WORLD_SIZE": "16", "OMP_NUM_THREADS": ""}) == 1


def test_every_torch_command_takes_threads():
    for command in ("train", "train-entropy", "eval"):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and "--threads" in result.output, command


def test_eval_applies_threads_before_running(tmp_path):
    before = torch.get_num_threads()
    try:
        result = CliRunner().invoke(cli, ["eval", str(tmp_path), "--text", "x", "--threads", "1"])
        assert result.exit_code != 0  # not a run directory: the threads were set on the way
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
