"""The Dask recipe of docs/cluster.md: `map_partitions` with `patch_table` gives `segment`'s rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import bytepatch
from bytepatch.cli.main import cli
from bytepatch.dataset import open_dataset
from bytepatch.io import iter_documents

dd = pytest.importorskip("dask.dataframe", reason="pip install 'dask[dataframe]' (the test extra installs it)")

JSONL = Path(__file__).resolve().parents[2] / "examples" / "sample" / "stdlib_docstrings.jsonl"


def patch_partition(part, patcher):
    """The recipe's function: a pandas partition in, a pandas partition of dataset rows out."""
    table = bytepatch.patch_table(pa.Table.from_pandas(part, preserve_index=False), patcher, id_field="id")
    return table.to_pandas()


def test_dask_recipe_equals_segment(tmp_path: Path):
    corpus = tmp_path / "corpus.parquet"
    docs = list(iter_documents([str(JSONL)], id_field="id"))
    pq.write_table(
        pa.table({"id": [d.id for d in docs], "text": [d.data.decode() for d in docs]}), corpus, row_group_size=16
    )
    result = CliRunner().invoke(
        cli,
        [
            "segment",
            str(corpus),
            "-o",
            str(tmp_path / "out"),
            "--patcher",
            "space",
            "--max-patch-length",
            "8",
            "--id-field",
            "id",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output

    patcher = bytepatch.load_patcher("space", max_patch_length=8)
    df = dd.read_parquet(str(corpus), split_row_groups=True)
    assert df.npartitions > 1
    meta = {"id": str, "bytes": object, "patch_lengths": object}
    rows = df.map_partitions(patch_partition, patcher, meta=meta)
    patched = rows.compute()
    got = sorted((r.id, r.bytes, tuple(r.patch_lengths)) for r in patched.itertuples())
    expected = sorted((r.id, r.bytes, tuple(r.patch_lengths)) for r in open_dataset(tmp_path / "out"))
    assert got == expected
    # The recipe ends by writing Parquet, with the schema docs/engines.md gives.
    schema = pa.schema([("id", pa.string()), ("bytes", pa.large_binary()), ("patch_lengths", pa.list_(pa.int32()))])
    rows.to_parquet(str(tmp_path / "patched"), schema=schema)
    written = pq.read_table(tmp_path / "patched").to_pylist()
    assert sorted((r["id"], r["bytes"], tuple(r["patch_lengths"])) for r in written) == expected
