"""Entry point of the `bytepatch` console script: the click group and its commands."""

import click

from bytepatch import __version__


@click.group()
@click.version_option(__version__, prog_name="bytepatch")
def cli() -> None:
    """bytepatch: tokenizer-free byte patching, BLT style."""


def main() -> None:
    cli()
