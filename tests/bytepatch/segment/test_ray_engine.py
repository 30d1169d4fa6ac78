"""`segment --engine ray` on a local Ray instance (2 CPUs): the rows and provenance of a
local run, and a complete, equal dataset when a Ray worker is killed in the middle."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bytepatch.cli.main import cli
from bytepatch.dataset import open_dataset
from bytepatch.entropy import NgramConfig, NgramModel
from tests.listing import append_after_listing

ray = pytest.importorskip("ray", reason="pip install 'ray[data]' (the test extra installs it)")

pytestmark = pytest.mark.slow  # a Ray instance and its actors take tens of seconds to start here

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample"
JSONL = SAMPLE / "stdlib_docstrings.jsonl"


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    """A directory with one big JSONL (split inside) and a text file, plus a small model."""
    root = tmp_path_factory.mktemp("ray")
    (root / "corpus").mkdir()
    (root / "corpus" / "big.jsonl").write_bytes(JSONL.read_bytes() * 8)  # ~480 KB
    (root / "corpus" / "notes.txt").write_bytes((SAMPLE / "multilingual.txt").read_bytes())
    docs = [json.loads(line)["text"].encode() for line in JSONL.read_text().splitlines()]
    NgramModel.fit(docs, NgramConfig(order=3, min_count=1)).save(root / "model")
    return root / "corpus", root / "model"


def segment(*args: str) -> None:
    result = CliRunner().invoke(cli, ["segment", *args, "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def rows(path: Path) -> list[tuple]:
    return sorted((r.id, r.bytes, tuple(r.patch_lengths)) for r in open_dataset(path))


def test_ray_engine_equals_a_local_run(local_ray, corpus, tmp_path: Path):
    data, model = corpus
    args = [str(data), "--entropy-model", str(model), "--threshold", "1.5", "--shard-size-mb", "0.05"]
    segment(*args, "-o", str(tmp_path / "local"))
    segment(*args, "-o", str(tmp_path / "ray"), "--engine", "ray")
    local, on_ray = open_dataset(tmp_path / "local"), open_dataset(tmp_path / "ray")
    assert rows(tmp_path / "ray") == rows(tmp_path / "local")
    assert on_ray.metadata == local.metadata  # same provenance: patcher, model fingerprint, version
    assert len(on_ray.manifest["shards"]) > 5  # the big file was split inside
    assert not list((tmp_path / "ray").glob(".*.tmp"))


def _actor_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"SplitWriter" in cmdline:
                pids.append(int(entry))
    return pids


def test_a_worker_killed_mid_run_still_gives_the_whole_dataset(local_ray, corpus, tmp_path: Path):
    from bytepatch.entropy.source import open_entropy_model
    from bytepatch.io import ReaderConfig
    from bytepatch.pretrained import build_patcher
    from bytepatch.segment import SegmentOptions
    from bytepatch.segment.ray_engine import RayOptions, segment_with_ray

    data, model_dir = corpus
    segment(str(data), "--entropy-model", str(model_dir), "--threshold", "1.5", "-o", str(tmp_path / "local"))
    model = open_entropy_model(model_dir)
    built = build_patcher("entropy", entropy_model=model, threshold=1.5)
    options = SegmentOptions(shard_size_mb=0.01, show_progress=False, calibration=built.calibration)
    out = tmp_path / "ray"
    result: dict = {}

    def run() -> None:
        try:
            result["manifest"] = segment_with_ray(
                [str(data)], out, built.patcher, ReaderConfig(), options, built.entropy_model, RayOptions(actors=2)
            )
        except BaseException as exc:  # re-raised below, in the test's thread
            result["error"] = exc

    earlier = set(_actor_pids())  # actors of an earlier run, should any linger: not this run's
    thread = threading.Thread(target=run)
    thread.start()
    killed = None
    deadline = time.monotonic() + 240
    while thread.is_alive() and killed is None and time.monotonic() < deadline:
        actors = [pid for pid in _actor_pids() if pid not in earlier]
        if list(out.glob("train-*.arrow")) and actors:  # work has started and some is left
            killed = actors[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.01)
    was_complete_when_killed = (out / "manifest.json").exists()
    thread.join(timeout=300)
    assert "error" not in result, result.get("error")
    assert killed is not None and not was_complete_when_killed, "the run ended before a worker could be killed"
    assert rows(out) == rows(tmp_path / "local")
    assert result["manifest"]["documents"] == open_dataset(tmp_path / "local").num_rows
    assert not list(out.glob(".*.tmp"))  # the killed worker's temporary is gone


def test_a_bad_row_is_the_one_line_error_of_a_local_run(local_ray, tmp_path: Path):
    """Ray Data wrapped the reader's error in its own, printed as a 160-line remote traceback."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text('{"text": "ok"}\n{"text": null}\n')
    args = ["segment", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--patcher", "space", "-q"]
    result = CliRunner().invoke(cli, [*args, "--engine", "ray"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert (
        result.output.strip().splitlines()[-1]
        == "Error: " + str(tmp_path / "in" / "a.jsonl") + ":2: field 'text' is null, not a string"
    )
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize("empty", ["jsonl", "saved"])
def test_a_corpus_of_no_documents_gives_one_empty_shard(local_ray, tmp_path: Path, empty: str):
    """An empty JSONL file, or a `datasets` save_to_disk directory of no rows (no data file)."""
    if empty == "jsonl":
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "a.jsonl").write_text("")
    else:
        datasets = pytest.importorskip("datasets")
        features = datasets.Features({"text": datasets.Value("string")})
        datasets.Dataset.from_dict({"text": []}, features=features).save_to_disk(str(tmp_path / "in"))
    segment(str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--patcher", "space", "--engine", "ray")
    ds = open_dataset(tmp_path / "out")
    assert ds.num_rows == 0 and [s["file"] for s in ds.manifest["shards"]] == ["train-00000.arrow"]


def test_ray_engine_refuses_what_it_cannot_do(corpus, tmp_path: Path, monkeypatch):
    data, _ = corpus
    result = CliRunner().invoke(
        cli,
        [
            "segment",
            str(data),
            "-o",
            str(tmp_path / "o"),
            "--patcher",
            "space",
            "--engine",
            "ray",
            "--num-shards",
            "2",
            "--shard-index",
            "0",
        ],
    )
    assert result.exit_code != 0 and "drop --num-shards" in result.output
    result = CliRunner().invoke(cli, ["segment", str(data), "-o", str(tmp_path / "o"), "--ray-address", "auto"])
    assert result.exit_code != 0 and "need --engine ray" in result.output
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # as if Ray were not installed
    result = CliRunner().invoke(
        cli, ["segment", str(data), "-o", str(tmp_path / "o"), "--patcher", "space", "--engine", "ray"]
    )
    assert result.exit_code != 0 and "pip install 'ray[data]'" in result.output and "Traceback" not in result.output


def test_a_shard_gone_from_the_output_before_the_manifest_fails_the_run(local_ray, corpus, tmp_path, monkeypatch):
    """As for a local run: the output cleaned while Ray wrote gave exit 0 and a manifest
    listing a shard that no longer existed. --resume is no Ray option: the line says --overwrite."""
    import bytepatch.segment.ray_engine as ray_engine

    data, _ = corpus
    out = tmp_path / "out"
    write_shards = ray_engine._run

    def run_then_lose_one(*args, **kwargs):
        shards = write_shards(*args, **kwargs)
        (out / shards[1].file).unlink()
        return shards

    monkeypatch.setattr(ray_engine, "_run", run_then_lose_one)
    args = ["segment", str(data), "-o", str(out), "--patcher", "space", "--shard-size-mb", "0.05", "-q"]
    result = CliRunner().invoke(cli, [*args, "--engine", "ray"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "a shard of this run, no longer there" in result.output and "rerun with --overwrite" in result.output
    assert "--resume" not in result.output
    assert not (out / "manifest.json").exists()


def test_a_jsonl_file_grown_after_it_was_listed_stops_the_run_naming_it(local_ray, tmp_path, monkeypatch):
    """As for a local run: a file that gained lines since the listing gave a dataset with
    the new lines in it and exit 0 on Ray, where a local run refuses it."""
    import bytepatch.segment.ray_engine as ray_engine

    (tmp_path / "in").mkdir()
    corpus = tmp_path / "in" / "corpus.jsonl"
    corpus.write_text("".join(f'{{"text": "document {i}"}}\n' for i in range(20)))
    append_after_listing(monkeypatch, ray_engine, corpus)
    out = tmp_path / "out"
    args = ["segment", str(tmp_path / "in"), "-o", str(out), "--patcher", "space", "-q", "--engine", "ray"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"{corpus}: changed while being read: listed at 470 bytes, now 496" in result.output
    assert not (out / "manifest.json").exists()


def test_from_python_the_patcher_may_be_a_spec_or_dict_as_for_segment_corpus(local_ray, tmp_path: Path):
    """docs/cluster.md: segment_with_ray takes segment_corpus's arguments, whose patcher may
    be a PatcherSpec or its JSON dict; segment_with_ray failed on it with "'dict' object has
    no attribute 'needs_entropies'"."""
    from bytepatch.io import ReaderConfig
    from bytepatch.patchers import PatcherSpec
    from bytepatch.segment import SegmentOptions, segment_corpus
    from bytepatch.segment.ray_engine import segment_with_ray

    options = SegmentOptions(show_progress=False)
    spec = {"patcher": "stride", "stride": 3}
    segment_corpus([JSONL], tmp_path / "local", spec, ReaderConfig(), options)
    segment_with_ray([JSONL], tmp_path / "dict", spec, ReaderConfig(), options)
    segment_with_ray([JSONL], tmp_path / "spec", PatcherSpec.from_dict(spec), ReaderConfig(), options)
    assert rows(tmp_path / "dict") == rows(tmp_path / "spec") == rows(tmp_path / "local")
    with pytest.raises(ValueError, match="needs an entropy model"):
        segment_with_ray([JSONL], tmp_path / "entropy", {"patcher": "entropy"}, ReaderConfig(), options)


def test_a_quiet_run_from_python_leaves_the_callers_ray_settings_as_they_were(local_ray, tmp_path: Path):
    """A run without progress set Ray Data's progress bars off in the caller's DataContext for
    good; quieting Ray's console is for the run only (docs/cluster.md, "Watch")."""
    import logging

    from bytepatch.io import ReaderConfig
    from bytepatch.segment import SegmentOptions
    from bytepatch.segment.ray_engine import RAY_LOGGERS, segment_with_ray

    context = ray.data.DataContext.get_current()
    before = (context.enable_progress_bars, context.print_on_execution_start)
    levels = [(h, h.level) for name in RAY_LOGGERS for h in logging.getLogger(name).handlers]
    options = SegmentOptions(show_progress=False)
    segment_with_ray([JSONL], tmp_path / "out", {"patcher": "space"}, ReaderConfig(), options)
    assert (context.enable_progress_bars, context.print_on_execution_start) == before == (True, True)
    assert [(h, h.level) for name in RAY_LOGGERS for h in logging.getLogger(name).handlers] == levels


def test_an_output_a_ray_run_wrote_is_never_sent_to_resume(local_ray, tmp_path: Path):
    """--resume cannot continue a Ray run, yet a second run into its output was told "pass
    --overwrite to replace it or --resume" (Ray's own too, which refuses --resume), and a
    local --resume there listed every setting as changed ("inputs, job, metadata, ...")."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text("".join(f'{{"text": "document {i}"}}\n' for i in range(20)))
    out = tmp_path / "out"
    args = ["segment", str(tmp_path / "in"), "-o", str(out), "--patcher", "space", "-q"]
    segment(*args[1:], "--engine", "ray")
    (out / "manifest.json").unlink()  # as a Ray run stopped before its end leaves it
    for engine in ("ray", "local"):
        result = CliRunner().invoke(cli, [*args, "--engine", engine])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert result.output.strip().endswith("output directory is not empty; pass --overwrite to replace it")
    result = CliRunner().invoke(cli, [*args, "--resume"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "cannot resume: the run that wrote it used --engine ray" in result.output
    assert "rerun with --overwrite" in result.output and "settings differ" not in result.output


def test_on_start_comes_once_before_the_actors_and_not_before_an_output_error(local_ray, tmp_path, monkeypatch):
    """As `segment_corpus`'s: the `bytepatch` command resumes its cycle collector there."""
    import bytepatch.segment.ray_engine as ray_engine
    from bytepatch.io import ReaderConfig
    from bytepatch.segment import SegmentOptions

    events: list[str] = []
    run = ray_engine._run

    def recorded_run(*args, **kwargs):
        events.append("run")
        return run(*args, **kwargs)

    monkeypatch.setattr(ray_engine, "_run", recorded_run)
    options, spec = SegmentOptions(show_progress=False), {"patcher": "space"}
    ray_engine.segment_with_ray(
        [JSONL], tmp_path / "out", spec, ReaderConfig(), options, on_start=lambda: events.append("start")
    )
    assert events == ["start", "run"]
    events.clear()
    with pytest.raises(ray_engine.OutputError, match="not empty"):
        ray_engine.segment_with_ray(
            [JSONL], tmp_path / "out", spec, ReaderConfig(), options, on_start=lambda: events.append("start")
        )
    assert events == []
