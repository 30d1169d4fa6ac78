"""`bytepatch inspect` through CliRunner: colours, separators, bad bytes, HTML."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bytepatch import space_patch_lengths, stride_patch_lengths
from bytepatch.cli.main import cli
from tests.closed_pipe import run_into_closed_pipe
from bytepatch.inspect import unescape

ANSI = re.compile(r"\x1b\[[0-9;]*m")
TEXT = "Daenerys Targaryen is in Game of Thrones, a fantasy epic by George R.R. Martin."


def run(*args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, ["inspect", *args], input=input)


def patches(stdout: str) -> list[bytes]:
    assert stdout.endswith("\n")
    return unescape(stdout[:-1])


def test_no_color_separators_reproduce_the_text() -> None:
    result = run("--text", TEXT, "--patcher", "space", "--no-color")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout
    got = patches(result.stdout)
    assert b"".join(got) == TEXT.encode()
    assert [len(p) for p in got] == space_patch_lengths(TEXT.encode()).tolist()
    assert "patcher=space" in result.stderr


def test_not_a_terminal_means_no_color_by_default() -> None:
    result = run("--text", TEXT, "--patcher", "stride", "--stride", "5")
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout
    assert [len(p) for p in patches(result.stdout)] == stride_patch_lengths(len(TEXT), 5).tolist()


def test_color_forced() -> None:
    result = run("--text", "one two three", "--patcher", "space", "--color")
    assert result.exit_code == 0
    assert len(re.findall(r"\x1b\[48;5;\d+m", result.stdout)) == 3
    assert ANSI.sub("", result.stdout) == "one two three\n"


def test_invalid_utf8_and_control_bytes_from_a_file(tmp_path: Path) -> None:
    data = b"ok \xff\xfe bad \x1b[2J clear \xe2\x82\xac\x00 end|\\"
    path = tmp_path / "bad.bin"
    path.write_bytes(data)
    result = run(str(path), "--patcher", "stride", "--stride", "3", "--no-color")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\x00" not in result.stdout
    assert patches(result.stdout) == [data[i : i + 3] for i in range(0, len(data), 3)]
    colored = run(str(path), "--patcher", "stride", "--color")
    assert colored.exit_code == 0
    assert "\x1b[2J" not in colored.stdout and "\\xff" in colored.stdout


def test_stdin_and_max_bytes() -> None:
    result = run("-", "--patcher", "space", "--no-color", "--max-bytes", "8", input=b"hello world again")
    assert result.exit_code == 0
    assert b"".join(patches(result.stdout)) == b"hello wo"
    assert "first 8 bytes" in result.stderr


def test_verbose_listing() -> None:
    result = run("--text", "ab cd", "--patcher", "space", "--no-color", "--verbose")
    assert result.exit_code == 0
    text, listing = result.stdout.split("\n\n")
    assert text == "ab |cd"
    rows = [r.split() for r in listing.splitlines()]
    assert rows == [["#", "offset", "len", "text"], ["0", "0", "3", "'ab", "'"], ["1", "3", "2", "'cd'"]]


def test_html_space(tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    result = run("--text", "<b>bold</b> & more", "--patcher", "space", "--html", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert result.stdout == ""
    assert "&lt;b&gt;" in page and "<script" not in page.lower() and "http" not in page
    assert "<svg" not in page  # no entropies without the entropy patcher


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "either FILE"),
        (["x.txt", "--text", "y"], "either FILE"),
        (["missing.txt"], "does not exist"),
    ],
)
def test_usage_errors(args: list[str], message: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.txt").write_text("x")
    result = run(*args, "--patcher", "space")
    assert result.exit_code != 0
    assert message in result.output


# -- entropy patcher: needs the CLI's entropy-model resolver (bytepatch.cli._entropy_model) --


@pytest.fixture(scope="module")
def ngram_dir(tmp_path_factory) -> Path:
    from bytepatch.entropy import NgramConfig, NgramModel

    root = Path(__file__).resolve().parents[2] / "bytepatch"
    docs = [p.read_bytes() for p in sorted(root.rglob("*.py"))]
    path = tmp_path_factory.mktemp("model") / "ngram"
    NgramModel.fit(docs, NgramConfig(order=4, initial_capacity=1 << 12)).save(path)
    return path


def test_entropy_text_matches_the_model(ngram_dir: Path) -> None:
    from bytepatch import entropy_patch_lengths
    from bytepatch.entropy import load_entropy_model

    text = "def inspect(view): return render(view)"
    result = run("--text", text, "--entropy-model", str(ngram_dir), "--threshold", "2.0", "--no-color", "-v")
    assert result.exit_code == 0, result.output
    h = load_entropy_model(ngram_dir).entropies([text.encode()])[0]
    expected = entropy_patch_lengths(h, threshold=2.0)
    body, listing = result.stdout.split("\n\n")
    assert [len(p) for p in unescape(body)] == expected.tolist()
    first_h = [float(r.split()[3]) for r in listing.splitlines()[1:]]
    starts = np.cumsum(expected) - expected
    assert first_h == pytest.approx(h[starts].tolist(), abs=1e-3)


def test_entropy_html_has_the_plot(ngram_dir: Path, tmp_path: Path) -> None:
    text = "Entropy patching puts boundaries where the next byte is hard to predict."
    out = tmp_path / "e.html"
    result = run("--text", text, "--entropy-model", str(ngram_dir), "--threshold", "2.0", "--html", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "<script" not in page.lower()
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    svg = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])
    (line,) = svg.iter("{http://www.w3.org/2000/svg}polyline")
    assert len(line.get("points").split()) == len(text.encode())
    assert [e for e in svg.iter("{http://www.w3.org/2000/svg}line") if e.get("class") == "threshold"]


def test_a_model_without_default_threshold_asks_for_an_option_inspect_takes(ngram_dir: Path) -> None:
    """docs/inspect.md: the model's threshold is the default; a model without one needs a
    threshold, and the error names options of `inspect` (it advised --target-patch-size,
    which only `segment` takes, and the page said the BLT reference threshold was used)."""
    result = run("--text", "abc", "--entropy-model", str(ngram_dir))
    assert result.exit_code == 2
    assert "has no default threshold; pass --threshold or --threshold-add" in result.output
    assert "--target-patch-size" not in result.output
    doc = " ".join((Path(__file__).resolve().parents[2] / "docs" / "inspect.md").read_text().split())
    assert "or the BLT reference threshold" not in doc


def test_entropy_model_missing_is_a_clear_error(ngram_dir: Path, tmp_path: Path) -> None:
    result = run("--text", "abc", "--entropy-model", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert "nope" in result.output and "Traceback" not in result.output


def test_offset_and_length_show_a_window_of_the_whole_documents_patches(tmp_path: Path) -> None:
    data = ("Grüße aus Köln. 中文 😀 שלום. " * 200).encode()
    path = tmp_path / "long.txt"
    path.write_bytes(data)
    whole = patches(run(str(path), "--patcher", "space", "--no-color", "--length", "0").stdout)
    result = run(str(path), "--patcher", "space", "--no-color", "--offset", "1000", "--length", "200", "-v")
    assert result.exit_code == 0, result.output
    body, listing = result.stdout.split("\n\n")
    shown = unescape(body)
    first_offset = int(listing.splitlines()[1].split()[1])
    assert first_offset <= 1000 and data[first_offset:1200] == b"".join(shown)
    ends = np.cumsum([len(p) for p in whole]).tolist()
    assert first_offset in [0, *ends]  # the window starts at one of the document's boundaries
    note, summary = result.stderr.splitlines()
    assert f"showing bytes {first_offset:,}-1,200 " in note and f" at bytes {first_offset:,}-1,200," in summary
    past = run(str(path), "--patcher", "space", "--offset", str(len(data) + 5))
    assert past.exit_code == 1 and past.output == (
        f"Error: {path}: --offset {len(data) + 5:,} is past the end of the input ({len(data):,} bytes)\n"
    )


def test_a_row_window_note_gives_the_bytes_the_summary_gives(stored: Path) -> None:
    """The window widens back to the start of the patch holding --offset: the note says so too."""
    from bytepatch.dataset import open_dataset

    row = list(open_dataset(stored))[3]
    starts = (np.cumsum(row.patch_lengths) - row.patch_lengths).tolist()
    start = next(s for s, n in zip(starts, row.patch_lengths) if n > 1 and s + 4 < len(row.bytes))
    result = run(str(stored), "--row", "3", "--offset", str(start + 1), "--length", "3", "--no-color")
    assert result.exit_code == 0, result.output
    note, summary = result.stderr.splitlines()
    end = start + 1 + 3
    assert note.startswith(f"note: showing bytes {start:,}-{end:,} of the row's {len(row.bytes):,} ")
    assert f" at bytes {start:,}-{end:,}," in summary
    past = run(str(stored), "--row", "3", "--offset", str(len(row.bytes)))
    assert past.exit_code == 1 and past.output.startswith(f"Error: {stored} row 3: --offset {len(row.bytes)} is past")


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    import json

    root = tmp_path_factory.mktemp("stored")
    corpus = root / "c.jsonl"
    texts = ["Grüße aus Köln", "中文的内核代码风格 😀", "שלום עולם", "plain ascii text here"]
    corpus.write_text("".join(json.dumps({"text": t, "id": f"doc-{i}"}) + "\n" for i, t in enumerate(texts)))
    out = root / "ds"
    result = CliRunner().invoke(
        cli, ["segment", str(corpus), "-o", str(out), "--id-field", "id", "--save-entropies", "-q"]
    )
    assert result.exit_code == 0, result.output
    return out


def test_a_stored_row_shows_its_stored_patches(stored: Path, tmp_path: Path) -> None:
    from bytepatch.dataset import open_dataset

    rows = list(open_dataset(stored))
    for n, row in enumerate(rows):
        by_row = run(str(stored), "--row", str(n), "--no-color")
        by_id = run(str(stored), "--id", row.id, "--no-color")
        assert by_row.exit_code == 0 and by_id.exit_code == 0, by_row.output + by_id.output
        assert by_row.stdout == by_id.stdout
        got = patches(by_row.stdout)
        assert [len(p) for p in got] == row.patch_lengths and b"".join(got) == row.bytes
        assert f"row={n}" in by_row.stderr and f"id={row.id}" in by_row.stderr
    listing = run(str(stored), "--row", "1", "--no-color", "-v").stdout.split("\n\n")[1]
    first_h = [float(r.split()[3]) for r in listing.splitlines()[1:]]
    starts = np.cumsum(rows[1].patch_lengths) - rows[1].patch_lengths
    assert first_h == pytest.approx(np.asarray(rows[1].entropies)[starts], abs=1e-3)  # the stored entropies
    page = tmp_path / "row.html"
    assert run(str(stored), "--id", "doc-2", "--html", str(page)).exit_code == 0
    html = page.read_text()
    assert "שלום עולם" in re.sub(r"<[^>]+>", "", html) and "<polyline" in html


@pytest.mark.parametrize(
    "args, message",
    [
        (["--row", "99"], "out of range"),
        (["--id", "nope"], "no row has id 'nope'"),
        ([], "give --row N or --id ID"),
        (["--row", "0", "--threshold", "2"], "--threshold does not apply to a dataset row"),
        (["--row", "0", "--patcher", "space"], "--patcher does not apply"),
        (["--row", "0", "--text", "hi"], "--text does not apply to a dataset row"),
        (["--id", "doc-0", "--text", "hi"], "--text does not apply to a dataset row"),
        (["--row", "0", "--id", "doc-0"], "--row and --id exclude each other"),
    ],
)
def test_stored_row_errors(stored: Path, args: list[str], message: str) -> None:
    result = run(str(stored), *args)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_a_configured_default_is_no_patcher_option_given_for_a_stored_row(stored: Path) -> None:
    """The stored-row check compared parameter sources by hand and took a default from click's
    default_map for an option given, refusing it ("--patcher does not apply"); it asks the shared
    `given()`, as every other check of an option given does (reject_inapplicable, on a file)."""
    args = ["inspect", str(stored), "--row", "0", "--no-color"]
    configured = CliRunner().invoke(cli, args, default_map={"inspect": {"patcher": "space", "stride": 3}})
    assert configured.exit_code == 0, configured.output
    assert configured.stdout == run(str(stored), "--row", "0", "--no-color").stdout
    typed = CliRunner().invoke(cli, [*args, "--stride", "3"])
    assert typed.exit_code == 2 and "--stride does not apply to a dataset row" in typed.output


def test_a_row_of_a_dataset_without_rows_is_out_of_range_of_no_rows(tmp_path: Path) -> None:
    """A corpus of no documents gives a dataset of no rows: `--row 0` said it had
    "0 rows, 0 to -1"."""
    (tmp_path / "empty.jsonl").write_bytes(b"")
    out = tmp_path / "ds"
    result = CliRunner().invoke(cli, ["segment", str(tmp_path / "empty.jsonl"), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    result = run(str(out), "--row", "0")
    assert result.exit_code == 1
    assert result.output == f"Error: {out}: row 0 is out of range (the dataset has no rows)\n"


@pytest.mark.skipif(os.name != "posix", reason="POSIX arguments are bytes")
def test_an_id_that_is_not_utf8_is_one_line_naming_the_dataset(stored: Path) -> None:
    """`--id` given bytes that are not UTF-8 said only "'utf-8' codec can't encode character
    '\\udcff' in position 0: surrogates not allowed", naming neither the dataset nor the id."""
    result = run(str(stored), "--id", os.fsdecode(b"doc-\xff"))
    assert result.exit_code == 1
    assert (
        result.output == f"Error: {stored}: no row has id 'doc-\\xff': ids are stored as UTF-8, and this one is not\n"
    )


