"""A real browser: headless Chromium renders the `inspect --html` and `stats --html` pages.

Checks what a user would see: the text the browser built from the page (its DOM and
its rendered `innerText`) holds the original characters of a mixed German, Chinese,
emoji and Hebrew sample, every character once; the page logs nothing to the console;
and a screenshot comes out. Needs Debian's `chromium` (`.ci/run` installs it); the
test is skipped without it unless BYTEPATCH_REQUIRE_BROWSER=1 (set by `.ci/run`).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from bytepatch.cli.main import cli

SAMPLE = "Grüße aus Köln! 中文的内核代码风格 😀🎉 שלום עולם — end"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

if CHROMIUM is None and os.environ.get("BYTEPATCH_REQUIRE_BROWSER") != "1":
    pytest.skip("needs Debian's chromium (apt-get install chromium; .ci/run installs it)", allow_module_level=True)

# Copies the rendered text of the patches into the DOM, where --dump-dom can read it.
PROBE = (
    "<script>const t = document.querySelector('.text') || document.body;"
    "const o = document.createElement('pre'); o.id = 'rendered-text';"
    "o.textContent = t ? t.innerText : ''; document.body.appendChild(o);</script>"
)


def chromium(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    assert CHROMIUM is not None, "chromium is not installed (apt-get install chromium)"
    cmd = [
        CHROMIUM,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
        page.as_uri(),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def render(page: Path, tmp_path: Path) -> tuple[str, str, list[str]]:
    """(the page's DOM, its rendered text, console messages) as headless Chromium sees them."""
    probe = page.with_name(page.stem + "-probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    result = chromium(probe, tmp_path, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    m = re.search(r'<pre id="rendered-text">(.*?)</pre>', dom, re.DOTALL)
    assert m, "the probe did not run"
    return dom, html.unescape(m.group(1)), console_messages(result.stderr)


def screenshot(page: Path, tmp_path: Path) -> Path:
    png = tmp_path / (page.stem + ".png")
    result = chromium(page, tmp_path, f"--screenshot={png}", "--window-size=1200,900", "--hide-scrollbars")
    assert result.returncode == 0, result.stderr[-2000:]
    assert not console_messages(result.stderr), console_messages(result.stderr)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000
    return png


def text_block(dom: str) -> str:
    """The characters of the `.text` block as the browser parsed them (tags and ↵ marks removed)."""
    block = dom[dom.index('<div class="text">') :]
    block = block[: block.index("</div>")]
    block = re.sub(r"<u>\u21b5</u>", "", block)
    return html.unescape(re.sub(r"<[^>]+>", "", block))


def test_the_console_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><body><div class='text'>x</div><script>console.error('boom')</script></body></html>"
    )
    _, _, messages = render(bad, tmp_path)
    assert any("boom" in m for m in messages)


@pytest.mark.parametrize("patcher", [["--patcher", "stride", "--stride", "2"], ["--patcher", "space"], []])
def test_inspect_html_shows_every_script_whole(patcher: list[str], tmp_path: Path) -> None:
    source = tmp_path / "mixed.txt"
    source.write_text(SAMPLE + "\n", encoding="utf-8")
    page = tmp_path / "inspect.html"
    result = CliRunner().invoke(cli, ["inspect", str(source), *patcher, "--html", str(page)])
    assert result.exit_code == 0, result.output
    dom, rendered, messages = render(page, tmp_path)
    assert messages == []
    assert text_block(dom) == SAMPLE + "\n"  # every character once, in order, none as \xNN
    for word in ("Grüße", "Köln", "中文的内核代码风格", "😀🎉", "שלום", "עולם"):
        assert word in rendered.replace("\u21b5", "")
    assert "\\x" not in rendered
    screenshot(page, tmp_path)


def test_stats_html_renders_with_its_chart(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in SAMPLE.split()) * 50, encoding="utf-8")
    out = tmp_path / "grüße-中文-😀-שלום"
    result = CliRunner().invoke(cli, ["segment", str(corpus), "-o", str(out), "--patcher", "space", "-q"])
    assert result.exit_code == 0, result.output
    page = tmp_path / "stats.html"
    result = CliRunner().invoke(cli, ["stats", str(out), "--html", str(page)])
    assert result.exit_code == 0, result.output
    dom, rendered, messages = render(page, tmp_path)
    assert messages == []
    assert "grüße-中文-😀-שלום" in rendered  # the heading, as the browser drew it
    assert "<svg" in dom and "patch length (bytes)" in dom
    screenshot(page, tmp_path)
