"""Patcher classes: one protocol, strict configs, batch == per-document, round-trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bytepatch
from bytepatch import EntropyPatcher, EntropyPatcherConfig, Patcher, SpacePatcher, SpacePatcherConfig
from bytepatch import StridePatcher, StridePatcherConfig, patcher_from_dict
from bytepatch.ragged import Ragged

from tests.bytepatch.strategies import batches, entropy_batches, max_lengths


class ByteValueEntropy:
    """A deterministic stand-in model: the entropy of byte t is its value / 64."""

    def entropies(self, docs):
        return [np.frombuffer(d, dtype=np.uint8).astype(np.float32) / 64 for d in docs]


def test_all_patchers_follow_the_protocol():
    for p in (EntropyPatcher(), SpacePatcher(), StridePatcher()):
        assert isinstance(p, Patcher)


@settings(max_examples=100, deadline=None)
@given(batches, max_lengths)
def test_space_batch_equals_per_document(docs, cap):
    patcher = SpacePatcher(SpacePatcherConfig(max_patch_length=cap))
    out = patcher.patch_batch(Ragged.from_bytes(docs))
    assert len(out) == len(docs)
    for row, doc in zip(out, docs):
        np.testing.assert_array_equal(row, patcher.patch_lengths(doc))


@settings(max_examples=100, deadline=None)
@given(entropy_batches(), max_lengths)
def test_entropy_batch_equals_per_document(batch, cap):
    ragged, rows = batch
    patcher = EntropyPatcher(EntropyPatcherConfig(threshold=2.0, threshold_add=0.1, max_patch_length=cap))
    fake_docs = Ragged(np.zeros(len(ragged.values), dtype=np.uint8), ragged.offsets)
    out = patcher.patch_batch(fake_docs, ragged)
    for row, h in zip(out, rows):
        np.testing.assert_array_equal(row, patcher.patch_lengths(bytes(len(h)), h))


def test_stride_batch_equals_per_document():
    docs = [b"", b"abc", b"abcdefghij", b"x" * 17]
    patcher = StridePatcher(StridePatcherConfig(stride=4))
    out = patcher.patch_batch(Ragged.from_bytes(docs))
    assert [r.tolist() for r in out] == [[], [3], [4, 4, 2], [4, 4, 4, 4, 1]]
    capped = StridePatcher(StridePatcherConfig(stride=4, max_patch_length=3))  # the cap applies to any patcher
    out = capped.patch_batch(Ragged.from_bytes(docs))
    assert [r.tolist() for r in out] == [[], [3], [3, 1, 3, 1, 2], [3, 1] * 4 + [1]]
    assert [capped.patch_lengths(d).tolist() for d in docs] == [r.tolist() for r in out]


def test_entropy_patcher_with_a_model_patches_raw_bytes():
    patcher = EntropyPatcher(EntropyPatcherConfig(threshold=1.5), model=ByteValueEntropy())
    # 'a' = 97 -> 1.52 > 1.5 starts a patch; ' ' = 32 -> 0.5 does not.
    assert patcher.patches(b"a a  a") == [b"a ", b"a  ", b"a"]
    batch = patcher.patch_batch(Ragged.from_bytes([b"a a", b""]))
    assert [r.tolist() for r in batch] == [[2, 1], []]


def test_entropy_patcher_without_model_or_entropies_explains():
    with pytest.raises(ValueError, match="entropy model"):
        EntropyPatcher().patch_lengths(b"abc")
    with pytest.raises(ValueError, match="one per byte"):
        EntropyPatcher().patch_lengths(b"abc", np.ones(2, dtype=np.float32))


def test_patches_reassemble_the_document():
    doc = "Grüße, world!\x00\xff".encode("utf-8", "surrogateescape") + b"\xff\xfe"
    for p in (SpacePatcher(), StridePatcher(StridePatcherConfig(stride=3))):
        assert b"".join(p.patches(doc)) == doc


@pytest.mark.parametrize(
    "patcher",
    [
        EntropyPatcher(EntropyPatcherConfig(threshold=None, threshold_add=0.3, max_patch_length=16)),
        SpacePatcher(SpacePatcherConfig(max_patch_length=8)),
        StridePatcher(StridePatcherConfig(stride=6)),
    ],
)
def test_round_trip_through_dict(patcher):
    clone = patcher_from_dict(patcher.to_dict())
    assert type(clone) is type(patcher) and clone.config == patcher.config


def test_configs_reject_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match="unknown SpacePatcherConfig keys: max_patch_len"):
        SpacePatcherConfig.from_dict({"max_patch_len": 3})
    with pytest.raises(ValueError, match="unknown patcher"):
        patcher_from_dict({"patcher": "bpe"})
    with pytest.raises(ValueError, match="threshold"):
        EntropyPatcherConfig(threshold=None, threshold_add=None)
    with pytest.raises(ValueError, match="stride"):
        StridePatcherConfig(stride=0)
    with pytest.raises(Exception):
        SpacePatcherConfig().max_patch_length = 3  # frozen


def test_entropy_rule_names():
    assert EntropyPatcherConfig().rule == "global"
    assert EntropyPatcherConfig(threshold=None, threshold_add=0.1).rule == "relative"
    assert EntropyPatcherConfig(threshold=1.0, threshold_add=0.1).rule == "both"


def test_import_bytepatch_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, bytepatch; bytepatch.space_patch_lengths(b'a b'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert bytepatch.__version__


def test_numpy_scalar_settings_are_stored_as_python_numbers():
    """A threshold from `np.quantile` (np.float32) or an np.int64 stride built a patcher
    whose rows could not be written: patch_table and segment failed on json.dumps
    ("Object of type float32 is not JSON serializable")."""
    import json

    import pyarrow as pa

    patchers = [
        EntropyPatcher(EntropyPatcherConfig(threshold=np.float32(1.5), threshold_add=np.float64(0.1))),
        EntropyPatcher(
            EntropyPatcherConfig(threshold=np.float32(1.5), max_patch_length=np.int64(4)), ByteValueEntropy()
        ),
        SpacePatcher(SpacePatcherConfig(max_patch_length=np.int32(8))),
        StridePatcher(StridePatcherConfig(stride=np.int64(3), max_patch_length=np.uint8(2))),
    ]
    for patcher in patchers:
        for value in patcher.config.to_dict().values():
            assert value is None or type(value) in (int, float)
        assert patcher_from_dict(json.loads(json.dumps(patcher.to_dict()))).config == patcher.config
    assert patchers[1].config.threshold == 1.5 and patchers[3].config.stride == 3
    assert json.dumps(bytepatch.patcher_metadata(patchers[0]))  # what every shard's schema records
    for patcher in patchers[2:]:
        table = bytepatch.patch_table(pa.table({"text": ["a aa  aaa b"]}), patcher, ids=["x"])
        assert sum(table.column("patch_lengths")[0].as_py()) == 11


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: EntropyPatcherConfig(threshold="1.5"), "threshold must be a number"),
        (lambda: EntropyPatcherConfig(threshold=True), "threshold must be a number"),
        (lambda: EntropyPatcherConfig(threshold=None, threshold_add=[0.1]), "threshold_add must be a number"),
        (lambda: EntropyPatcherConfig(threshold=10**400), "threshold must be a finite number"),
        (lambda: bytepatch.entropy_patch_lengths(np.ones(3), threshold="1"), "threshold must be a number"),
        (lambda: StridePatcherConfig(stride=2**70), "stride must be a positive integer"),
        (lambda: bytepatch.stride_patch_lengths(2**70, 4), "n_bytes must be a non-negative integer"),
    ],
)
def test_settings_of_the_wrong_type_or_size_are_refused_naming_them(make, message):
    """They raised NumPy's "ufunc 'isfinite' not supported for the input types" (a str),
    were taken as 1.0 (True), or failed in Numba with "int too big to convert"."""
    with pytest.raises(ValueError, match=message):
        make()


def test_batches_of_strided_arrays_and_ragged_batches_of_other_types():
    """A list of strided uint8 arrays (`arr[::2]`) failed with "sequence item 0: expected a
    bytes-like object, numpy.ndarray found"; a Ragged of int64 values was patched by
    element (stride) or refused as an entropy count mismatch, never named."""
    arr = np.frombuffer(b"a-b-c- -d-e-f- -g", dtype=np.uint8)
    strided = arr[::2]  # b"abc def g", not contiguous
    assert not strided.flags.c_contiguous
    for patcher in (SpacePatcher(), StridePatcher(), EntropyPatcher(EntropyPatcherConfig(1.5), ByteValueEntropy())):
        expected = patcher.patch_lengths(strided.tobytes()).tolist()
        assert patcher.patch_lengths(strided).tolist() == expected
        batch = patcher.patch_batch([strided, b"xy"])
        assert [r.tolist() for r in batch] == [expected, patcher.patch_lengths(b"xy").tolist()]
        wide = Ragged(np.frombuffer(b"abc", np.uint8).astype(np.int64), np.array([0, 3]))
        with pytest.raises(TypeError, match="Ragged batch of documents holds 1-D uint8 bytes, got int64"):
            patcher.patch_batch(wide)
        with pytest.raises(TypeError, match="offsets are integers, got float64"):
            patcher.patch_batch(Ragged(np.zeros(3, np.uint8), np.array([0.0, 3.0])))


def test_a_ragged_batch_is_indexed_as_a_list():
    """lengths[-1] was an empty array and lengths[-2] the last row (offsets[-1:0] and
    offsets[-2:-1]); a row past the end failed with "index 3 is out of bounds for axis 0"."""
    out = SpacePatcher().patch_batch(["a b", "c d e"])
    assert [out[-1].tolist(), out[-2].tolist(), out[np.int64(1)].tolist()] == [[2, 2, 1], [2, 1], [2, 2, 1]]
    assert [r.tolist() for r in out] == [r.tolist() for r in out.to_list()] == [[2, 1], [2, 2, 1]]
    for i in (2, -3):
        with pytest.raises(IndexError, match=f"row {i} out of range for 2 rows"):
            out[i]
    with pytest.raises(TypeError, match="row index is an integer, got slice"):
        out[0:1]
    with pytest.raises(IndexError, match="row 0 out of range for 0 rows"):
        SpacePatcher().patch_batch([])[0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(0.0, 5.5, allow_nan=False), max_size=30), max_size=5), st.floats(0.5, 5.0))
def test_entropy_batch_of_float64_lists_equals_per_document(rows, threshold):
    """A list of float64 entropies was cast to float32 by patch_batch, while patch_lengths
    compares them in float64: a value just above the threshold (2.0 + 1e-12) became 2.0,
    and the batch missed a patch start that the document alone had."""
    patcher = EntropyPatcher(EntropyPatcherConfig(threshold=threshold, threshold_add=0.25))
    rows = [r + [threshold + 1e-12] for r in rows]  # one value a hair above the threshold
    arrays = [np.asarray(r, dtype=np.float64) for r in rows]
    docs = [bytes(len(r)) for r in rows]
    expected = [patcher.patch_lengths(d, h).tolist() for d, h in zip(docs, arrays)]
    for given_rows in (arrays, rows):  # arrays or plain lists of floats
        assert [r.tolist() for r in patcher.patch_batch(docs, given_rows)] == expected
    exact = EntropyPatcher(EntropyPatcherConfig(threshold=2.0))
    h = np.array([0.0, 2.0 + 1e-12, 0.0], dtype=np.float64)
    assert exact.patch_batch([b"abc"], [h]).to_list()[0].tolist() == exact.patch_lengths(b"abc", h).tolist() == [1, 2]


def test_entropy_batch_rows_of_the_wrong_shape_are_named():
    """A 2-D row was flattened and refused as "offsets end at 2 but there are 4 values"."""
    with pytest.raises(ValueError, match=r"entropies of document 1 must be 1-D .* shape \(2, 2\)"):
        EntropyPatcher(EntropyPatcherConfig(threshold=2.0)).patch_batch([b"a", b"ab"], [[0.0], np.zeros((2, 2))])


def test_a_str_with_a_lone_surrogate_is_refused_naming_the_document_and_char():
    """`"a\\ud800b".encode("utf-8")` raised the codec's bare UnicodeEncodeError from inside
    the batch, not saying which of the documents held it or what to do."""
    text = "ok \ud800 b"
    for patcher in (SpacePatcher(), StridePatcher(), EntropyPatcher(EntropyPatcherConfig(1.5), ByteValueEntropy())):
        with pytest.raises(ValueError, match=r"document 1: the str holds a lone surrogate '\\ud800' at char 3"):
            patcher.patch_batch(["fine", text])
        with pytest.raises(ValueError, match=r"lone surrogate '\\ud800' at char 3.*pass the document as bytes"):
            patcher.patch_lengths(text)
        with pytest.raises(ValueError, match="lone surrogate"):
            patcher.patches(text)
    with pytest.raises(ValueError, match="lone surrogate"):
        bytepatch.space_patch_lengths(text)
    raw = text.encode("utf-8", "surrogatepass")  # what the message suggests for such bytes
    assert SpacePatcher().patch_lengths(raw).sum() == len(raw)


def test_a_dict_of_columns_or_a_non_batch_is_refused_not_patched_by_its_keys():
    """`patch_batch(batch)` with a `datasets.map(batched=True)` batch iterated the dict and
    patched its column names ("id", "text") as the documents; None failed with Python's
    "'NoneType' object is not iterable"."""
    batch = {"id": ["a", "b"], "text": ["hello world", "more text"]}
    for patcher in (SpacePatcher(), StridePatcher(), EntropyPatcher(EntropyPatcherConfig(1.5), ByteValueEntropy())):
        with pytest.raises(TypeError, match=r"not a dict of columns \('id', 'text'\).*batch\['text'\]"):
            patcher.patch_batch(batch)
        for bad in (None, 3):
            with pytest.raises(TypeError, match=f"pass a batch of documents .*got {type(bad).__name__}"):
                patcher.patch_batch(bad)
        assert len(patcher.patch_batch(batch["text"])) == 2
