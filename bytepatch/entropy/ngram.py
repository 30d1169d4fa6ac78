"""Byte n-gram entropy model: interpolated modified Kneser-Ney over orders 1..N.

The fast CPU estimator of issue 3. Fitting is one streaming pass that counts every
n-gram exactly in a hashed table (uint64 keys pack the bytes, so counts never mix);
`finalize` turns counts into Kneser-Ney statistics and prunes the long contexts to a
compact sparse table (rare successors and rare contexts go to the back-off mass, which
keeps every distribution normalised). Orders 1 and 2 are kept whole as a dense
257 x 256 base (previous byte or BOS), which is what lets the kernel compute the full
predictive entropy with a handful of operations per stored successor.

Trade-off: the model is only as good as a short context allows (order 6 sees 5 bytes),
but it needs no torch, fits in seconds and yields entropies at several MB/s per core.
See docs/entropy.md for the formulas and the file format.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bytepatch.entropy import ngram_keys
from bytepatch.entropy import table_cache as TC
from bytepatch.entropy.base import CONFIG_FILE, as_documents, check_model_config, read_model_config
from bytepatch.strict import from_dict

KIND = "ngram"
FORMAT_VERSION = 1
WEIGHTS_FILE = "ngram.npz"
_LOAD_FACTOR = 0.5  # fill limit of the counting table
_INDEX_LOAD = 0.75  # fill limit of the context index the entropy kernel probes
DENSE_ROWS = 32768  # contexts given a dense row at load (2 x 32 MB of float32 with their p log p): the speed lever
_CHUNK_BYTES = 1 << 23  # documents are counted in ~8 MB batches: bounded extra memory


@dataclass(frozen=True)
class NgramConfig:
    """How an n-gram model is fitted and pruned (all of it enters the fingerprint)."""

    order: int = 6  # n-gram length: the longest context is order - 1 bytes (or BOS + fewer)
    min_count: int = 2  # contexts of >= 2 bytes keep a successor only if its KN count reaches this
    max_successors: int = 32  # ... and at most this many (the most frequent): bounds kernel work
    max_contexts: int = 0  # keep at most this many long contexts (largest totals first); 0 = all
    initial_capacity: int = 1 << 20  # slots of the counting table before it first grows

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):  # config.json may say "6": refuse, do not compare str to int
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{field.name} must be an integer, got {value!r}")
            object.__setattr__(self, field.name, int(value))
        if not 3 <= self.order <= ngram_keys.MAX_ORDER:
            raise ValueError(f"order must be in 3..{ngram_keys.MAX_ORDER}, got {self.order}")
        if self.min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {self.min_count}")
        if not 1 <= self.max_successors <= 256:
            raise ValueError(f"max_successors must be in 1..256, got {self.max_successors}")
        if self.max_contexts < 0:
            raise ValueError(f"max_contexts must be >= 0, got {self.max_contexts}")
        if self.initial_capacity < 1:
            raise ValueError(f"initial_capacity must be >= 1, got {self.initial_capacity}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NgramConfig:
        return from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def pack_documents(docs: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Documents back to back as one uint8 array plus int64 offsets (n_docs + 1)."""
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    offsets = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = np.frombuffer(b"".join(docs), dtype=np.uint8)
    return data, offsets


# --------------------------------------------------------------------------- fitting


def _kernels():
    """The Numba kernels, imported on first use: a process that only describes or passes
    on a model (the parent of `--workers`) never pays Numba's import (~0.4 s, ~60 MB)."""
    from bytepatch.entropy import ngram_kernels

    return ngram_kernels


