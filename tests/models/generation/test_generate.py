"""Generation: cached steppers == full forward, online patching == batch patching, sampling rules."""

from __future__ import annotations

import itertools

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from bytepatch.entropy import NgramConfig, NgramModel
from bytepatch.ids import BOS_ID, EOS_ID, OFFSET
from bytepatch.models import BLT, PRESETS, TRANSFORMER_PRESETS, ByteTransformer
from bytepatch.models.entropy_lm import TransformerEntropyModel
from bytepatch.models.generation.generate import (
    CachedSession,
    NonFiniteOutput,
    RecomputeSession,
    Sampling,
    generate_bytes,
    prompt_bytes,
    sample_next,
)
from bytepatch.models.generation.online_entropy import TransformerEntropyStream, WindowEntropyStream
from bytepatch.models.generation.stepper import BLTStepper, TransformerStepper
from bytepatch.patchers import patcher_from_dict

TEXT = (Path(__file__).resolve().parents[3] / "models" / "blt" / "model.py").read_bytes()  # real text, fixed


# Batch-1 stepping is a chain of tiny matmuls: one torch thread (tests/conftest.py; restored afterwards).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ngram() -> NgramModel:
    return NgramModel.fit([TEXT], NgramConfig(order=4, min_count=1))


def tiny_blt(alignment: str = "strict", seed: int = 0, **encoder) -> BLT:
    """A random tiny BLT with short windows (so caches wrap) and a peaked head (so argmax is clear).

    alignment "reference-hf" = reference alignment plus the doubled cross-attention residual
    (the transformers-compatible BLT).
    """
    c = PRESETS["tiny"]
    residual = "reference" if alignment == "reference-hf" else "single"
    c = replace(
        c,
        decoder_alignment="reference" if alignment == "reference-hf" else alignment,
        cross_attn_residual=residual,
        encoder=replace(c.encoder, window=6, **encoder),
        decoder=replace(c.decoder, window=5),
    )
    torch.manual_seed(seed)
    model = BLT(c).eval()
    with torch.no_grad():
        model.decoder.head.weight.mul_(30)
    return model


def tiny_baseline(seed: int = 0) -> ByteTransformer:
    torch.manual_seed(seed)
    model = ByteTransformer(replace(TRANSFORMER_PRESETS["tiny"], window=5)).eval()
    with torch.no_grad():
        model.head.weight.mul_(30)
    return model


def patchers(ngram: NgramModel) -> dict[str, dict]:
    h = ngram.entropies([TEXT[:2000]])[0]
    median = float(np.median(h))
    return {
        "space": {"patcher": "space", "max_patch_length": None},
        "space-cap": {"patcher": "space", "max_patch_length": 3},
        "stride": {"patcher": "stride", "stride": 3},
        "entropy-global": {"patcher": "entropy", "threshold": median, "threshold_add": None, "max_patch_length": 5},
        "entropy-both": {"patcher": "entropy", "threshold": median, "threshold_add": 0.0, "max_patch_length": None},
    }


def teacher_forced_logits(model: BLT, text: bytes, spec: dict, entropy) -> torch.Tensor:
    """One full forward over [BOS, text, placeholder] with batch patching: row t predicts id t+1."""
    ahead = text + b"\x00"
    lengths = np.concatenate([[1], patcher_from_dict(spec, model=entropy).patch_lengths(ahead)])
    ids = torch.tensor([[BOS_ID, *(b + OFFSET for b in ahead)]])
    with torch.no_grad():
        return model(ids, torch.as_tensor(lengths[None]))[0][0, : len(text) + 1]


@pytest.mark.slow
@pytest.mark.parametrize("alignment", ["strict", "reference", "reference-hf"])
@pytest.mark.parametrize("name", ["space", "space-cap", "stride", "entropy-global", "entropy-both"])
def test_greedy_generation_is_the_full_forward_argmax_at_every_step(ngram, alignment, name):
    """Online patching + cached stepping == re-running the model on the grown text with batch patching."""
    spec = patchers(ngram)[name]
    model = tiny_blt(alignment, cross_attn_all_layers=name == "stride", n_layers=2)
    prompt = b"def forward(self, ids):"
    sampling = Sampling(40, temperature=0, stop_at_eos=False)
    out = generate_bytes(model, prompt, patcher=spec, entropy_model=ngram, sampling=sampling)
    assert len(out) == 40
    logits = teacher_forced_logits(model, prompt + out, spec, ngram)[len(prompt) : -1]
    logits[:, :OFFSET] = -torch.inf  # only bytes may be chosen
    assert bytes((logits.argmax(-1) - OFFSET).tolist()) == out
    # ... and the batch patches of the result are a mix of lengths, so boundaries were exercised.
    lengths = patcher_from_dict(spec, model=ngram).patch_lengths(prompt + out)
    assert 1 < len(lengths) < len(prompt + out)


