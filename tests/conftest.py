"""Shared test fixtures: the golden reference data, the sample corpus as a dataset, one torch thread,
a scratch folder for fuzz examples, a table cache of the run's own, and a Ctrl-C that raises."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest

# The shared helper modules assert too: show the compared values when they fail.
pytest.register_assert_rewrite("tests.tiny_runs", "tests.torchrun")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GOLDEN = SHARED / "reference" / "blt_tokens_with_entropies.json"
FIXTURE_GOLDEN = REPO / "tests" / "data" / "blt_tokens_with_entropies.json"


@pytest.fixture(scope="session", autouse=True)
def sigint_raises():
    """Ctrl-C raises KeyboardInterrupt in the suite and in the commands it starts, however the
    suite was started: a shell starts a background job (`make test &` in a script) with SIGINT
    ignored, Python then keeps it ignored, and every signal test failed."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.fixture(scope="session", autouse=True)
def own_table_cache(tmp_path_factory: pytest.TempPathFactory):
    """The derived tables of every model the tests train (and of the shipped one) go in a
    cache under pytest's base temporary directory, for this process and the commands it
    starts: in the user's ~/.cache/bytepatch, one run of the suite left ~250 MB."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BYTEPATCH_CACHE_DIR", str(tmp_path_factory.mktemp("table-cache")))
        yield


@pytest.fixture(scope="session")
def golden() -> dict:
    """The BLT reference fixture as columns: doc bytes, per-byte entropies, start flags.

    Reads ../shared/reference when present, else the copy kept in tests/data, so the
    test runs in any clone.
    """
    path = GOLDEN if GOLDEN.exists() else FIXTURE_GOLDEN
    raw = json.loads(path.read_text())
    col = lambda k: np.array([raw[k][str(i)] for i in range(len(raw[k]))])  # noqa: E731
    ids = col("token_ids")
    doc = (ids[1:-1] - 4).astype(np.uint8).tobytes()
    n = len(doc)
    return {
        "doc": doc,
        "entropies": col("entropies")[:n],
        "starts": col("start")[1 : n + 1].astype(np.uint8),  # token position t+1 = byte t
        "patch": col("patch"),
    }


@pytest.fixture(scope="session")
def sample_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's sample corpus (examples/sample) segmented with space patches; read only."""
    from click.testing import CliRunner

    from bytepatch.cli.main import cli

    out = tmp_path_factory.mktemp("train-data") / "space"
    args = ["segment", str(REPO / "examples" / "sample"), "-o", str(out), "--patcher", "space", "-q"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module (use with `pytest.mark.usefixtures`), restored afterwards.

    Batch-1 generation and stepping are chains of tiny matmuls: extra threads only add
    synchronisation (20x slower on a loaded 2-core machine). Other tests keep their threads.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for a fuzz test's examples (hypothesis cannot take `tmp_path` per example):
    under pytest's base temporary directory, which pytest prunes, where `tempfile`'s
    default left one folder per example in /tmp for good."""
    return tmp_path_factory.mktemp("examples")
