"""BLT: causality, patch-boundary alignment, padding, validation, configs, parameter counts, training."""

import json
from dataclasses import replace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepatch.models import BLT, PRESETS, BLTConfig, blt_param_counts
from bytepatch.models.blt.model import decoder_patch_ids, patch_ids_from_lengths
from bytepatch.models.blt.config import GlobalConfig, LocalDecoderConfig, LocalEncoderConfig

TINY = PRESETS["tiny"]


def model(config: BLTConfig = TINY, seed: int = 0) -> BLT:
    torch.manual_seed(seed)
    return BLT(config).eval()


def random_lengths(T: int, g: torch.Generator, max_len: int = 6) -> list[int]:
    """BOS patch of length 1, then random patches covering the remaining T - 1 bytes."""
    lengths, left = [1], T - 1
    while left:
        n = min(left, int(torch.randint(1, max_len + 1, (1,), generator=g)))
        lengths.append(n)
        left -= n
    return lengths


def random_ids(T: int, g: torch.Generator) -> torch.Tensor:
    ids = torch.randint(4, 260, (1, T), generator=g)
    ids[0, 0] = 1  # BOS
    return ids


def test_patch_and_decoder_ids():
    pl = torch.tensor([[1, 3, 2, 0]])
    assert patch_ids_from_lengths(pl, 6).tolist() == [[0, 1, 1, 1, 2, 2]]
    assert decoder_patch_ids(pl, 6, "strict").tolist() == [[-1, 0, 0, 0, 1, 1]]
    # reference: the byte ending a patch already reads it; padding patches are never served.
    assert decoder_patch_ids(pl, 6, "reference").tolist() == [[0, 0, 0, 1, 1, 2]]


@pytest.mark.slow
@pytest.mark.parametrize("alignment", ["strict", "reference"])
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_causality_perturbing_byte_t_leaves_earlier_logits_unchanged(alignment, seed):
    m = model(replace(TINY, decoder_alignment=alignment))
    g = torch.Generator().manual_seed(seed)
    T = 20
    ids = random_ids(T, g)
    pl = torch.tensor([random_lengths(T, g)])
    base, _ = m(ids, pl)
    for t in range(1, T):  # includes bytes that start, end and sit inside patches
        pert = ids.clone()
        pert[0, t] = 4 + (pert[0, t] - 4 + 1 + t) % 256
        logits, _ = m(pert, pl)
        torch.testing.assert_close(logits[:, :t], base[:, :t], atol=1e-5, rtol=1e-4)
        assert not torch.allclose(logits[:, t], base[:, t])


@pytest.mark.parametrize("alignment", ["strict", "reference"])
def test_decoder_reads_only_patches_that_end_before_t(alignment):
    m = model(replace(TINY, decoder_alignment=alignment))
    g = torch.Generator().manual_seed(1)
    T = 24
    ids = random_ids(T, g)
    lengths = random_lengths(T, g)
    pl = torch.tensor([lengths])
    base, _ = m(ids, pl)
    ends = torch.tensor(lengths).cumsum(0) - 1  # inclusive last byte of each patch
    for j in range(len(lengths)):
        noise = torch.zeros(1, len(lengths), TINY.latent.dim)
        noise[0, j] = 10.0 * torch.randn(TINY.latent.dim, generator=g)
        handle = m.latent.register_forward_hook(lambda mod, inp, out: out + noise)
        try:
            logits, _ = m(ids, pl)
        finally:
            handle.remove()
        end = int(ends[j])
        # strict: bytes t <= end(j) never read state j; reference: bytes t < end(j).
        unaffected = end + 1 if alignment == "strict" else end
        torch.testing.assert_close(logits[:, :unaffected], base[:, :unaffected])
        if unaffected < T:
            assert not torch.allclose(logits[:, unaffected], base[:, unaffected])  # and it is really used


def test_batches_with_different_patch_counts_match_single_rows():
    m = model()
    g = torch.Generator().manual_seed(2)
    T = 18
    rows = [random_ids(T, g) for _ in range(3)]
    lengths = [random_lengths(T, g, max_len=m) for m in (2, 5, 9)]
    P = max(map(len, lengths)) + 2  # extra all-zero columns too
    pl = torch.tensor([row + [0] * (P - len(row)) for row in lengths])
    batch, _ = m(torch.cat(rows), pl)
    for b in range(3):
        alone, _ = m(rows[b], torch.tensor([lengths[b]]))
        torch.testing.assert_close(batch[b : b + 1], alone, atol=1e-5, rtol=1e-4)


