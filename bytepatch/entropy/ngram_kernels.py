"""Numba kernels of the byte n-gram entropy model, each with a plain Python/NumPy twin.

The kernels trade generality for speed: n-grams are packed exactly into one uint64
key (no hash collisions ever change a count), counting uses one open-addressing
table, and the entropy kernel never materialises the 256-way distribution. Instead it
uses the structure of interpolated smoothing: the distribution is a dense base row
(order <= 2, precomputed per previous byte) scaled by the product of back-off weights,
plus sparse corrections from the few stored successors of the longer contexts, so the
entropy costs O(successors) per byte rather than O(256 * orders). The twins compute
the same quantities the obvious way (dicts, full 256-vectors) and the tests hold the
two to each other (run them with NUMBA_DISABLE_JIT=1 to step through the kernels).

Key layout (60 bits): bits 57..59 hold the symbol count `n` (1..7), bit 56 says the
first symbol is BOS, bits 0..55 hold the bytes, last byte lowest. A context key uses
the same layout for the context's symbols, so `context(key) = (n-1, bos, bytes >> 8)`.
"""

from __future__ import annotations

import numba
import numpy as np

from bytepatch.entropy.ngram_keys import BOS_ROW, EMPTY, MAX_ORDER  # noqa: F401 - K.EMPTY etc. for callers
from bytepatch.kernels.cache import kernel_cache
from bytepatch.kernels.prefetch import prefetch
from bytepatch.kernels.threads import start_thread_pool

_CACHE = kernel_cache(__file__)  # False where Numba has nowhere to cache (bytepatch.kernels.cache)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing multiplier
_N_SHIFT = 57
_BOS_BIT = np.uint64(1) << np.uint64(56)
_LN256 = float(np.log(256.0))  # entropy of the uniform distribution over bytes


# ----------------------------------------------------------------------------- keys


def make_key(n: int, bos: bool, packed: int) -> int:
    """The key of `n` symbols: BOS (if `bos`) followed by the bytes packed in `packed`."""
    return (n << _N_SHIFT) | (int(bos) << 56) | packed


def split_key(key: int) -> tuple[int, bool, int]:
    """Inverse of `make_key`: (symbol count, starts with BOS, packed bytes)."""
    return key >> _N_SHIFT, bool((key >> 56) & 1), key & ((1 << 56) - 1)


def document_ngram_keys(doc: bytes, order: int) -> list[int]:
    """Every n-gram key (n = 1..order) of one document, in the kernel's order (twin)."""
    keys = []
    for pos in range(len(doc)):
        packed = 0
        for n in range(1, order + 1):
            j = n - 1  # context length of this n-gram
            if j <= pos:
                packed |= doc[pos - j] << (8 * j)
                keys.append(make_key(n, False, packed))
            else:  # j == pos + 1: the context reaches back to BOS
                keys.append(make_key(n, True, packed))
                break
    return keys


def context_key_py(doc: bytes, pos: int, j: int) -> int | None:
    """Key of the length-`j` context of byte `pos` (None when the document is too short)."""
    if j <= pos:
        packed = 0
        for i in range(1, j + 1):
            packed |= doc[pos - i] << (8 * (i - 1))
        return make_key(j, False, packed)
    if j == pos + 1:
        packed = 0
        for i in range(1, pos + 1):
            packed |= doc[pos - i] << (8 * (i - 1))
        return make_key(j, True, packed)
    return None


# ------------------------------------------------------------------ hash table (counts)


@numba.njit(cache=_CACHE, inline="always")
def _slot(key: np.uint64, bits: np.uint64) -> np.int64:
    # Fibonacci hashing: the top `bits` bits of key * golden ratio spread packed bytes well.
    return np.int64((key * _GOLDEN) >> (np.uint64(64) - bits))


@numba.njit(cache=_CACHE)
def _table_bits(capacity: int) -> np.uint64:
    bits = 0
    while (1 << bits) < capacity:
        bits += 1
    return np.uint64(bits)


@numba.njit(cache=_CACHE)
def count_ngrams(
    data: np.ndarray,  # uint8 (total_bytes,), documents back to back
    offsets: np.ndarray,  # int64 (n_docs + 1,)
    first_doc: int,
    order: int,
    keys: np.ndarray,  # uint64 (capacity,), power of two, EMPTY where free
    counts: np.ndarray,  # uint32 (capacity,)
    fill: int,
    max_fill: int,
) -> tuple[int, int]:
    """Add every n-gram (n = 1..order) of documents first_doc.. to the table.

    Stops before a document that could push the fill past `max_fill` (a document adds
    at most `order` keys per byte) so the caller can grow the table and resume.
    Returns (fill, index of the first document not counted).
    """
    bits = _table_bits(keys.shape[0])
    mask = keys.shape[0] - 1
    d = first_doc
    n_docs = offsets.shape[0] - 1
    while d < n_docs:
        start, end = offsets[d], offsets[d + 1]
        if fill + order * (end - start) > max_fill:
            break
        for t in range(start, end):
            pos = t - start
            packed = np.uint64(0)
            for n in range(1, order + 1):
                j = n - 1
                if j <= pos:
                    packed |= np.uint64(data[t - j]) << np.uint64(8 * j)
                    key = (np.uint64(n) << np.uint64(_N_SHIFT)) | packed
                else:  # the context reaches back to BOS: the last, shortest-history n-gram
                    key = (np.uint64(n) << np.uint64(_N_SHIFT)) | _BOS_BIT | packed
                i = _slot(key, bits)
                while True:
                    k = keys[i]
                    if k == key:
                        counts[i] += 1
                        break
                    if k == EMPTY:
                        keys[i] = key
                        counts[i] = 1
                        fill += 1
                        break
                    i = (i + 1) & mask
                if j > pos:
                    break
        d += 1
    return fill, d


