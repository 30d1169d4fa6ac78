"""EOS framing under the reference decoder alignment: no prediction may depend on its own target.

The check: a model's logits at every position up to a document's last byte are the
same whether the document ends there (EOS next) or goes on. With EOS always a patch
of its own (the framing before this fix), the last byte of a document read its own
just-closed patch only because EOS followed: these tests failed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from bytepatch.entropy import NgramConfig, NgramModel
from bytepatch.models import BLT, PRESETS
from bytepatch.models.data import frame
from bytepatch.models.data.eos import end_rule
from bytepatch.patchers import patcher_from_dict

TEXT = b"The patcher decides where patches start; EOS must follow the same rule. " * 4


def reference_blt(residual: str) -> BLT:
    torch.manual_seed(0)
    c = replace(PRESETS["tiny"], decoder_alignment="reference", cross_attn_residual=residual)
    return BLT(c).eval()


def logits_of(model: BLT, doc: bytes, spec: dict, entropy, rule) -> torch.Tensor:
    lengths = patcher_from_dict(spec, model=entropy).patch_lengths(doc) if doc else np.zeros(0, np.int64)
    eos = rule(np.frombuffer(doc, np.uint8), lengths) if rule is not None else True
    framed = frame(doc, lengths, eos_starts_patch=eos)
    with torch.no_grad():
        return model(torch.as_tensor(framed.ids[None]), torch.as_tensor(framed.lengths[None]))[0][0]


@pytest.fixture(scope="module")
def ngram() -> NgramModel:
    return NgramModel.fit([TEXT], NgramConfig(order=3, min_count=1))


SPECS = {
    "space": {"patcher": "space", "max_patch_length": None},
    "space-cap": {"patcher": "space", "max_patch_length": 4},
    "stride": {"patcher": "stride", "stride": 3},
    "entropy": {"patcher": "entropy", "threshold": 1.0, "threshold_add": None, "max_patch_length": 6},
    "entropy-both": {"patcher": "entropy", "threshold": 0.5, "threshold_add": 0.0, "max_patch_length": None},
}


@pytest.mark.parametrize("name, residual", [*((name, "reference") for name in sorted(SPECS)), ("space", "single")])
def test_no_prediction_sees_its_own_target_at_the_end_of_a_document(ngram, name, residual):
    spec = SPECS[name]
    model = reference_blt(residual)
    rule = end_rule(spec, ngram)
    checked = 0
    for cut in range(1, 60, 3):
        short, longer = TEXT[:cut], TEXT[: cut + 5]
        a = logits_of(model, short, spec, ngram, rule)[: cut + 1]  # BOS and every byte: up to the one before EOS
        b = logits_of(model, longer, spec, ngram, rule)[: cut + 1]
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        checked += 1
    assert checked == 20


def test_the_old_framing_leaked(ngram):
    """EOS always in a patch of its own: the byte before it reads a patch closed only because EOS follows."""
    spec, model = SPECS["space"], reference_blt("single")
    cut = TEXT.index(b"patcher") + 3  # mid-word: the space rule would not start a patch here
    assert not end_rule(spec)(np.frombuffer(TEXT[:cut], np.uint8), patcher_from_dict(spec).patch_lengths(TEXT[:cut]))
    a = logits_of(model, TEXT[:cut], spec, None, None)[cut]  # old framing
    b = logits_of(model, TEXT[: cut + 5], spec, None, None)[cut]
    assert (a - b).abs().max() > 1e-3


def test_rule_matches_the_patcher_one_position_ahead(ngram):
    for name, spec in SPECS.items():
        rule = end_rule(spec, ngram)
        patcher = patcher_from_dict(spec, model=ngram)
        for cut in range(0, 40, 2):
            doc = TEXT[:cut]
            lengths = patcher.patch_lengths(doc) if doc else np.zeros(0, np.int64)
            ahead = patcher.patch_lengths(doc + b"x")
            assert rule(np.frombuffer(doc, np.uint8), lengths) == (len(ahead) == len(lengths) + 1), (name, cut)


def test_frame_joins_eos_to_the_last_patch_when_asked():
    f = frame(b"abcd", [1, 3], eos_starts_patch=False)
    assert f.lengths.tolist() == [1, 1, 4] and f.lengths.sum() == len(f.ids)
    assert frame(b"", [], eos_starts_patch=False).lengths.tolist() == [1, 1]  # EOS at byte 0's place starts one
    with pytest.raises(ValueError, match="entropy model"):
        end_rule(SPECS["entropy"], None)
