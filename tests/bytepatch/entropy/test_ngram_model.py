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
