"""Fuzzing the n-gram entropy-model reader (issue 13.11): a damaged config.json or
ngram.npz is refused with an error naming the file, or loads as exactly the same model."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bytepatch.entropy.ngram import NgramConfig, NgramCounter, NgramModel
from tests.fuzz_mutations import mutation

TEXT = [b"the quick brown fox jumps over the lazy dog. " * 20, b"pack my box with five dozen liquor jugs " * 10]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    counter = NgramCounter(NgramConfig(order=3, min_count=1))
    counter.update(TEXT)
    path = tmp_path_factory.mktemp("ngram") / "m"
    counter.finalize().save(path)
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation(), st.sampled_from(["config.json", "ngram.npz"]))
def test_damaged_model_files(model_dir, scratch, damage, name):
    reference = NgramModel.load(model_dir)
    copy = Path(tempfile.mkdtemp(prefix="fz-", dir=scratch)) / "m"
    shutil.copytree(model_dir, copy)
    (copy / name).write_bytes(damage((copy / name).read_bytes()))
    try:
        model = NgramModel.load(copy)
    except (ValueError, OSError) as exc:
        assert str(copy) in str(exc), f"error does not name the model: {exc}"
        return
    assert model.fingerprint == reference.fingerprint
    for a, b in zip(model.entropies(TEXT), reference.entropies(TEXT)):
        np.testing.assert_array_equal(a, b)


def test_an_array_stored_without_its_npy_suffix_is_refused(model_dir, scratch):
    """Found by the fuzzer: a member that is not named .npy nor starts like one comes back
    from np.load as raw bytes."""
    import zipfile

    copy = Path(tempfile.mkdtemp(prefix="fz-", dir=scratch)) / "m"
    shutil.copytree(model_dir, copy)
    weights = copy / "ngram.npz"
    with zipfile.ZipFile(model_dir / "ngram.npz") as src, zipfile.ZipFile(weights, "w") as dst:
        for item in src.infolist():
            if item.filename == "discounts.npy":
                dst.writestr("discounts", b"not an array")
            else:
                dst.writestr(item.filename, src.read(item.filename))
    with pytest.raises(ValueError, match=r"ngram.npz: corrupt: \['discounts'\] not stored as .npy arrays"):
        NgramModel.load(copy)