def count_ngrams_py(docs: list[bytes], order: int) -> dict[int, int]:
    """Twin of `count_ngrams`: a dict from key to count."""
    table: dict[int, int] = {}
    for doc in docs:
        for key in document_ngram_keys(doc, order):
            table[key] = table.get(key, 0) + 1
    return table


@numba.njit(cache=_CACHE)
def rehash(keys: np.ndarray, counts: np.ndarray, new_capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """The same entries in a table of `new_capacity` slots (a power of two)."""
    new_keys = np.full(new_capacity, EMPTY, dtype=np.uint64)
    new_counts = np.zeros(new_capacity, dtype=np.uint32)
    bits = _table_bits(new_capacity)
    mask = new_capacity - 1
    for s in range(keys.shape[0]):
        key = keys[s]
        if key == EMPTY:
            continue
        i = _slot(key, bits)
        while new_keys[i] != EMPTY:
            i = (i + 1) & mask
        new_keys[i] = key
        new_counts[i] = counts[s]
    return new_keys, new_counts


# ------------------------------------------------------------- context index (lookup)


def build_slots(
    ctx_keys: np.ndarray, ctx_start: np.ndarray, ctx_len: np.ndarray, ctx_dense: np.ndarray, capacity: int
) -> np.ndarray:
    """Open-addressing context table, one 16-byte record per slot so a probe costs one
    cache line: slots[i] = (key or EMPTY, meta), meta = stream start (bits 0..31) |
    successor count (bits 32..40) | dense row + 1, 0 if none (bits 41..63).

    The tables the entropy kernel probes at random are allocated by NumPy (huge pages
    where the OS offers them: fewer TLB misses) and filled by Numba.
    """
    slots = np.empty((capacity, 2), dtype=np.uint64)
    slots[:, 0] = EMPTY
    slots[:, 1] = 0
    _fill_slots(ctx_keys, ctx_start, ctx_len, ctx_dense, slots)
    return slots


@numba.njit(cache=_CACHE)
def _fill_slots(
    ctx_keys: np.ndarray, ctx_start: np.ndarray, ctx_len: np.ndarray, ctx_dense: np.ndarray, slots: np.ndarray
) -> None:
    capacity = slots.shape[0]
    bits = _table_bits(capacity)
    mask = capacity - 1
    for c in range(ctx_keys.shape[0]):
        i = _slot(ctx_keys[c], bits)
        while slots[i, 0] != EMPTY:
            i = (i + 1) & mask
        slots[i, 0] = ctx_keys[c]
        meta = np.uint64(ctx_start[c]) | (np.uint64(ctx_len[c]) << np.uint64(32))
        slots[i, 1] = meta | (np.uint64(ctx_dense[c] + 1) << np.uint64(41))


@numba.njit(cache=_CACHE, inline="always")
def _lookup(slots: np.ndarray, key: np.uint64, bits: np.uint64) -> np.int64:
    mask = slots.shape[0] - 1
    i = _slot(key, bits)
    while True:
        k = slots[i, 0]
        if k == key:
            return np.int64(slots[i, 1])
        if k == EMPTY:
            return -1
        i = (i + 1) & mask


@numba.njit(cache=_CACHE)
def lookup_many(slots: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The meta word of each key (see build_slots), -1 if absent (tests, inspection)."""
    bits = _table_bits(slots.shape[0])
    out = np.empty(keys.shape[0], dtype=np.int64)
    for q in range(keys.shape[0]):
        out[q] = _lookup(slots, keys[q], bits)
    return out


def pair_index(slots: np.ndarray) -> np.ndarray:
    """The meta word (or -1) of every 2-symbol context, indexed directly: row
    `b2 << 8 | b1` for bytes (b2, b1), row 65536 + b1 for (BOS, b1). Every byte past the
    first looks one up; a 0.5 MB array keeps that lookup in the caches instead of a probe."""
    pairs = np.arange(65536, dtype=np.uint64)
    bos = np.arange(256, dtype=np.uint64) | _BOS_BIT
    keys = np.concatenate([pairs, bos]) | (np.uint64(2) << np.uint64(_N_SHIFT))
    return lookup_many(slots, keys)


# ------------------------------------------------------ derived tables (built at load)


def build_stream(
    ctx_keys: np.ndarray,  # uint64 (C,): contexts of >= 2 symbols
    ctx_total: np.ndarray,  # uint32 (C,): A(u), pruned successors included
    succ_len: np.ndarray,  # uint16 (C,): stored successors per context
    succ_byte: np.ndarray,  # uint8 (S,): successor bytes, grouped by context
    succ_count: np.ndarray,  # uint32 (S,): their Kneser-Ney counts
    discounts: np.ndarray,  # float64 (order + 1, 3): D1, D2, D3+ per n-gram order
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The probability stream the entropy kernel reads, straight from the integer counts.

    Per context: its back-off weight `1 - sum_b (a(ub) - D(a(ub))) / A(u)`, then its
    successors' discounted probabilities; float32, computed in float64 scalars, so no
    large temporaries. Returns (stream position of each context, stream_prob,
    stream_byte, index of the first inconsistent context or -1): a context is
    inconsistent when a successor count is 0 or its counts exceed its total. The
    caller has checked the array lengths (sum(succ_len) == S) and the key lengths.
    """
    n_ctx = ctx_keys.shape[0]
    head = np.empty(n_ctx, dtype=np.int64)
    stream_prob = np.empty(n_ctx + succ_byte.shape[0], dtype=np.float32)
    stream_byte = np.zeros(n_ctx + succ_byte.shape[0], dtype=np.uint8)
    bad = _fill_stream(ctx_keys, ctx_total, succ_len, succ_byte, succ_count, discounts, head, stream_prob, stream_byte)
    return head, stream_prob, stream_byte, int(bad)


@numba.njit(cache=_CACHE)
def _fill_stream(
    ctx_keys: np.ndarray,
    ctx_total: np.ndarray,
    succ_len: np.ndarray,
    succ_byte: np.ndarray,
    succ_count: np.ndarray,
    discounts: np.ndarray,
    head: np.ndarray,
    stream_prob: np.ndarray,
    stream_byte: np.ndarray,
) -> np.int64:
    n_ctx = ctx_keys.shape[0]
    q = 0
    s = 0
    for c in range(n_ctx):
        n = np.int64(ctx_keys[c] >> np.uint64(_N_SHIFT)) + 1  # the n-gram order this context predicts with
        total = np.float64(ctx_total[c])
        if succ_len[c] > 0 and ctx_total[c] == 0:
            return np.int64(c)
        head[c] = q
        q += 1
        mass = 0.0
        count_sum = 0
        for _ in range(succ_len[c]):
            count = np.int64(succ_count[s])
            if count == 0:
                return np.int64(c)
            count_sum += count
            p = (count - discounts[n, min(count, 3) - 1]) / total
            stream_prob[q] = p
            stream_byte[q] = succ_byte[s]
            mass += p
            q += 1
            s += 1
        if count_sum > ctx_total[c]:
            return np.int64(c)
        stream_prob[head[c]] = min(max(1.0 - mass, 0.0), 1.0)
    return np.int64(-1)


@numba.njit(cache=_CACHE)
def first_missing_suffix(slots: np.ndarray, ctx_keys: np.ndarray) -> np.int64:
    """Index of the first context whose one-shorter suffix context (>= 2 symbols) is not
    stored, -1 if none: the entropy kernel and `dense_tables` rely on prefix closure."""
    bits = _table_bits(slots.shape[0])
    for c in range(ctx_keys.shape[0]):
        key = ctx_keys[c]
        n = np.int64(key >> np.uint64(_N_SHIFT))
        if n <= 2:
            continue
        # Drop the oldest symbol: the BOS flag if set, else the highest byte.
        packed = key & np.uint64((1 << 56) - 1)
        if (key & _BOS_BIT) == 0:
            packed &= (np.uint64(1) << np.uint64(8 * (n - 1))) - np.uint64(1)
        suffix = (np.uint64(n - 1) << np.uint64(_N_SHIFT)) | packed
        if _lookup(slots, suffix, bits) < 0:
            return np.int64(c)
    return np.int64(-1)


def dense_tables(
    base: np.ndarray,  # float64 (257, 256): orders <= 2 by previous symbol (row 256 = BOS)
    dense_keys: np.ndarray,  # uint64 (R,): contexts that get a precomputed full distribution
    slots: np.ndarray,  # uint64 (capacity, 2): see build_slots
    stream_prob: np.ndarray,  # float32: see build_stream
    stream_byte: np.ndarray,  # uint8
) -> tuple[np.ndarray, np.ndarray]:
    """The dense rows the entropy kernel reads: (257 + R, 256, 2) float32 holding each
    row's probabilities ([.., 0]) next to their p log p ([.., 1], from the rounded p), so
    one cache line serves both reads of a byte; and the row sums of p log p (float64).

    Row r >= 257 is the full distribution of dense_keys[r - 257], built like
    `ngram_distribution_py`: the previous symbol's base row, then each stored suffix
    context shortest first (back-off times the row so far, plus its successors).
    Contexts must be prefix-closed (checked by `first_missing_suffix`).
    """
    n_rows = base.shape[0] + dense_keys.shape[0]
    table = np.empty((n_rows, 256, 2), dtype=np.float32)
    sum_plogp = np.empty(n_rows, dtype=np.float64)
    _fill_dense(base, dense_keys, slots, stream_prob, stream_byte, table, sum_plogp)
    return table, sum_plogp


@numba.njit(cache=_CACHE)
def _fill_dense(
    base: np.ndarray,
    dense_keys: np.ndarray,
    slots: np.ndarray,
    stream_prob: np.ndarray,
    stream_byte: np.ndarray,
    table: np.ndarray,
    sum_plogp: np.ndarray,
) -> None:
    n_base = base.shape[0]
    n_rows = table.shape[0]
    bits = _table_bits(slots.shape[0])
    p = np.empty(256, dtype=np.float64)
    for r in range(n_rows):
        if r < n_base:
            p[:] = base[r]
        else:
            key = dense_keys[r - n_base]
            n = np.int64(key >> np.uint64(_N_SHIFT))
            packed = key & np.uint64((1 << 56) - 1)
            p[:] = base[np.int64(packed & np.uint64(255))]
            for j in range(2, n + 1):
                if j == n:
                    suffix = key
                else:
                    mask = (np.uint64(1) << np.uint64(8 * j)) - np.uint64(1)
                    suffix = (np.uint64(j) << np.uint64(_N_SHIFT)) | (packed & mask)
                meta = _lookup(slots, suffix, bits)
                if meta < 0:
                    continue
                head = meta & 0xFFFFFFFF
                n_succ = (meta >> 32) & 0x1FF
                w = np.float64(stream_prob[head])
                for b in range(256):
                    p[b] *= w
                for q in range(head + 1, head + 1 + n_succ):
                    p[stream_byte[q]] += stream_prob[q]
        total = 0.0
        for b in range(256):
            x = np.float32(p[b])
            table[r, b, 0] = x
            xd = np.float64(x)
            v = xd * np.log(xd) if xd > 0.0 else 0.0
            table[r, b, 1] = v
            total += v
        sum_plogp[r] = total


# ----------------------------------------------------------------------- entropies

TASK_BYTES = 1 << 16  # bytes per parallel task: small enough to balance threads, large enough to amortise
_BLOCK = 16  # positions whose table probes are issued together (memory-level parallelism)


def entropy_tasks(offsets: np.ndarray, task_bytes: int = TASK_BYTES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Work items for `ngram_entropies_into`: (document start, lo, hi) byte ranges.

    A long document is cut into ranges of `task_bytes`: each position's entropy depends
    only on its own document's bytes (at most order - 1 back), so any cut gives the same
    values; short documents are grouped until a task holds about `task_bytes`.
    """
    return _entropy_tasks(offsets, np.int64(max(1, task_bytes)))


@numba.njit(cache=_CACHE, nogil=True)
def _entropy_tasks(offsets: np.ndarray, task_bytes: np.int64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_docs = offsets.shape[0] - 1
    cap = n_docs + offsets[-1] // task_bytes + 1
    doc_start = np.empty(cap, dtype=np.int64)  # -1: the task spans whole documents (look them up)
    lo = np.empty(cap, dtype=np.int64)
    hi = np.empty(cap, dtype=np.int64)
    k = 0
    d = 0
    while d < n_docs:
        start, end = offsets[d], offsets[d + 1]
        if end - start > task_bytes:  # a long document: ranges of its own
            for a in range(start, end, task_bytes):
                doc_start[k] = start
                lo[k] = a
                hi[k] = min(a + task_bytes, end)
                k += 1
            d += 1
            continue
        e = d + 1  # group whole short documents
        while e < n_docs and offsets[e + 1] - start <= task_bytes:
            e += 1
        if end > start or e > d + 1:
            doc_start[k] = -1 - d  # first document of the group, encoded
            lo[k] = start
            hi[k] = offsets[e]
            k += 1
        d = e
    return doc_start[:k], lo[:k], hi[:k]


@numba.njit(cache=_CACHE, nogil=True, parallel=True)
def ngram_entropies_into(
    data: np.ndarray,  # uint8 (total_bytes,)
    offsets: np.ndarray,  # int64 (n_docs + 1,)
    task_doc: np.ndarray,  # int64: see entropy_tasks
    task_lo: np.ndarray,
    task_hi: np.ndarray,
    order: int,
    base: np.ndarray,  # float32 (257 + R, 256, 2): [.., 0] = probability, [.., 1] = p log p
    base_sum_plogp: np.ndarray,  # float64 (257 + R,)
    slots: np.ndarray,  # uint64 (capacity, 2)
    pair_meta: np.ndarray,  # int64 (65792,): see pair_index
    stream_prob: np.ndarray,  # float32
    stream_byte: np.ndarray,  # uint8
    entropy: np.ndarray,  # float32 (total_bytes,): written
    surprisal: np.ndarray,  # float32 (total_bytes,): written
) -> None:
    """Fills `entropy` and `surprisal` task by task, tasks spread over Numba's threads.

    Every task writes only its own byte range and reads shared read-only tables, so the
    values do not depend on the number of threads or on how the tasks were cut.
    """
    for k in numba.prange(task_lo.shape[0]):
        _entropy_task(
            data, offsets, task_doc[k], task_lo[k], task_hi[k], order, base, base_sum_plogp, slots, pair_meta,
            stream_prob, stream_byte, entropy, surprisal,
        )  # fmt: skip


@numba.njit(cache=_CACHE, nogil=True)
def _entropy_task(
    data, offsets, doc, lo, hi, order, base, base_sum_plogp, slots, pair_meta, stream_prob, stream_byte, entropy,
    surprisal,
) -> None:  # fmt: skip
    """One task of `entropy_tasks`: a range of one long document, or whole short documents."""
    tables = (order, base, base_sum_plogp, slots, pair_meta, stream_prob, stream_byte, entropy, surprisal)
    if doc >= 0:
        _entropy_range(data, doc, lo, hi, *tables)
        return
    d = -1 - doc  # whole short documents from d on
    while offsets[d] < hi:
        start, end = offsets[d], offsets[d + 1]
        _entropy_range(data, start, start, end, *tables)
        d += 1


@numba.njit(cache=_CACHE, nogil=True, inline="always")
def _blend(
    found: np.ndarray,  # int64 (_, MAX_ORDER): meta words of the stored contexts, shortest first
    i: int,  # the row of `found` to read
    nf: int,  # how many contexts were found
    first: int,  # contexts below this index are folded into the dense row
    row: int,  # the dense row
    x: int,  # the byte whose probability is returned
    base: np.ndarray,
    base_sum_plogp: np.ndarray,
    stream_prob: np.ndarray,
    stream_byte: np.ndarray,
    acc: np.ndarray,  # float64 (256,) scratch
    in_support: np.ndarray,  # bool (256,) scratch, all False on entry and on return
    support: np.ndarray,  # int64 (256,) scratch
) -> tuple[float, float]:
    """(entropy clamped to [0, ln 256], P(x)) of the distribution of a found context chain.

    Longest context first, each hands its back-off weight to the shorter ones. The one
    place this arithmetic lives: the per-byte kernel and the per-context table
    (`context_entropies`) both call it, which keeps their values identical bit for bit.
    """
    w = 1.0
    n_support = 0
    for f in range(nf - 1, first - 1, -1):
        head = found[i, f] & 0xFFFFFFFF
        n_succ = (found[i, f] >> 32) & 0x1FF
        for q in range(head + 1, head + 1 + n_succ):
            b = stream_byte[q]
            if not in_support[b]:
                in_support[b] = True
                support[n_support] = b
                n_support += 1
                acc[b] = 0.0
            acc[b] += w * stream_prob[q]
        w *= stream_prob[head]
    p_x = w * base[row, x, 0]
    if in_support[x]:
        p_x += acc[x]
    h = 0.0
    mass_s = 0.0
    plogp_s = 0.0
    for s in range(n_support):
        b = support[s]
        base_b = base[row, b, 0]
        p = acc[b] + w * base_b
        if p > 0.0:
            h -= p * np.log(p)
        mass_s += base_b
        plogp_s += base[row, b, 1]
        in_support[b] = False
    if w > 0.0:
        rest = max(1.0 - mass_s, 0.0)
        h -= w * np.log(w) * rest + w * (base_sum_plogp[row] - plogp_s)
    return min(max(h, 0.0), _LN256), p_x


@numba.njit(cache=_CACHE, nogil=True)
def _entropy_range(
    data: np.ndarray,
    doc_start: np.int64,
    lo: np.int64,
    hi: np.int64,
    order: int,
    base: np.ndarray,
    base_sum_plogp: np.ndarray,
    slots: np.ndarray,
    pair_meta: np.ndarray,
    stream_prob: np.ndarray,
    stream_byte: np.ndarray,
    entropy: np.ndarray,
    surprisal: np.ndarray,
) -> None:
    """Entropies of bytes lo..hi-1 of the document starting at doc_start (see `ngram_entropies`).

    Memory latency, not arithmetic, bounds this loop: every byte probes up to four random
    slots of a table far larger than the caches. So positions go in blocks of _BLOCK, in
    three passes: compute every probe's slot and touch it (independent loads, all in
    flight at once), look the contexts up (now cache hits) and touch the stream heads and
    dense rows they point to, then compute. The arithmetic is the one-pass loop's, in the
    same order, so the values are identical to it bit for bit.
    """
    bits = _table_bits(slots.shape[0])
    mask = slots.shape[0] - 1
    acc = np.zeros(256, dtype=np.float64)  # A(b) on the support (per task: thread-private)
    in_support = np.zeros(256, dtype=np.bool_)
    support = np.empty(256, dtype=np.int64)
    keys = np.empty((_BLOCK, MAX_ORDER), dtype=np.uint64)
    n_keys = np.empty(_BLOCK, dtype=np.int64)
    found = np.empty((_BLOCK, MAX_ORDER), dtype=np.int64)
    n_found = np.empty(_BLOCK, dtype=np.int64)
    rows = np.empty(_BLOCK, dtype=np.int64)
    firsts = np.empty(_BLOCK, dtype=np.int64)
    sink = np.uint64(0)
    fsink = 0.0
    for b0 in range(lo, hi, _BLOCK):
        b1 = min(b0 + _BLOCK, hi)
        # Pass 1: the context keys of every position; touch each one's home slot.
        for t in range(b0, b1):
            i = t - b0
            pos = t - doc_start  # bytes of history within this document (never another's)
            jmax = min(order - 1, pos + 1)
            packed = np.uint64(0)
            if pos >= 1:
                packed = np.uint64(data[t - 1])
            n = 0
            for j in range(2, jmax + 1):
                if j <= pos:
                    packed |= np.uint64(data[t - j]) << np.uint64(8 * (j - 1))
                    key = (np.uint64(j) << np.uint64(_N_SHIFT)) | packed
                else:
                    key = (np.uint64(j) << np.uint64(_N_SHIFT)) | _BOS_BIT | packed
                keys[i, n] = key
                if j > 2:  # 2-symbol contexts come from pair_meta, not from a probe
                    sink ^= slots[_slot(key, bits), 0]
                n += 1
            n_keys[i] = n
        # Pass 2: the stored contexts (prefix-closed: stop at the first miss), the dense row.
        for t in range(b0, b1):
            i = t - b0
            nf = 0
            for q in range(n_keys[i]):
                key = keys[i, q]
                if q == 0:
                    if key & _BOS_BIT:
                        meta = pair_meta[65536 + np.int64(key & np.uint64(255))]
                    else:
                        meta = pair_meta[np.int64(key & np.uint64(65535))]
                    if meta < 0:
                        break
                    found[i, nf] = meta
                    nf += 1
                    continue
                s = _slot(key, bits)
                meta = np.int64(-1)
                while True:
                    k = slots[s, 0]
                    if k == key:
                        meta = np.int64(slots[s, 1])
                        break
                    if k == EMPTY:
                        break
                    s = (s + 1) & mask
                if meta < 0:
                    break
                found[i, nf] = meta
                nf += 1
            n_found[i] = nf
            row = BOS_ROW
            if t > doc_start:
                row = np.int64(data[t - 1])
            first = 0
            for f in range(nf - 1, -1, -1):  # the longest context with a dense row folds in the shorter ones
                dense = (found[i, f] >> 41) - 1
                if dense >= 0:
                    row = 257 + dense
                    first = f + 1
                    break
            rows[i] = row
            firsts[i] = first
            fsink += base[row, data[t], 0]
            for f in range(first, nf):
                head = found[i, f] & 0xFFFFFFFF
                fsink += stream_prob[head]
                sink ^= np.uint64(stream_byte[head + 1])
        # Pass 3: blend the found contexts into the entropy and the byte's probability.
        for t in range(b0, b1):
            i = t - b0
            h, p_x = _blend(
                found, i, n_found[i], firsts[i], rows[i], data[t], base, base_sum_plogp, stream_prob, stream_byte, acc,
                in_support, support,
            )  # fmt: skip
            entropy[t] = h
            surprisal[t] = -np.log(p_x)
    if sink == np.uint64(1) and fsink == -1.0:  # never true: keeps the touching loads alive
        entropy[lo] = np.float32(fsink)


def ngram_entropies(
    data: np.ndarray,  # uint8 (total_bytes,)
    offsets: np.ndarray,  # int64 (n_docs + 1,)
    order: int,
    base: np.ndarray,  # float32 (257 + R, 256, 2): rows 0..256 = orders <= 2 by previous symbol, then R contexts
    base_sum_plogp: np.ndarray,  # float64 (257 + R,): row sums of p log p
    slots: np.ndarray,  # uint64 (capacity, 2): contexts of >= 2 symbols (see build_slots)
    pair_meta: np.ndarray,  # int64 (65792,): the 2-symbol contexts' meta words (see pair_index)
    stream_prob: np.ndarray,  # float32: per context, its back-off weight then its successors' probabilities
    stream_byte: np.ndarray,  # uint8: the successor bytes, aligned with stream_prob
    threads: int = 1,
    task_bytes: int = TASK_BYTES,
) -> tuple[np.ndarray, np.ndarray]:
    """Entropy h[t] (nats) of the predictive distribution of every byte, and its surprisal.

    P(b) = A(b) + w * base(b): base is a dense row (the full distribution of the longest
    stored context that has one precomputed, else of the previous symbol), A collects the
    stored successors of the longer contexts weighted by the back-off of the still longer
    ones, and w is the product of their back-offs. Bytes outside A's support S keep the
    base row's shape, so
        sum_{b not in S} wB log(wB) = w log w * (1 - B(S)) + w * (sum_all B log B - sum_S B log B)
    and the entropy needs only |S| logarithms. Contexts are stored prefix-closed (every
    stored context's shorter suffix is stored too), so the search stops at the first miss.

    Runs on `threads` threads (the GIL is released); the result does not depend on it.
    """
    total = data.shape[0]
    entropy = np.empty(total, dtype=np.float32)
    surprisal = np.empty(total, dtype=np.float32)
    if total == 0:
        return entropy, surprisal
    task_doc, lo, hi = entropy_tasks(offsets, task_bytes)
    tables = (order, base, base_sum_plogp, slots, pair_meta, stream_prob, stream_byte)
    _on_threads(ngram_entropies_into, (data, offsets, task_doc, lo, hi, *tables, entropy, surprisal), threads, len(lo))
    return entropy, surprisal


# ------------------------------------------------- entropies from the longest context
#
# A byte's entropy depends on nothing but the longest stored context before it: contexts
# are prefix-closed, so that one context fixes the whole chain of shorter ones, the dense
# row and the blend. `entropy_index` therefore evaluates `_blend` once per stored context
# (and once per dense row, for bytes with no stored context) and the entropy-only kernel
# just finds the longest context of each byte and reads its value: no stream, no dense
# rows and no logarithms per byte, and the same float32 as `ngram_entropies` bit for bit.


def entropy_index(
    base: np.ndarray,  # see ngram_entropies
    base_sum_plogp: np.ndarray,
    slots: np.ndarray,
    pair_meta: np.ndarray,
    stream_prob: np.ndarray,
    stream_byte: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Tables of `ngram_entropies_only`: (hslots, short_h).

    hslots (capacity, 2) uint64 has the layout of `slots` (same keys in the same
    places); word 1 holds, in its low 32 bits, the float32 entropy of the distribution
    whose longest context is that key. short_h (65792 + 257,) float32: the entropy after
    each 2-symbol context (row as in `pair_index`) or, where that context is not stored,
    after its previous symbol alone, then after each previous symbol alone (row 65792 + r,
    r = 256 for BOS).
    """
    hslots = np.empty_like(slots)
    short_h = np.empty(65792 + 257, dtype=np.float32)
    start_thread_pool()  # a prange kernel follows: start the pool with OpenMP nesting kept off
    _fill_entropy_index(
        base, base_sum_plogp, slots, pair_meta, stream_prob, stream_byte, hslots, hslots.view(np.float32), short_h
    )
    return hslots, short_h


@numba.njit(cache=_CACHE, nogil=True)
def _chain_entropy(
    key: np.uint64,
    slots: np.ndarray,
    bits: np.uint64,
    base: np.ndarray,
    base_sum_plogp: np.ndarray,
    stream_prob: np.ndarray,
    stream_byte: np.ndarray,
    found: np.ndarray,
    acc: np.ndarray,
    in_support: np.ndarray,
    support: np.ndarray,
) -> np.float32:
    """The entropy after a stored context `key` (>= 2 symbols), as `_entropy_range` computes it."""
    n = np.int64(key >> np.uint64(_N_SHIFT))
    packed = key & np.uint64((1 << 56) - 1)
    for j in range(2, n + 1):  # every suffix, shortest first: the kernel's `found` row
        suffix = key
        if j < n:
            mask = (np.uint64(1) << np.uint64(8 * j)) - np.uint64(1)
            suffix = (np.uint64(j) << np.uint64(_N_SHIFT)) | (packed & mask)
        found[0, j - 2] = _lookup(slots, suffix, bits)
    nf = n - 1
    row = np.int64(packed & np.uint64(255))  # the previous byte
    first = 0
    for f in range(nf - 1, -1, -1):
        dense = (found[0, f] >> 41) - 1
        if dense >= 0:
            row = 257 + dense
            first = f + 1
            break
    h, _ = _blend(found, 0, nf, first, row, 0, base, base_sum_plogp, stream_prob, stream_byte, acc, in_support, support)
    return np.float32(h)


@numba.njit(cache=_CACHE, nogil=True, parallel=True)
def _fill_entropy_index(
    base: np.ndarray,
    base_sum_plogp: np.ndarray,
    slots: np.ndarray,
    pair_meta: np.ndarray,
    stream_prob: np.ndarray,
    stream_byte: np.ndarray,
    hslots: np.ndarray,
    hslots_f32: np.ndarray,  # float32 (capacity, 4): the same memory as hslots
    short_h: np.ndarray,
) -> None:
    capacity = slots.shape[0]
    bits = _table_bits(capacity)
    n_tasks = 64
    per_task = (capacity + n_tasks - 1) // n_tasks
    for task in numba.prange(n_tasks):
        found = np.empty((1, MAX_ORDER), dtype=np.int64)
        acc = np.zeros(256, dtype=np.float64)
        in_support = np.zeros(256, dtype=np.bool_)
        support = np.empty(256, dtype=np.int64)
        for s in range(task * per_task, min((task + 1) * per_task, capacity)):
            key = slots[s, 0]
            hslots[s, 0] = key
            hslots[s, 1] = np.uint64(0)
            if key == EMPTY:
                continue
            h = _chain_entropy(
                key, slots, bits, base, base_sum_plogp, stream_prob, stream_byte, found, acc, in_support, support
            )
            hslots_f32[s, 2] = h  # word 1's first 4 bytes: where the kernel reads it
    found = np.empty((1, MAX_ORDER), dtype=np.int64)
    acc = np.zeros(256, dtype=np.float64)
    in_support = np.zeros(256, dtype=np.bool_)
    support = np.empty(256, dtype=np.int64)
    for r in range(257):  # no stored context: the previous symbol's row alone
        h, _ = _blend(found, 0, 0, 0, r, 0, base, base_sum_plogp, stream_prob, stream_byte, acc, in_support, support)
        short_h[65792 + r] = np.float32(h)
    for r in range(65792):
        if pair_meta[r] >= 0:
            key = np.uint64(2) << np.uint64(_N_SHIFT)
            key |= np.uint64(r) if r < 65536 else _BOS_BIT | np.uint64(r - 65536)
            short_h[r] = _chain_entropy(
                key, slots, bits, base, base_sum_plogp, stream_prob, stream_byte, found, acc, in_support, support
            )
        else:
            short_h[r] = short_h[65792 + (r & 255)]


@numba.njit(cache=_CACHE, nogil=True, parallel=True)
def ngram_entropies_only_into(
    data: np.ndarray,  # uint8 (total_bytes,)
    offsets: np.ndarray,  # int64 (n_docs + 1,)
    task_doc: np.ndarray,  # int64: see entropy_tasks
    task_lo: np.ndarray,
    task_hi: np.ndarray,
    order: int,
    hslots: np.ndarray,  # uint64 (capacity, 2): see entropy_index
    hslots_f32: np.ndarray,  # float32 (capacity, 4): the same memory, to read the entropies
    short_h: np.ndarray,  # float32 (65792 + 257,)
    pair_meta: np.ndarray,  # int64 (65792,): which 2-symbol contexts are stored
    entropy: np.ndarray,  # float32 (total_bytes,): written
) -> None:
    """Fills `entropy` task by task over Numba's threads (see `ngram_entropies_into`)."""
    for k in numba.prange(task_lo.shape[0]):
        _entropy_only_task(
            data, offsets, task_doc[k], task_lo[k], task_hi[k], order, hslots, hslots_f32, short_h, pair_meta, entropy
        )


@numba.njit(cache=_CACHE, nogil=True)
def ngram_entropies_only_serial(
    data: np.ndarray,
    offsets: np.ndarray,
    task_doc: np.ndarray,
    task_lo: np.ndarray,
    task_hi: np.ndarray,
    order: int,
    hslots: np.ndarray,
    hslots_f32: np.ndarray,
    short_h: np.ndarray,
    pair_meta: np.ndarray,
    entropy: np.ndarray,
) -> None:
    """`ngram_entropies_only_into` on the calling thread alone: no threading layer to start,
    and safe to call from several Python threads at once (the GIL is released)."""
    for k in range(task_lo.shape[0]):
        _entropy_only_task(
            data, offsets, task_doc[k], task_lo[k], task_hi[k], order, hslots, hslots_f32, short_h, pair_meta, entropy
        )


@numba.njit(cache=_CACHE, nogil=True)
def _entropy_only_task(data, offsets, doc, lo, hi, order, hslots, hslots_f32, short_h, pair_meta, entropy) -> None:
    """One task of `entropy_tasks` (see `ngram_entropies_into`)."""
    if doc >= 0:  # a range of one long document
        _entropy_only_range(data, doc, lo, hi, order, hslots, hslots_f32, short_h, pair_meta, entropy)
        return
    d = -1 - doc  # whole short documents from d on
    while offsets[d] < hi:
        start, end = offsets[d], offsets[d + 1]
        _entropy_only_range(data, start, start, end, order, hslots, hslots_f32, short_h, pair_meta, entropy)
        d += 1


PREFETCH_AHEAD = 16  # positions between asking for a byte's slot and reading it


@numba.njit(cache=_CACHE, nogil=True)
def _entropy_only_range(
    data: np.ndarray,
    doc_start: np.int64,
    lo: np.int64,
    hi: np.int64,
    order: int,
    hslots: np.ndarray,
    hslots_f32: np.ndarray,
    short_h: np.ndarray,
    pair_meta: np.ndarray,
    entropy: np.ndarray,
) -> None:
    """Entropies of bytes lo..hi-1 of the document starting at doc_start: per byte, the
    value of its longest stored context.

    Contexts are prefix-closed, so the longest stored one is found by probing the longest
    candidate first and going shorter only on a miss: on text like the training data the
    first probe almost always hits (94% of bytes on held-out Python docs), so a byte costs
    one random cache line, which is prefetched PREFETCH_AHEAD positions before it is read.
    The last order - 1 bytes roll through one integer, so a key costs a mask and an or.
    """
    bits = _table_bits(hslots.shape[0])
    mask = hslots.shape[0] - 1
    jmax = order - 1  # the longest context, in symbols
    window = (np.uint64(1) << np.uint64(8 * jmax)) - np.uint64(1)
    top = np.uint64(jmax) << np.uint64(_N_SHIFT)
    roll = np.uint64(0)  # the bytes before t (at most jmax, all of this document), newest lowest
    for u in range(max(doc_start, lo - jmax), lo - 1):
        roll = ((roll << np.uint64(8)) | np.uint64(data[u])) & window
    ahead = np.uint64(0)  # the same for position t + PREFETCH_AHEAD
    for u in range(max(doc_start, lo + PREFETCH_AHEAD - 1 - jmax), min(lo + PREFETCH_AHEAD - 1, hi)):
        ahead = ((ahead << np.uint64(8)) | np.uint64(data[u])) & window
    for t in range(lo, hi):
        if t + PREFETCH_AHEAD - 1 < hi:
            ahead = ((ahead << np.uint64(8)) | np.uint64(data[t + PREFETCH_AHEAD - 1])) & window
            prefetch(hslots, _slot(top | ahead, bits))
        pos = t - doc_start
        if pos == 0:
            entropy[t] = short_h[65792 + BOS_ROW]
            continue
        roll = ((roll << np.uint64(8)) | np.uint64(data[t - 1])) & window
        r = 65536 + np.int64(roll) if pos == 1 else np.int64(roll & np.uint64(0xFFFF))
        entropy[t] = short_h[r]
        if pair_meta[r] < 0:  # prefix closure: no longer context is stored either
            continue
        j = min(jmax, pos + 1)
        if j < 3:
            continue
        key = (np.uint64(j) << np.uint64(_N_SHIFT)) | (roll & ((np.uint64(1) << np.uint64(8 * j)) - np.uint64(1)))
        if pos < j:  # the context reaches back to BOS
            key |= _BOS_BIT
        while j >= 3:  # longest first: the first hit is the longest stored context
            s = _slot(key, bits)
            while True:
                k = hslots[s, 0]
                if k == key or k == EMPTY:
                    break
                s = (s + 1) & mask
            if k == key:
                entropy[t] = hslots_f32[s, 2]
                break
            j -= 1
            key = (np.uint64(j) << np.uint64(_N_SHIFT)) | (roll & ((np.uint64(1) << np.uint64(8 * j)) - np.uint64(1)))


def ngram_entropies_only(
    data: np.ndarray,
    offsets: np.ndarray,
    order: int,
    hslots: np.ndarray,  # see entropy_index
    short_h: np.ndarray,
    pair_meta: np.ndarray,
    threads: int = 1,
    task_bytes: int = TASK_BYTES,
) -> np.ndarray:
    """The entropies `ngram_entropies` returns (bit for bit), without the surprisals, from
    the per-context table `entropy_index` builds: one lookup of the longest context per byte."""
    total = data.shape[0]
    entropy = np.empty(total, dtype=np.float32)
    if total == 0:
        return entropy
    task_doc, lo, hi = entropy_tasks(offsets, task_bytes)
    hslots = np.ascontiguousarray(hslots)
    args = (data, offsets, task_doc, lo, hi, order, hslots, hslots.view(np.float32), short_h, pair_meta, entropy)
    if threads <= 1 or len(lo) <= 1:
        ngram_entropies_only_serial(*args)
        return entropy
    _on_threads(ngram_entropies_only_into, args, threads, len(lo))
    return entropy


def _on_threads(kernel, args: tuple, threads: int, n_tasks: int) -> None:
    """Run a `prange` kernel on min(threads, tasks, Numba's pool) threads, then restore
    the previous setting (it is per calling thread, but callers may share one)."""
    start_thread_pool()
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS, n_tasks)))
    try:
        kernel(*args)
    finally:
        numba.set_num_threads(previous)


