"""Hash n-gram ids: checked against an independent pure-Python hash and hard-coded values."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepatch.models.blt.hash_ngram import HashNgramEmbedding, ngram_hash

PRIME0 = 1000000007  # first prime of the documented list


def python_hash(ids: list[int], n: int, table: int, prime: int = PRIME0) -> list[int]:
    """Independent: exact Python integers, reduced to signed 64 bits only at the end."""
    out = []
    for t in range(len(ids)):
        window = [ids[t - n + 1 + i] if t - n + 1 + i >= 0 else 0 for i in range(n)]
        exact = sum(x * prime**i for i, x in enumerate(window))
        low = exact % 2**64
        signed = low - 2**64 if low >= 2**63 else low
        out.append(signed % table)  # Python % is floor modulo
    return out


def test_hard_coded_values():
    # By hand: n=2, ids [3, 5]: t=0 -> 0 + 3p, t=1 -> 3 + 5p (oldest byte gets p^0); mod 1000.
    assert ngram_hash(torch.tensor([[3, 5]]), 2, 1000).tolist() == [[3000000021 % 1000, 5000000038 % 1000]]
    # BOS "little" as model ids (byte + 4); frozen from the pure-Python function above.
    ids = torch.tensor([[1, 108, 105, 116, 116, 108, 101]])
    assert ngram_hash(ids, 3, 500_002)[0].tolist() == [443987, 25397, 266194, 162117, 118191, 66320, 393871]
    assert ngram_hash(ids, 8, 500_002)[0].tolist() == [172383, 265781, 240974, 493118, 146966, 39618, 492045]


@settings(max_examples=50, deadline=None)
@given(
    ids=st.lists(st.integers(0, 259), min_size=1, max_size=20),
    n=st.integers(1, 8),
    table=st.integers(1, 600_000),
    f=st.integers(0, 10),
)
def test_matches_independent_python(ids, n, table, f):
    from bytepatch.models.blt.hash_ngram import HASH_PRIMES

    got = ngram_hash(torch.tensor([ids]), n, table, f)[0].tolist()
    assert got == python_hash(ids, n, table, HASH_PRIMES[f])


def test_overflowing_hashes_are_still_in_range():
    ids = torch.full((1, 16), 259)
    h = ngram_hash(ids, 8, 7)
    assert (h >= 0).all() and (h < 7).all()


def test_embedding_sums_one_row_per_table():
    torch.manual_seed(0)
    emb = HashNgramEmbedding(4, (3, 5), 97, hash_functions=2)
    ids = torch.randint(0, 260, (2, 9))
    expected = torch.zeros(2, 9, 4)
    tables = iter(emb.tables)
    for f in range(2):
        for n in (3, 5):
            expected += next(tables).weight[ngram_hash(ids, n, 97, f)]
    torch.testing.assert_close(emb(ids), expected)
