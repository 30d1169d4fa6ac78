"""Streaming windowed inference of the transformer entropy LM against plain model passes.

The reference for every test is `ByteTransformer.forward` (the model's own,
non-streaming implementation) on `[BOS] + doc[:-1]`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bytepatch.entropy.base import EntropyModel
from bytepatch.models.entropy_lm import TransformerEntropyModel, receptive_field
from bytepatch.models.entropy_lm.inference import ROW_MULTIPLE, split_documents
from bytepatch.models.blt.flops import transformer_param_counts
from bytepatch.models.nn.transformer import TRANSFORMER_PRESETS, ByteTransformer, ByteTransformerConfig

ATOL = 2e-5  # float32 rounding differences between batch shapes / chunkings


def tiny_model(window: int = 8, n_layers: int = 2, seed: int = 0) -> ByteTransformer:
    """A random model with large weights: the default init is near-uniform, which would hide context effects."""
    torch.manual_seed(seed)
    model = ByteTransformer(ByteTransformerConfig(n_layers=n_layers, dim=32, n_heads=2, window=window)).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.25)
    return model


def reference(model: ByteTransformer, doc: bytes, context: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(entropy, surprisal) per byte from plain forward passes.

    context=None: one pass over the whole document. Otherwise one pass per byte t over
    only the last `context` input positions ending at t (brute-force truncated context).
    """
    ids = torch.tensor([1] + [b + 4 for b in doc[:-1]])
    targets = torch.tensor([b + 4 for b in doc])
    with torch.no_grad():
        if context is None:
            logp = model(ids[None])[0][0].log_softmax(-1)  # (n, V)
        else:
            logp = torch.stack([model(ids[max(0, t + 1 - context) : t + 1][None])[0][0, -1] for t in range(len(doc))])
            logp = logp.log_softmax(-1)
    h = -(logp.exp() * logp).sum(-1)
    s = -logp[torch.arange(len(doc)), targets]
    return h.numpy(), s.numpy()


MODEL_W6 = tiny_model(window=6, seed=3)  # shared by the property test's examples


def random_docs(rng: np.random.Generator, lengths: list[int]) -> list[bytes]:
    return [rng.integers(0, 256, n).astype(np.uint8).tobytes() for n in lengths]


def test_entropy_paper_preset_has_about_100m_parameters_as_counted():
    cfg = TRANSFORMER_PRESETS["entropy-paper"]
    with torch.device("meta"):
        model = ByteTransformer(cfg)
    assert model.num_params() == transformer_param_counts(cfg)["total"]
    assert 95e6 < model.num_params() < 105e6
    assert (cfg.n_layers, cfg.dim, cfg.n_heads, cfg.window) == (14, 768, 12, 512)
    assert receptive_field(model) == 14 * 511 + 1


def test_implements_the_entropy_model_protocol():
    lm = TransformerEntropyModel(tiny_model())
    assert isinstance(lm, EntropyModel)
    assert lm.kind == "transformer" and lm.context_length == 2 * 7 + 1


@pytest.mark.slow
@pytest.mark.parametrize("chunk_len", [3, 8, 64])
def test_short_documents_match_one_full_pass(chunk_len):
    model = tiny_model(window=64)
    docs = random_docs(np.random.default_rng(1), [1, 2, 10, 40, 63])
    hs, ss = TransformerEntropyModel(model, batch_size=2, chunk_len=chunk_len).entropies_and_surprisals(docs)
    for doc, h, s in zip(docs, hs, ss):
        ref_h, ref_s = reference(model, doc)
        assert h.dtype == np.float32 and len(h) == len(doc)
        np.testing.assert_allclose(h, ref_h, atol=ATOL)
        np.testing.assert_allclose(s, ref_s, atol=ATOL)


@pytest.mark.slow
def test_long_documents_match_brute_force_truncated_context():
    # window 8, 2 layers: h[t] depends on exactly the last 2 * 7 + 1 = 15 input positions.
    model = tiny_model(window=8)
    lm = TransformerEntropyModel(model, batch_size=2, chunk_len=5)
    docs = random_docs(np.random.default_rng(2), [70, 33])
    for doc, h in zip(docs, lm.entropies(docs)):
        brute, _ = reference(model, doc, context=lm.context_length)
        np.testing.assert_allclose(h, brute, atol=ATOL)
        np.testing.assert_allclose(h, reference(model, doc)[0], atol=ATOL)  # = one full-document pass
        # The context length is tight: one position less changes the far-enough entropies.
        shorter, _ = reference(model, doc, context=lm.context_length - 1)
        assert np.abs(shorter[lm.context_length :] - h[lm.context_length :]).max() > 1e-4


