"""The docs say what the code does: design references resolve, dataset.md matches real output."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click
import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from bytepatch.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [
    p
    for folder in ("bytepatch", "cli", "models", "docs", "tests", "bench", "scripts")
    for p in (ROOT / folder).rglob("*")
    if p.suffix in (".py", ".md")
] + [ROOT / "README.md"]


def test_design_references_point_at_docs_design_md() -> None:
    sections = set(re.findall(r"^## (\d+)\.", (ROOT / "docs" / "design.md").read_text(), re.MULTILINE))
    assert sections == {str(i) for i in range(1, 9)}
    stale = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in SOURCES
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if "DESIGN" + " §" in line
    ]
    assert stale == []
    cited = {
        n
        for p in SOURCES
        for ref in re.findall(r"design\.md\)? §([\d ,§–-]+)", p.read_text())
        for n in re.findall(r"\d+", ref)
    }
    assert cited and cited <= sections


def test_dataset_md_calibration_keys_are_those_segment_writes(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "dataset.md").read_text()
    documented = json.loads(re.search(r'"calibration": (\{[^}]*\})', doc).group(1))
    src = tmp_path / "corpus.txt"
    src.write_text("The quick brown fox jumps over the lazy dog.\n" * 200)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["segment", str(src), "-o", str(out), "--target-patch-size", "4.5", "-q"])
    assert result.exit_code == 0, result.output
    written = json.loads((out / "manifest.json").read_text())["metadata"]["calibration"]
    assert set(documented) == set(written)


def test_float16_entropies_read_in_polars_and_duckdb(tmp_path: Path) -> None:
    import duckdb
    import polars as pl

    src = tmp_path / "corpus.txt"
    src.write_text("Entropies are stored as float16 when asked for.\n")
    for fmt in ("arrow", "parquet"):
        out = tmp_path / fmt
        result = CliRunner().invoke(
            cli, ["segment", str(src), "-o", str(out), "--save-entropies", "--format", fmt, "-q"]
        )
        assert result.exit_code == 0, result.output
    frame = pl.read_ipc_stream(next((tmp_path / "arrow").glob("*.arrow")))  # .arrow shards are IPC streams
    assert frame.schema["entropies"] == pl.List(pl.Float16)
    h = np.asarray(frame["entropies"][0].to_list(), dtype=np.float32)
    ((first,),) = duckdb.sql(f"select entropies from read_parquet('{tmp_path / 'parquet'}/*.parquet')").fetchall()
    assert len(h) == len(src.read_bytes()) and np.allclose(first, h)
    # The Arrow form through DuckDB, as docs/dataset.md shows it: without the float16 column.
    table = pa.ipc.open_stream(next((tmp_path / "arrow").glob("*.arrow")).read_bytes()).read_all()
    rest = table.drop_columns(["entropies"])  # noqa: F841 - DuckDB finds it by name
    assert duckdb.sql("select count(*) from rest").fetchall() == [(1,)]
    assert "do not read the optional float16" not in (ROOT / "docs" / "dataset.md").read_text()


def test_the_parquet_form_reads_as_dataset_md_says(tmp_path: Path) -> None:
    """pandas and pyarrow.dataset take the list of shards (the directory also holds manifest.json)."""
    import glob

    import pandas as pd
    import pyarrow.dataset as pds

    src = tmp_path / "corpus.jsonl"
    src.write_text("".join(json.dumps({"text": f"document {i}"}) + "\n" for i in range(50)))
    out = tmp_path / "out"
    args = [
        "segment",
        str(src),
        "-o",
        str(out),
        "--format",
        "parquet",
        "--patcher",
        "space",
        "--shard-size-mb",
        "0.0002",
    ]
    assert CliRunner().invoke(cli, [*args, "-q"]).exit_code == 0
    files = sorted(glob.glob(f"{out}/*.parquet"))
    assert len(files) > 1
    assert len(pd.read_parquet(files)) == 50
    assert pds.dataset(files, format="parquet").to_table().num_rows == 50
    text = (ROOT / "docs" / "dataset.md").read_text()
    assert 'files = sorted(glob.glob("out/*.parquet"))' in text and "pd.read_parquet(files)" in text


def test_inspect_md_verbose_listing_is_what_inspect_prints() -> None:
    """The `--verbose | cat` example of docs/inspect.md, run as written, prints the block shown."""
    doc = (ROOT / "docs" / "inspect.md").read_text()
    block = re.search(r"```\n\$ bytepatch inspect (--text [^\n]*--verbose) \| cat\n(.*?)```", doc, re.DOTALL)
    result = CliRunner().invoke(cli, ["inspect", *shlex.split(block.group(1))])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip("\n") == block.group(2).strip("\n")


def test_repository_paths_cited_in_the_docs_exist() -> None:
    """A file path the README or docs/ name (`cli/_patching.py`, `tests/...`) is a file of this repository."""
    cited = {
        (doc.relative_to(ROOT).as_posix(), m.group(1))
        for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        for m in re.finditer(
            r"(?<![\w/.-])((?:bytepatch|cli|models|tests|bench|scripts|examples)/[\w/.-]*\.(?:py|md|jsonl|txt))",
            doc.read_text(),
        )
    }
    assert len(cited) > 20
    assert sorted(c for c in cited if not (ROOT / c[1]).exists()) == []


def test_make_bench_all_runs_every_benchmark_but_paper_claim() -> None:
    """README: `make bench-all` runs all of bench/ but the 20-minute paper_claim.py."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nbench-all:", 1)[1].split("\n\n", 1)[0]
    bench = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    run = set(re.findall(r"bench/(\w+\.py)", recipe + bench))
    scripts = {p.name for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_")}
    assert run == scripts - {"paper_claim.py"}
    assert "`make bench-all` all but the last" in (ROOT / "README.md").read_text()


def test_readme_bench_table_has_a_row_per_benchmark() -> None:
    """README: "Each script in `bench/` is one command" with a row in the table."""
    text = (ROOT / "README.md").read_text()
    rows = set(re.findall(r"^\| `python bench/(\w+\.py)", text, re.MULTILINE))
    assert rows == {p.name for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_")}


def test_readme_dependencies_name_every_package_of_the_extras() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    section = (ROOT / "README.md").read_text().split("## Dependencies", 1)[1].split("\n## ", 1)[0].lower()
    names = {re.split(r"[\[<>=]", req)[0] for reqs in extras.values() for req in reqs}
    assert names and sorted(n for n in names if n.lower() not in section) == []


@pytest.mark.parametrize(
    ("command", "doc"),
    [
        ("segment", "cli.md"),
        ("inspect", "inspect.md"),
        ("stats", "inspect.md"),
        ("generate", "generation.md"),
        ("train-entropy", "entropy-lm.md"),
    ],
)
def test_a_command_synopsis_lists_every_option_of_its_help(command: str, doc: str) -> None:
    text = (ROOT / "docs" / doc).read_text()
    synopses = re.findall(rf"```\nbytepatch {command} (.*?)```", text, re.DOTALL)
    result = CliRunner().invoke(cli, [command, "--help"])
    options = set(re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", result.output, re.MULTILINE)) - {"--help"}
    assert synopses and options
    assert sorted(o for o in options if not re.search(rf"{o}(?![\w-])", "".join(synopses))) == []


def test_training_md_checkpoint_layout_is_what_train_writes(sample_dataset: Path, tmp_path: Path) -> None:
    import torch

    from tests.tiny_runs import train_tiny

    run = train_tiny(sample_dataset, tmp_path / "run", steps=2, seq_len=32)
    saved = torch.load(run / "checkpoint.pt", weights_only=True)
    doc = (ROOT / "docs" / "training.md").read_text().split("## Checkpoints", 1)[1].split("For inference", 1)[0]

    def documented(key: str) -> set[str]:  # the keys of `"key": {...}` as docs/training.md lists them
        return set(re.findall(r'"(\w+)"', re.search(rf'"{key}": \{{([^}}]*)\}}', doc).group(1)))

    layout = doc[doc.index('{"format"') :]
    top, depth = set(), 0
    for m in re.finditer(r'[{}]|"(\w+)":', layout):
        depth += {"{": 1, "}": -1}.get(m.group(0), 0)
        if m.group(1) and depth == 1:
            top.add(m.group(1))
        if depth == 0:
            break
    assert set(saved) == top
    assert {k for k in saved["rng"]} <= documented("rng") | {"cuda"}
    assert set(saved["extra"]["data"]) == documented("data")
    assert set(saved["extra"]["counters"]) == documented("counters")
    assert set(saved["extra"]["metrics"]) == documented("metrics")
    assert set(saved["__bytepatch_checksums__"]) == documented("__bytepatch_checksums__")


def test_entropy_lm_md_config_json_keys_are_the_loaders() -> None:
    from bytepatch.models.entropy_lm.model import CONFIG_KEYS

    doc = (ROOT / "docs" / "entropy-lm.md").read_text()
    block = doc.split("lm/config.json", 1)[1].split("lm/model.pt", 1)[0]
    top = set(re.findall(r'"(\w+)":', block))
    assert top == CONFIG_KEYS


def test_cli_md_option_vocabulary_names_every_command_taking_the_option() -> None:
    doc = (ROOT / "docs" / "cli.md").read_text().split("## One option vocabulary", 1)[1]
    for short, long in (("-m", "--entropy-model"), ("-s", "--target-patch-size")):
        listed = set(re.search(rf"`{short}/{long}` \(([^)]*)\)", doc).group(1).split(", "))
        ctx = click.Context(cli)
        commands = {name: cli.get_command(ctx, name) for name in cli.list_commands(ctx)}
        taking = {name for name, command in commands.items() if any(long in p.opts for p in command.params)}
        assert listed == taking
        for name in taking:
            (param,) = [p for p in commands[name].params if long in p.opts]
            assert short in param.opts, f"{name} {long}"


def test_inspect_md_float16_example_is_a_start_that_rounding_hides() -> None:
    """docs/inspect.md's example of a stored boundary the float16 value does not explain: the
    float32 value crosses the shipped model's threshold and its float16 rounding does not (the
    example read "a byte at 2.0668 starts a patch", below the threshold 2.0669)."""
    from bytepatch.entropy import load_entropy_model

    doc = " ".join((ROOT / "docs" / "inspect.md").read_text().split())
    m = re.search(
        r"with threshold (\d+\.\d+) a byte at (\d+\.\d+) \(float32\) starts a patch, "
        r"and its stored value reads (\d+\.\d+)(?: \((\d+\.\d+) in float16\))?",
        doc,
    )
    threshold = load_entropy_model("default").default_threshold
    assert m and abs(float(m.group(1)) - threshold) < 5e-4
    value = np.float32(m.group(2))
    stored = float(np.float16(value))
    assert value > threshold >= stored  # the byte starts a patch; its stored value does not cross
    assert (f"{stored:.3f}", f"{stored:.4f}") == (m.group(3), m.group(4))  # as the listing prints it


def test_cluster_md_segment_with_ray_takes_segment_corpus_arguments() -> None:
    """docs/cluster.md: `segment_with_ray` "takes the same arguments as segment_corpus plus
    RayOptions": the same names, in order, with the same defaults (its reader and options
    were required, so `segment_with_ray(inputs, out, patcher)` failed where segment_corpus ran)."""
    import inspect

    from bytepatch.segment import segment_corpus
    from bytepatch.segment.ray_engine import RayOptions, segment_with_ray

    assert "takes the same arguments as `bytepatch.segment.segment_corpus` plus `RayOptions(" in " ".join(
        (ROOT / "docs" / "cluster.md").read_text().split()
    )
    local = inspect.signature(segment_corpus).parameters
    ray = dict(inspect.signature(segment_with_ray).parameters)
    assert isinstance(ray.pop("ray_options").default, RayOptions)
    assert list(ray) == list(local)
    assert [p.default for p in ray.values()] == [p.default for p in local.values()]


def test_readme_use_it_commands_run_one_after_another() -> None:
    """The README's "Use it" block, pasted as a whole: each `segment` writes its own directory
    (all four wrote out/, so the second was refused: "output directory is not empty"), and
    `stats` reads one of them."""
    block = (ROOT / "README.md").read_text().split("## Use it", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line.split("#", 1)[0]) for line in block.splitlines()]
    outputs = [args[args.index("-o") + 1] for args in commands if args[:2] == ["bytepatch", "segment"]]
    assert len(outputs) == 4 and len({o.rstrip("/") for o in outputs}) == 4
    (stats,) = [args for args in commands if args[:2] == ["bytepatch", "stats"]]
    assert stats[2] in outputs


def test_training_md_data_section_pins_the_shipped_models_fingerprint() -> None:
    """The run config's `data` section of docs/training.md, as written, pins the shipped model:
    its fingerprint spelled as datasets record it (the page wrote "ngram-2b14...", which no
    dataset matches: n-gram fingerprints carry no prefix)."""
    from bytepatch.entropy import load_entropy_model

    doc = (ROOT / "docs" / "training.md").read_text()
    shown = re.search(r'"entropy_model_fingerprint": "([0-9a-z-]+)\.\.\."', doc).group(1)
    assert load_entropy_model("default").fingerprint.startswith(shown)
