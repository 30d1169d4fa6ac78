"""`bytepatch generate` end to end: segment -> train (tiny, a few steps) -> generate, on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from bytepatch.entropy import NgramConfig, NgramModel
from tests.closed_pipe import run_into_closed_pipe
from tests.tiny_runs import JSON_DECODER, invoke, train_tiny

# Batch-1 generation is a chain of tiny matmuls: one thread is fastest (restored after).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Real text, one document per line: Python's json decoder source (~350 lines)."""
    path = tmp_path_factory.mktemp("corpus") / "decoder.txt"
    path.write_bytes(JSON_DECODER.read_bytes())
    return path


@pytest.fixture(scope="module")
def runs(corpus, tmp_path_factory) -> dict[str, Path]:
    """A BLT trained on entropy patches (the shipped default model) and a byte baseline."""
    root = tmp_path_factory.mktemp("runs")
    invoke("segment", str(corpus), "-o", str(root / "data"), "--doc-per-line", "--max-patch-length", "8", "--quiet")
    train_tiny(root / "data", root / "blt", "train.log_every=1")
    train_tiny(root / "data", root / "baseline", "--model", "baseline", "train.log_every=1")
    return {"blt": root / "blt", "baseline": root / "baseline"}


@pytest.mark.parametrize("kind", ["blt", "baseline"])
def test_generates_bytes_reproducibly(runs, kind):
    args = ("generate", str(runs[kind]), "--prompt", "import json\n", "-n", "40", "--seed", "3", "--top-p", "0.95")
    first = invoke(*args).stdout_bytes
    assert 0 < len(first) <= 40  # raw bytes; they need not be UTF-8
    assert invoke(*args).stdout_bytes == first
    assert invoke(*args, "--echo").stdout_bytes == b"import json\n" + first


@pytest.mark.parametrize("kind", ["blt", "baseline"])
def test_greedy_cached_equals_recomputed(runs, kind):
    args = ("generate", str(runs[kind]), "-p", "def dumps(obj", "-n", "25", "-t", "0")
    assert invoke(*args).stdout_bytes == invoke(*args, "--no-cache").stdout_bytes


def test_prompt_bytes_are_kept_exactly(runs, tmp_path):
    prompt = tmp_path / "prompt.bin"
    prompt.write_bytes(b"\xff\xfe not utf-8 \x00")
    out = invoke("generate", str(runs["blt"]), "--prompt-file", str(prompt), "-n", "5", "--seed", "0", "--echo")
    assert out.stdout_bytes.startswith(b"\xff\xfe not utf-8 \x00")


def test_user_errors(runs, tmp_path):
    def fails(*args: str) -> str:
        result = invoke(*args, ok=False)
        assert result.exit_code != 0
        return result.output

    other = tmp_path / "ngram"
    NgramModel.fit([b"some other text entirely"], NgramConfig(order=3, min_count=1)).save(other)
    assert "fingerprint" in fails("generate", str(runs["blt"]), "--entropy-model", str(other))
    assert "no patches" in fails("generate", str(runs["baseline"]), "--entropy-model", str(other))
    assert "not both" in fails("generate", str(runs["blt"]), "-p", "a", "--prompt-file", str(other / "config.json"))
    assert "not both" in fails("generate", str(runs["blt"]), "-p", "", "--prompt-file", str(other / "config.json"))
    assert "cannot load checkpoint" in fails("generate", str(other / "config.json"))
    assert "top-p" in fails("generate", str(runs["blt"]), "--top-p", "0")


@pytest.mark.parametrize("echo", [[], ["--echo"]])
def test_stops_quietly_when_the_reader_closes_the_pipe(runs, echo):
    """`generate ... | head -1` ended with status 1: Python's BrokenPipeError, which click turns into exit 1.
    Its first write meets a closed pipe, as after `head` has its line (and these arguments generate bytes)."""
    args = [str(runs["blt"]), "-p", "import json\n", "-n", "40", "--seed", "3", "--top-p", "0.95", *echo]
    assert run_into_closed_pipe("generate", *args) == (0, b"")


@pytest.mark.parametrize("precision", [None, "fp32", "bf16"])
def test_entropy_model_runs_at_the_recorded_precision(tmp_path, capsys, precision):
    """A dataset patched in bf16 on CUDA is read back in fp32 on CPU, with a warning; fp32/absent: no warning."""
    from bytepatch.cli._entropy_model import recorded_entropy_model
    from bytepatch.entropy.ref import EntropyModelRef
    from bytepatch.models import TRANSFORMER_PRESETS, ByteTransformer
    from bytepatch.models.entropy_lm import TransformerEntropyModel

    path = tmp_path / "lm"
    TransformerEntropyModel(ByteTransformer(TRANSFORMER_PRESETS["tiny"])).save(path)
    fingerprint = TransformerEntropyModel.load(path).fingerprint
    info = {"name": str(path), "kind": "transformer", "fingerprint": fingerprint}
    if precision is not None:
        info["precision"] = precision
    model = recorded_entropy_model(EntropyModelRef.from_dict(info), None, "cpu")
    assert model.autocast is None  # fp32 on CPU whatever was recorded
    warned = "boundaries may differ slightly" in capsys.readouterr().err
    assert warned == (precision == "bf16")


@pytest.mark.parametrize(
    "args, message",
    [
        (["-t", "inf"], "--temperature must be a finite number >= 0, got inf"),
        (["-t", "nan"], "--temperature must be a finite number >= 0, got nan"),
        (["--top-p", "nan"], "--top-p must be in (0, 1], got nan"),
    ],
)
def test_non_finite_sampling_settings_are_one_line_errors(runs, args, message):
    result = invoke("generate", str(runs["baseline"]), "-p", "a", "-n", "3", *args, ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    (line,) = [ln for ln in result.output.splitlines() if ln.startswith("Error")]
    assert line == f"Error: {message}"


def test_a_seed_out_of_range_is_a_usage_error(runs):
    """It was torch's 'Overflow when unpacking long long'."""
    result = invoke("generate", str(runs["baseline"]), "-p", "a", "-n", "3", "--seed", str(10**23), ok=False)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Invalid value for '--seed'" in result.output and "0<=x<=9223372036854775807" in result.output


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_a_prompt_file_that_fails_to_read_is_one_line(tmp_path):
    """The prompt is read before the checkpoint is loaded; a read error (EIO here, EBADF
    from a closed stdin) ended in an OSError traceback."""
    result = invoke("generate", str(tmp_path), "--prompt-file", "/proc/self/mem", ok=False)
    assert result.exit_code == 1
    assert result.output == "Error: --prompt-file /proc/self/mem: cannot read: Input/output error\n"
