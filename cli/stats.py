"""`bytepatch stats`: counts, patch sizes and the patch-length histogram of a dataset."""

from __future__ import annotations

import json

import click

from bytepatch.cli._pages import write_page
from bytepatch.dataset import open_dataset
from bytepatch.inspect.report import stats_page, stats_svg, stats_text
from bytepatch.stats import dataset_stats


@click.command()
@click.argument("dataset", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the text report.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Also write an HTML page with the chart.")
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False), help="Also write the histogram as an SVG picture.")
def stats(dataset: str, as_json: bool, html_path: str | None, svg_path: str | None) -> None:
    """Summarise DATASET (a directory written by `bytepatch segment`).

    Prints documents, bytes, patches, mean / median / p99 patch size (exact), the
    patch-length histogram, and the patcher settings and entropy-model fingerprint
    recorded in the dataset. Reads one shard at a time.

    \b
    Examples:
      bytepatch stats out/
      bytepatch stats out/ --json | jq .patch_size
      bytepatch stats out/ --html stats.html
    """
    try:
        ds = open_dataset(dataset)
        report = dataset_stats(ds).to_dict()
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    for path, render in ((html_path, lambda: stats_page(dataset, report)), (svg_path, lambda: stats_svg(report))):
        if path:
            write_page(path, render())
    click.echo(json.dumps(report) if as_json else stats_text(dataset, report))