def test_every_target_ignored_is_a_loss_of_zero_not_nan():
    """A forward whose targets are all -100 (a pad-only batch) gave a NaN loss (0/0 in F.cross_entropy's
    mean), which a loop checking for divergence stops on; it is 0 with no target counted, as the trainer's
    batch_nll has it, and bits per byte count no byte of it."""
    from bytepatch.models.train.metrics import batch_nll

    m = model().train()
    g = torch.Generator().manual_seed(5)
    ids = random_ids(12, g)
    lengths = torch.tensor([random_lengths(12, g)])
    _, loss = m(ids, lengths, torch.full((1, 12), -100))
    assert loss.item() == 0.0
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)
    batch = {"ids": ids, "patch_lengths": lengths, "targets": torch.full((1, 12), -100)}
    mean, nats, n = batch_nll("blt", m, batch)
    assert (mean.item(), nats.item(), n.item()) == (0.0, 0.0, 0)
    targets = torch.cat([ids[:, 1:], torch.full((1, 1), -100)], 1)
    targets[0, :4] = -100  # some ignored: the mean over the rest, as before
    logits, loss = m(ids, lengths, targets)
    expected = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
    torch.testing.assert_close(loss, expected)


def test_padding_bytes_never_change_real_positions():
    m = model()
    g = torch.Generator().manual_seed(3)
    ids = random_ids(13, g)
    lengths = random_lengths(13, g)
    real, _ = m(ids, torch.tensor([lengths]))
    padded_ids = torch.cat([ids, torch.zeros(1, 7, dtype=torch.long)], 1)  # 7 pad bytes (id 0)
    for pad_lengths in (lengths[:-1] + [lengths[-1] + 7], lengths + [7], lengths + [3, 4]):
        logits, _ = m(padded_ids, torch.tensor([pad_lengths]))
        torch.testing.assert_close(logits[:, :13], real, atol=1e-5, rtol=1e-4)
    targets = torch.cat([ids[:, 1:], torch.full((1, 8), -100)], 1)
    _, loss = m(padded_ids, torch.tensor([lengths + [7]]), targets)
    _, real_loss = m(ids, torch.tensor([lengths]), torch.cat([ids[:, 1:], torch.full((1, 1), -100)], 1))
    torch.testing.assert_close(loss, real_loss)


def test_reference_attention_matches_sdpa_end_to_end():
    g = torch.Generator().manual_seed(4)
    ids = torch.cat([random_ids(21, g), random_ids(21, g)])
    pl = torch.tensor([r + [0] * (21 - len(r)) for r in (random_lengths(21, g), random_lengths(21, g))])
    fast, _ = model()(ids, pl)
    slow, _ = model(replace(TINY, attn_impl="reference"))(ids, pl)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "bad_lengths, message",
    [
        ([[1, 2, 3]], "sum to 6"),
        ([[1, 0, 3]], "right"),
        ([[5, -1, 0]], "non-negative"),
        ([[1.0, 3.0]], "integer"),
    ],
)
def test_invalid_patch_lengths_are_rejected(bad_lengths, message):
    with pytest.raises(ValueError, match=message):
        model()(torch.ones(1, 4, dtype=torch.long), torch.tensor(bad_lengths))


def test_invalid_ids_are_rejected():
    with pytest.raises(ValueError, match="260"):
        model()(torch.tensor([[1, 300]]), torch.tensor([[1, 1]]))
    with pytest.raises(ValueError, match="batch"):
        model()(torch.tensor([[1, 5]]), torch.tensor([[1, 1], [2, 0]]))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16])
def test_ids_of_an_integer_dtype_the_embedding_cannot_index_are_rejected_by_name(dtype):
    """uint8 ids in range were refused as out of range (260 wraps to 4 in uint8); int8/int16
    failed inside nn.Embedding. int32 ids are taken, as the embedding takes them."""
    ids = torch.tensor([[1, 72, 105]])
    lengths = torch.tensor([[1, 2]])
    with pytest.raises(ValueError, match=rf"ids must be a \(B, T\) int64 \(or int32\) tensor, got \(1, 3\) {dtype}"):
        model()(ids.to(dtype), lengths)
    torch.testing.assert_close(model()(ids.int(), lengths)[0], model()(ids, lengths)[0], rtol=0, atol=0)


def test_inputs_that_are_not_tensors_are_rejected_by_name():
    with pytest.raises(ValueError, match="ids must be .* tensor, got list"):
        model()([[1, 72, 105]], torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match="patch_lengths must be .* tensor, got list"):
        model()(torch.tensor([[1, 72, 105]]), [[1, 2]])