@pytest.mark.slow
@pytest.mark.parametrize("alignment", ["strict", "reference", "reference-hf"])
def test_cached_session_matches_recompute_session_logits(ngram, alignment):
    spec = patchers(ngram)["entropy-global"]
    model = tiny_blt(alignment)
    cached, slow = CachedSession(model, spec, ngram), RecomputeSession(model, spec, ngram)
    torch.testing.assert_close(cached.start(), slow.start(), atol=1e-4, rtol=1e-4)
    for byte in b"Causality: decoder byte t reads":
        torch.testing.assert_close(cached.feed(byte), slow.feed(byte), atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_blt_stepper_equals_forward_for_given_patches():
    """Stepping with known patch boundaries reproduces forward's logits at every position (all options).

    A first patch of 3 bytes (a window cut mid-document) leaves bytes with no patch state to read.
    """
    g = torch.Generator().manual_seed(1)
    for alignment, all_layers, first in itertools.product(
        ("strict", "reference", "reference-hf"), (False, True), (1, 3)
    ):
        model = tiny_blt(alignment, cross_attn_all_layers=all_layers, n_layers=2)
        lengths = [first, 3, 1, 6, 2, 7, 4, 1, 5]
        T = sum(lengths)
        ids = torch.randint(OFFSET, 260, (1, T), generator=g)
        ids[0, 0] = BOS_ID
        with torch.no_grad():
            full = model(ids, torch.tensor([lengths]))[0][0]
        starts = set(np.cumsum(lengths).tolist())  # position after each patch end
        stepper = BLTStepper(model)
        stepped = torch.stack([stepper.step(int(ids[0, t]), t + 1 in starts) for t in range(T)])
        torch.testing.assert_close(stepped, full, atol=1e-4, rtol=1e-4)


def test_transformer_stepper_equals_forward():
    model = tiny_baseline()
    ids = torch.randint(0, 260, (1, 23), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = model(ids)[0][0]
    stepper = TransformerStepper(model)
    torch.testing.assert_close(torch.stack([stepper.step(int(i)) for i in ids[0]]), full, atol=1e-4, rtol=1e-4)


def pieces(n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """[0, n) cut at random places: (start, stop) pairs, some of one position, some long."""
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(n - 1, int(rng.integers(0, 6))), replace=False))
    bounds = [0, *cuts.tolist(), n]
    return list(zip(bounds[:-1], bounds[1:]))


@pytest.mark.parametrize("alignment", ["strict", "reference", "reference-hf"])
@pytest.mark.parametrize("all_layers", [False, True])
def test_blt_stepper_fed_in_pieces_equals_forward(alignment, all_layers):
    """Prefill (one long feed, past the window and the attention chunk) + feeds of any size == forward."""
    model = tiny_blt(alignment, cross_attn_all_layers=all_layers, n_layers=2)
    rng = np.random.default_rng(3)
    lengths = [1, *rng.integers(1, 9, size=40).tolist()]
    T = sum(lengths)
    assert T > 64  # the default chunk of the windowed attention: the chunked path runs
    ids = torch.randint(OFFSET, 260, (1, T), generator=torch.Generator().manual_seed(3))
    ids[0, 0] = BOS_ID
    with torch.no_grad():
        full = model(ids, torch.tensor([lengths]))[0][0]
    starts = set(np.cumsum(lengths).tolist())
    for split in ([(0, T)], pieces(T, rng), pieces(T, rng)):
        stepper = BLTStepper(model)
        got = [stepper.feed(ids[0, a:b].tolist(), [t + 1 in starts for t in range(a, b)]) for a, b in split]
        torch.testing.assert_close(torch.cat(got), full, atol=1e-4, rtol=1e-4)
        assert stepper.n_patches == len(lengths) - (T not in starts)


def test_transformer_stepper_fed_in_pieces_equals_forward():
    model = tiny_baseline()
    ids = torch.randint(0, 260, (1, 150), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = model(ids)[0][0]
    for split in ([(0, 150)], pieces(150, np.random.default_rng(0))):
        stepper = TransformerStepper(model)
        got = torch.cat([stepper.feed(ids[0, a:b].tolist()) for a, b in split])
        torch.testing.assert_close(got, full, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["entropy-global", "entropy-both", "space-cap"])
def test_prefilled_session_equals_recompute_session(ngram, name):
    """A long prompt prefilled in one pass gives the logits of the uncached definition, then and after."""
    spec = patchers(ngram)[name]
    model = tiny_blt("reference-hf")
    prompt = TEXT[500:700]
    cached, slow = CachedSession(model, spec, ngram), RecomputeSession(model, spec, ngram)
    torch.testing.assert_close(cached.start(prompt), slow.start(prompt), atol=1e-4, rtol=1e-4)
    for byte in b" after the prompt":
        torch.testing.assert_close(cached.feed(byte), slow.feed(byte), atol=1e-4, rtol=1e-4)
    assert (
        cached.patcher.lengths().tolist()
        == patcher_from_dict(spec, model=ngram).patch_lengths(prompt + b" after the prompt").tolist()
    )


@pytest.mark.slow
def test_prefill_with_transformer_entropy_model_equals_byte_by_byte():
    """The entropy LM's stream prefilled in one pass == pushed byte by byte; so are the BLT's logits."""
    torch.manual_seed(0)
    lm = TransformerEntropyModel(ByteTransformer(replace(TRANSFORMER_PRESETS["tiny"], window=8)))
    prompt = TEXT[1000:1100]
    h = lm.entropies([prompt])[0]
    spec = {"patcher": "entropy", "threshold": float(np.median(h)), "threshold_add": None, "max_patch_length": None}
    model = tiny_blt()
    prefilled = CachedSession(model, spec, lm)
    stepped = CachedSession(model, spec, lm)
    last = stepped.start()
    for byte in prompt:
        last = stepped.feed(byte)
    torch.testing.assert_close(prefilled.start(prompt), last, atol=1e-4, rtol=1e-4)
    assert prefilled.patcher.lengths().tolist() == stepped.patcher.lengths().tolist()
    assert abs(prefilled.entropy.next_entropy - stepped.entropy.next_entropy) < 1e-5


@pytest.mark.slow
def test_entropy_streams_push_many_equals_push(ngram):
    torch.manual_seed(0)
    lm = TransformerEntropyModel(ByteTransformer(replace(TRANSFORMER_PRESETS["tiny"], window=8)))
    doc = TEXT[2000:2100]
    for make in (
        lambda: WindowEntropyStream(ngram),
        lambda: WindowEntropyStream(lm),
        lambda: TransformerEntropyStream(lm),
    ):
        one, many = make(), make()
        singles = []
        for b in doc:
            one.push(b)
            singles.append(one.next_entropy)
        batched = np.concatenate([many.push_many(doc[:7]), many.push_many(b""), many.push_many(doc[7:])])
        np.testing.assert_allclose(batched, singles, atol=1e-5)
        assert many.next_entropy == pytest.approx(one.next_entropy, abs=1e-5)


def test_baseline_greedy_is_the_full_forward_argmax():
    model = tiny_baseline()
    prompt = b"hello"
    out = generate_bytes(model, prompt, sampling=Sampling(30, temperature=0))
    ids = torch.tensor([[BOS_ID, *(b + OFFSET for b in prompt + out)]])
    with torch.no_grad():
        logits = model(ids)[0][0, len(prompt) : -1]
    logits[:, :OFFSET] = -torch.inf
    assert bytes((logits.argmax(-1) - OFFSET).tolist()) == out
    assert generate_bytes(model, prompt, sampling=Sampling(30, temperature=0), cache=False) == out


@pytest.mark.slow
@pytest.mark.parametrize("make", [tiny_baseline, tiny_blt])
def test_seeded_sampling_is_reproducible_and_seeds_differ(make):
    model = make()
    spec = None if isinstance(model, ByteTransformer) else {"patcher": "space"}
    run = lambda seed, **kw: generate_bytes(  # noqa: E731
        model, b"x = ", patcher=spec, sampling=Sampling(25, temperature=1.0, top_p=0.9, seed=seed), **kw
    )
    first = run(7)
    assert first == run(7) and len(first) > 0
    assert first == run(7, cache=False)  # same logits (to rounding), same draws
    assert any(run(s) != first for s in (8, 9, 10))


def test_empty_prompt_and_zero_bytes():
    model = tiny_blt()
    assert len(generate_bytes(model, b"", patcher={"patcher": "space"}, sampling=Sampling(5, temperature=0))) == 5
    assert generate_bytes(model, b"abc", patcher={"patcher": "space"}, sampling=Sampling(0)) == b""


def test_sample_next_rules():
    logits = torch.zeros(260)
    logits[BOS_ID] = 50.0  # never sampled: not a byte
    logits[EOS_ID] = 10.0
    logits[OFFSET + 65] = 9.0
    assert sample_next(logits, Sampling(temperature=0), None) == EOS_ID
    assert sample_next(logits, Sampling(temperature=0, stop_at_eos=False), None) == OFFSET + 65
    g = torch.Generator().manual_seed(0)
    # top_p keeps EOS (p ~ 0.73) and 'A' (the id that crosses 0.9), nothing else.
    draws = {sample_next(logits, Sampling(temperature=1, top_p=0.9), g) for _ in range(200)}
    assert draws == {EOS_ID, OFFSET + 65}
    draws = {sample_next(logits, Sampling(temperature=1, top_p=0.5), g) for _ in range(50)}
    assert draws == {EOS_ID}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_logits_are_a_clear_error_not_a_crash(bad):
    logits = torch.zeros(260)
    logits[OFFSET + 7] = bad
    for temperature in (0, 1):
        with pytest.raises(NonFiniteOutput, match="model output is not finite"):
            sample_next(logits, Sampling(temperature=temperature), torch.Generator().manual_seed(0))
    logits = torch.zeros(260)
    logits[BOS_ID] = float("nan")  # an id that is never sampled may hold anything
    assert OFFSET <= sample_next(logits, Sampling(temperature=1), torch.Generator().manual_seed(0)) < 260


def test_a_tiny_temperature_samples_the_most_likely_byte():
    logits = torch.zeros(260)
    logits[OFFSET + 65] = 3e38  # finite; divided by a tiny temperature it overflowed to inf, then nan
    assert sample_next(logits, Sampling(temperature=1e-30), torch.Generator().manual_seed(0)) == OFFSET + 65


def trained_to_stop(model: torch.nn.Module, lengths: list[int] | None) -> torch.nn.Module:
    """A few Adam steps on the single framed document [BOS, 'a', 'b', EOS]: the model learns to stop."""
    ids = torch.tensor([[BOS_ID, OFFSET + 97, OFFSET + 98, EOS_ID]])
    inputs, targets = ids[:, :-1], ids[:, 1:]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):
        args = (inputs,) if lengths is None else (inputs, torch.tensor([lengths]))
        loss = model(*args, targets=targets)[1]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.mark.slow
def test_generation_stops_at_eos():
    baseline = trained_to_stop(tiny_baseline(), None)
    assert generate_bytes(baseline, b"a", sampling=Sampling(20, temperature=0)) == b"b"
    blt = trained_to_stop(tiny_blt(), [1, 2])  # [BOS] + space patches of "ab"
    assert generate_bytes(blt, b"a", patcher={"patcher": "space"}, sampling=Sampling(20, temperature=0)) == b"b"


@pytest.mark.slow
def test_entropy_streams_equal_batch_entropies(ngram):
    doc = TEXT[3000:3200]
    stream, got = WindowEntropyStream(ngram), []
    for b in doc:
        got.append(stream.next_entropy)
        stream.push(b)
    np.testing.assert_array_equal(np.asarray(got, dtype=np.float32), ngram.entropies([doc])[0])  # bit for bit

    torch.manual_seed(0)
    lm = TransformerEntropyModel(ByteTransformer(replace(TRANSFORMER_PRESETS["tiny"], window=8)))
    fast, generic = TransformerEntropyStream(lm), WindowEntropyStream(lm)
    fast_h, generic_h = [], []
    for b in doc[:60]:
        fast_h.append(fast.next_entropy)
        generic_h.append(generic.next_entropy)
        fast.push(b)
        generic.push(b)
    expected = lm.entropies([doc[:60]])[0]
    np.testing.assert_allclose(fast_h, expected, atol=1e-5)
    np.testing.assert_allclose(generic_h, expected, atol=1e-5)


def test_setup_errors_are_clear(ngram):
    with pytest.raises(ValueError, match="patcher it was trained with"):
        generate_bytes(tiny_blt(), b"a")
    with pytest.raises(ValueError, match="entropy model"):
        generate_bytes(tiny_blt(), b"a", patcher={"patcher": "entropy", "threshold": 1.0})
    with pytest.raises(ValueError, match="no patches"):
        generate_bytes(tiny_baseline(), b"a", patcher={"patcher": "space"})
    with pytest.raises(ValueError, match="unknown patcher"):
        generate_bytes(tiny_blt(), b"a", patcher={"patcher": "bpe"})
    with pytest.raises(ValueError, match="top_p"):
        Sampling(top_p=0)


def test_a_str_prompt_is_taken_as_utf8():
    """A str prompt ended in a bare `TypeError: string argument without an encoding`; it is the
    text's UTF-8 bytes, as `generate --prompt` takes the command line's text."""
    text = "Ünïcödé \udcff"  # a lone surrogate stands for the undecodable byte 0xff, as on a command line
    data = "Ünïcödé ".encode() + b"\xff"
    for model, patcher in ((tiny_baseline(), None), (tiny_blt(), {"patcher": "space"})):
        got = generate_bytes(model, text, patcher=patcher, sampling=Sampling(8, temperature=0))
        assert got == generate_bytes(model, data, patcher=patcher, sampling=Sampling(8, temperature=0))
        assert isinstance(got, bytes)
    for wrong in (5, ["a"], None, {1: 2}):  # bytes(5) was five zero bytes
        with pytest.raises(
            TypeError, match=rf"prompt must be bytes, a str \(taken as UTF-8\) .*, not {type(wrong).__name__}"
        ):
            generate_bytes(tiny_baseline(), wrong, sampling=Sampling(1))


def test_a_prompt_of_byte_values_is_still_taken():
    """A list of ints worked as a prompt through `bytes(prompt)`; the str fix must not refuse it."""
    model = tiny_baseline()
    want = generate_bytes(model, b"Hi", sampling=Sampling(4, temperature=0))
    assert generate_bytes(model, [72, 105], sampling=Sampling(4, temperature=0)) == want
    assert generate_bytes(model, np.frombuffer(b"Hi", np.uint8), sampling=Sampling(4, temperature=0)) == want
    with pytest.raises(ValueError, match="0..255"):
        generate_bytes(model, [72, 300], sampling=Sampling(1))


def test_an_int_array_prompt_is_its_values_not_its_memory():
    """An int64 array of byte values went through the buffer protocol as its raw memory: [72, 105]
    was the 16-byte prompt b'H\\x00...i\\x00...'; a list of NumPy ints was refused as 'not list'."""
    import array

    for prompt in (
        np.array([72, 105]),
        np.array([72, 105], np.int32),
        array.array("i", [72, 105]),
        [np.int64(72), 105],
    ):
        assert prompt_bytes(prompt) == b"Hi", type(prompt)
    assert prompt_bytes(np.frombuffer(b"Hi", np.uint8)) == b"Hi"
    with pytest.raises(ValueError, match="0..255"):
        prompt_bytes(np.array([72, 300]))
    for wrong in (np.array([72.0, 105.0]), np.zeros((2, 2), np.uint8)):
        with pytest.raises(TypeError, match="prompt must be bytes"):
            prompt_bytes(wrong)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"seed": 2**64}, "seed must be None or an int"),
        ({"seed": 1.5}, "seed must be None or an int"),
        ({"seed": True}, "seed must be None or an int"),
        ({"seed": -1}, "seed must be None or an int"),
        ({"max_bytes": 2.5}, "max_bytes must be an int >= 0"),
        ({"max_bytes": -1}, "max_bytes must be an int >= 0"),
    ],
)
def test_sampling_refuses_a_seed_or_length_torch_cannot_take(options, message):
    """Sampling(seed=2**64) and seed=1.5 were accepted, then failed inside torch (an overflow, a
    RuntimeError) once the model had run on the prompt; max_bytes=2.5 a bare TypeError from range()."""
    with pytest.raises(ValueError, match=message):
        Sampling(**options)
    assert Sampling(seed=2**64 - 1).seed == 2**64 - 1
    model = tiny_baseline()
    numpy_ints = Sampling(max_bytes=np.int64(6), seed=np.int64(3))  # torch's manual_seed refused a NumPy int
    assert generate_bytes(model, b"a", sampling=numpy_ints) == generate_bytes(model, b"a", sampling=Sampling(6, seed=3))
