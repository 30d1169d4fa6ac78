"""The n-gram Numba kernels against their plain Python/NumPy twins, plus the docs/design.md §2 properties."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepatch.entropy import ngram_kernels as K
from bytepatch.entropy.ngram import NgramConfig, NgramCounter, NgramModel, _context_dict, pack_documents

TEXT = (Path(__file__).parent / "data" / "snippet.txt").read_bytes()
# Small alphabets make repeated contexts (and so every smoothing branch) likely.
docs_strategy = st.lists(
    st.one_of(st.binary(max_size=40), st.text(alphabet="ab \n", max_size=60).map(str.encode)), max_size=5
)


def fit(docs: list[bytes], order: int = 5, **kw) -> NgramModel:
    return NgramModel.fit(docs, NgramConfig(order=order, initial_capacity=16, **kw))


MODEL = fit([TEXT, TEXT[::-1], b"abab abba baab " * 20], order=5, min_count=1)


@settings(max_examples=60, deadline=None)
@given(docs=docs_strategy, order=st.integers(3, K.MAX_ORDER))
def test_count_kernel_matches_dict_twin(docs, order):
    counter = NgramCounter(NgramConfig(order=order, initial_capacity=16))  # forces growth + rehash
    counter.update(docs)
    keys, counts = counter.entries()
    assert dict(zip(keys.tolist(), counts.tolist())) == K.count_ngrams_py(docs, order)


@settings(max_examples=40, deadline=None)
@given(train=docs_strategy, test=docs_strategy, order=st.integers(3, K.MAX_ORDER), min_count=st.integers(1, 3))
def test_entropy_kernel_matches_dense_twin(train, test, order, min_count):
    model = fit(train + [b"ab ab ba"], order=order, min_count=min_count, max_successors=3)
    contexts = _context_dict(model.arrays, model._tables)
    want = K.ngram_entropies_py(test, order, model._tables["base_p1"], contexts)
    got_h, got_s = model.entropies_and_surprisals(test)
    for (wh, ws), gh, gs in zip(want, got_h, got_s):
        np.testing.assert_allclose(gh, wh, atol=2e-5)
        np.testing.assert_allclose(gs, ws, rtol=1e-5, atol=2e-5)


def test_kernel_agrees_with_twin_on_text_with_dense_rows():
    contexts = _context_dict(MODEL.arrays, MODEL._tables)
    docs = [TEXT[:200], b"the bridge", b"\x00\xff\x80 unseen bytes"]
    want = K.ngram_entropies_py(docs, 5, MODEL._tables["base_p1"], contexts)
    for (wh, ws), gh, gs in zip(want, *MODEL.entropies_and_surprisals(docs)):
        np.testing.assert_allclose(gh, wh, atol=2e-5)
        np.testing.assert_allclose(gs, ws, rtol=1e-5, atol=2e-5)


@settings(max_examples=40, deadline=None)
@given(docs=docs_strategy)
def test_entropy_properties(docs):
    hs = MODEL.entropies(docs)
    assert [len(h) for h in hs] == [len(d) for d in docs]  # one value per byte
    for h in hs:
        assert h.dtype == np.float32
        assert np.all(h >= 0) and np.all(h <= math.log(256) + 1e-6)
    # Batching and grouping never matter, and no context leaks from one document into the next.
    alone = [MODEL.entropies([d])[0] for d in docs]
    for a, b in zip(alone, hs):
        np.testing.assert_array_equal(a, b)
    if docs:
        np.testing.assert_array_equal(MODEL.entropies([TEXT] + docs)[1:][0], hs[0])


@settings(max_examples=30, deadline=None)
@given(history=st.binary(max_size=12))
def test_distributions_sum_to_one_and_match_entropy(history):
    p = MODEL.distribution(history)
    assert p.shape == (256,) and np.all(p > 0)
    assert abs(p.sum() - 1.0) < 1e-6  # the stream's probabilities are float32
    h = MODEL.entropies([history + b"x"])[0][-1]
    assert abs(h - float(-(p * np.log(p)).sum())) < 2e-5


def test_first_byte_is_predicted_from_bos_alone():
    h = MODEL.entropies([b"Tx", b"Ty", b"T"])
    assert h[0][0] == h[1][0] == h[2][0]
    p_bos = MODEL.distribution(b"")
    assert abs(h[0][0] - float(-(p_bos * np.log(p_bos)).sum())) < 2e-5


def test_lookup_finds_every_stored_context():
    keys = MODEL.arrays["ctx_keys"]
    found = K.lookup_many(MODEL._tables["slots"], keys)
    assert np.all(found >= 0)
    absent = np.array([K.make_key(3, False, 0xABCDEF), K.make_key(2, True, 0x7F)], dtype=np.uint64)
    assert np.all(K.lookup_many(MODEL._tables["slots"], absent[~np.isin(absent, keys)]) < 0)


def test_kernels_run_as_python_with_jit_disabled():
    """NUMBA_DISABLE_JIT=1 runs the kernels as plain Python: they must still match the twins."""
    code = (
        "import numpy as np\n"
        "from bytepatch.entropy import ngram_kernels as K\n"
        "from bytepatch.entropy.ngram import NgramConfig, NgramModel, NgramCounter, _context_dict\n"
        "docs=[b'abracadabra', b'', b'cadabra abra']\n"
        "c=NgramCounter(NgramConfig(order=4, initial_capacity=16)); c.update(docs)\n"
        "k,n=c.entries(); assert dict(zip(k.tolist(), n.tolist()))==K.count_ngrams_py(docs,4)\n"
        "m=c.finalize(); ctx=_context_dict(m.arrays, m._tables)\n"
        "want=K.ngram_entropies_py(docs,4,m._tables['base_p1'],ctx)\n"
        "for (wh,ws),gh in zip(want, m.entropies(docs)): np.testing.assert_allclose(gh,wh,atol=2e-5)\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


@settings(max_examples=40, deadline=None)
@given(docs=docs_strategy, threads=st.integers(1, 4), task_bytes=st.sampled_from([1, 2, 5, 17, 1 << 16]))
def test_entropies_are_identical_for_any_thread_count_and_task_cut(docs, threads, task_bytes):
    data, offsets = pack_documents(docs + [TEXT])  # one long document: cut inside it too
    t = MODEL._tables
    args = (
        data,
        offsets,
        5,
        t["base"],
        t["base_sum_plogp"],
        t["slots"],
        t["pair_meta"],
        t["stream_prob"],
        t["stream_byte"],
    )
    want_h, want_s = K.ngram_entropies(*args)
    got_h, got_s = K.ngram_entropies(*args, threads=threads, task_bytes=task_bytes)
    np.testing.assert_array_equal(got_h, want_h)  # bit for bit, not approximately
    np.testing.assert_array_equal(got_s, want_s)


def test_tasks_cover_every_byte_once():
    offsets = np.array([0, 0, 3, 3, 10, 11, 40, 40], dtype=np.int64)
    for task_bytes in (1, 4, 8, 100):
        doc, lo, hi = K.entropy_tasks(offsets, task_bytes)
        covered = np.zeros(40, dtype=int)
        for d, a, b in zip(doc.tolist(), lo.tolist(), hi.tolist()):
            covered[a:b] += 1
            assert b - a <= task_bytes or d < 0  # only whole short documents are grouped
        assert covered.tolist() == [1] * 40


def test_pair_index_agrees_with_probing():
    t = MODEL._tables
    meta = t["pair_meta"]
    keys = [K.make_key(2, False, (ord("a") << 8) | ord("b")), K.make_key(2, True, ord("t"))]
    rows = [(ord("a") << 8) | ord("b"), 65536 + ord("t")]
    assert meta[rows].tolist() == K.lookup_many(t["slots"], np.array(keys, dtype=np.uint64)).tolist()
    assert len(meta) == 65536 + 256


@settings(max_examples=40, deadline=None)
@given(
    train=docs_strategy,
    test=docs_strategy,
    order=st.integers(3, K.MAX_ORDER),
    min_count=st.integers(1, 3),
    dense_rows=st.sampled_from([0, 1, 8, 1 << 15]),
    threads=st.integers(1, 3),
    task_bytes=st.sampled_from([1, 3, 1 << 16]),
)
def test_entropy_only_kernel_equals_full_kernel_bit_for_bit(
    train, test, order, min_count, dense_rows, threads, task_bytes
):
    """Looking up each byte's longest context gives exactly the full kernel's float32."""
    fitted = fit(train + [b"ab ab ba"], order=order, min_count=min_count, max_successors=3)
    model = NgramModel(fitted.config, fitted.arrays, dense_rows=dense_rows)
    t = model._tables
    data, offsets = pack_documents(test + [b"abab abba"])
    want, _ = K.ngram_entropies(
        data, offsets, order, t["base"], t["base_sum_plogp"], t["slots"], t["pair_meta"], t["stream_prob"],
        t["stream_byte"],
    )  # fmt: skip
    got = K.ngram_entropies_only(
        data, offsets, order, t["hslots"], t["short_h"], t["pair_meta"], threads=threads, task_bytes=task_bytes
    )
    np.testing.assert_array_equal(got, want)


def test_entropy_index_matches_full_distribution_twin():
    """Every stored context's entropy (and every previous-symbol row's) against the twin."""
    t = MODEL._tables
    contexts = _context_dict(MODEL.arrays, t)
    occupied = t["hslots"][:, 0] != K.EMPTY
    keys = t["hslots"][occupied, 0].tolist()
    got = t["hslots"][occupied].view(np.float32)[:, 2]
    want = K.context_entropies_py(keys, 5, t["base_p1"], contexts)
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert np.array_equal(t["hslots"][:, 0], t["slots"][:, 0])  # same keys in the same places
    rows = np.array([-(p * np.log(p)).sum() for p in t["base_p1"]])
    np.testing.assert_allclose(t["short_h"][65792:], rows, atol=2e-5)
    stored = t["pair_meta"] >= 0
    fallback = t["short_h"][65792 + (np.arange(65792) & 255)]
    np.testing.assert_array_equal(t["short_h"][:65792][~stored], fallback[~stored])
