"""Tests for the byte-level baseline / entropy-LM transformer."""

import pytest
import torch

from bytepatch.models.nn.transformer import (
    IGNORE_INDEX,
    TRANSFORMER_PRESETS,
    ByteTransformer,
    ByteTransformerConfig,
)
from bytepatch.models.nn.layers import doc_ids_from_bos


def tiny(**kw) -> ByteTransformer:
    torch.manual_seed(0)
    return ByteTransformer(ByteTransformerConfig(**{"n_layers": 2, "dim": 32, "n_heads": 2, **kw})).eval()


def test_shapes_and_ignored_targets():
    m = tiny()
    idx = torch.randint(4, 260, (3, 11))
    logits, loss = m(idx)
    assert logits.shape == (3, 11, 260) and loss is None
    targets = torch.full((3, 11), IGNORE_INDEX)
    targets[0, 0] = 7
    _, loss = m(idx, targets)
    expected = torch.nn.functional.cross_entropy(logits[0, 0:1], torch.tensor([7]))
    torch.testing.assert_close(loss, expected)


def test_every_target_ignored_is_a_loss_of_zero_not_nan():
    """F.cross_entropy's mean over no targets is 0/0 = NaN; the loss is 0 (nothing counted), as
    the trainer's batch_nll counts such a batch, and its backward gives zero gradients, not NaN."""
    m = tiny().train()
    idx = torch.randint(4, 260, (2, 9))
    _, loss = m(idx, torch.full((2, 9), IGNORE_INDEX))
    assert loss.item() == 0.0
    loss.backward()
    assert all(torch.equal(p.grad, torch.zeros_like(p)) for p in m.parameters() if p.grad is not None)
    targets = torch.randint(4, 260, (2, 9))
    targets[:, ::2] = IGNORE_INDEX  # some ignored: the mean over the rest, as before
    logits, loss = m(idx, targets)
    expected = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("window", [None, 3])
def test_causal_perturbing_byte_t_leaves_earlier_logits_unchanged(window):
    m = tiny(window=window)
    idx = torch.randint(4, 260, (1, 16))
    base, _ = m(idx)
    for t in range(16):
        pert = idx.clone()
        pert[0, t] = 4 + (pert[0, t] - 4 + 1) % 256
        logits, _ = m(pert)
        torch.testing.assert_close(logits[:, :t], base[:, :t])
        assert not torch.allclose(logits[:, t], base[:, t])


def test_sliding_window_bounds_the_receptive_field():
    # One layer: position i sees exactly bytes i-window+1 .. i.
    m = tiny(n_layers=1, window=4)
    idx = torch.randint(4, 260, (1, 12))
    base, _ = m(idx)
    pert = idx.clone()
    pert[0, 2] = 4 + (pert[0, 2] - 4 + 7) % 256
    logits, _ = m(pert)
    assert not torch.allclose(logits[0, 5], base[0, 5])  # 5 - 2 < 4: inside
    torch.testing.assert_close(logits[0, 6:], base[0, 6:])  # outside every later window


def test_documents_do_not_see_each_other():
    m = tiny()
    a, b = torch.randint(4, 260, (1, 5)), torch.randint(4, 260, (1, 6))
    bos = torch.tensor([[1]])
    packed = torch.cat([bos, a, bos, b], 1)
    logits, _ = m(packed, doc_ids=doc_ids_from_bos(packed))
    alone, _ = m(torch.cat([bos, b], 1))
    torch.testing.assert_close(logits[:, 6:], alone, atol=1e-5, rtol=1e-4)


def test_reference_attention_matches_sdpa_end_to_end():
    m = tiny(window=5)
    idx = torch.randint(4, 260, (2, 13))
    fast, _ = m(idx)
    for blk in m.blocks:
        blk.attn.impl = "reference"
    slow, _ = m(idx)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-4)


def test_config_rejects_unknown_keys_and_round_trips():
    cfg = TRANSFORMER_PRESETS["entropy-paper"]
    assert ByteTransformerConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="n_layer"):
        ByteTransformerConfig.from_dict({"n_layer": 3})
    with pytest.raises(ValueError):
        ByteTransformerConfig(dim=30, n_heads=4)


def test_entropy_paper_preset_is_about_100m_params():
    with torch.device("meta"):
        m = ByteTransformer(TRANSFORMER_PRESETS["entropy-paper"])
    assert 95e6 < m.num_params() < 105e6
    assert m.config.window == 512 and m.config.n_layers == 14 and m.config.dim == 768 and m.config.n_heads == 12