def test_the_page_of_a_row_of_the_current_directory_is_named_after_it(
    stored: Path, tmp_path: Path, monkeypatch
) -> None:
    """`bytepatch inspect . --row 0 --html P` inside a dataset titled its page `bytepatch inspect:  row 0`."""
    monkeypatch.chdir(stored)
    result = run(".", "--row", "0", "--html", str(tmp_path / "p.html"))
    assert result.exit_code == 0, result.output
    assert f"<title>bytepatch inspect: {stored.name} row 0</title>" in (tmp_path / "p.html").read_text()


def test_row_needs_a_dataset() -> None:
    result = run("--text", "abc", "--row", "0")
    assert result.exit_code == 2 and "DATASET directory" in result.output


def _non_utf8(parent: Path, name: bytes) -> Path:
    """A path under `parent` whose last name is the given (not UTF-8) bytes."""
    path = parent / os.fsdecode(name)
    try:
        path.write_bytes(b"")
        path.unlink()
    except (OSError, UnicodeEncodeError):
        pytest.skip("this filesystem refuses non-UTF-8 names")
    return path


@pytest.mark.skipif(os.name != "posix", reason="POSIX file names are bytes")
def test_a_file_name_that_is_not_utf8_is_shown_escaped_in_the_page(tmp_path: Path) -> None:
    path = _non_utf8(tmp_path, b"bad\xff")
    path.write_bytes(b"a\xffb")
    out = tmp_path / "page.html"
    result = run(str(path), "--patcher", "space", "--html", str(out))
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    page = out.read_text(encoding="utf-8")
    assert "<title>bytepatch inspect: bad\\xff</title>" in page and page.endswith("</html>\n")
    bad_out = _non_utf8(tmp_path, b"out\xff.html")
    result = run(str(path), "--patcher", "space", "--html", str(bad_out))
    assert result.exit_code == 0 and "out\\xff.html: 3 bytes" in result.stderr
    assert bad_out.read_bytes() == page.encode()


