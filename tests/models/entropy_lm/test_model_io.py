"""Save/load of the transformer entropy model directory: round trip, fingerprint, refusals."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from bytepatch.entropy.base import read_model_config
from bytepatch.models.entropy_lm import TransformerEntropyModel, load
from bytepatch.models.nn.transformer import ByteTransformer, ByteTransformerConfig

DOCS = [b"The quick brown fox jumps over the lazy dog. " * 3, b"\xff\x00binary\x80", b""]


def make(seed: int = 0, **kw) -> TransformerEntropyModel:
    torch.manual_seed(seed)
    cfg = ByteTransformerConfig(n_layers=2, dim=32, n_heads=2, window=16, **kw)
    return TransformerEntropyModel(ByteTransformer(cfg), default_threshold=1.25, training={"steps": 3})


def test_round_trip_keeps_entropies_threshold_and_fingerprint(tmp_path):
    lm = make()
    lm.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.pt"]  # no temp files left
    cfg = read_model_config(tmp_path / "m")
    assert cfg["kind"] == "transformer" and cfg["model"]["window"] == 16 and cfg["training"] == {"steps": 3}
    back = load(tmp_path / "m")
    assert back.default_threshold == 1.25 and back.config == lm.config
    assert back.fingerprint == lm.fingerprint
    for a, b in zip(lm.entropies(DOCS), back.entropies(DOCS)):
        np.testing.assert_array_equal(a, b)
    back.save(tmp_path / "again")  # saving a loaded model is stable too
    assert load(tmp_path / "again").fingerprint == lm.fingerprint


def test_tied_embeddings_round_trip(tmp_path):
    lm = make(tie_embeddings=True)
    lm.save(tmp_path)
    back = load(tmp_path)
    assert back.model.head.weight is back.model.tok_emb.weight
    assert back.fingerprint == lm.fingerprint


def test_fingerprint_tracks_weights_and_config_but_not_threshold():
    a, b = make(seed=0), make(seed=1)
    assert a.fingerprint != b.fingerprint and a.fingerprint.startswith("transformer-")
    c = make(seed=0)
    c.default_threshold = 3.0
    assert c.fingerprint == a.fingerprint
    d = TransformerEntropyModel(a.model)
    with torch.no_grad():
        d.model.norm.weight[0] += 1e-3
    assert d.fingerprint != make(seed=0).fingerprint


def test_load_refuses_bad_directories(tmp_path):
    lm = make()
    lm.save(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())

    def write(**changes):
        (tmp_path / "config.json").write_text(json.dumps({**cfg, **changes}))

    write(kind="ngram")
    with pytest.raises(ValueError, match="kind"):
        load(tmp_path)
    write(surprise=1)
    with pytest.raises(ValueError, match="unknown transformer entropy model config keys: surprise"):
        load(tmp_path)
    write(model={**cfg["model"], "n_layer": 3})
    with pytest.raises(ValueError, match="n_layer"):
        load(tmp_path)
    write(model={**cfg["model"], "dim": 64})
    with pytest.raises(ValueError, match="do not match"):
        load(tmp_path)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing")


class _Evil:
    def __reduce__(self):
        return (print, ("arbitrary code ran",))


def test_weights_are_loaded_weights_only(tmp_path):
    lm = make()
    lm.save(tmp_path)
    with open(tmp_path / "model.pt", "wb") as f:
        torch.save({"x": _Evil()}, f)
    with pytest.raises(ValueError, match="model.pt: not a readable bytepatch model file"):  # refused, never run
        load(tmp_path)


def test_device_and_precision_options_are_checked():
    model = make().model
    with pytest.raises(ValueError, match="device"):
        TransformerEntropyModel(model, device="tpu")
    with pytest.raises(ValueError, match="bf16"):
        TransformerEntropyModel(model, precision="bf16")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            TransformerEntropyModel(model, device="cuda")


@pytest.mark.parametrize("option", ["batch_size", "chunk_len", "query_chunk"])
@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_scoring_shape_options_are_checked(option, value):
    """0 was taken as the default, a negative batch_size as one lane, 2.5 failed in the first call."""
    with pytest.raises(ValueError, match=f"{option} must be a whole number >= 1"):
        TransformerEntropyModel(make().model, **{option: value})


def test_weights_from_another_save_are_refused_not_paired_with_this_config(tmp_path):
    """A save over an earlier model killed between its two files leaves the new weights
    beside the old config (threshold, training record): load and verify refuse it."""
    from click.testing import CliRunner

    from bytepatch.cli.main import cli
    from bytepatch.models.entropy_lm.model import WEIGHTS_FILE

    make(seed=0).save(tmp_path / "m")
    make(seed=1).save(tmp_path / "newer")
    (tmp_path / "m" / WEIGHTS_FILE).write_bytes((tmp_path / "newer" / WEIGHTS_FILE).read_bytes())
    with pytest.raises(ValueError, match="not the weights .*config.json was written with"):
        load(tmp_path / "m")
    result = CliRunner().invoke(cli, ["verify", str(tmp_path / "m")])
    assert result.exit_code != 0 and "not the weights" in result.output


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"default_threshold": float("nan")}, "default_threshold must be a finite number or null, got nan"),
        ({"default_threshold": "2.5"}, "default_threshold must be a finite number or null, got '2.5'"),
        ({"default_threshold": True}, "default_threshold must be a finite number or null, got True"),
        ({"weights": 5}, "'weights' must be the name of a file in the model directory, got 5"),
        ({"weights": "../other/model.pt"}, "'weights' must be the name of a file in the model directory"),
        ({"training": [1, 2]}, "'training' must be an object, got list"),
        ({"weights_crc32": 5}, "'weights_crc32' must be a string, got 5"),
        ({"format": True}, "unsupported format True"),
    ],
)
def test_hand_edited_config_fields_are_refused_naming_the_file(tmp_path, changes, message):
    """A config.json value of the wrong type was taken (a NaN threshold loaded, then failed in
    segment without naming the model) or raised a TypeError traceback ('weights': 5)."""
    make().save(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    (tmp_path / "m" / "config.json").write_text(json.dumps({**cfg, **changes}))
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'm' / 'config.json'}: {message}")):
        load(tmp_path / "m")


def test_a_model_config_without_a_window_is_refused_naming_the_file(tmp_path):
    make().save(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["model"]["window"] = None
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'm' / 'config.json'}: 'model' has no window")):
        load(tmp_path / "m")


@pytest.mark.parametrize(
    "edit, weights, message",
    [
        (lambda cfg: cfg["model"].update(dim=64), None, r"tok_emb\.weight is \[260, 32\] in the file, \[260, 64\] "),
        (lambda cfg: cfg.pop("weights_crc32"), torch.zeros(3), "the file holds a Tensor, not a dict of weights"),
        (lambda cfg: cfg.pop("weights_crc32"), {"a": torch.zeros(1)}, r"missing tok_emb\.weight and \d+ more"),
    ],
)
def test_weights_that_do_not_fit_the_config_are_one_line(tmp_path, edit, weights, message):
    """torch's message took a line per tensor (a whole screen for an edited `dim`); a file
    holding no dict raised a TypeError traceback."""
    make().save(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    edit(cfg)
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    if weights is not None:
        torch.save(weights, tmp_path / "m" / "model.pt")
    with pytest.raises(ValueError, match="model.pt: weights do not match the config in .*config.json") as info:
        load(tmp_path / "m")
    assert re.search(message, str(info.value)) and "\n" not in str(info.value)
