"""`segment` with a transformer entropy LM: a document's row does not depend on the shard layout.

`segment` scores documents in groups, and which documents share a group depends on
`--shard-size-mb`, on the input order and on where the inputs are cut; a document's
entropies are the same bits in any group, so its patches and stored entropies are too.
"""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch

from bytepatch.dataset import open_dataset
from bytepatch.models.entropy_lm import TransformerEntropyModel
from bytepatch.models.nn.transformer import TRANSFORMER_PRESETS, ByteTransformer
from tests.tiny_runs import invoke

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SOURCES = ["json/decoder.py", "json/encoder.py", "textwrap.py", "string.py", "shlex.py", "fnmatch.py", "glob.py"]


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny preset with weights spread wider than its init (near-uniform predictions would
    put few entropies near any threshold), its default threshold at the median entropy."""
    torch.manual_seed(0)
    model = ByteTransformer(TRANSFORMER_PRESETS["tiny"]).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.15)
    lm = TransformerEntropyModel(model)
    lm.default_threshold = float(np.median(lm.entropies([(STDLIB / SOURCES[0]).read_bytes()])[0]))
    path = tmp_path_factory.mktemp("lm") / "lm"
    lm.save(path)
    return path


def documents() -> list[dict]:
    """~120 KB of stdlib source cut into documents of 1 to 40 lines (some empty), with ids."""
    rng = np.random.default_rng(0)
    docs = []
    for name in SOURCES:
        lines = (STDLIB / name).read_text(encoding="utf-8").splitlines(keepends=True)
        i = 0
        while i < len(lines):
            n = int(rng.integers(1, 41))
            docs.append({"id": f"{name}:{i}", "text": "".join(lines[i : i + n])})
            i += n
    return docs


@pytest.fixture()
def torch_threads():
    """`segment` gives torch its --threads in this process: put the test's back afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def rows(path: Path) -> dict[str, tuple]:
    return {r.id: (r.bytes, tuple(r.patch_lengths), tuple(r.entropies)) for r in open_dataset(path)}


@pytest.mark.slow
@pytest.mark.usefixtures("torch_threads")
def test_rows_are_identical_for_any_shard_size_input_order_and_thread_count(tmp_path: Path, lm: Path):
    """Before the fix 8 of the 119 rows differed between one shard and 0.01 MB shards."""
    docs = documents()
    reordered = list(reversed(docs[::2])) + docs[1::2]
    results = {}
    for name, order, shard_mb, threads in [
        ("one shard", docs, "64", "1"),
        ("small shards", docs, "0.01", "1"),
        ("other order, other shards", reordered, "0.003", "1"),
        ("two threads", reordered, "0.02", "2"),
    ]:
        corpus = tmp_path / f"{name}.jsonl"
        corpus.write_text("".join(json.dumps(d) + "\n" for d in order))
        out = tmp_path / name
        layout = ["--shard-size-mb", shard_mb, "--threads", threads]
        invoke("segment", str(corpus), "-o", str(out), "-m", str(lm), "--id-field", "id", "--save-entropies", *layout)
        results[name] = rows(out)
    expected = results.pop("one shard")
    assert len(expected) == len(docs)
    for name, got in results.items():
        differ = sorted(k for k in expected if got[k] != expected[k])
        assert not differ, f"{name}: {len(differ)} of {len(expected)} rows differ, e.g. {differ[:3]}"