class NgramCounter:
    """Streaming exact n-gram counts (orders 1..N) in one growing open-addressing table."""

    def __init__(self, config: NgramConfig | None = None) -> None:
        self.config = config or NgramConfig()
        capacity = 1 << max(4, (self.config.initial_capacity - 1).bit_length())
        self.keys = np.full(capacity, ngram_keys.EMPTY, dtype=np.uint64)
        self.counts = np.zeros(capacity, dtype=np.uint32)
        self.fill = 0
        self.n_bytes = 0
        self.n_docs = 0

    def update(self, docs: Iterable[bytes]) -> None:
        """Count the n-grams of more documents (any iterable; consumed once)."""
        batch: list[bytes] = []
        size = 0
        for doc in docs:
            batch.append(bytes(doc))
            size += len(batch[-1])
            if size >= _CHUNK_BYTES:
                self._count(batch)
                batch, size = [], 0
        if batch:
            self._count(batch)

    def _count(self, docs: list[bytes]) -> None:
        data, offsets = pack_documents(docs)
        order = self.config.order
        d = 0
        while d < len(docs):
            max_fill = int(self.keys.shape[0] * _LOAD_FACTOR)
            self.fill, d = _kernels().count_ngrams(data, offsets, d, order, self.keys, self.counts, self.fill, max_fill)
            if d < len(docs):  # the next document might not fit: grow until it does
                need = self.fill + order * int(offsets[d + 1] - offsets[d])
                capacity = self.keys.shape[0]
                while capacity * _LOAD_FACTOR < need:
                    capacity *= 2
                self.keys, self.counts = _kernels().rehash(self.keys, self.counts, capacity)
        self.n_bytes += int(offsets[-1])
        self.n_docs += len(docs)

    def entries(self) -> tuple[np.ndarray, np.ndarray]:
        """All (key, count) pairs, sorted by key (so grouped by order, then context)."""
        used = self.keys != ngram_keys.EMPTY
        keys, counts = self.keys[used], self.counts[used].astype(np.int64)
        perm = np.argsort(keys, kind="stable")
        return keys[perm], counts[perm]

    def finalize(self) -> NgramModel:
        """The smoothed, pruned model (the counter can keep counting afterwards)."""
        keys, counts = self.entries()
        arrays = kneser_ney_tables(keys, counts, self.config)
        stats = {"trained_bytes": self.n_bytes, "trained_docs": self.n_docs}
        return NgramModel(self.config, arrays, stats=stats)


def _orders(keys: np.ndarray) -> np.ndarray:
    return (keys >> np.uint64(57)).astype(np.int64)


def _has_bos(keys: np.ndarray) -> np.ndarray:
    return ((keys >> np.uint64(56)) & np.uint64(1)).astype(bool)


def _packed(keys: np.ndarray) -> np.ndarray:
    return keys & np.uint64((1 << 56) - 1)


def _drop_first_symbol(keys: np.ndarray, n: int) -> np.ndarray:
    """Keys of n symbols -> keys of their last n - 1 symbols (drop BOS or the oldest byte)."""
    packed = np.where(_has_bos(keys), _packed(keys), _packed(keys) & np.uint64((1 << (8 * (n - 1))) - 1))
    return (np.uint64(n - 1) << np.uint64(57)) | packed


def _context_of(keys: np.ndarray, n: int) -> np.ndarray:
    """Context keys of order-n keys: drop the last byte, keep the BOS flag."""
    bos = keys & np.uint64(1 << 56)
    return (np.uint64(n - 1) << np.uint64(57)) | bos | (_packed(keys) >> np.uint64(8))


def kneser_ney_counts(keys: np.ndarray, counts: np.ndarray, order: int) -> np.ndarray:
    """Kneser-Ney counts: raw counts at the top order and for n-grams starting at BOS,
    else the number of distinct one-symbol left extensions seen (continuation counts)."""
    orders = _orders(keys)
    adjusted = counts.copy()
    for n in range(1, order):
        suffix = _drop_first_symbol(keys[orders == n + 1], n + 1)
        uniq, n_left = np.unique(suffix, return_counts=True)
        lo = np.flatnonzero((orders == n) & ~_has_bos(keys))
        where = np.searchsorted(uniq, keys[lo])
        # Every order-n n-gram not at BOS has a left extension (a byte, or BOS).
        assert np.array_equal(uniq[np.minimum(where, len(uniq) - 1)], keys[lo])
        adjusted[lo] = n_left[where]
    return adjusted


def modified_kn_discounts(adjusted: np.ndarray) -> np.ndarray:
    """Chen & Goodman's D1, D2, D3+ from the counts-of-counts of one order."""
    n1, n2, n3, n4 = (int(np.count_nonzero(adjusted == c)) for c in (1, 2, 3, 4))
    fallback = np.array([0.5, 1.0, 1.5])  # tiny corpora: no reliable counts-of-counts
    if min(n1, n2, n3, n4) == 0:
        return fallback
    y = n1 / (n1 + 2 * n2)
    d = np.array([1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3])
    # Each D_c must stay in (0, c] so discounted counts stay non-negative.
    return np.where((d > 0) & (d <= np.array([1.0, 2.0, 3.0])), d, fallback)


def _discount(adjusted: np.ndarray, d: np.ndarray) -> np.ndarray:
    return d[np.minimum(adjusted, 3) - 1]