@settings(max_examples=20, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 40), min_size=1, max_size=7),
    batch_size=st.integers(1, 5),
    chunk_len=st.integers(1, 20),
    order_seed=st.integers(0, 2**16),
)
@pytest.mark.slow
def test_results_do_not_depend_on_batch_size_chunking_or_grouping(lengths, batch_size, chunk_len, order_seed):
    model = MODEL_W6
    docs = random_docs(np.random.default_rng(len(lengths)), lengths)
    expected = TransformerEntropyModel(model, batch_size=1, chunk_len=50).entropies(docs)
    # Shuffle, cut into random groups, score each group separately, put back in order.
    rng = np.random.default_rng(order_seed)
    order = rng.permutation(len(docs))
    cuts = np.sort(rng.choice(np.arange(1, len(docs) + 1), size=rng.integers(0, len(docs)), replace=False))
    got: dict[int, np.ndarray] = {}
    lm = TransformerEntropyModel(model, batch_size=batch_size, chunk_len=chunk_len)
    for group in np.split(order, cuts):
        for i, h in zip(group, lm.entropies([docs[i] for i in group])):
            got[int(i)] = h
    for i, doc in enumerate(docs):
        assert len(got[i]) == len(doc)
        np.testing.assert_allclose(got[i], expected[i], atol=ATOL)


MODEL_W16 = tiny_model(window=16, seed=5)  # a small window: several query chunks (8 or 64) per step


@settings(max_examples=25, deadline=None)
@given(
    target_len=st.integers(1, 300),
    neighbour_lengths=st.lists(st.integers(0, 300), max_size=6),
    at=st.integers(0, 6),
    batch_size=st.integers(1, 4),
    chunk_len=st.sampled_from([None, 5, 100]),  # default, dense masks (5 -> 8), rounded up to whole chunks
    query_chunk=st.sampled_from([None, 64]),  # the CPU's 8, CUDA's quarter window (at least 64)
)
@example(target_len=256, neighbour_lengths=[153, 81], at=1, batch_size=2, chunk_len=5, query_chunk=64)
def test_a_documents_entropies_are_bit_identical_whatever_shares_its_call(
    target_len, neighbour_lengths, at, batch_size, chunk_len, query_chunk
):
    """`segment` scores a document with whichever documents share its group, which depends on
    the shard layout; its entropies, and so its patches, must not: not even by float rounding.
    (A document 1-63 positions off a query chunk's start was rounded differently; so was one
    scored in fewer lanes, as many as the call had documents: other matrix shapes.)"""
    rng = np.random.default_rng([target_len, *neighbour_lengths])
    target, *neighbours = random_docs(rng, [target_len, *neighbour_lengths])
    lm = TransformerEntropyModel(MODEL_W16, batch_size=batch_size, chunk_len=chunk_len, query_chunk=query_chunk)
    (h_alone,), (s_alone,) = lm.entropies_and_surprisals([target])
    docs = [*neighbours[:at], target, *neighbours[at:]]
    hs, ss = lm.entropies_and_surprisals(docs)
    i = min(at, len(neighbours))
    np.testing.assert_array_equal(hs[i], h_alone)
    np.testing.assert_array_equal(ss[i], s_alone)


def test_a_document_cut_into_pieces_across_lanes_scores_the_same_bits():
    """Alone in 4 lanes a long document is cut into 4 pieces, each but the first warmed up on
    the receptive field before it (so lanes do not idle); beside 3 as long it is not cut."""
    lm = TransformerEntropyModel(MODEL_W16, batch_size=4)
    doc, *others = random_docs(np.random.default_rng(7), [1500] * 4)
    scorer = lm.scorer()
    assert len(split_documents([1500], 4, scorer.align, lm.context_length - 1)) == 4
    assert len(split_documents([1500] * 4, 4, scorer.align, lm.context_length - 1)) == 4
    (cut,), (cut_s,) = lm.entropies_and_surprisals([doc])
    whole, whole_s = lm.entropies_and_surprisals([doc, *others])
    np.testing.assert_array_equal(cut, whole[0])
    np.testing.assert_array_equal(cut_s, whole_s[0])


