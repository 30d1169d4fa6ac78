"""Damaged or hostile checkpoints are refused naming the file, never loaded silently
(issue 13.4 and 13.9): content checksums, wrong structure, wrong shapes, NaN weights."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bytepatch.cli.main import cli
from bytepatch.models.files import CHECKSUM_KEY, atomic_torch_save, safe_torch_load
from tests.tiny_runs import train_tiny


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sample_dataset: Path) -> tuple[Path, Path]:
    run = train_tiny(sample_dataset, tmp_path_factory.mktemp("ckpt") / "run", steps=2, seq_len=32)
    return run, sample_dataset


@pytest.fixture
def run(trained, tmp_path) -> Path:
    shutil.copytree(trained[0], tmp_path / "run")
    return tmp_path / "run"


def flip_inside_a_tensor(file: Path) -> None:
    """Flip 64 bytes inside the largest tensor's storage record of the zip (CRC now wrong)."""
    with zipfile.ZipFile(file) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    raw = bytearray(file.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.file_size // 2
    raw[start : start + 64] = bytes(b ^ 0x5A for b in raw[start : start + 64])
    file.write_bytes(bytes(raw))


def test_flipped_bytes_in_a_checkpoint_tensor_are_refused(run, trained):
    flip_inside_a_tensor(run / "checkpoint.pt")
    with pytest.raises(ValueError, match="checkpoint.pt: checksum mismatch"):
        safe_torch_load(run / "checkpoint.pt")
    for args in (["eval", str(run), str(trained[1]), "--device", "cpu"], ["verify", str(run)]):
        result = invoke(*args)
        assert result.exit_code == 1 and "checksum mismatch" in result.output and "Traceback" not in result.output


def test_train_resume_refuses_a_damaged_checkpoint(run, trained):
    flip_inside_a_tensor(run / "checkpoint.pt")
    result = invoke("train", str(trained[1]), "-o", str(run), "--resume", "--steps", "3")
    assert result.exit_code != 0 and "checksum mismatch" in str(result.output) + str(result.exception)


def test_verify_reports_a_sound_run(run):
    result = invoke("verify", str(run))
    assert result.exit_code == 0 and "training run at step 2, checksums match" in result.output, result.output


def rewrite(file: Path, change) -> None:
    obj = safe_torch_load(file)
    atomic_torch_save(change(obj), file)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: [1, 2, 3], "not a bytepatch train checkpoint"),
        (lambda c: {**c, "extra": []}, "not a bytepatch train checkpoint"),
        (
            lambda c: {**c, "model": {k: v[..., :1] if v.dim() else v for k, v in c["model"].items()}},
            "weights do not fit",
        ),
        (
            lambda c: {
                **c,
                "model": {
                    k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in c["model"].items()
                },
            },
            "holds NaN or infinite values",
        ),
    ],
)
def test_a_malformed_checkpoint_is_a_one_line_error(run, trained, change, message):
    rewrite(run / "checkpoint.pt", change)
    result = invoke("eval", str(run), str(trained[1]), "--device", "cpu")
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output, result.output
    assert len([ln for ln in result.output.splitlines() if ln.startswith("Error")]) == 1


def test_a_checkpoint_whose_output_overflows_is_a_one_line_error(run, trained):
    """Finite weights so large that the forward pass overflows (as a diverging run can leave):
    eval printed `"bits_per_byte": NaN` (not JSON) with exit 0, generate crashed in torch.multinomial."""
    rewrite(run / "checkpoint.pt", lambda c: {**c, "model": {k: v * 1e30 for k, v in c["model"].items()}})
    text = "some text to score"
    for args in (["eval", str(run), text, "--text"], ["generate", str(run), "-p", "a", "-n", "3", "--seed", "0"]):
        result = invoke(*args, "--device", "cpu")
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert isinstance(result.exception, SystemExit), result.exception
        (line,) = [ln for ln in result.output.splitlines() if ln.startswith("Error")]
        assert "model output is not finite" in line


@pytest.mark.parametrize("command", ["eval", "generate", "train --resume", "verify"])
def test_a_file_of_random_bytes_as_checkpoint_is_one_short_line(run, trained, command):
    """torch's own message is 7 lines and advises weights_only=False (which would run the file's code)."""
    (run / "checkpoint.pt").write_bytes(np.random.default_rng(0).bytes(5000))
    args = {
        "eval": ["eval", str(run), "some text", "--text", "--device", "cpu"],
        "generate": ["generate", str(run), "-p", "a", "--device", "cpu"],
        "train --resume": ["train", str(trained[1]), "-o", str(run), "--resume", "--steps", "3"],
        "verify": ["verify", str(run)],
    }[command]
    result = invoke(*args)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.output.count("\n") == 1 and "weights_only" not in result.output, result.output
    assert f"{run / 'checkpoint.pt'}: not a readable bytepatch checkpoint (damaged, or another kind of file)" in (
        result.output
    )