@pytest.mark.skipif(os.name != "posix", reason="POSIX file names are bytes")
def test_a_dataset_directory_that_is_not_utf8_is_one_clear_error(stored: Path, tmp_path: Path) -> None:
    import shutil

    copy = _non_utf8(tmp_path, b"d\xff")
    shutil.copytree(stored, copy)
    shown = os.fsencode(copy).decode("utf-8", "backslashreplace")  # .../d\xff
    for args in (["inspect", str(copy), "--row", "0"], ["stats", str(copy)], ["verify", str(copy)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1, (args, result.output)
        assert result.output == f"Error: {shown}: the path is not valid UTF-8 (pyarrow cannot open it); rename it\n"


def test_a_row_id_with_control_and_bidi_characters_is_escaped_in_the_page(tmp_path: Path) -> None:
    import json

    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"text": "hi there", "id": "<s>\x1b[31m\u202e&"}) + "\n")
    out = tmp_path / "ds"
    seg = CliRunner().invoke(cli, ["segment", str(corpus), "-o", str(out), "--id-field", "id", "--patcher", "space"])
    assert seg.exit_code == 0, seg.output
    page = tmp_path / "ids.html"
    assert run(str(out), "--row", "0", "--html", str(page)).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert "\x1b" not in html and "\u202e" not in html
    assert "<td>id</td><td>&lt;s&gt;\\e[31m\\u202e&amp;</td>" in html