def context_entropies_py(
    keys: list[int],
    order: int,
    base_prob: np.ndarray,
    contexts: dict[int, tuple[float, dict[int, float]]],
) -> np.ndarray:
    """Twin of `entropy_index`: the entropy after each context key, from the full distribution."""
    out = np.empty(len(keys), dtype=np.float64)
    for q, key in enumerate(keys):
        n, bos, packed = split_key(key)
        n_bytes = n - int(bos)
        history = bytes((packed >> (8 * i)) & 255 for i in range(n_bytes - 1, -1, -1))
        if not bos:  # a history that does not reach BOS: pad in front so no longer BOS context applies
            history = b"\x00" * order + history
        p = ngram_distribution_py(history, min(order, n + 1), base_prob, contexts)
        nz = p[p > 0]
        out[q] = min(max(-np.sum(nz * np.log(nz)), 0.0), _LN256)
    return out


def ngram_distribution_py(
    history: bytes,
    order: int,
    base_prob: np.ndarray,
    contexts: dict[int, tuple[float, dict[int, float]]],
) -> np.ndarray:
    """The full (256,) predictive distribution after `history`, built shortest context first.

    `contexts` maps a context key to (back-off weight, {successor byte: probability}).
    """
    pos = len(history)
    p = base_prob[history[-1] if pos >= 1 else BOS_ROW].astype(np.float64).copy()
    for j in range(2, min(order - 1, pos + 1) + 1):
        key = context_key_py(history, pos, j)
        if key in contexts:
            backoff, successors = contexts[key]
            p *= backoff
            for b, prob in successors.items():
                p[b] += prob
    return p


def ngram_entropies_py(
    docs: list[bytes],
    order: int,
    base_prob: np.ndarray,
    contexts: dict[int, tuple[float, dict[int, float]]],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Twin of `ngram_entropies`: per document (entropy, surprisal), -sum p log p over 256."""
    out = []
    for doc in docs:
        h = np.empty(len(doc), dtype=np.float32)
        s = np.empty(len(doc), dtype=np.float32)
        for pos in range(len(doc)):
            p = ngram_distribution_py(doc[:pos], order, base_prob, contexts)
            nz = p[p > 0]
            h[pos] = min(max(-np.sum(nz * np.log(nz)), 0.0), _LN256)
            s[pos] = -np.log(p[doc[pos]])
        out.append((h, s))
    return out
