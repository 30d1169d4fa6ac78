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
    for command in ("train", "train-entropy", "eval", "generate"):
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


def test_generate_without_threads_takes_the_default_not_torchs(tmp_path, monkeypatch):
    """generate left torch at its own default, every CPU the host reports (it oversubscribes a
    container's CPU quota, and batch-1 stepping is the slowest there); it now defaults as eval does."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        result = CliRunner().invoke(cli, ["generate", str(tmp_path), "-p", "x"])
        assert result.exit_code != 0  # not a run directory: the threads were set on the way
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_segment_gives_a_torch_entropy_model_its_threads(tmp_path):
    """`segment -m TRANSFORMER_LM` ran the model on torch's default, every CPU the host
    reports, whatever --threads said (and with --workers, in every worker at once)."""
    from bytepatch.models.entropy_lm import TransformerEntropyModel
    from bytepatch.models.nn.transformer import TRANSFORMER_PRESETS, ByteTransformer

    TransformerEntropyModel(ByteTransformer(TRANSFORMER_PRESETS["tiny"]), default_threshold=2.0).save(tmp_path / "lm")
    (tmp_path / "in.txt").write_text("a few words to patch " * 20)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        args = ["segment", str(tmp_path / "in.txt"), "-o", str(tmp_path / "out"), "-m", str(tmp_path / "lm")]
        result = CliRunner().invoke(cli, [*args, "--threads", "1", "-q"])
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