def kneser_ney_tables(keys: np.ndarray, counts: np.ndarray, config: NgramConfig) -> dict[str, np.ndarray]:
    """The integer tables stored on disk (see docs/entropy.md, "File format")."""
    order = config.order
    adjusted = kneser_ney_counts(keys, counts, order)
    orders = _orders(keys)
    discounts = np.zeros((order + 1, 3), dtype=np.float64)
    for n in range(1, order + 1):
        discounts[n] = modified_kn_discounts(adjusted[orders == n])

    unigram = np.zeros(256, dtype=np.uint32)
    sel = orders == 1
    unigram[_packed(keys[sel]).astype(np.int64)] = adjusted[sel]
    bigram = np.zeros((257, 256), dtype=np.uint32)
    sel = orders == 2
    rows = np.where(_has_bos(keys[sel]), ngram_keys.BOS_ROW, (_packed(keys[sel]) >> np.uint64(8)).astype(np.int64))
    bigram[rows, (_packed(keys[sel]) & np.uint64(255)).astype(np.int64)] = adjusted[sel]

    parts = [_long_contexts(keys[orders == n], adjusted[orders == n], n, config) for n in range(3, order + 1)]
    if config.max_contexts:
        parts = _cap_contexts(parts, config.max_contexts)
    for i in range(len(parts) - 1, 0, -1):  # prefix closure, longest contexts first
        parts[i - 1] = _add_empty_contexts(parts[i - 1], _drop_first_symbol(parts[i][0], i + 2))
    ctx_keys = np.concatenate([p[0] for p in parts])
    ctx_total = np.concatenate([p[1] for p in parts])
    succ_len = np.concatenate([p[2] for p in parts])
    succ_byte = np.concatenate([p[3] for p in parts])
    succ_count = np.concatenate([p[4] for p in parts])
    return {
        "discounts": discounts,
        "unigram_counts": unigram,
        "bigram_counts": bigram,
        "ctx_keys": ctx_keys.astype(np.uint64),
        "ctx_total": ctx_total.astype(np.uint32),
        "succ_len": succ_len.astype(np.uint16),
        "succ_byte": succ_byte.astype(np.uint8),
        "succ_count": succ_count.astype(np.uint32),
    }


def _cap_contexts(parts: list[tuple[np.ndarray, ...]], max_contexts: int) -> list[tuple[np.ndarray, ...]]:
    """Keep the `max_contexts` long contexts with the largest totals (over all orders)."""
    totals = np.concatenate([p[1] for p in parts]).astype(np.int64)
    if len(totals) <= max_contexts:
        return parts
    cutoff = np.sort(totals)[::-1][max_contexts - 1]
    out = []
    budget = max_contexts
    for ctx, total, succ_len, succ_byte, succ_count in parts:
        # Ties at the cutoff go to the shorter contexts first (parts are shortest first).
        keep = total > cutoff
        ties = np.flatnonzero(total == cutoff)
        budget_here = max(0, min(len(ties), budget - int(np.count_nonzero(total > cutoff))))
        keep[ties[:budget_here]] = True
        budget -= int(np.count_nonzero(keep))
        keep_succ = np.repeat(keep, succ_len)
        out.append((ctx[keep], total[keep], succ_len[keep], succ_byte[keep_succ], succ_count[keep_succ]))
    return out


def _add_empty_contexts(part: tuple[np.ndarray, ...], needed: np.ndarray) -> tuple[np.ndarray, ...]:
    """Insert the `needed` contexts that `part` lacks, with no successors (back-off 1).

    Harmless for the distribution, and it makes the stored set prefix-closed so the
    kernel may stop at the first context length that is not stored.
    """
    ctx, total, succ_len, succ_byte, succ_count = part
    missing = np.setdiff1d(needed, ctx)
    if len(missing) == 0:
        return part
    all_ctx = np.concatenate([ctx, missing])
    perm = np.argsort(all_ctx, kind="stable")
    # Successor arrays follow context order and the new contexts own none: they stay as they are.
    total = np.concatenate([total, np.zeros(len(missing), total.dtype)])[perm]
    succ_len = np.concatenate([succ_len, np.zeros(len(missing), succ_len.dtype)])[perm]
    return all_ctx[perm], total, succ_len, succ_byte, succ_count


