"""`bytepatch report RUN`: the curves of a training run, from its `log.jsonl`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from bytepatch.cli._pages import write_page
from bytepatch.inspect.curves import report_page, report_svg, run_summary
from bytepatch.io.fs import shown_path

LOG_FILE = "log.jsonl"


@click.command("report")
@click.argument("run", type=click.Path(exists=True))
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write an HTML page with the curves here.")
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False), help="Write the bits-per-byte chart as SVG here.")
def report(run: str, html_path: str | None, svg_path: str | None) -> None:
    """Summarise a run of `bytepatch train` or `train-entropy` (its log.jsonl), and draw
    its training loss and held-out bits-per-byte curves as SVG.

    RUN is the run directory (or its log.jsonl). Works while the run goes on.

    \b
    Examples:
      bytepatch report runs/tiny
      bytepatch report runs/tiny --html tiny.html
      bytepatch report runs/tiny/log.jsonl --svg bpb.svg
    """
    path = Path(run) / LOG_FILE if Path(run).is_dir() else Path(run)
    records = read_log(path)
    rows = run_summary(records)
    width = max(len(k) for k in rows)
    click.echo(f"{shown_path(run)}:\n" + "\n".join(f"  {k:<{width}}  {v}" for k, v in rows.items()))
    where = Path(os.path.abspath(run))  # `report .` (or `report log.jsonl`) names the run's directory, not ''
    name = where.name if where.is_dir() else where.parent.name
    for target, text in (
        (html_path, lambda: report_page(shown_path(name), records)),
        (svg_path, lambda: report_svg(records)),
    ):
        if target:
            write_page(target, text())
            click.echo(f"wrote {shown_path(target)}", err=True)


def read_log(path: Path) -> list[dict]:
    """The records of a run log; a missing file or a bad line is a one-line error.

    A last line cut short (the run is writing it now) is skipped, not an error."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise click.ClickException(
            f"{shown_path(path)}: no such file (is this a run directory of `bytepatch train`?)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{shown_path(path)}: cannot read: {exc}") from exc
    records = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(lines):
                continue
            raise click.ClickException(f"{shown_path(path)}: line {i}: not JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise click.ClickException(f"{shown_path(path)}: line {i}: not a JSON object")
        records.append(record)
    if not records:
        raise click.ClickException(f"{shown_path(path)}: no records yet")
    return records
