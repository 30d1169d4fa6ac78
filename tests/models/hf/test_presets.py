"""The paper presets are the `transformers` port's architectures, parameter by parameter."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from bytepatch.models import PRESETS, BLT, blt_param_counts
from bytepatch.models.hf.config_map import hf_config_from_blt
from bytepatch.models.hf.weights import HASH_KEY, blt_name_pairs

transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("name", ["1b", "7b"])
def test_preset_has_the_ports_parameter_shapes(name):
    c = replace(PRESETS[name], decoder_alignment="reference", cross_attn_residual="reference")
    with torch.device("meta"):
        port = transformers.BltForCausalLM(transformers.BltConfig(**hf_config_from_blt(c)))
        ours = BLT(c)
    theirs = {k: tuple(v.shape) for k, v in port.state_dict().items()}
    mine = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    for a, b in blt_name_pairs(c):
        assert mine[a] == theirs[b], (a, b)
    tables = c.encoder.hash_functions * len(c.encoder.ngram_sizes)
    assert theirs[HASH_KEY] == (tables * c.encoder.hash_table_size, c.encoder.dim)
    assert len(theirs) == len(blt_name_pairs(c)) + 1  # nothing of the port's is left unmapped
    assert sum(p.numel() for p in port.parameters()) == blt_param_counts(c)["total"]


def test_7b_projects_the_encoder_output_and_uses_llama_widths():
    c = PRESETS["7b"]
    assert c.cross_attn_k * c.encoder.dim == 5120 != c.latent.dim == 4096
    assert (c.encoder.ffn_hidden, c.latent.ffn_hidden, c.decoder.ffn_hidden) == (3584, 11008, 3584)