def test_eval_on_a_directory_without_a_checkpoint(tmp_path, trained):
    result = invoke("eval", str(tmp_path), str(trained[1]), "--device", "cpu")
    assert result.exit_code == 1 and "checkpoint.pt: no such file" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("command", ["eval", "generate"])
def test_an_entropy_models_directory_given_as_a_run_says_what_it_is(tmp_path, command):
    """A fit-entropy directory (or a train-entropy model without its checkpoint.pt) given to eval or
    generate was refused as '.../checkpoint.pt: no such file', as if a run had lost its checkpoint."""
    from bytepatch.entropy import NgramConfig, NgramModel
    from bytepatch.models.train import load_checkpoint

    model = tmp_path / "ngram"
    NgramModel.fit([b"some text to fit on, twice: some text"], NgramConfig(order=3, min_count=1)).save(model)
    args = {"eval": ["eval", str(model), "--text", "abc"], "generate": ["generate", str(model), "-p", "a"]}[command]
    result = invoke(*args, "--device", "cpu")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.output.count("\n") == 1 and "no such file" not in result.output, result.output
    assert f"{model}: an entropy model (ngram, written by fit-entropy or train-entropy), not a training run" in (
        result.output
    )
    with pytest.raises(ValueError, match="an entropy model"):
        load_checkpoint(model)


def test_stale_checkpoint_temporaries_are_removed_when_a_run_starts(run, trained):
    stale = run / ".checkpoint.pt.k3j2h1.tmp"
    stale.write_bytes(b"half a checkpoint")
    result = invoke("train", str(trained[1]), "-o", str(run), "--resume", "--steps", "3")
    assert result.exit_code == 0, result.output
    assert not stale.exists()


def test_checksums_are_removed_on_load_and_old_files_still_load(tmp_path):
    atomic_torch_save({"w": torch.ones(3)}, tmp_path / "a.pt")
    assert set(safe_torch_load(tmp_path / "a.pt")) == {"w"}
    torch.save({"w": torch.ones(3)}, tmp_path / "old.pt")  # written before checksums existed
    assert set(safe_torch_load(tmp_path / "old.pt")) == {"w"}
    assert CHECKSUM_KEY not in safe_torch_load(tmp_path / "a.pt", full=True)


def _bytes_read() -> int:
    return int(
        next(line for line in Path("/proc/self/io").read_text().splitlines() if line.startswith("rchar")).split()[1]
    )


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="counts bytes read through /proc/self/io (Linux)")
def test_reading_a_checkpoints_settings_maps_its_tensors_instead_of_reading_them(tmp_path: Path):
    """`train-entropy --resume` reads the settings, then the trainer reads the file in full:
    the first read no longer reads (and checksums) a second copy of every tensor."""
    from bytepatch.models.train.checkpoint import CHECKPOINT_FORMAT, KIND, VERSION, read_checkpoint

    file = tmp_path / "checkpoint.pt"
    extra = {"kind": KIND, "version": VERSION, "run": {"steps": 7}}
    atomic_torch_save({"format": CHECKPOINT_FORMAT, "extra": extra, "model": {"w": torch.ones(4 << 20)}}, file)
    size = file.stat().st_size
    before = _bytes_read()
    assert read_checkpoint(tmp_path, settings_only=True)["extra"]["run"] == {"steps": 7}
    settings_read = _bytes_read() - before
    before = _bytes_read()
    assert read_checkpoint(tmp_path)["model"]["w"].sum() == 4 << 20
    assert settings_read < size // 8 <= size <= _bytes_read() - before
    flip_inside_a_tensor(file)  # the full read still checks every tensor
    assert read_checkpoint(tmp_path, settings_only=True)["extra"]["run"] == {"steps": 7}
    with pytest.raises(ValueError, match="checksum mismatch"):
        read_checkpoint(tmp_path)


def test_a_checkpoint_torch_cannot_map_still_gives_its_settings(tmp_path: Path):
    """The settings read maps the tensors; where torch cannot map the file (one in torch's
    legacy format here; a filesystem without mmap alike), it is read whole, as before."""
    from bytepatch.models.train.checkpoint import CHECKPOINT_FORMAT, KIND, VERSION, read_checkpoint

    extra = {"kind": KIND, "version": VERSION, "run": {"steps": 7}}
    ckpt = {"format": CHECKPOINT_FORMAT, "extra": extra, "model": {"w": torch.ones(8)}}
    torch.save(ckpt, tmp_path / "checkpoint.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(RuntimeError, match="mmap"):
        torch.load(tmp_path / "checkpoint.pt", weights_only=True, mmap=True)
    assert read_checkpoint(tmp_path, settings_only=True)["extra"]["run"] == {"steps": 7}