@pytest.mark.slow
def test_tiny_preset_training_steps_learn():
    torch.manual_seed(0)
    m = ByteTransformer(TRANSFORMER_PRESETS["tiny"])
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    data = torch.tensor(list(b"abcabcabcabcabcabcabcabcabcabcab" * 2)) + 4
    idx, targets = data[:-1][None].repeat(4, 1), data[1:][None].repeat(4, 1)
    losses = []
    for _ in range(10):
        _, loss = m(idx, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 1.0


def test_chunked_windows_with_documents_match_dense_reference():
    """Rows longer than the attention chunk take the linear-memory path; equal to dense masks, grads too."""
    fast = tiny(window=7)
    slow = tiny(window=7, attn_impl="reference")  # dense masks, plain softmax: the definition
    slow.load_state_dict(fast.state_dict())
    idx = torch.randint(4, 260, (2, 200), generator=torch.Generator().manual_seed(1))
    idx[:, [0, 37, 38, 120]] = 1  # BOS: several documents per row, one of a single byte
    docs = doc_ids_from_bos(idx)
    (a, la), (b, lb) = fast(idx, idx, doc_ids=docs), slow(idx, idx, doc_ids=docs)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    la.backward()
    lb.backward()
    for p, q in zip(fast.parameters(), slow.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-3)


BAD_TARGETS = [
    (lambda t: t.flatten(), "shaped like ids"),  # (B * T,): was read as the rows left to right
    (lambda t: t[:, :4], "shaped like ids"),  # failed inside F.cross_entropy
    (lambda t: t.float(), "integer tensor"),
    (lambda t: t.clone().fill_(260), "got 260"),  # IndexError inside F.cross_entropy (a device assert on GPU)
    (lambda t: t.clone().fill_(-5), "got -5"),
]


@pytest.mark.parametrize("bad, message", BAD_TARGETS)
def test_mis_shaped_or_out_of_range_targets_are_rejected_by_name(bad, message):
    idx = torch.randint(4, 260, (2, 6))
    with pytest.raises(ValueError, match=f"targets .*{message}"):
        tiny()(idx, bad(idx))


def test_int32_targets_give_the_int64_loss():
    """int32 ids are taken; targets shifted from them failed in F.cross_entropy ('Long or Byte')."""
    idx = torch.randint(4, 260, (2, 6))
    targets = torch.where(idx > 100, idx, IGNORE_INDEX)
    assert tiny()(idx, targets.int())[1] == tiny()(idx, targets)[1]


@pytest.mark.parametrize(
    "idx, doc_ids, message",
    [
        (torch.tensor([1, 72]), None, r"idx must be a \(B, T\) int64 \(or int32\) tensor, got \(2,\)"),
        (torch.tensor([[1.0, 72.0]]), None, "idx must be .* got .* torch.float32"),
        (torch.tensor([[1, 72]], dtype=torch.uint8), None, "idx must be .* got .* torch.uint8"),
        ([[1, 72]], None, "idx must be .* got list"),
        (torch.tensor([[1, 260]]), None, r"idx must lie in \[0, 260\), got range \[1, 260\]"),
        (torch.tensor([[-1, 72]]), None, r"got range \[-1, 72\]"),
        (torch.tensor([[1, 72], [1, 73]]), torch.zeros(1, 2, dtype=torch.long), "doc_ids .* got \\(1, 2\\)"),
        (torch.tensor([[1, 72]]), torch.zeros(1, 3, dtype=torch.long), "doc_ids .* got \\(1, 3\\)"),
        (torch.tensor([[1, 72]]), torch.zeros(1, 2), "doc_ids must be an integer tensor"),
        (torch.tensor([[1, 72]]), torch.zeros(1, 2, dtype=torch.long, device="meta"), "doc_ids on meta"),
    ],
)
def test_bad_idx_and_doc_ids_are_rejected_by_name(idx, doc_ids, message):
    """These failed inside torch (nn.Embedding, shape unpacking, the mask), or, for doc_ids of one
    row beside a batch of two, were broadcast: the first row's documents applied to every row."""
    with pytest.raises(ValueError, match=message):
        tiny()(idx, doc_ids=doc_ids)


def test_an_ffn_multiplier_that_rounds_the_swiglu_width_to_zero_is_refused():
    with pytest.raises(ValueError, match="ffn_dim_multiplier 0.001 gives a SwiGLU width of 0"):
        ByteTransformerConfig(ffn_dim_multiplier=1e-3)
