"""What a resume meets after a fault: a torn log line, a damaged checkpoint, other data
of the same size, another held-out set, a full disk; and what a stop signal costs."""

from __future__ import annotations

import os
import signal
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from bytepatch.models.train import LOG_FILE, RunConfig, TrainingError, train
from bytepatch.models.train.resume import truncate_log
from tests.models.train.test_trainer import _segment, losses, quiet


def _docs(upper: bool = False) -> list[str]:
    docs = [f"document {i}: " + "words and more words " * (3 + i % 5) for i in range(24)]
    return [d.swapcase() for d in docs] if upper else docs


def test_a_torn_last_log_line_is_dropped_on_resume(tmp_path: Path):
    log = tmp_path / LOG_FILE
    log.write_text('{"step": 0, "bpb": 8.0}\n{"step": 1, "loss": 5.0}\n{"step": 2, "loss": 4.9}\n{"step": 3, "lo')
    truncate_log(log, 2)
    assert log.read_text() == '{"step": 0, "bpb": 8.0}\n{"step": 1, "loss": 5.0}\n{"step": 2, "loss": 4.9}\n'


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_log_that_is_no_file_is_a_training_error_naming_it(tmp_path: Path, kind: str):
    """A directory in the log's place ended `train --resume` with IsADirectoryError's
    traceback; a FIFO blocked it for ever (the log is read whole, and no writer comes)."""
    log = tmp_path / LOG_FILE
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("needs a FIFO")
        os.mkfifo(log)
    else:
        log.mkdir()
    with pytest.raises(TrainingError, match=f"{log}: not a regular file; move it away"):
        truncate_log(log, 2)


def test_resume_refuses_same_sized_data_whose_text_changed(tmp_path: Path, tiny_run: RunConfig):
    data = _segment(tmp_path, "data", _docs())
    run = replace(tiny_run, train=replace(tiny_run.train, steps=2))
    train(run, [data], tmp_path / "r", stop_at=1, log=quiet)
    import shutil

    shutil.rmtree(data)
    _segment(tmp_path, "data", _docs(upper=True))  # same documents, bytes and patches: other letters
    with pytest.raises(TrainingError, match="shards' checksums differ"):
        train(run, [data], tmp_path / "r", resume=True, log=quiet)


def test_resume_refuses_another_held_out_set(tmp_path: Path, tiny_run: RunConfig):
    data, other = (_segment(tmp_path, n, _docs(n == "other")) for n in ("data", "other"))
    held = _segment(tmp_path, "held", [f"held out {d}" for d in _docs()])  # not the training data's shard
    run = replace(tiny_run, train=replace(tiny_run.train, steps=2))
    train(run, [data], tmp_path / "r", eval_datasets=[held], stop_at=1, log=quiet)
    for eval_datasets in ([other], None):
        with pytest.raises(TrainingError, match="resume with the same --eval-dataset"):
            train(run, [data], tmp_path / "r", eval_datasets=eval_datasets, resume=True, log=quiet)


@pytest.mark.parametrize("damage", ["truncate", "drop_rng"])
def test_a_damaged_checkpoint_is_a_training_error_naming_it(tmp_path: Path, tiny_run: RunConfig, damage: str):
    from bytepatch.models.files import atomic_torch_save
    from bytepatch.models.train.state import safe_torch_load

    data = _segment(tmp_path, "data", _docs())
    run = replace(tiny_run, train=replace(tiny_run.train, steps=2))
    train(run, [data], tmp_path / "r", stop_at=1, log=quiet)
    ckpt = tmp_path / "r" / "checkpoint.pt"
    if damage == "truncate":
        ckpt.write_bytes(ckpt.read_bytes()[:1000])
    else:  # checksums that match, content that does not restore
        saved = safe_torch_load(ckpt)
        del saved["rng"]
        atomic_torch_save(saved, ckpt)
    with pytest.raises(TrainingError, match=str(ckpt)):
        train(run, [data], tmp_path / "r", resume=True, log=quiet)


