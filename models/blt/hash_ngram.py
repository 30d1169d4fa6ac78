"""Hash n-gram embeddings: extra context for each byte from the n bytes ending at it.

For every position t and every n in `ngram_sizes` (paper: 3..8), the ids
`x[t-n+1], ..., x[t]` are hashed into one of `table_size` buckets and that
bucket's vector is looked up; all of them are summed (the caller adds the byte
embedding). This gives the one-layer local encoder n-gram context for free, at
the price of very large tables (6 x 500,002 x dim parameters in the paper) that
cost memory but no FLOPs (a lookup, not a matmul), and of hash collisions.

The hash (same as the BLT reference, so released weights index the same rows):

    h_n(t) = sum_{i=0}^{n-1} x[t-n+1+i] * p^i      (wrapping signed 64-bit arithmetic)
    bucket = h_n(t) mod table_size                   (floor modulo: always in [0, table_size))

where x are model ids (byte + 4, so BOS=1 etc. take part), positions before the
start of the row count as id 0, and p = HASH_PRIMES[f mod 11] for hash function f
(the released BLT uses one function, f = 0, for every n; from the twelfth function on
the primes repeat, as in the `transformers` port). The oldest byte gets p^0 and
the newest p^(n-1). Two's-complement wrapping makes it identical on every
platform and device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Fixed large primes, one per hash function (the BLT reference's list, in its order).
HASH_PRIMES: tuple[int, ...] = (
    1000000007,
    5915587277,
    1500450271,
    3267000013,
    5754853343,
    4093082899,
    9576890767,
    3628273133,
    2860486313,
    5463458053,
    3367900313,
)


def _wrap_int64(v: int) -> int:
    """Python int -> the signed 64-bit integer with the same low 64 bits."""
    return (v + 2**63) % 2**64 - 2**63


def ngram_hash(ids: torch.Tensor, n: int, table_size: int, function: int = 0) -> torch.Tensor:
    """Bucket of the n-gram ending at every position. ids (B, T) int -> (B, T) int64 in [0, table_size)."""
    if function < 0:
        raise ValueError(f"hash function index must be >= 0, got {function}")
    # Past the list the primes repeat, as in the transformers port (`primes[func_nb % len(primes)]`):
    # the config allowed any number of functions, and the twelfth failed only in the forward pass.
    prime = HASH_PRIMES[function % len(HASH_PRIMES)]
    powers = torch.tensor([_wrap_int64(prime**i) for i in range(n)], dtype=torch.int64, device=ids.device)
    padded = F.pad(ids.long(), (n - 1, 0))  # (B, T + n - 1); id 0 before the row start
    windows = padded.unfold(1, n, 1)  # (B, T, n): windows[b, t, i] = x[t - n + 1 + i]
    hashes = (windows * powers).sum(-1)  # int64 multiply/add wrap modulo 2^64
    return torch.remainder(hashes, table_size)  # floor modulo, non-negative


class HashNgramEmbedding(nn.Module):
    """Sum of hashed n-gram embeddings; owns one table per (hash function, n)."""

    def __init__(self, dim: int, ngram_sizes: tuple[int, ...], table_size: int, hash_functions: int = 1) -> None:
        super().__init__()
        self.ngram_sizes = tuple(ngram_sizes)
        self.table_size = table_size
        self.hash_functions = hash_functions
        self.tables = nn.ModuleList(
            nn.Embedding(table_size, dim) for _ in range(hash_functions) for _ in self.ngram_sizes
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T) -> (B, T, dim)."""
        out = None
        tables = iter(self.tables)
        for f in range(self.hash_functions):
            for n in self.ngram_sizes:
                with torch.no_grad():
                    buckets = ngram_hash(ids, n, self.table_size, f)  # (B, T)
                emb = next(tables)(buckets)  # (B, T, dim)
                out = emb if out is None else out + emb
        return out
