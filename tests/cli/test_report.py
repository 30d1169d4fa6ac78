"""`bytepatch report RUN`: summary, SVG curves, and clear errors on bad logs."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from bytepatch.cli.main import cli

SVG = "{http://www.w3.org/2000/svg}"


def write_log(run: Path, n: int = 30) -> list[dict]:
    run.mkdir()
    records = []
    for step in range(1, n + 1):
        records.append(
            {"step": step, "loss": 5.0 / step**0.5, "bits_per_byte": 7.2 / step**0.5, "bytes_per_s": 1000.0 + step}
        )
        if step % 10 == 0:
            records.append({"step": step, "held_out_bits_per_byte": 8.0 / step**0.5})
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def test_report_summarises_and_draws_the_curves(tmp_path: Path) -> None:
    write_log(tmp_path / "run")
    svg = tmp_path / "c.svg"
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "run"), "--svg", str(svg)])
    assert result.exit_code == 0, result.output
    assert "last 1.4606 (step 30), best 1.4606 (step 30)" in result.output
    root = ET.parse(svg).getroot()
    lines = {e.findtext(SVG + "title"): e for e in root.iter(SVG + "polyline")}
    train = [tuple(map(float, p.split(","))) for p in lines["train bits/byte"].get("points").split()]
    held = lines["held-out bits/byte"].get("points").split()
    assert len(train) == 30 and len(held) == 3
    assert [x for x, _ in train] == sorted(x for x, _ in train)  # steps left to right
    assert [y for _, y in train] == sorted(y for _, y in train)  # falling bits/byte: rising y (SVG y grows down)
    texts = ["".join(t.itertext()) for t in root.iter(SVG + "text")]
    assert "step" in texts and "bits per byte" in texts and "held-out bits/byte" in texts


def test_the_summary_gives_training_bits_per_byte_beside_the_held_out_figure(tmp_path: Path) -> None:
    """The summary gave the training loss (nats per id) beside held-out bits/byte: 4.49 against
    6.51 read as a large gap when both said the same (4.49 nats = 6.48 bits). The training
    figure in bits per byte, as log.jsonl records it, is now a row of its own."""
    write_log(tmp_path / "run")
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    rows = dict(line.strip().split("  ", 1) for line in result.output.splitlines()[1:] if line.startswith("  "))
    assert rows["training bits/byte"].strip() == f"7.2000 at step 1 -> {7.2 / 30**0.5:.4f}"
    assert rows["training loss"].strip() == f"5.0000 at step 1 -> {5 / 30**0.5:.4f} (nats)"


def test_report_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    missing = CliRunner().invoke(cli, ["report", str(tmp_path / "empty")])
    assert missing.exit_code == 1 and "log.jsonl: no such file" in missing.output
    bad = tmp_path / "bad"
    write_log(bad, 3)
    with open(bad / "log.jsonl", "a") as f:
        f.write("{oops\n" + json.dumps({"step": 4, "loss": 1.0}) + "\n")
    result = CliRunner().invoke(cli, ["report", str(bad)])
    assert result.exit_code == 1 and "line 4: not JSON" in result.output and "Traceback" not in result.output


def test_a_last_line_being_written_is_skipped(tmp_path: Path) -> None:
    write_log(tmp_path / "run", 3)
    with open(tmp_path / "run" / "log.jsonl", "a") as f:
        f.write('{"step": 4, "lo')
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "run" / "log.jsonl")])
    assert result.exit_code == 0, result.output
    rows = dict(line.strip().split("  ", 1) for line in result.output.splitlines()[1:] if line.startswith("  "))
    assert rows["records"].strip() == "3" and rows["last step"].strip() == "3"


def test_non_finite_values_are_left_out_of_the_curves_and_counted(tmp_path: Path) -> None:
    """A log holding NaN or Infinity (Python's json writes and reads them) ended `report`
    with an OverflowError traceback as soon as a chart was drawn."""
    run = tmp_path / "run"
    write_log(run, 3)
    with open(run / "log.jsonl", "a") as f:
        f.write(
            '{"step": 4, "loss": NaN, "bits_per_byte": Infinity}\n{"step": 5, "held_out_bits_per_byte": -Infinity}\n'
        )
    svg, html = tmp_path / "c.svg", tmp_path / "c.html"
    result = CliRunner().invoke(cli, ["report", str(run), "--svg", str(svg), "--html", str(html)])
    assert result.exit_code == 0, result.output
    rows = dict(line.strip().split("  ", 1) for line in result.output.splitlines()[1:] if line.startswith("  "))
    assert rows["not drawn"].strip() == "3 value(s) that are not finite numbers, the first loss = nan at step 4"
    assert rows["training loss"].strip() == "5.0000 at step 1 -> 2.8868 (nats)"  # steps 1-3 (5/sqrt(step)), no nan
    root = ET.parse(svg).getroot()
    lines = {e.findtext(SVG + "title"): e.get("points").split() for e in root.iter(SVG + "polyline")}
    assert len(lines["train bits/byte"]) == 3 and "held-out bits/byte" not in lines
    assert "nan" not in html.read_text().split("<svg", 1)[1] and "inf" not in svg.read_text()


def test_the_page_of_the_current_directory_is_named_after_it(tmp_path: Path, monkeypatch) -> None:
    """`bytepatch report .` (or `report log.jsonl`) inside a run titled its page `bytepatch report: `."""
    write_log(tmp_path / "tiny-run", 3)
    monkeypatch.chdir(tmp_path / "tiny-run")
    for given in (".", "log.jsonl"):
        result = CliRunner().invoke(cli, ["report", given, "--html", str(tmp_path / "p.html")])
        assert result.exit_code == 0, result.output
        assert "<title>bytepatch report: tiny-run</title>" in (tmp_path / "p.html").read_text()


@pytest.mark.skipif(os.name != "posix", reason="POSIX file names are bytes")
def test_names_that_are_not_utf8_are_shown_with_their_bytes_escaped(tmp_path: Path) -> None:
    """As `inspect` and `stats` show them (`run\\xff`): `report` printed the run as `run�`, the
    page it wrote as `p\\udcff.html`, and titled the page `bytepatch report: run\\udcff`."""
    run = tmp_path / os.fsdecode(b"run\xff")
    try:
        write_log(run, 3)
    except (OSError, UnicodeEncodeError):
        pytest.skip("this filesystem refuses non-UTF-8 names")
    page = tmp_path / os.fsdecode(b"p\xff.html")
    result = CliRunner().invoke(cli, ["report", str(run), "--html", str(page)])
    assert result.exit_code == 0, result.output

    def shown(path: Path) -> str:
        return os.fsencode(path).decode("utf-8", "backslashreplace")

    assert result.stdout.splitlines()[0] == f"{shown(run)}:"
    assert result.stderr == f"wrote {shown(page)}\n"
    assert "<title>bytepatch report: run\\xff</title>" in page.read_text()
    missing = tmp_path / os.fsdecode(b"empty\xff")
    missing.mkdir()
    result = CliRunner().invoke(cli, ["report", str(missing)])
    assert result.exit_code == 1 and result.output.startswith(f"Error: {shown(missing)}/log.jsonl: no such file")