def _long_contexts(keys: np.ndarray, adjusted: np.ndarray, n: int, config: NgramConfig) -> tuple[np.ndarray, ...]:
    """Pruned successor lists of the order-n n-grams (contexts of n - 1 >= 2 symbols).

    Totals count every successor, so the mass of pruned ones goes to the back-off.
    """
    ctx = _context_of(keys, n)  # keys are sorted, so equal contexts are adjacent
    uniq, first, inverse = np.unique(ctx, return_index=True, return_inverse=True)
    total = np.add.reduceat(adjusted, first) if len(first) else np.zeros(0, np.int64)
    byte = (_packed(keys) & np.uint64(255)).astype(np.uint8)
    # Rank successors within their context by count (desc), then byte: deterministic.
    perm = np.lexsort((byte, -adjusted, inverse))
    rank = np.arange(len(perm)) - first[inverse[perm]]
    keep = perm[(adjusted[perm] >= config.min_count) & (rank < config.max_successors)]
    keep.sort()
    kept_ctx = inverse[keep]
    succ_len = np.bincount(kept_ctx, minlength=len(uniq))
    has = succ_len > 0  # a context with no stored successor equals an absent one
    return uniq[has], total[has], succ_len[has], byte[keep], adjusted[keep]


# --------------------------------------------------------------------------- the model