def test_empty_text_says_n_a_not_a_mean_of_zero() -> None:
    result = run("--text", "", "--patcher", "space", "--no-color")
    assert result.exit_code == 0 and result.stderr.startswith("0 bytes, 0 patches (mean n/a);"), result.output


def test_stored_float16_entropies_that_disagree_with_a_stored_boundary_are_noted(
    ngram_dir: Path, tmp_path: Path
) -> None:
    """segment decides on float32 entropies and stores them as float16: a threshold between
    a byte's float32 value and its (lower) float16 rounding starts a patch there, and the
    stored value shown is below the threshold. The row says so rather than contradict itself."""
    from bytepatch.entropy import load_entropy_model

    text = "def inspect(view): return render(view) if view else None"
    h = load_entropy_model(ngram_dir).entropies([text.encode()])[0].astype(np.float32)
    k = next(t for t in range(1, len(h)) if float(np.float16(h[t])) < float(h[t]))
    threshold = (float(np.float16(h[k])) + float(h[k])) / 2
    assert float(np.float16(h[k])) < threshold < float(h[k])
    corpus = tmp_path / "c.txt"
    corpus.write_text(text)
    out = tmp_path / "ds"
    args = [str(corpus), "-o", str(out), "-m", str(ngram_dir), "--threshold", repr(threshold), "--save-entropies"]
    seg = CliRunner().invoke(cli, ["segment", *args, "-q"])
    assert seg.exit_code == 0, seg.output
    result = run(str(out), "--row", "0", "--verbose", "--no-color")
    assert result.exit_code == 0, result.output
    assert "entropies=float16, rounded after the boundaries were decided on float32" in result.stderr
    rows = {int(r.split()[1]): r for r in result.stdout.split("\n\n")[1].splitlines()[1:]}
    assert "float16-rounded h does not cross the threshold here, yet a patch starts" in rows[k]