def test_a_short_call_runs_a_short_step_and_the_same_bits():
    """eval's end-of-document rule scores one short tail per document; with every step padded to
    the scorer's full step (1024 positions on CPU), a 40-byte tail ran 1024, and a test of eval
    ran for minutes. The last step now runs whole query chunks only, with the same bits as the
    same document scored beside others in full steps."""
    lm = TransformerEntropyModel(MODEL_W16)
    scorer = lm.scorer()
    widths: list[int] = []
    hook = lm.model.tok_emb.register_forward_hook(lambda _m, args, _out: widths.append(args[0].shape[1]))
    try:
        doc, *others = random_docs(np.random.default_rng(3), [40] + [30] * 40)
        (alone,), _ = lm.entropies_and_surprisals([doc])
        assert widths and max(widths) < scorer.chunk_len and widths[-1] % scorer.query_chunk == 0
        widths.clear()
        beside, _ = lm.entropies_and_surprisals([*others, doc])  # the longest first: in a full first step
        assert widths[0] == scorer.chunk_len
    finally:
        hook.remove()
    np.testing.assert_array_equal(alone, beside[-1])


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_dense_layers_give_a_row_the_same_bits_wherever_it_sits_among_any_others(preset):
    """What the scorer's guarantee rests on besides its own layout: at one shape, a row of a
    matrix product (every linear layer) and a batch entry of SDPA (the attention chunks) come out
    the same whatever row or entry they are and whatever the others hold. (Not at any shape: on
    2 threads a row among 6 or 10 got other bits by its place; steps are multiples of 8 rows.)"""
    cfg = TRANSFORMER_PRESETS[preset]
    lm = TransformerEntropyModel(ByteTransformer(cfg))
    scorer = lm.scorer()
    gen = torch.Generator().manual_seed(0)
    linears = {(m.in_features, m.out_features): m for m in lm.model.modules() if isinstance(m, torch.nn.Linear)}
    # The rows every step's linear layers take, and the fewest a step can have (2 lanes of 8).
    for rows in (lm.batch_size * scorer.chunk_len, 2 * ROW_MULTIPLE):
        for layer in linears.values():
            x = torch.randn(rows, layer.in_features, generator=gen)
            y = layer(x)
            for shift in (1, 3, ROW_MULTIPLE, rows // 2 + 3):
                moved = torch.randn(rows, layer.in_features, generator=gen)
                moved[shift:] = x[: rows - shift]  # other rows in front, the rest moved down
                assert torch.equal(layer(moved)[shift:], y[: rows - shift]), (layer, rows, shift)
    H, D, c = cfg.n_heads, cfg.dim // cfg.n_heads, scorer.query_chunk
    span = c + cfg.window - 1
    n = lm.batch_size * (scorer.chunk_len // c)  # SDPA batch entries per step: one per query chunk
    q, k, v = (torch.randn(n, H, length, D, generator=gen) for length in (c, span, span))
    mask = torch.rand(n, 1, c, span, generator=gen) > 0.5
    mask[..., -1] = True
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    order = torch.randperm(n, generator=gen)
    others = [torch.randn_like(t) for t in (q, k, v)]
    for x, other in zip((q, k, v), others):
        other[: n // 2] = x[order[: n // 2]]
    shuffled = torch.nn.functional.scaled_dot_product_attention(*others, attn_mask=mask[order])
    assert torch.equal(shuffled[: n // 2], out[order[: n // 2]])


def test_no_context_leaks_between_documents_sharing_a_lane():
    model = tiny_model(window=16)
    lm = TransformerEntropyModel(model, batch_size=1, chunk_len=7)  # one lane: documents are packed end to end
    rng = np.random.default_rng(4)
    target = random_docs(rng, [30])[0]
    alone = lm.entropies([target])[0]
    # Lanes are filled longest document first, so longer neighbours precede the target in the lane.
    for neighbours in ([b"x" * 45], random_docs(rng, [5, 52, 12]), [b"", b"\x00" * 40]):
        for placement in ([*neighbours, target], [target, *neighbours]):
            hs = lm.entropies(placement)
            np.testing.assert_allclose(hs[placement.index(target)], alone, atol=ATOL)
    # ...and the first byte of a document sees BOS only, whatever precedes it in the lane.
    np.testing.assert_allclose(lm.entropies([b"zzzz", b"a"])[1], lm.entropies([b"b"])[0], atol=ATOL)


def test_empty_inputs_and_type_errors():
    lm = TransformerEntropyModel(tiny_model())
    assert lm.entropies([]) == []
    hs = lm.entropies([b"", b"ab", b""])
    assert [len(h) for h in hs] == [0, 2, 0]
    with pytest.raises(ValueError, match="at least one byte"):
        lm.cross_entropy([b""])
    with pytest.raises(TypeError):
        lm.entropies(b"abc")
    with pytest.raises(TypeError):
        lm.entropies(["abc"])


def test_cross_entropy_is_mean_surprisal_in_bits():
    model = tiny_model()
    docs = random_docs(np.random.default_rng(5), [20, 9])
    surprisal = np.concatenate([reference(model, d)[1] for d in docs])
    lm = TransformerEntropyModel(model)
    assert lm.cross_entropy(docs) == pytest.approx(surprisal.mean() / np.log(2), rel=1e-5)


def test_models_without_a_window_are_refused():
    with pytest.raises(ValueError, match="sliding window"):
        TransformerEntropyModel(tiny_model(window=None))


NEEDS_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=NEEDS_CUDA)])
def test_each_devices_defaults_score_a_document_alike_among_any_others(device):
    """CPU's one lane with query chunks of 8, CUDA's 64 lanes (bf16) with quarter-window chunks."""
    lm = TransformerEntropyModel(tiny_model(window=16), device=device)
    target, *others = random_docs(np.random.default_rng(8), [300, 5, 900, 40, 2000])
    alone = lm.entropies([target])[0]
    for docs in ([*others, target], [target, others[1]], [others[2], target, others[0]]):
        np.testing.assert_array_equal(lm.entropies(docs)[docs.index(target)], alone)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_is_close_to_cpu_float32():
    model = tiny_model(window=16)
    docs = random_docs(np.random.default_rng(6), [100, 37])
    cpu = TransformerEntropyModel(model).entropies(docs)
    gpu = TransformerEntropyModel(tiny_model(window=16), device="cuda").entropies(docs)
    diff = np.abs(np.concatenate(cpu) - np.concatenate(gpu))
    assert diff.mean() < 0.05 and diff.max() < 0.5  # bf16 rounding, not a different computation
