"""`segment --target-patch-size` hits the target on the whole corpus, and says so when it would not.

The corpus drifts: code first, then prose mixed with base64 (far more patches per byte).
The calibration sample is made 100 KB (the corpus is about 10x that), so a sample from
the corpus' first bytes would see only code and miss the target by about 20%.
"""

from __future__ import annotations

import base64
import os
import json
import random
import sysconfig
from pathlib import Path

import pytest
from click.testing import CliRunner

import bytepatch.pretrained
from bytepatch.cli.main import cli


def _stdlib_code(limit: int) -> list[str]:
    """The first Python standard-library modules, in name order, up to `limit` characters:
    text that does not change when this repository's own sources do."""
    out, size = [], 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        if size >= limit:
            break
        out.append(path.read_text(encoding="utf-8"))
        size += len(out[-1])
    return out


@pytest.fixture(scope="module")
def drifting_corpus(tmp_path_factory) -> Path:
    from pydoc_data.topics import topics  # English prose: the Python reference's help topics

    code = _stdlib_code(450_000)
    prose = [topics[name] for name in sorted(topics)[:15]]
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("drift") / "drift.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for text in code * 2:
            f.write(json.dumps({"text": text}) + "\n")
        for text in prose * 2:
            f.write(json.dumps({"text": text[:3000] + base64.b64encode(rng.randbytes(2000)).decode()}) + "\n")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("target", [4.5, 6.0])
def test_target_patch_size_holds_on_the_whole_corpus(
    drifting_corpus: Path, tmp_path: Path, monkeypatch, target: float
) -> None:
    monkeypatch.setattr(bytepatch.pretrained, "CALIBRATION_SAMPLE_BYTES", 100_000)
    assert drifting_corpus.stat().st_size > 5 * 100_000
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["segment", str(drifting_corpus), "-o", str(out), "--target-patch-size", str(target)]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    achieved = manifest["bytes"] / manifest["patches"]
    assert abs(achieved / target - 1) < 0.03, f"mean patch size {achieved:.3f} for target {target}"
    assert "note: mean patch size" not in result.stderr  # on target: no calibration hint
    sampled = manifest["metadata"]["calibration"]["sample_bytes"]  # what was sampled, not the nominal size
    assert 0 < sampled <= 1.3 * 100_000 and f"on {sampled:,} sample bytes" in result.stderr


def test_calibration_records_the_bytes_it_sampled_on_a_small_corpus(tmp_path: Path) -> None:
    """It recorded the nominal 8 MB sample size even for a corpus of a few bytes."""
    src = tmp_path / "small.md"
    src.write_bytes((Path(__file__).resolve().parents[2] / "README.md").read_bytes())
    result = CliRunner().invoke(cli, ["segment", str(src), "-o", str(tmp_path / "out"), "--target-patch-size", "4"])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "out" / "manifest.json").read_text())["metadata"]
    assert meta["calibration"]["sample_bytes"] == src.stat().st_size


def test_quiet_calibration_prints_nothing(tmp_path: Path) -> None:
    """--quiet dropped the summary, yet 'calibrated threshold ... nats: mean patch size ...'
    still reached stderr: a quiet run with --target-patch-size now prints nothing; the
    threshold is in the manifest (and in `bytepatch stats`)."""
    src = tmp_path / "small.md"
    src.write_bytes((Path(__file__).resolve().parents[2] / "README.md").read_bytes())
    args = ["segment", str(src), "--target-patch-size", "4"]
    loud = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "loud")])
    assert loud.exit_code == 0 and "calibrated threshold" in loud.stderr, loud.output
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stderr == "" and result.stdout == ""
    meta = json.loads((tmp_path / "out" / "manifest.json").read_text())["metadata"]
    assert meta["calibration"]["target_patch_size"] == 4


def test_default_threshold_far_from_its_target_says_how_to_calibrate(drifting_corpus: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["segment", str(drifting_corpus), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "mean " in result.stderr and "bytes/patch" in result.stderr
    assert "calibrated for 4.5 bytes" in result.stderr and "--target-patch-size" in result.stderr


def test_a_truncated_arrow_stream_is_warned_of_once_per_run(tmp_path: Path) -> None:
    """The calibration sample reads the inputs before (segment) or after (fit-entropy) the
    run reads them: only the run warns. The sample alone (calibrate) warns too."""
    import pyarrow as pa

    table = pa.table({"text": [p for code in _stdlib_code(20_000) for p in code.split("\n\n") if p.strip()]})
    full = tmp_path / "full.arrow"
    with pa.OSFile(str(full), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table, max_chunksize=10)
    src = tmp_path / "cut.arrow"
    src.write_bytes(full.read_bytes()[:-8])  # without its end-of-stream marker
    warning = f"warning: {src}: the Arrow IPC stream has no end-of-stream marker"
    for command in (
        ["segment", str(src), "-o", str(tmp_path / "out"), "--target-patch-size", "6"],
        ["fit-entropy", str(src), "--order", "3", "--target-patch-size", "6", "--output", str(tmp_path / "model")],
        ["calibrate", str(src), "--target-patch-size", "6"],
    ):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 0, result.output
        assert result.stderr.count(warning) == 1, (command[0], result.stderr)


@pytest.mark.timeout(60)  # a FIFO that is opened waits for a writer
@pytest.mark.parametrize("command", ["segment", "fit-entropy"])
@pytest.mark.parametrize("pipe", ["stdin", "fifo"])
def test_a_pipe_is_refused_where_the_inputs_are_read_twice(tmp_path: Path, command: str, pipe: str) -> None:
    """Calibration read stdin to its end, then the run found it empty: `segment -
    --target-patch-size 4` wrote a dataset of 0 documents and exited 0, and `fit-entropy -`
    blamed the data ("needs at least one non-empty document"); a named FIFO hung them."""
    corpus = "".join(json.dumps({"text": text}) + "\n" for text in _stdlib_code(100_000))
    out = tmp_path / "out"
    args = [command, "-o", str(out)]
    args += ["--input-format", "jsonl", "--target-patch-size", "4"] if command == "segment" else []
    if pipe == "stdin":
        source, name, kind = "-", "<stdin>", "standard input"
    else:
        fifo = tmp_path / "pipe"
        os.mkfifo(fifo)  # nothing writes it: were it opened, the command would wait for ever
        source, name, kind = str(fifo), str(fifo), "a FIFO"
    result = CliRunner().invoke(cli, [*args, source], input=corpus)
    assert result.exit_code == 1, result.output
    assert f"{name}: {kind} can be read only once" in result.output and "save it to a file" in result.output
    assert not out.exists() or not any(out.iterdir())
    saved = tmp_path / "corpus.jsonl"  # as advised
    saved.write_text(corpus)
    assert CliRunner().invoke(cli, [*args, str(saved)]).exit_code == 0


@pytest.mark.parametrize("given", [["--threshold", "2"], ["--threshold-add", "0.5"]])
def test_a_threshold_beside_target_patch_size_is_refused_naming_it(tmp_path: Path, given: list[str]) -> None:
    """--threshold-add with --target-patch-size was refused as "do not also pass --threshold"."""
    corpus = tmp_path / "in.txt"
    corpus.write_text("Some words, then more words. " * 20)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["segment", str(corpus), "-o", str(out), "--target-patch-size", "4", *given])
    assert result.exit_code != 0 and not out.exists(), result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert errors == [f"Error: --target-patch-size chooses the threshold; do not also pass {given[0]}"], result.output