@pytest.mark.parametrize("flags", [["--no-color"], ["--color", "-v"]])
def test_stops_quietly_when_the_reader_closes_the_pipe(tmp_path: Path, flags: list[str]) -> None:
    """`bytepatch inspect FILE | head` ended with status 1 and no word; the summary line (stderr)
    is left out, since the view it sums up was not shown."""
    source = tmp_path / "doc.txt"
    source.write_text("where do the patch boundaries fall? " * 2000)
    assert run_into_closed_pipe("inspect", str(source), "--patcher", "space", *flags) == (0, b"")


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_an_input_that_fails_to_read_is_one_line() -> None:
    """Reading /proc/self/mem at 0 fails (EIO): it ended in an OSError traceback."""
    result = run("/proc/self/mem")
    assert result.exit_code == 1
    assert result.stderr == "Error: /proc/self/mem: cannot read: Input/output error\n"


def _on_a_terminal(env: dict[str, str]) -> bytes:
    """stdout of `bytepatch inspect --text hi` written to a pseudo-terminal."""
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bytepatch.cli.main", "inspect", "--text", "hi", "--patcher", "stride"],
            stdout=slave,
            stderr=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if k != "NO_COLOR"} | env,
            timeout=120,
        )
        assert proc.returncode == 0
        return os.read(master, 65536)
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_no_color_counts_only_when_it_holds_a_value() -> None:
    """no-color.org: NO_COLOR "present and not an empty string" turns colour off; an
    empty one (`NO_COLOR= cmd`, or a blanked variable in CI) turned it off too."""
    assert b"\x1b[" in _on_a_terminal({})
    assert b"\x1b[" in _on_a_terminal({"NO_COLOR": ""})
    assert b"\x1b[" not in _on_a_terminal({"NO_COLOR": "1"})
