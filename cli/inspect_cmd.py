"""`bytepatch inspect`: show where the patch boundaries of one text fall."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from bytepatch.cli._patching import patcher_from_options
from bytepatch.inspect import build_view, inspect_page, render_color, render_listing, render_plain
from bytepatch.inspect.view import short_fingerprint
from bytepatch.patchers import PATCHERS


@click.command()
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--text", "-t", help="Inspect this text instead of a FILE.")
@click.option("--patcher", type=click.Choice(sorted(PATCHERS)), default="entropy", show_default=True)
@click.option("--entropy-model", default="default", show_default=True, help="Entropy model name or directory.")
@click.option("--threshold", type=float, help="Global entropy threshold in nats (default: the model's).")
@click.option("--threshold-add", type=float, help="Relative (monotonic) threshold: h[t] - h[t-1] > F.")
@click.option("--stride", type=int, default=4, show_default=True, help="Patch size for --patcher stride.")
@click.option("--max-patch-length", type=int, help="Cut patches longer than M bytes.")
@click.option("--max-bytes", type=click.IntRange(min=0), default=100_000, show_default=True,
              help="Inspect only the first N bytes (0: all).")  # fmt: skip
@click.option("--html", "html_path", type=click.Path(dir_okay=False, writable=True),
              help="Write a self-contained HTML page (text + entropy plot) here instead.")  # fmt: skip
@click.option("--verbose", "-v", is_flag=True, help="Also list every patch: index, offset, length, bytes.")
@click.option("--color/--no-color", default=None, help="Colour patches (default: when stdout is a terminal).")
def inspect_cmd(file: str | None, text: str | None, patcher: str, entropy_model: str, threshold: float | None,
                threshold_add: float | None, stride: int, max_patch_length: int | None, max_bytes: int,
                html_path: str | None, verbose: bool, color: bool | None) -> None:  # fmt: skip
    """Show the patches of FILE (or --text) in the terminal, or as an HTML page.

    In a terminal, patches alternate between two background colours. Without colour
    (output piped, --no-color, or NO_COLOR set) a `|` separates patches, and `\\`, `|`,
    invalid UTF-8 and control bytes are escaped (`\\\\`, `\\|`, `\\xNN`, `\\r`, `\\e`,
    `\\0`, `\\uXXXX`), so the output gives back the exact bytes. A summary line goes to
    stderr.

    \b
    Examples:
      bytepatch inspect --text "Daenerys Targaryen is in Game of Thrones"
      bytepatch inspect README.md --patcher space --verbose
      bytepatch inspect notes.txt --threshold 1.8 --html notes.html
      echo "hello world" | bytepatch inspect - --patcher stride --stride 3 --no-color
    """
    data = _read_input(file, text, max_bytes)
    try:
        # The same patcher settings and defaults as `segment` (one place decides them).
        choice = patcher_from_options(patcher, entropy_model, threshold, threshold_add, target=None,
                                      stride=stride, max_len=max_patch_length)
        source = choice.entropy_model
        entropies = source.model().entropies([data])[0] if source is not None else None
        extra = {"entropy_model": source.ref.name, "fingerprint": short_fingerprint(source.ref.fingerprint)} if source else {}
        view = build_view(data, choice.spec.build(), entropies, extra)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if html_path:
        title = f"bytepatch inspect: {Path(file).name if file and file != '-' else 'text'}"
        try:
            Path(html_path).write_text(inspect_page(view, title), encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"{html_path}: cannot write: {exc.strerror or exc}") from exc
        click.echo(f"{html_path}: {view.summary()}", err=True)
        return
    use_color = color if color is not None else sys.stdout.isatty() and "NO_COLOR" not in os.environ
    click.echo(render_color(view) if use_color else render_plain(view), color=use_color)
    if verbose:
        click.echo("\n" + render_listing(view))
    click.echo(view.summary(), err=True)


def _read_input(file: str | None, text: str | None, max_bytes: int) -> bytes:
    """The bytes to inspect: --text (as given on the command line) or FILE / - (stdin)."""
    if (file is None) == (text is None):
        raise click.UsageError("give either FILE (or - for stdin) or --text, not both and not neither")
    if text is not None:
        data = text.encode("utf-8", errors="surrogateescape")  # undo how Python decoded argv
    else:
        with click.open_file(file, "rb") as f:
            data = f.read(max_bytes + 1) if max_bytes else f.read()
    if max_bytes and len(data) > max_bytes:
        click.echo(f"note: showing the first {max_bytes:,} bytes (--max-bytes 0 for all)", err=True)
        data = data[:max_bytes]
    return data
