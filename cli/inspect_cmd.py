"""`bytepatch inspect`: show where the patch boundaries of one text fall."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from bytepatch.cli._options import entropy_model_option, given, reject_inapplicable
from bytepatch.cli._pages import write_page
from bytepatch.cli._patching import patcher_from_options
from bytepatch.inspect import build_view, inspect_page, render_color, render_listing, render_plain
from bytepatch.inspect.view import short_fingerprint
from bytepatch.io.fs import shown_path
from bytepatch.patchers import PATCHERS


@click.command()
@click.argument("file", required=False, type=click.Path(exists=True, allow_dash=True))
@click.option("--text", "-t", help="Inspect this text instead of a FILE.")
@click.option("--row", type=click.IntRange(min=0), help="With a DATASET directory: show the row at this position.")
@click.option("--id", "row_id", help="With a DATASET directory: show the row with this id.")
@click.option("--patcher", type=click.Choice(sorted(PATCHERS)), default="entropy", show_default=True)
@entropy_model_option()
@click.option("--threshold", type=float, help="Global entropy threshold in nats (default: the model's).")
@click.option("--threshold-add", type=float, help="Relative (monotonic) threshold: h[t] - h[t-1] > F.")
@click.option(
    "--stride", type=click.IntRange(min=1), default=4, show_default=True, help="Patch size for --patcher stride."
)
@click.option("--max-patch-length", type=click.IntRange(min=1), help="Cut patches longer than M bytes.")
@click.option(
    "--offset",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Show the window starting at this byte (from the start of the patch holding it).",
)
@click.option(
    "--length",
    "--max-bytes",
    "length",
    type=click.IntRange(min=0),
    default=100_000,
    show_default=True,
    help="Show at most N bytes from --offset (0: to the end).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Write a self-contained HTML page (text + entropy plot) here instead.",
)
@click.option("--verbose", "-v", is_flag=True, help="Also list every patch: index, offset, length, bytes.")
@click.option("--color/--no-color", default=None, help="Colour patches (default: when stdout is a terminal).")
def inspect_cmd(
    file: str | None,
    text: str | None,
    row: int | None,
    row_id: str | None,
    patcher: str,
    entropy_model: str,
    threshold: float | None,
    threshold_add: float | None,
    stride: int,
    max_patch_length: int | None,
    offset: int,
    length: int,
    html_path: str | None,
    verbose: bool,
    color: bool | None,
) -> None:
    """Show the patches of FILE (or --text, or a stored row of a DATASET) in the
    terminal, or as an HTML page.

    A DATASET directory (written by `bytepatch segment`) with --row N or --id ID shows
    that row with the patches (and entropies, if saved) that were stored.

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
      bytepatch inspect big.txt --offset 150000 --length 2000 --html window.html
      bytepatch inspect out/ --row 0 --verbose          # a stored row of a dataset
      bytepatch inspect out/ --id "corpus.jsonl:17" --html row.html
      echo "hello world" | bytepatch inspect - --patcher stride --stride 3 --no-color
    """
    if file and file != "-" and Path(file).is_dir():
        view = _stored(file, text, row, row_id, offset, length)
        name = Path(os.path.abspath(file)).name  # `inspect . --row 0` names the directory, not ''
        title = f"bytepatch inspect: {shown_path(name)} row {view.settings['row']}"
        return _show(view, html_path, title, verbose, color)
    reject_inapplicable(click.get_current_context(), patcher)
    if row is not None or row_id is not None:
        raise click.UsageError("--row and --id show a row of a DATASET directory written by `bytepatch segment`")
    data, goes_on = _read_input(file, text, offset, length)
    try:
        # The same patcher settings and defaults as `segment` (one place decides them).
        built = patcher_from_options(
            patcher, entropy_model, threshold, threshold_add, target=None, stride=stride, max_len=max_patch_length
        )
        ref = built.entropy_model
        entropies = built.patcher.model.entropies([data])[0] if ref is not None else None
        extra = {"entropy_model": ref.name, "fingerprint": short_fingerprint(ref.fingerprint)} if ref else {}
        view = build_view(data, built.patcher, entropies, extra)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    where = "--text" if text is not None else "<stdin>" if file == "-" else shown_path(file)
    view = _window(view, offset, length, goes_on, where)
    name = shown_path(Path(file).name) if file and file != "-" else "text"  # a name need not be UTF-8
    _show(view, html_path, f"bytepatch inspect: {name}", verbose, color)


def _show(view, html_path: str | None, title: str, verbose: bool, color: bool | None) -> None:
    """Write the HTML page, or print the terminal view (and listing); the summary to stderr."""
    if html_path:
        write_page(html_path, inspect_page(view, title))
        click.echo(f"{shown_path(html_path)}: {view.summary()}", err=True)
        return
    # no-color.org: NO_COLOR counts when it holds a value (an empty one does not turn colour off)
    use_color = color if color is not None else sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    click.echo(render_color(view) if use_color else render_plain(view), color=use_color)
    if verbose:
        click.echo("\n" + render_listing(view))
    click.echo(view.summary(), err=True)


PATCHER_OPTIONS = ("patcher", "entropy_model", "threshold", "threshold_add", "stride", "max_patch_length")


def _stored(path: str, text: str | None, row: int | None, row_id: str | None, offset: int, length: int):
    """The stored row's view (windowed like a file); patcher options and --text do not apply to it."""
    if text is not None:  # checked here: the dataset branch never reaches _read_input's FILE/--text check
        raise click.UsageError("--text does not apply to a dataset row: give either a DATASET or --text, not both")
    ctx = click.get_current_context()
    chosen = [name for name in PATCHER_OPTIONS if given(ctx, name)]  # as reject_inapplicable asks, on a file
    if chosen:
        flag = "--" + chosen[0].replace("_", "-")
        raise click.UsageError(f"{flag} does not apply to a dataset row: its stored patches are shown, not recomputed")
    if row is not None and row_id is not None:
        raise click.UsageError("--row and --id exclude each other: give one of them")
    if row is None and row_id is None:
        raise click.UsageError(f"{path} is a directory: give --row N or --id ID to show one of its rows")
    from bytepatch.inspect.stored import stored_view

    try:
        view = stored_view(path, row, row_id)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    total = len(view.data)
    where = f"{shown_path(path)} row {view.settings['row']}"
    return _window(view, offset, length, bool(length) and total > offset + length, where, total)