def test_ids_and_patch_lengths_on_different_devices_are_rejected_by_name():
    """Lengths on another device than the ids failed reading values (here: a meta tensor's .item())."""
    with pytest.raises(ValueError, match="ids are on cpu but patch_lengths on meta"):
        model()(torch.tensor([[1, 72, 105]]), torch.tensor([[1, 2]], device="meta"))


def test_an_empty_batch_gives_empty_logits_as_the_byte_transformer_does():
    """B = 0 failed in the value checks (min() of an empty tensor); without them the forward runs."""
    ids, lengths = torch.zeros(0, 5, dtype=torch.long), torch.zeros(0, 2, dtype=torch.long)
    logits, loss = model()(ids, lengths, targets=ids)
    assert logits.shape == (0, 5, 260) and loss.item() == 0.0


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda t: t.flatten(), "shaped like ids"),  # (B * T,): was read as the rows left to right
        (lambda t: t[:, :2], "shaped like ids"),  # failed inside F.cross_entropy
        (lambda t: t.float(), "integer tensor"),
        (lambda t: t.clone().fill_(260), "got 260"),  # IndexError inside F.cross_entropy (a device assert on GPU)
        (lambda t: t.clone().fill_(-5), "got -5"),
    ],
)
def test_mis_shaped_or_out_of_range_targets_are_rejected_by_name(bad, message):
    ids, lengths = torch.tensor([[1, 72, 105], [1, 73, 106]]), torch.tensor([[1, 2], [1, 2]])
    with pytest.raises(ValueError, match=f"targets .*{message}"):
        model()(ids, lengths, bad(ids))


def test_int32_targets_give_the_int64_loss():
    ids, lengths = torch.tensor([[1, 72, 105]]), torch.tensor([[1, 2]])
    targets = torch.tensor([[72, 105, -100]])
    assert model()(ids, lengths, targets.int())[1] == model()(ids, lengths, targets)[1]


def test_config_round_trips_through_json_and_rejects_unknown_keys():
    for cfg in PRESETS.values():
        assert BLTConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    d = TINY.to_dict()
    with pytest.raises(ValueError, match="patch_size"):
        BLTConfig.from_dict({**d, "patch_size": 4})
    with pytest.raises(ValueError, match="n_layer"):
        BLTConfig.from_dict({**d, "decoder": {**d["decoder"], "n_layer": 3}})
    with pytest.raises(ValueError, match="decoder_alignment"):
        replace(TINY, decoder_alignment="loose")
    with pytest.raises(ValueError, match="cross_attn_heads"):
        LocalEncoderConfig(dim=32, n_heads=2, cross_attn_heads=3)


