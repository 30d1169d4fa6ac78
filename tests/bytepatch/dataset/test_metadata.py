"""Typed records at the file boundary: PatcherSpec, EntropyModelRef, DatasetMetadata, DataSignature."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bytepatch.dataset import DatasetMetadata, DataSignature, open_dataset
from bytepatch.entropy.ref import EntropyModelRef
from bytepatch.errors import ConfigError
from bytepatch.io import ReaderConfig
from bytepatch.patchers import EntropyPatcherConfig, PatcherSpec, SpacePatcher
from bytepatch.segment import SegmentOptions, segment_corpus

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample"

# As segment wrote it before precision was recorded (and before these records existed).
OLD = {
    "bytepatch_version": "0.1.0",
    "format_version": 1,
    "patcher": {"patcher": "entropy", "threshold": 1.3, "threshold_add": None, "max_patch_length": 8},
    "entropy_model": {"name": "default", "kind": "ngram", "fingerprint": "ab" * 32},
    "columns": ["id", "bytes", "patch_lengths"],
}


def test_old_metadata_reads_and_writes_back_with_the_same_field_names():
    meta = DatasetMetadata.from_dict(OLD)
    assert meta.patcher == PatcherSpec("entropy", EntropyPatcherConfig(1.3, None, 8))
    assert meta.entropy_model.precision == "fp32"  # all datasets before precision was recorded were fp32
    assert meta.to_dict() == {**OLD, "entropy_model": {**OLD["entropy_model"], "precision": "fp32"}}
    assert meta.signature() == DataSignature(meta.patcher, "ab" * 32)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"surprise": 1}, "unknown dataset metadata keys: surprise"),
        ({"entropy_model": {**OLD["entropy_model"], "path": "/m"}}, "unknown entropy model record keys: path"),
        ({"entropy_model": {"name": "default", "kind": "ngram"}}, "lacks required keys: fingerprint"),
        ({"entropy_model": {**OLD["entropy_model"], "precision": "fp8"}}, "precision must be one of"),
        ({"patcher": {"patcher": "bpe"}}, "unknown patcher 'bpe'"),
        ({"patcher": {"patcher": "space", "max_patch_len": 3}}, "unknown SpacePatcherConfig keys: max_patch_len"),
    ],
)
def test_metadata_is_read_strictly(change, message):
    with pytest.raises(ConfigError, match=message):
        DatasetMetadata.from_dict({**OLD, **change})


def test_entropy_model_path_is_never_written():
    ref = EntropyModelRef("default", "ngram", "f", "fp32", path="/somewhere/default")
    assert "path" not in ref.to_dict() and EntropyModelRef.from_dict(ref.to_dict()) == ref


def test_data_signature_spells_out_every_patcher_setting():
    sig = DataSignature.from_dict({"patcher": {"patcher": "space"}}, "run config data")
    assert sig.to_dict() == {
        "patcher": {"patcher": "space", "max_patch_length": None},
        "entropy_model_fingerprint": None,
    }
    with pytest.raises(ConfigError, match="run config data.patcher: unknown patcher"):
        DataSignature.from_dict({"patcher": {"patcher": "nope"}}, "run config data")
    with pytest.raises(ConfigError, match="entropy_model_fingerprint must be a string"):
        DataSignature.from_dict({"patcher": {"patcher": "space"}, "entropy_model_fingerprint": 3})


def test_segment_records_typed_metadata_that_reads_back(tmp_path: Path):
    out = tmp_path / "ds"
    segment_corpus([str(SAMPLE)], out, SpacePatcher(), ReaderConfig(), SegmentOptions(show_progress=False))
    ds = open_dataset(out)
    assert ds.info == DatasetMetadata.of(SpacePatcher()) and ds.info.to_dict() == ds.metadata
    shard_meta = json.loads(json.dumps(ds.metadata))
    assert DatasetMetadata.from_dict(shard_meta).entropy_model is None


def test_an_entropy_patcher_without_a_model_is_refused_before_anything_is_written(tmp_path: Path):
    spec = {"patcher": "entropy", "threshold": 1.0}
    with pytest.raises(ValueError, match="needs an entropy model"):
        segment_corpus([str(SAMPLE)], tmp_path / "ds", spec, ReaderConfig(), SegmentOptions(show_progress=False))
    assert not (tmp_path / "ds").exists()