class NgramModel:
    """A fitted byte n-gram model: entropies, cross-entropy, save/load, fingerprint.

    Treat an instance as read-only: `load_entropy_model` may hand the same one to
    several callers.
    """

    kind = KIND

    def __init__(
        self,
        config: NgramConfig,
        arrays: dict[str, np.ndarray],
        default_threshold: float | None = None,
        stats: dict[str, Any] | None = None,
        dense_rows: int = DENSE_ROWS,
    ) -> None:
        validate_arrays(config, arrays)
        self.config = config
        self._arrays: dict[str, np.ndarray] | None = arrays
        self._weights: Path | None = None  # where `arrays` come from when they are read lazily
        self.default_threshold = default_threshold
        self.stats = dict(stats or {})
        self.context_length = config.order - 1
        self.fingerprint = _fingerprint(config, arrays)
        self._tables = _probability_tables(arrays, dense_rows)

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The stored integer tables (read on first use when the model came from the table cache)."""
        if self._arrays is None:
            assert self._weights is not None
            self._arrays = _read_arrays(self._weights)
        return self._arrays

    @classmethod
    def fit(cls, docs: Iterable[bytes], config: NgramConfig | None = None) -> NgramModel:
        """Count `docs` in one pass and return the smoothed model."""
        counter = NgramCounter(config)
        counter.update(docs)
        return counter.finalize()

    # ---- inference

    def entropies_and_surprisals(
        self, docs: Sequence[bytes], threads: int = 1
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per document: h[t] (entropy, nats) and -log P(byte t) (nats), float32; computed
        on `threads` threads (the values never depend on it)."""
        docs = as_documents(docs)
        if not docs:
            return [], []
        data, offsets = pack_documents(docs)
        h, s = self._kernel(data, offsets, threads)
        return np.split(h, offsets[1:-1]), np.split(s, offsets[1:-1])

    def entropies_flat(self, data: np.ndarray, offsets: np.ndarray, threads: int = 1) -> np.ndarray:
        """Entropies (float32, flat) of documents stored back to back: uint8 `data` and
        int64 `offsets` (documents + 1, from 0 to len(data)), on `threads` threads."""
        data = np.ascontiguousarray(data, dtype=np.uint8)
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        if offsets.ndim != 1 or len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(data):
            raise ValueError("offsets must start at 0 and end at len(data)")
        if np.any(offsets[1:] < offsets[:-1]):
            raise ValueError("offsets must be non-decreasing")
        return self._entropy_kernel(data, offsets, threads)

    def _entropy_kernel(self, data: np.ndarray, offsets: np.ndarray, threads: int) -> np.ndarray:
        """Flat entropies of packed documents: one lookup of each byte's longest context."""
        t = self._tables
        return _kernels().ngram_entropies_only(
            data, offsets, self.config.order, t["hslots"], t["short_h"], t["pair_meta"], threads=threads
        )

    def _kernel(self, data: np.ndarray, offsets: np.ndarray, threads: int) -> tuple[np.ndarray, np.ndarray]:
        """Flat entropies and surprisals of packed documents, from the model's tables."""
        t = self._tables
        return _kernels().ngram_entropies(
            data,
            offsets,
            self.config.order,
            t["base"],
            t["base_sum_plogp"],
            t["slots"],
            t["pair_meta"],
            t["stream_prob"],
            t["stream_byte"],
            threads=threads,
        )

    def entropies(self, docs: Sequence[bytes], threads: int = 1) -> list[np.ndarray]:
        docs = as_documents(docs)
        if not docs:
            return []
        data, offsets = pack_documents(docs)
        return np.split(self._entropy_kernel(data, offsets, threads), offsets[1:-1])

    def cross_entropy(self, docs: Sequence[bytes]) -> float:
        """Mean surprisal in bits per byte; ValueError when the documents hold no byte."""
        _, surprisals = self.entropies_and_surprisals(docs)
        n = sum(len(s) for s in surprisals)
        if n == 0:
            raise ValueError("cross_entropy needs at least one byte: the documents are all empty")
        return sum(float(np.sum(s, dtype=np.float64)) for s in surprisals) / (n * math.log(2))

    def distribution(self, context: bytes) -> np.ndarray:
        """The full predictive distribution (256,) of the byte after `context` (inspection).

        Built shortest context first from the base row and the stored contexts' back-offs
        and successors (the same float32 stream the kernel reads).
        """
        history = bytes(context)
        pos = len(history)
        t = self._tables
        p = t["base_p1"][history[-1] if pos >= 1 else ngram_keys.BOS_ROW].copy()
        lengths = range(2, min(self.config.order - 1, pos + 1) + 1)
        kernels = _kernels()
        keys = np.array([kernels.context_key_py(history, pos, j) for j in lengths], dtype=np.uint64)
        for meta in kernels.lookup_many(t["slots"], keys).tolist():
            if meta < 0:  # prefix closure: no longer context is stored either
                break
            head, n_succ = meta & 0xFFFFFFFF, (meta >> 32) & 0x1FF
            p *= float(t["stream_prob"][head])
            body = slice(head + 1, head + 1 + n_succ)
            p[t["stream_byte"][body].astype(np.int64)] += t["stream_prob"][body]
        return p

    # ---- persistence

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path / WEIGHTS_FILE, **self.arrays)
        config = {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "default_threshold": self.default_threshold,
            "fingerprint": self.fingerprint,
            "stats": self.stats,
        }
        (path / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    def __reduce_ex__(self, protocol):
        # Loaded from a directory (`load_entropy_model` sets `loaded_from`): pickle as the
        # directory and fingerprint; the receiving process loads it once (memoised) and
        # refuses other weights. A model only in memory pickles whole.
        path = getattr(self, "loaded_from", None)
        if path is None:
            return super().__reduce_ex__(protocol)
        return (_reload_by_reference, (path, self.fingerprint))

    @classmethod
    def load(cls, path: str | Path) -> NgramModel:
        """Read a directory written by `save`; any defect is a ValueError naming the file."""
        raw = read_model_config(path)
        where = Path(path) / CONFIG_FILE
        weights = Path(path) / WEIGHTS_FILE
        config, default_threshold, stats, recorded = _parse_config(raw, where)
        key = _cache_key(weights, config)
        cached = TC.load_tables(key, _TABLE_NAMES) if key else None
        if cached is not None and cached[1].get("fingerprint") == recorded:
            # The entry was written by a full load of exactly these bytes, which checked the
            # arrays and the fingerprint: skip reading, validating and rebuilding them.
            model = cls.__new__(cls)
            model.config, model._arrays, model._weights = config, None, weights
            model.default_threshold, model.stats = default_threshold, stats
            model.context_length, model.fingerprint = config.order - 1, recorded
            model._tables = cached[0]
            return model
        arrays = _read_arrays(weights)
        try:
            model = cls(config, arrays, default_threshold=default_threshold, stats=stats)
        except ValueError as exc:
            raise ValueError(f"{weights}: {exc}") from exc
        if recorded != model.fingerprint:
            raise ValueError(
                f"{where}: fingerprint {recorded} does not match the weights in {WEIGHTS_FILE} ({model.fingerprint}); "
                "the directory was modified or mixed from two models"
            )
        if key:
            TC.store_tables(key, model._tables, {"fingerprint": model.fingerprint})
        return model

    def with_default_threshold(self, threshold: float | None) -> NgramModel:
        """The same model (sharing its tables) with another default threshold."""
        other = copy.copy(self)
        other.default_threshold = threshold
        other.stats = dict(self.stats)
        return other

    def __repr__(self) -> str:
        n_ctx = len(self.arrays["ctx_keys"])
        return f"NgramModel(order={self.config.order}, contexts={n_ctx}, fingerprint={self.fingerprint[:12]})"


_ARRAY_DTYPES = {
    "discounts": np.dtype(np.float64),
    "unigram_counts": np.dtype(np.uint32),
    "bigram_counts": np.dtype(np.uint32),
    "ctx_keys": np.dtype(np.uint64),
    "ctx_total": np.dtype(np.uint32),
    "succ_len": np.dtype(np.uint16),
    "succ_byte": np.dtype(np.uint8),
    "succ_count": np.dtype(np.uint32),
}
_CONFIG_KEYS = {"kind", "format_version", "config", "default_threshold", "fingerprint", "stats"}


_TABLE_NAMES = [
    "base_p1",
    "base",
    "base_sum_plogp",
    "slots",
    "pair_meta",
    "stream_prob",
    "stream_byte",
    "hslots",
    "short_h",
]


def _cache_key(weights: Path, config: NgramConfig) -> str | None:
    """The table-cache key of a weights file (None when it cannot be read: load reports that)."""
    try:
        return TC.content_key([weights], {"config": config.to_dict(), "dense_rows": DENSE_ROWS})
    except OSError:
        return None


def _parse_config(raw: dict[str, Any], where: Path) -> tuple[NgramConfig, float | None, dict[str, Any], str]:
    """(fit config, default threshold, stats, recorded fingerprint) of a config.json, strictly:
    unknown keys, a missing fingerprint and wrongly typed values are errors naming the file."""
    check_model_config(raw, where, KIND, _CONFIG_KEYS)
    if raw.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{where}: format_version {raw.get('format_version')!r}, expected {FORMAT_VERSION}")
    recorded = raw.get("fingerprint")
    if not isinstance(recorded, str) or not recorded:
        raise ValueError(f"{where}: missing 'fingerprint' (the sha256 of the weights that load verifies)")
    if not isinstance(raw.get("config"), dict):
        raise ValueError(f"{where}: 'config' must be an object with the fit settings, got {raw.get('config')!r}")
    try:
        config = NgramConfig.from_dict(raw["config"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: config: {exc}") from exc
    threshold = raw.get("default_threshold")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold)
    ):
        raise ValueError(f"{where}: default_threshold must be a finite number or null, got {threshold!r}")
    stats = raw.get("stats", {})
    if not isinstance(stats, dict):
        raise ValueError(f"{where}: 'stats' must be an object, got {type(stats).__name__}")
    return config, None if threshold is None else float(threshold), stats, recorded


def _read_arrays(weights: Path) -> dict[str, np.ndarray]:
    """Every array of ngram.npz, exactly the expected names and dtypes; a missing,
    truncated or corrupt file is a ValueError naming it (never a zipfile/KeyError traceback)."""
    try:
        with np.load(weights, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError as exc:
        raise ValueError(f"{weights}: no such file") from exc
    except Exception as exc:  # noqa: BLE001 - a damaged npz raises OSError, BadZipFile, zlib.error,
        # ValueError, and from its .npy headers (parsed with ast/tokenize) SyntaxError or TokenError
        raise ValueError(f"{weights}: unreadable or corrupt ({type(exc).__name__}: {exc})") from exc
    missing = sorted(set(_ARRAY_DTYPES) - set(arrays))
    if missing:
        raise ValueError(f"{weights}: missing arrays {missing}")
    unknown = sorted(set(arrays) - set(_ARRAY_DTYPES))
    if unknown:
        raise ValueError(f"{weights}: unknown arrays {unknown}; expected {sorted(_ARRAY_DTYPES)}")
    # A member whose stored name lost its .npy suffix comes back as raw bytes, not an array.
    raw = sorted(name for name, value in arrays.items() if not isinstance(value, np.ndarray))
    if raw:
        raise ValueError(f"{weights}: corrupt: {raw} not stored as .npy arrays")
    return arrays


def validate_arrays(config: NgramConfig, arrays: dict[str, np.ndarray]) -> None:
    """Refuse arrays the kernels could misread (they do no bounds checks): names, dtypes,
    shapes, consistent lengths, valid context keys (sorted, lengths 2..order-1),
    successor lists within `max_successors`, and discounts that keep probabilities >= 0.
    The checks the kernels can do faster (counts vs totals, prefix closure) run there."""
    if set(arrays) != set(_ARRAY_DTYPES):
        raise ValueError(f"arrays {sorted(arrays)}, expected {sorted(_ARRAY_DTYPES)}")
    for name, dtype in _ARRAY_DTYPES.items():
        if arrays[name].dtype != dtype:
            raise ValueError(f"{name} has dtype {arrays[name].dtype}, expected {dtype}")
    order = config.order
    shapes = {"discounts": (order + 1, 3), "unigram_counts": (256,), "bigram_counts": (257, 256)}
    for name, shape in shapes.items():
        if arrays[name].shape != shape:
            raise ValueError(f"{name} has shape {arrays[name].shape}, expected {shape} (order {order})")
    for name in ("ctx_keys", "ctx_total", "succ_len", "succ_byte", "succ_count"):
        if arrays[name].ndim != 1:
            raise ValueError(f"{name} must be 1-D, has shape {arrays[name].shape}")
    n_ctx = len(arrays["ctx_keys"])
    if not len(arrays["ctx_total"]) == len(arrays["succ_len"]) == n_ctx:
        raise ValueError(
            f"context arrays differ in length: ctx_keys {n_ctx}, ctx_total {len(arrays['ctx_total'])}, "
            f"succ_len {len(arrays['succ_len'])}"
        )
    n_succ = int(arrays["succ_len"].sum(dtype=np.int64))
    if not len(arrays["succ_byte"]) == len(arrays["succ_count"]) == n_succ:
        raise ValueError(
            f"successor arrays inconsistent: sum(succ_len) = {n_succ}, succ_byte {len(arrays['succ_byte'])}, "
            f"succ_count {len(arrays['succ_count'])}"
        )
    if n_ctx + n_succ >= 1 << 32:
        raise ValueError(f"too many contexts + successors ({n_ctx + n_succ}) for the 32-bit stream index")
    if n_ctx and int(arrays["succ_len"].max()) > config.max_successors:
        raise ValueError(
            f"a context stores {int(arrays['succ_len'].max())} successors, max_successors is {config.max_successors}"
        )
    keys = arrays["ctx_keys"]
    if n_ctx:
        if np.any(keys[1:] <= keys[:-1]):
            raise ValueError("ctx_keys are not strictly increasing")
        n = _orders(keys)
        if int(n.min()) < 2 or int(n.max()) > order - 1 or np.any(keys >> np.uint64(60)):
            raise ValueError(f"ctx_keys hold contexts outside 2..{order - 1} symbols")
        n_bytes = n - _has_bos(keys)  # a BOS context of n symbols holds n - 1 bytes
        if np.any(_packed(keys) >> (8 * n_bytes).astype(np.uint64)):
            raise ValueError("ctx_keys hold bytes beyond their length")
    d = arrays["discounts"][1:]
    if not np.all(np.isfinite(d)) or np.any(d < 0) or np.any(d > np.array([1.0, 2.0, 3.0])):
        raise ValueError("discounts must be finite with 0 <= D_c <= c for c = 1, 2, 3+")


def _fingerprint(config: NgramConfig, arrays: dict[str, np.ndarray]) -> str:
    """sha256 of the kind, format, fit config and every array (name, dtype, shape, bytes).

    The default threshold and training stats are left out: they do not change entropies.
    """
    digest = hashlib.sha256()
    head = {"kind": KIND, "format_version": FORMAT_VERSION, "config": config.to_dict()}
    digest.update(json.dumps(head, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        digest.update(a.reshape(-1).view(np.uint8))  # the raw bytes, without a copy
    return digest.hexdigest()


def _probability_tables(arrays: dict[str, np.ndarray], dense_rows: int) -> dict[str, np.ndarray]:
    """Float tables the kernel reads, derived from the stored integer counts.

    Cheap by construction (a fraction of a second, no float64 temporaries of table size):
    the probability stream, the hash index and the dense rows are each built by one
    Numba kernel straight into their final float32 arrays. Beyond the 257 order <= 2
    rows, `dense_rows` stored contexts (the largest total x successor count) get their
    full distribution precomputed, which keeps the kernel's sparse support small; this
    changes speed and float rounding, never the model. Raises ValueError on counts the
    kernels would misread (see `validate_arrays` for the rest).
    """
    d = arrays["discounts"]
    uni = arrays["unigram_counts"].astype(np.int64)
    base_uni = np.full(256, 1.0 / 256)  # order 0: uniform
    if uni.sum() > 0:
        base_uni = _interpolate(uni[None, :], d[1], base_uni[None, :])[0]
    bi = arrays["bigram_counts"].astype(np.int64)
    base = _interpolate(bi, d[2], np.broadcast_to(base_uni, bi.shape))  # (257, 256), float64

    ctx_keys, succ_len = arrays["ctx_keys"], arrays["succ_len"]
    kernels = _kernels()
    head, stream_prob, stream_byte, bad = kernels.build_stream(
        ctx_keys, arrays["ctx_total"], succ_len, arrays["succ_byte"], arrays["succ_count"], d
    )
    if bad >= 0:
        raise ValueError(f"context {bad}: a successor count is 0 or the counts exceed ctx_total")
    # Dense rows where they save the most kernel work: the top `dense_rows` scores, ties to
    # the lower index (a partition, not a full sort: this runs on every load).
    score = arrays["ctx_total"].astype(np.int64) * succ_len
    k = min(dense_rows, int(np.count_nonzero(score)))
    chosen = np.zeros(0, dtype=np.int64)
    if k:
        kth = np.partition(score, len(score) - k)[len(score) - k]
        above = np.flatnonzero(score > kth)
        chosen = np.sort(np.concatenate([above, np.flatnonzero(score == kth)[: k - len(above)]]))
    ctx_dense = np.full(len(ctx_keys), -1, dtype=np.int64)
    ctx_dense[chosen] = np.arange(len(chosen))
    # The index is probed at random for every byte: at most 3/4 full keeps probe runs short
    # (a slot is 16 bytes, so a run of 4 costs one cache line) while the table stays small
    # enough for more of it to live in the caches.
    capacity = 1 << max(4, (int(math.ceil(len(ctx_keys) / _INDEX_LOAD)) - 1).bit_length())
    slots = kernels.build_slots(ctx_keys, head, succ_len, ctx_dense, capacity)
    missing = kernels.first_missing_suffix(slots, ctx_keys)
    if missing >= 0:
        raise ValueError(f"contexts are not prefix-closed: the suffix of context {missing} is not stored")
    dense, sum_plogp = kernels.dense_tables(base, ctx_keys[chosen], slots, stream_prob, stream_byte)
    pair_meta = kernels.pair_index(slots)
    hslots, short_h = kernels.entropy_index(dense, sum_plogp, slots, pair_meta, stream_prob, stream_byte)
    return {
        "base_p1": base,
        "base": dense,
        "base_sum_plogp": sum_plogp,
        "slots": slots,
        "pair_meta": pair_meta,
        "stream_prob": stream_prob,
        "stream_byte": stream_byte,
        "hslots": hslots,
        "short_h": short_h,
    }


def _interpolate(counts: np.ndarray, d: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Rows of interpolated KN: max(c - D(c), 0)/C + gamma * lower; unseen rows = lower."""
    total = counts.sum(axis=1, keepdims=True).astype(np.float64)
    discount = np.where(counts > 0, d[np.clip(counts, 1, 3) - 1], 0.0)
    safe = np.where(total > 0, total, 1.0)
    gamma = np.where(total > 0, discount.sum(axis=1, keepdims=True) / safe, 1.0)
    return (counts - discount) / safe + gamma * lower


def _context_dict(
    arrays: dict[str, np.ndarray], tables: dict[str, np.ndarray]
) -> dict[int, tuple[float, dict[int, float]]]:
    """{context key: (back-off, {byte: probability})} from the stream: the input of the Python twin."""
    out = {}
    succ_len = arrays["succ_len"].astype(np.int64)
    heads = np.concatenate([[0], np.cumsum(succ_len)[:-1]]).astype(np.int64) + np.arange(len(succ_len))
    prob, byte = tables["stream_prob"].tolist(), tables["stream_byte"].tolist()
    for key, head, n in zip(arrays["ctx_keys"].tolist(), heads.tolist(), succ_len.tolist()):
        out[key] = (prob[head], dict(zip(byte[head + 1 : head + 1 + n], prob[head + 1 : head + 1 + n])))
    return out


def _reload_by_reference(path: str, fingerprint: str) -> NgramModel:
    """The unpickling side of `NgramModel.__reduce_ex__`."""
    from bytepatch.entropy.registry import load_entropy_model  # registry imports this module

    model = load_entropy_model(path)
    if model.fingerprint != fingerprint:
        raise ValueError(
            f"entropy model {path!r}: fingerprint {model.fingerprint[:16]} differs from the pickled "
            f"{fingerprint[:16]} (the model changed on disk)"
        )
    return model