VARIANTS = {
    "tiny": TINY,
    # k * encoder.dim != global dim, encoder dim != decoder dim, pooling after every layer,
    # cross-attention only in the first decoder layer, two hash functions.
    "mismatched": BLTConfig(
        encoder=LocalEncoderConfig(
            n_layers=2,
            dim=16,
            n_heads=2,
            ngram_sizes=(3, 4),
            hash_table_size=31,
            hash_functions=2,
            cross_attn_heads=2,
            cross_attn_all_layers=True,
        ),
        latent=GlobalConfig(n_layers=1, dim=48, n_heads=4),
        decoder=LocalDecoderConfig(n_layers=2, dim=24, n_heads=2, cross_attn_heads=3, cross_attn_all_layers=False),
        cross_attn_k=3,
    ),
    "no-ngrams": replace(TINY, encoder=replace(TINY.encoder, ngram_sizes=())),
    # explicit FFN widths (as converted checkpoints carry them) and the doubled cross-attention residual
    "explicit-widths": replace(
        TINY,
        encoder=replace(TINY.encoder, intermediate_size=80),
        latent=replace(TINY.latent, intermediate_size=112),
        cross_attn_residual="reference",
        decoder_alignment="reference",
    ),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_param_count_formula_matches_modules(name):
    cfg = VARIANTS[name]
    m = BLT(cfg)
    counts = blt_param_counts(cfg)
    numel = lambda mod: sum(p.numel() for p in mod.parameters())  # noqa: E731
    hash_params = numel(m.encoder.hash_emb) if m.encoder.hash_emb is not None else 0
    assert counts["hash n-gram embeddings"] == hash_params
    assert counts["byte embedding"] == numel(m.encoder.tok_emb)
    assert counts["local encoder"] == numel(m.encoder) - hash_params - numel(m.encoder.tok_emb)
    assert counts["global transformer"] == numel(m.latent)
    assert counts["local decoder"] == numel(m.decoder)
    assert counts["total"] == m.num_params()
    g = torch.Generator().manual_seed(5)
    logits, _ = m(random_ids(11, g), torch.tensor([random_lengths(11, g)]))
    assert logits.shape == (1, 11, 260) and torch.isfinite(logits).all()


def test_paper_presets_match_the_published_shapes():
    c = PRESETS["1b"]
    assert (c.encoder.n_layers, c.encoder.dim, c.latent.n_layers, c.latent.dim) == (1, 1024, 25, 2048)
    assert (c.decoder.n_layers, c.decoder.dim, c.cross_attn_k) == (9, 1024, 2)
    assert c.encoder.ngram_sizes == (3, 4, 5, 6, 7, 8) and c.encoder.hash_table_size == 500_002
    with torch.device("meta"):
        m = BLT(c)
    assert blt_param_counts(c)["total"] == m.num_params()


@pytest.mark.slow
def test_tiny_training_steps_learn():
    torch.manual_seed(0)
    m = BLT(TINY)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    text = torch.tensor(list(b"the cat sat on the mat. " * 3)) + 4
    ids = torch.cat([torch.tensor([1]), text])[None].repeat(4, 1)  # (4, 73)
    targets = torch.cat([ids[:, 1:], torch.full((4, 1), -100)], 1)
    lengths = [1] + [4] * 18
    pl = torch.tensor([lengths] * 4)
    losses = []
    for _ in range(10):
        _, loss = m(ids, pl, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 1.0
    assert all(p.grad is not None for p in m.parameters())  # every part takes part in the loss


def test_bf16_autocast_runs():
    g = torch.Generator().manual_seed(6)
    ids = random_ids(16, g)
    pl = torch.tensor([random_lengths(16, g)])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, loss = model()(ids, pl, ids)
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all() and torch.isfinite(loss)


@pytest.mark.slow
def test_torch_compile_matches_eager():
    m = model()
    g = torch.Generator().manual_seed(7)
    ids = random_ids(16, g)
    pl = torch.tensor([random_lengths(16, g)])
    eager, _ = m(ids, pl)
    compiled, _ = torch.compile(m)(ids, pl)
    torch.testing.assert_close(compiled, eager, atol=1e-4, rtol=1e-4)


def test_forward_reads_no_values_off_the_cpu():
    """Value checks are device syncs: off the CPU forward checks shapes only (on the meta device,
    which holds no data, any value read would raise); `check_inputs=True` restores them for debugging."""
    ids = torch.ones(2, 40, dtype=torch.long, device="meta")
    lengths = torch.ones(2, 40, dtype=torch.long, device="meta")
    logits, loss = BLT(TINY).to("meta")(ids, lengths, targets=ids)
    assert logits.shape == (2, 40, 260) and loss.shape == ()
    with pytest.raises(ValueError, match="integer"):  # shapes and dtypes are still checked (free)
        BLT(TINY).to("meta")(ids, lengths.float())
    with pytest.raises(Exception):  # the debug flag reads values, which meta tensors do not have
        BLT(TINY, check_inputs=True).to("meta")(ids, lengths)


def test_check_inputs_false_skips_value_checks_on_cpu():
    with pytest.raises(ValueError, match="sum to 6"):
        BLT(TINY)(torch.ones(1, 4, dtype=torch.long), torch.tensor([[1, 2, 3]]))
    BLT(TINY, check_inputs=False)(torch.ones(1, 4, dtype=torch.long), torch.tensor([[1, 2, 1]]))  # not checked


def test_linear_memory_attention_matches_dense_reference_on_long_rows():
    """Chunked local windows and gathered/segment cross-attention == dense masks, logits and gradients."""
    c = replace(TINY, encoder=replace(TINY.encoder, window=9), decoder=replace(TINY.decoder, window=6))
    for alignment in ("strict", "reference"):
        fast = model(replace(c, decoder_alignment=alignment))
        slow = model(replace(c, decoder_alignment=alignment, attn_impl="reference"))
        g = torch.Generator().manual_seed(5)
        T = 150
        ids = torch.cat([random_ids(T, g), random_ids(T, g)])
        rows = [random_lengths(T - 10, g, max_len=12) + [10], random_lengths(T, g)]  # a padding patch in row 0
        P = max(map(len, rows))
        pl = torch.tensor([r + [0] * (P - len(r)) for r in rows])
        targets = torch.roll(ids, -1, 1)
        (a, la), (b, lb) = fast(ids, pl, targets), slow(ids, pl, targets)
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
        la.backward()
        lb.backward()
        for p, q in zip(fast.parameters(), slow.parameters()):
            torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-3)
