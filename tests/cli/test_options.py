"""One option vocabulary across commands, inapplicable options refused, help examples intact."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bytepatch.cli.main import COMMANDS, cli

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample"


def commands() -> dict[str, click.Command]:
    ctx = click.Context(cli)
    return {name: cli.get_command(ctx, name) for name in COMMANDS if cli.get_command(ctx, name) is not None}


@pytest.mark.parametrize("long, short", [("--entropy-model", "-m"), ("--target-patch-size", "-s"), ("--output", "-o")])
def test_the_same_option_has_the_same_short_flag_everywhere(long: str, short: str) -> None:
    having = {name: p for name, c in commands().items() for p in c.params if long in p.opts}
    assert len(having) >= 2, having
    assert {name: short in p.opts for name, p in having.items()} == {name: True for name in having}


def test_a_short_flag_means_one_thing_per_command() -> None:
    for name, command in commands().items():
        shorts = [o for p in command.params for o in p.opts + p.secondary_opts if re.fullmatch(r"-\w", o)]
        assert len(shorts) == len(set(shorts)), (name, shorts)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["segment", str(SAMPLE), "-o", "{tmp}/o", "--patcher", "space", "--threshold", "2"],
            "--threshold applies to --patcher entropy only, not --patcher space",
        ),
        (["segment", str(SAMPLE), "-o", "{tmp}/o", "--patcher", "stride", "-s", "6"], "--target-patch-size applies"),
        (["segment", str(SAMPLE), "-o", "{tmp}/o", "--patcher", "space", "-m", "default"], "--entropy-model applies"),
        (["segment", str(SAMPLE), "-o", "{tmp}/o", "--stride", "8"], "--stride applies to --patcher stride only"),
        (["inspect", "--text", "abc", "--patcher", "stride", "--threshold-add", "0.5"], "--threshold-add applies"),
    ],
)
def test_options_the_patcher_would_ignore_are_errors(args: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_examples_render_intact(name: str) -> None:
    command = commands().get(name)
    if command is None:
        pytest.skip(f"{name} is not available in this build")
    examples = [
        line.strip()
        for line in (command.help or "").splitlines()
        if re.match(r"\s*(bytepatch|torchrun|cat|echo) ", line)
    ]
    shown = {line.strip() for line in CliRunner().invoke(cli, [name, "--help"]).output.splitlines()}
    assert [e for e in examples if e not in shown] == []


def test_train_help_names_the_option_it_means() -> None:
    out = CliRunner().invoke(cli, ["train", "--help"]).output
    assert "OUTPUT" not in out and "-o/--output" in out


def test_fit_entropy_calibrates_a_default_threshold_and_refuses_to_overwrite(tmp_path: Path) -> None:
    model = tmp_path / "ngram"
    fit = ["fit-entropy", str(SAMPLE), "-o", str(model), "--order", "4", "--min-count", "1", "-s", "5"]
    result = CliRunner().invoke(cli, fit)
    assert result.exit_code == 0, result.output
    config = json.loads((model / "config.json").read_text())
    assert config["default_threshold"] > 0
    assert config["stats"]["threshold_calibration"]["target_mean_patch_size"] == 5
    seg = CliRunner().invoke(cli, ["segment", str(SAMPLE), "-o", str(tmp_path / "out"), "-m", str(model), "-q"])
    assert seg.exit_code == 0, seg.output  # no --threshold needed
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert abs(manifest["bytes"] / manifest["patches"] / 5 - 1) < 0.1  # calibrated on (a sample of) this text
    before = (model / "config.json").read_bytes()
    again = CliRunner().invoke(cli, fit)
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert (model / "config.json").read_bytes() == before
    assert CliRunner().invoke(cli, [*fit, "--overwrite"]).exit_code == 0