def test_a_checkpoint_that_cannot_be_written_is_a_training_error(tmp_path: Path, tiny_run: RunConfig, monkeypatch):
    import bytepatch.models.train.trainer as trainer

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trainer, "write_state", full_disk)
    data = _segment(tmp_path, "data", _docs())
    with pytest.raises(TrainingError, match=r"checkpoint.pt: cannot write the checkpoint \(No space left on device\)"):
        train(replace(tiny_run, train=replace(tiny_run.train, steps=1)), [data], tmp_path / "r", log=quiet)


def test_a_stop_signal_during_a_step_stops_after_that_step(tmp_path: Path, tiny_run: RunConfig, monkeypatch):
    import bytepatch.models.train.trainer as trainer
    from bytepatch.models.train import TrainingInterrupted

    step = trainer.train_step

    def signalled_in_step_2(s, lr, wants_stop):
        stats = step(s, lr, wants_stop)
        if s.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return stats

    monkeypatch.setattr(trainer, "train_step", signalled_in_step_2)
    data = _segment(tmp_path, "data", _docs())
    with pytest.raises(TrainingInterrupted) as info:
        train(tiny_run, [data], tmp_path / "r", log=quiet)
    assert info.value.step == 2 and info.value.signum == signal.SIGTERM
    assert losses(tmp_path / "r")[-1][0] == 2


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX modes")
def test_run_files_get_the_umask_mode_not_0600(tmp_path: Path, tiny_run: RunConfig):
    data = _segment(tmp_path, "data", _docs())
    old = os.umask(0o022)
    try:
        train(replace(tiny_run, train=replace(tiny_run.train, steps=1)), [data], tmp_path / "r", log=quiet)
    finally:
        os.umask(old)
    for name in ("checkpoint.pt", "config.json"):
        assert stat.S_IMODE((tmp_path / "r" / name).stat().st_mode) == 0o644, name


def test_train_entropy_resume_refuses_other_text_of_the_same_sizes(tmp_path: Path):
    from bytepatch.models.train.data import DocumentData

    def data(docs: list[str]) -> DocumentData:
        pairs = [(f"d{i}", d.encode()) for i, d in enumerate(docs)]
        return DocumentData(
            pairs, batch_size=2, seq_len=32, seed=0, eval_fraction=0.2, eval_bytes=1000, rank=0, world=1
        )

    saved = data(_docs()).info
    data(_docs()).check_resume(tmp_path / "checkpoint.pt", saved)  # the same text resumes
    with pytest.raises(TrainingError, match="the inputs differ"):
        data(_docs(upper=True)).check_resume(tmp_path / "checkpoint.pt", saved)


def test_a_new_run_refuses_a_directory_holding_other_files(tmp_path: Path, tiny_run: RunConfig):
    """Without --overwrite a fresh run may replace only what a run writes: config.json,
    log.jsonl (a run killed before its first checkpoint leaves both), never the user's."""
    data = _segment(tmp_path, "data", _docs())
    run = replace(tiny_run, train=replace(tiny_run.train, steps=1))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"mine": 1}')
    for overwrite in (False, True):  # --overwrite replaces a run's config, never another one: not offered
        with pytest.raises(TrainingError, match=r"holds a config.json that is not a training run's"):
            train(run, [data], mine, log=quiet, overwrite=overwrite)
    assert (mine / "config.json").read_text() == '{"mine": 1}'
    (mine / "notes.txt").write_text("mine too")
    (mine / "config.json").unlink()
    with pytest.raises(TrainingError, match=r"holds files a training run did not write \(notes.txt\)"):
        train(run, [data], mine, log=quiet)
    with pytest.raises(TrainingError, match="did not write"):
        train(run, [data], data, log=quiet)  # a dataset directory
    crashed = tmp_path / "crashed"
    train(run, [data], crashed, log=quiet)
    (crashed / "checkpoint.pt").unlink()  # as if killed before its first checkpoint
    train(run, [data], crashed, log=quiet)  # its own files: a new run goes ahead
    assert (crashed / "checkpoint.pt").exists()