def _window(view, offset: int, length: int, goes_on: bool, where: str, total: int | None = None):
    """The window --offset/--length ask for, and a note on stderr when the input goes on
    past it. The note is written after the window widens back to the start of the patch
    holding --offset, so it gives the same bytes as the summary line."""
    if offset or (length and len(view.data) > length):
        try:
            view = view.window(offset, length)
        except ValueError as exc:  # --offset past the end: name the input it is past the end of
            raise click.ClickException(f"{where}: {exc}") from exc
    if goes_on:
        end = view.origin + len(view.data)
        span = f"bytes {view.origin:,}-{end:,}" if view.origin else f"the first {end:,} bytes"
        of = f" of the row's {total:,}" if total is not None else ""
        click.echo(f"note: showing {span}{of} (--offset/--length to choose; --length 0 for all)", err=True)
    return view


def _read_input(file: str | None, text: str | None, offset: int, length: int) -> tuple[bytes, bool]:
    """The bytes to patch: --text (as given on the command line) or FILE / - (stdin), up to
    the end of the window, and whether the input goes on past it. Everything before the
    window is patched too, so the window's boundaries (and entropies) are those of the
    whole document."""
    if (file is None) == (text is None):
        raise click.UsageError("give either FILE (or - for stdin) or --text, not both and not neither")
    end = offset + length if length else 0
    if text is not None:
        data = text.encode("utf-8", errors="surrogateescape")  # undo how Python decoded argv
    else:
        try:
            with click.open_file(file, "rb") as f:
                data = f.read(end + 1) if end else f.read()
        except OSError as exc:  # stdin closed, a device that fails to read: one line, not a traceback
            where = "<stdin>" if file == "-" else shown_path(file)
            raise click.ClickException(f"{where}: cannot read: {exc.strerror or exc}") from exc
    goes_on = bool(end) and len(data) > end
    return (data[:end] if goes_on else data), goes_on
