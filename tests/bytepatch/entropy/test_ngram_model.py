"""Fitting, save/load, fingerprints, registry and the shipped default n-gram model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bytepatch.entropy import EntropyModel, NgramConfig, NgramModel, load_entropy_model
from bytepatch.entropy.ngram import modified_kn_discounts
from bytepatch.entropy.registry import DEFAULT_MODEL_DIR

SNIPPET = (Path(__file__).parent / "data" / "snippet.txt").read_bytes()
DOCS = [SNIPPET, SNIPPET.upper(), "Grüße aus Köln, naïve café.".encode(), b"", b"x"]


@pytest.fixture(scope="module")
def model() -> NgramModel:
    return NgramModel.fit(DOCS, NgramConfig(order=5, min_count=1))


def test_model_implements_the_protocol(model):
    assert isinstance(model, EntropyModel)
    assert model.kind == "ngram" and model.context_length == 4


def test_save_load_round_trip(model, tmp_path):
    model.with_default_threshold(1.5).save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["kind"] == "ngram" and config["default_threshold"] == 1.5
    loaded = NgramModel.load(tmp_path / "m")
    assert loaded.fingerprint == model.fingerprint
    assert loaded.default_threshold == 1.5
    for a, b in zip(loaded.entropies(DOCS), model.entropies(DOCS)):
        np.testing.assert_array_equal(a, b)


def test_fingerprint_is_stable_and_tracks_config_and_weights(model):
    again = NgramModel.fit(DOCS, NgramConfig(order=5, min_count=1))
    assert again.fingerprint == model.fingerprint
    assert NgramModel.fit(DOCS, NgramConfig(order=4, min_count=1)).fingerprint != model.fingerprint
    assert NgramModel.fit(DOCS[:2], NgramConfig(order=5, min_count=1)).fingerprint != model.fingerprint
    assert model.with_default_threshold(9.0).fingerprint == model.fingerprint  # threshold is not a weight


def test_fit_is_one_streaming_pass_over_an_iterator():
    once = NgramModel.fit(iter(DOCS), NgramConfig(order=5, min_count=1))
    assert once.fingerprint == NgramModel.fit(DOCS, NgramConfig(order=5, min_count=1)).fingerprint


def test_cross_entropy_is_mean_surprisal_in_bits(model):
    _, s = model.entropies_and_surprisals(DOCS)
    total = sum(float(x.sum(dtype=np.float64)) for x in s)
    n = sum(len(d) for d in DOCS)
    assert model.cross_entropy(DOCS) == pytest.approx(total / n / math.log(2))
    with pytest.raises(ValueError):
        model.cross_entropy([b""])


def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match="unknown NgramConfig keys"):
        NgramConfig.from_dict({"order": 5, "smoothing": "kn"})
    with pytest.raises(ValueError, match="order"):
        NgramConfig(order=9)
    assert NgramConfig.from_dict(NgramConfig().to_dict()) == NgramConfig()


def test_discounts_stay_in_range():
    d = modified_kn_discounts(np.array([1] * 50 + [2] * 20 + [3] * 10 + [4] * 5 + [9] * 3))
    assert 0 < d[0] <= 1 and 0 < d[1] <= 2 and 0 < d[2] <= 3


def test_load_errors_name_the_file(model, tmp_path):
    model.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["fingerprint"] = "0" * 64
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="config.json: fingerprint"):
        NgramModel.load(tmp_path / "m")
    config["kind"] = "transformer"
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="'transformer'"):
        load_entropy_model(tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_entropy_model(tmp_path / "missing")


def test_single_bytes_argument_is_refused(model):
    with pytest.raises(TypeError, match="sequence of documents"):
        model.entropies(b"abc")


def test_a_document_array_of_another_dtype_is_refused(model):
    """An int64 array of byte values was read as its raw memory: 8 entropies per value."""
    doc = np.frombuffer(b"hello world", np.uint8)
    expected = model.entropies([doc.tobytes()])[0]
    np.testing.assert_array_equal(model.entropies([doc])[0], expected)
    np.testing.assert_array_equal(
        model.entropies([np.frombuffer(b"hheelllloo  wwoorrlldd", np.uint8)[::2]])[0], expected
    )
    for bad in (doc.astype(np.int64), doc.reshape(1, -1)):
        with pytest.raises(TypeError, match="document 1 is a .* array of shape .*; documents are bytes or 1-D uint8"):
            model.entropies([b"ok", bad])
        with pytest.raises(TypeError, match="document 0 is a"):
            model.cross_entropy([bad])


def test_default_model_loads_offline_and_is_sane():
    model = load_entropy_model("default")
    assert load_entropy_model("ngram-default") is model
    assert Path(DEFAULT_MODEL_DIR, "config.json").is_file()
    assert sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir()) <= 20_000_000
    assert model.default_threshold is not None and 0 < model.default_threshold < math.log(256)
    bpb = model.cross_entropy([SNIPPET])
    assert 1.0 < bpb < 3.0, bpb  # English prose it never saw
    h = model.entropies([SNIPPET])[0]
    assert 0.5 < float(h.mean()) < 2.5


# -- corrupt or hand-edited model directories: a clear ValueError naming the file --------------


def _saved(model: NgramModel, path: Path) -> Path:
    model.save(path)
    return path


def _edit_config(path: Path, **changes) -> None:
    config = json.loads((path / "config.json").read_text())
    for key, value in changes.items():
        if value is _DROP:
            del config[key]
        else:
            config[key] = value
    (path / "config.json").write_text(json.dumps(config))


def _rewrite_arrays(path: Path, **changes) -> None:
    with np.load(path / "ngram.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    for name, value in changes.items():
        if value is _DROP:
            del arrays[name]
        else:
            arrays[name] = value
    np.savez_compressed(path / "ngram.npz", **arrays)


_DROP = object()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"smoothing": "kn"}, "unknown ngram entropy model config keys: smoothing"),
        ({"fingerprint": _DROP}, "missing 'fingerprint'"),
        ({"config": {"order": "5"}}, "order must be an integer"),
        ({"config": 5}, "'config' must be an object"),
        ({"default_threshold": "1.5"}, "default_threshold must be a finite number"),
        ({"stats": []}, "'stats' must be an object"),
        ({"format_version": 2}, "format_version 2"),
    ],
)
def test_config_json_is_read_strictly(model, tmp_path, changes, message):
    path = _saved(model, tmp_path / "m")
    _edit_config(path, **changes)
    with pytest.raises(ValueError, match=message) as info:
        NgramModel.load(path)
    assert "config.json" in str(info.value)


def test_config_value_types_are_checked_at_construction():
    with pytest.raises(ValueError, match="min_count must be an integer"):
        NgramConfig(min_count=2.0)
    with pytest.raises(ValueError, match="order must be an integer"):
        NgramConfig(order=True)
    assert NgramConfig(order=np.int64(5)).order == 5 and type(NgramConfig(order=np.int64(5)).order) is int


def test_fingerprint_must_match_the_weights(model, tmp_path):
    path = _saved(model, tmp_path / "m")
    other = _saved(NgramModel.fit(DOCS[:2], NgramConfig(order=5, min_count=1)), tmp_path / "other")
    (path / "ngram.npz").write_bytes((other / "ngram.npz").read_bytes())  # weights from another model
    with pytest.raises(ValueError, match="does not match the weights"):
        NgramModel.load(path)


def test_truncated_missing_and_garbage_weight_files(model, tmp_path):
    path = _saved(model, tmp_path / "m")
    data = (path / "ngram.npz").read_bytes()
    for broken in (data[: len(data) // 2], data[:10], b"", b"not a zip file at all"):
        (path / "ngram.npz").write_bytes(broken)
        with pytest.raises(ValueError, match=r"ngram\.npz: unreadable or corrupt"):
            NgramModel.load(path)
    (path / "ngram.npz").unlink()
    with pytest.raises(ValueError, match=r"ngram\.npz: no such file"):
        NgramModel.load(path)


def _arrays(model: NgramModel) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in model.arrays.items()}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda a: a.pop("succ_count"), r"missing arrays \['succ_count'\]"),
        (lambda a: a.update(extra=np.zeros(3)), r"unknown arrays \['extra'\]"),
        (lambda a: a.update(bigram_counts=a["bigram_counts"][:256]), r"bigram_counts has shape \(256, 256\)"),
        (lambda a: a.update(discounts=a["discounts"][:3]), "discounts has shape"),
        (lambda a: a.update(ctx_total=a["ctx_total"].astype(np.int64)), "ctx_total has dtype int64"),
        (lambda a: a.update(ctx_total=a["ctx_total"][:-1]), "context arrays differ in length"),
        (lambda a: a.update(succ_byte=a["succ_byte"][:-1]), r"sum\(succ_len\)"),
        (lambda a: a.update(succ_len=a["succ_len"] + np.uint16(1)), r"sum\(succ_len\)"),
        (lambda a: a.update(succ_count=a["succ_count"][:, None]), "succ_count must be 1-D"),
        (lambda a: a.update(ctx_keys=a["ctx_keys"][::-1].copy()), "not strictly increasing"),
        (lambda a: a["ctx_keys"].__setitem__(-1, a["ctx_keys"][-1] | np.uint64(7 << 57)), "outside 2..4 symbols"),
        (lambda a: a["succ_count"].__setitem__(0, 0), "successor count is 0"),
        (lambda a: a["ctx_total"].__setitem__(0, 0), "exceed ctx_total"),
        (lambda a: a["discounts"].__setitem__((2, 0), np.nan), "discounts must be finite"),
        (lambda a: a["discounts"].__setitem__((3, 1), 2.5), "discounts must be finite"),
    ],
)
def test_inconsistent_arrays_are_refused_before_any_kernel_reads_them(model, tmp_path, mutate, message):
    path = _saved(model, tmp_path / "m")
    arrays = _arrays(model)
    mutate(arrays)
    np.savez_compressed(path / "ngram.npz", **arrays)
    with pytest.raises(ValueError, match=message) as info:
        NgramModel.load(path)
    assert "ngram.npz" in str(info.value)


def test_contexts_must_be_prefix_closed(model):
    arrays = _arrays(model)
    keys = arrays["ctx_keys"]
    # Drop the stored 2-byte suffix of a 3-byte context (and that suffix's successors).
    n, bos = keys >> np.uint64(57), (keys >> np.uint64(56)) & np.uint64(1)
    longer = keys[(n == 3) & (bos == 0)][0]
    suffix = (np.uint64(2) << np.uint64(57)) | (longer & np.uint64(0xFFFF))
    drop = int(np.searchsorted(keys, suffix))
    assert keys[drop] == suffix
    start = int(arrays["succ_len"][:drop].sum())
    stop = start + int(arrays["succ_len"][drop])
    for name in ("ctx_keys", "ctx_total", "succ_len"):
        arrays[name] = np.delete(arrays[name], drop)
    for name in ("succ_byte", "succ_count"):
        arrays[name] = np.delete(arrays[name], np.arange(start, stop))
    with pytest.raises(ValueError, match="not prefix-closed"):
        NgramModel(model.config, arrays)


def test_registry_cache_is_bounded_and_sees_rewrites(model, tmp_path):
    from bytepatch.entropy.registry import MAX_CACHED, clear_model_cache

    path = _saved(model, tmp_path / "m")
    first = load_entropy_model(path)
    assert load_entropy_model(str(path)) is first  # same directory, unchanged files: memoised
    other = NgramModel.fit(DOCS[:2], NgramConfig(order=5, min_count=1))
    other.save(path)  # rewritten in place: new mtimes and sizes
    assert load_entropy_model(path).fingerprint == other.fingerprint
    clear_model_cache()
    assert load_entropy_model(path) is not first
    assert MAX_CACHED >= 1


def test_default_model_entropies_are_unchanged_bit_for_bit():
    """The shipped model's entropies and surprisals equal those recorded with the original
    single-threaded kernel (before threads, blocked probes and the table layout changes):
    the same boundaries for any threshold, the same bits per byte."""
    golden = np.load(Path(__file__).parent / "data" / "default_model_golden.npz")
    text = (Path(__file__).parent / "data" / "snippet.txt").read_bytes()
    docs = [text, text[:100], b"", "Grüße, 世界! naïve café".encode(), bytes(range(256))]
    model = load_entropy_model("default")
    for threads in (1, 2):
        h, s = model.entropies_and_surprisals(docs, threads=threads)
        np.testing.assert_array_equal(np.concatenate(h), golden["entropy"])
        np.testing.assert_array_equal(np.concatenate(s), golden["surprisal"])