def test_stop_at_a_step_the_run_has_passed_is_refused(tmp_path: Path, tiny_run: RunConfig):
    data = _segment(tmp_path, "data", _docs())
    train(tiny_run, [data], tmp_path / "r", stop_at=3, log=quiet)
    config = (tmp_path / "r" / "config.json").read_text()
    more = replace(tiny_run, train=replace(tiny_run.train, steps=9))
    with pytest.raises(TrainingError, match="at step 3 already; --stop-at 2 is not after it"):
        train(more, [data], tmp_path / "r", resume=True, stop_at=2, log=quiet)
    assert losses(tmp_path / "r")[-1][0] == 3
    assert (tmp_path / "r" / "config.json").read_text() == config  # refused before anything was written


def test_a_new_run_refuses_an_entropy_models_directory(tmp_path: Path, tiny_run: RunConfig):
    from bytepatch.models.entropy_lm import TransformerEntropyModel
    from bytepatch.models.nn.transformer import ByteTransformer, ByteTransformerConfig

    data = _segment(tmp_path, "data", _docs())
    lm = TransformerEntropyModel(ByteTransformer(ByteTransformerConfig(n_layers=1, dim=16, n_heads=2, window=8)))
    lm.save(tmp_path / "m")
    config = (tmp_path / "m" / "config.json").read_text()
    with pytest.raises(TrainingError, match="holds a config.json that is not a training run's"):
        train(replace(tiny_run, train=replace(tiny_run.train, steps=1)), [data], tmp_path / "m", log=quiet)
    assert (tmp_path / "m" / "config.json").read_text() == config


def test_verify_checks_the_model_beside_a_run_even_when_its_config_is_damaged(tmp_path: Path, tiny_run: RunConfig):
    from click.testing import CliRunner

    from bytepatch.cli.main import cli
    from bytepatch.models.entropy_lm import TransformerEntropyModel
    from bytepatch.models.nn.transformer import ByteTransformer, ByteTransformerConfig

    data = _segment(tmp_path, "data", _docs())
    run_dir = tmp_path / "r"  # what train-entropy leaves: a run's checkpoint beside the model it exported
    train(replace(tiny_run, train=replace(tiny_run.train, steps=1)), [data], run_dir, log=quiet)
    TransformerEntropyModel(ByteTransformer(ByteTransformerConfig(n_layers=1, dim=16, n_heads=2, window=8))).save(
        run_dir
    )
    assert CliRunner().invoke(cli, ["verify", str(run_dir)]).exit_code == 0
    (run_dir / "config.json").write_text((run_dir / "config.json").read_text()[:100])  # torn
    result = CliRunner().invoke(cli, ["verify", str(run_dir)])
    assert result.exit_code != 0 and "config.json" in result.output


def test_a_stop_agreed_at_the_last_step_finishes_the_run(tmp_path: Path, tiny_run: RunConfig):
    """Under torchrun the ranks agree on a stop in the next step's all-reduce: a signal during
    the last but one step stops after the last. That run is complete, yet it ended with
    "interrupted after step 6; checkpoint saved, continue with --resume" and exit 130/143 (a
    scheduler would requeue a finished job). `interrupt_after` asks for the stop in that step's
    all-reduce, as the other rank's signal does."""
    data = _segment(tmp_path, "data", _docs())
    run = replace(tiny_run, train=replace(tiny_run.train, steps=2, eval_every=2))
    summary = train(run, [data], tmp_path / "r", log=quiet, interrupt_after=lambda step: step == 2)
    assert summary["step"] == 2 and summary["held_out_bits_per_byte"] is not None
    assert losses(tmp_path / "r")[-1][0] == 2


def test_resume_from_another_working_directory(tmp_path: Path, tiny_run: RunConfig, monkeypatch):
    """The checkpoint kept the dataset paths as given (relative) and a resume resolved them
    against its own working directory: the same datasets, named from elsewhere, were refused
    ("the run was trained on /elsewhere/data, not .../data")."""
    data = _segment(tmp_path, "data", _docs())
    held = _segment(tmp_path, "held", [f"held out {d}" for d in _docs()])
    run = replace(tiny_run, train=replace(tiny_run.train, steps=2))
    monkeypatch.chdir(tmp_path)
    train(run, ["data"], "r", eval_datasets=["held"], stop_at=1, log=quiet)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    summary = train(run, ["../data"], "../r", eval_datasets=[str(held)], resume=True, log=quiet)
    assert summary["step"] == 2
    assert data.exists()
