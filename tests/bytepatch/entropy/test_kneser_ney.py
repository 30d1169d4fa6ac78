"""The n-gram model against interpolated modified Kneser-Ney computed by brute force.

Independent of the model's code: raw n-gram counts in plain dicts of symbol tuples,
continuation counts, Chen & Goodman discounts and the interpolation recursion written
straight from docs/entropy.md, on a tiny corpus (3-letter alphabet, order 4, no
pruning). Full 256-way distributions and the kernel's entropies must match it, so a
smoothing bug cannot hide behind tables that the kernel and its twin both share.
"""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest

from bytepatch.entropy import NgramConfig, NgramModel

BOS = "BOS"
ORDER = 4


def corpus() -> list[bytes]:
    rng = random.Random(3)
    docs = [bytes(rng.choice(b"abc") for _ in range(rng.randint(0, 120))) for _ in range(30)]
    return docs + [b"abcabcabc" * 5, b"aaaa", b"c", b""]


class BruteKN:
    """P(b | history) by the textbook recursion over raw count dicts."""

    def __init__(self, docs: list[bytes], order: int) -> None:
        self.order = order
        raw: Counter = Counter()
        for doc in docs:
            symbols = [BOS, *doc]
            for i in range(1, len(symbols)):  # predict symbols[i] (byte i - 1)
                for n in range(1, order + 1):
                    if i - n + 1 < 0:
                        break
                    raw[tuple(symbols[i - n + 1 : i + 1])] += 1
        # Continuation counts: distinct symbols seen right before g (BOS included).
        left: dict[tuple, set] = {}
        for g in raw:
            if len(g) >= 2:
                left.setdefault(g[1:], set()).add(g[0])
        self.a = {g: (c if len(g) == order or g[0] == BOS else len(left.get(g, ()))) for g, c in raw.items()}
        self.d = {n: self.discounts([c for g, c in self.a.items() if len(g) == n]) for n in range(1, order + 1)}

    @staticmethod
    def discounts(counts: list[int]) -> tuple[float, float, float]:
        n1, n2, n3, n4 = (counts.count(k) for k in (1, 2, 3, 4))
        fallback = (0.5, 1.0, 1.5)
        if min(n1, n2, n3, n4) == 0:
            return fallback
        y = n1 / (n1 + 2 * n2)
        d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
        return tuple(x if 0 < x <= c else f for x, c, f in zip(d, (1, 2, 3), fallback))

    def discount(self, n: int, count: int) -> float:
        return self.d[n][min(count, 3) - 1] if count > 0 else 0.0

    def prob(self, context: tuple) -> np.ndarray:
        """The 256-way distribution after `context` (a tuple of symbols, BOS first if any)."""
        if not context:
            lower = np.full(256, 1 / 256)
        else:
            lower = self.prob(context[1:])
        n = len(context) + 1
        counts = np.array([self.a.get((*context, b), 0) for b in range(256)], dtype=np.float64)
        total = counts.sum()
        if total == 0:  # unseen context: its distribution is the shorter one's
            return lower
        disc = np.array([self.discount(n, int(c)) for c in counts])
        return (counts - disc) / total + disc.sum() / total * lower

    def distribution(self, history: bytes) -> np.ndarray:
        symbols = (BOS, *history)
        return self.prob(tuple(symbols[max(0, len(symbols) - (self.order - 1)) :]))


@pytest.fixture(scope="module")
def pair() -> tuple[NgramModel, BruteKN]:
    docs = corpus()
    config = NgramConfig(order=ORDER, min_count=1, max_successors=256, max_contexts=0, initial_capacity=16)
    return NgramModel.fit(docs, config), BruteKN(docs, ORDER)


def histories() -> list[bytes]:
    rng = random.Random(5)
    out = [b"", b"a", b"b", b"c", b"ab", b"ca", b"abc", b"cab", b"x", b"ax", b"\xff"]
    out += [bytes(rng.choice(b"abc") for _ in range(rng.randint(1, 9))) for _ in range(60)]
    return out


def test_full_distributions_match_brute_force_kneser_ney(pair):
    model, brute = pair
    # Real discounts (not only the fallback) are exercised at some order.
    assert any(brute.d[n] != (0.5, 1.0, 1.5) for n in range(1, ORDER + 1))
    for history in histories():
        want = brute.distribution(history)
        assert abs(want.sum() - 1) < 1e-12
        np.testing.assert_allclose(model.distribution(history), want, rtol=2e-6, atol=1e-9, err_msg=repr(history))


def test_kernel_entropies_and_surprisals_match_brute_force(pair):
    model, brute = pair
    docs = [h + b"a" for h in histories()] + [b"abcbca\x00cab"]
    hs, ss = model.entropies_and_surprisals(docs)
    for doc, h, s in zip(docs, hs, ss):
        for t in range(len(doc)):
            p = brute.distribution(doc[:t])
            assert h[t] == pytest.approx(float(-(p * np.log(p)).sum()), abs=2e-5)
            assert s[t] == pytest.approx(-math.log(p[doc[t]]), rel=1e-5, abs=2e-5)
