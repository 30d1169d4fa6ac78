"""`bytepatch stats` on a dataset written by `bytepatch segment --patcher space`."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bytepatch import space_patch_lengths
from bytepatch.cli.main import cli
from tests.closed_pipe import run_into_closed_pipe

DOCS = [
    "The quick brown fox jumps over the lazy dog. " * 7,
    "Ünïcödé wörds, ナイス, and emoji 🙂 too!",
    "",
    "a",
    "x" * 300 + " tail",
    "def f(x):\n    return x * 2  # code\n" * 5,
] + [f"document number {i}: {'word ' * (i % 13)}end." for i in range(40)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stats")
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": d}) + "\n" for d in DOCS))
    out = root / "ds"
    result = CliRunner().invoke(
        cli, ["segment", str(corpus), "-o", str(out), "--patcher", "space", "--shard-size-mb", "0.0005", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("*.arrow"))) > 1  # several shards: stats must stream across them
    return out


@pytest.fixture(scope="module")
def expected() -> dict:
    lengths = np.concatenate([space_patch_lengths(d.encode()) for d in DOCS])
    return {
        "documents": len(DOCS),
        "bytes": sum(len(d.encode()) for d in DOCS),
        "patches": len(lengths),
        "median": float(np.median(lengths)),
        "p99": float(np.percentile(lengths, 99)),
        "max": int(lengths.max()),
        "counts": {str(v): int(c) for v, c in zip(*np.unique(lengths, return_counts=True))},
    }


def stats(*args: str):
    return CliRunner().invoke(cli, ["stats", *args])


def test_json_matches_independent_numbers(dataset: Path, expected: dict) -> None:
    result = stats(str(dataset), "--json")
    assert result.exit_code == 0, result.output
    s = json.loads(result.stdout)
    assert (s["documents"], s["bytes"], s["patches"]) == (expected["documents"], expected["bytes"], expected["patches"])
    assert s["empty_documents"] == 1
    assert s["patch_size"]["mean"] == pytest.approx(expected["bytes"] / expected["patches"])
    assert s["patch_size"]["median"] == expected["median"]
    assert s["patch_size"]["p99"] == pytest.approx(expected["p99"])
    assert s["patch_size"]["max"] == expected["max"]
    assert s["length_counts"] == expected["counts"]
    assert sum(b["count"] for b in s["histogram"]) == expected["patches"]
    assert s["patcher"] == {"patcher": "space", "max_patch_length": None}
    assert s["entropy_model"] is None
    assert s["shards"] > 1


def test_text_report_is_compact_and_readable(dataset: Path, expected: dict) -> None:
    result = stats(str(dataset))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"{expected['patches']:,}" in out and f"{expected['bytes']:,}" in out
    assert f"median {expected['median']:g}" in out
    assert "patcher        space" in out and "entropy model  none" in out
    assert "\u2588" in out
    assert len(out.splitlines()) <= 40 and max(len(line) for line in out.splitlines()) <= 100


def test_html_and_svg(dataset: Path, tmp_path: Path) -> None:
    html, svg = tmp_path / "s.html", tmp_path / "s.svg"
    result = stats(str(dataset), "--html", str(html), "--svg", str(svg))
    assert result.exit_code == 0, result.output
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert list(root.iter("{http://www.w3.org/2000/svg}rect"))
    page = html.read_text()
    assert "<svg" in page and "<script" not in page.lower()
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_missing_manifest_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "shard-00000.arrow").write_bytes(b"")
    result = stats(str(tmp_path))
    assert result.exit_code == 1
    assert "manifest.json" in result.output and "Traceback" not in result.output


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    result = stats(str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert result.output == f"Error: {tmp_path / 'nope'}: no such directory\n"  # not "no manifest.json"


@pytest.mark.parametrize("form", [[], ["--json"]])
def test_stops_quietly_when_the_reader_closes_the_pipe(dataset: Path, form: list[str]) -> None:
    """`bytepatch stats out/ | head -3` ended with status 1 and no word (click's answer to a broken pipe)."""
    assert run_into_closed_pipe("stats", str(dataset), *form) == (0, b"")


def test_patch_sizes_of_a_million_bytes_and_more_are_printed_in_full(tmp_path: Path) -> None:
    """The median and p99 of patches over 10^6 bytes read `1.79012e+06` (six digits, in
    the text report and the HTML page) where `--json` has 1790122.5."""
    corpus = tmp_path / "long"
    corpus.mkdir()
    (corpus / "a.txt").write_bytes(b"x" * 1_234_567)  # no space: one patch each
    (corpus / "b.txt").write_bytes(b"y" * 2_345_678)
    out, page = tmp_path / "ds", tmp_path / "s.html"
    result = CliRunner().invoke(cli, ["segment", str(corpus), "-o", str(out), "--patcher", "space", "-q"])
    assert result.exit_code == 0, result.output
    result = stats(str(out), "--html", str(page))
    assert result.exit_code == 0, result.output
    s = json.loads(stats(str(out), "--json").stdout)["patch_size"]
    assert (s["median"], s["p99"]) == (1790122.5, pytest.approx(2334566.89))
    line = "median 1790122.5, p99 2334566.89, min 1234567, max 2345678"
    assert line in result.stdout and line in page.read_text()


def test_a_dataset_name_with_control_characters_is_shown_escaped(dataset: Path, tmp_path: Path) -> None:
    """The heading (`stats`) and the ok line (`verify`) wrote the directory name raw: a name
    holding an OSC escape retitled the terminal, as metadata may not (docs/cli.md)."""
    import shutil

    named = tmp_path / "d\x1b]0;x\x07"
    shutil.copytree(dataset, named)
    for command in ("stats", "verify"):
        result = CliRunner().invoke(cli, [command, str(named)])
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\x07" not in result.output, repr(result.output)
        assert "d\\e]0;x\\x07" in result.output, result.output
