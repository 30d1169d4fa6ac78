"""The calibration sample: a bounded, deterministic slice of a corpus (docs/design.md §4).

Calibration needs "a sample of the corpus", not its first bytes: a corpus whose first
file is one language or one 1 GB document would otherwise calibrate on that alone.
The trade-off chosen here is a single streaming pass that reads only what it keeps
(no reservoir over the whole corpus, which would read every byte of it):

- Inputs are read round-robin, one document from each in turn, so the sample spans
  every input file. At most `MAX_OPEN` inputs are open at once; with more inputs than
  that, the first ones visited are spread evenly over the (sorted) list, e.g. files
  0, k, 2k, ... and the pool is refilled from the rest in that interleaved order.
- A document contributes at most 1/`DOCUMENT_SHARE` of the sample (its beginning;
  entropies are causal, so a prefix scores as it would in the whole document). If the
  inputs run out first, the truncated documents grow back, in sampling order, until
  the sample is full: one long document still yields a full sample.
- Empty documents are skipped (they have no patches). The same inputs, reader settings
  and size always give the same sample.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence

from bytepatch.io import ReaderConfig, expand_inputs, read_source

MAX_OPEN = 64  # inputs read at once (open files) while sampling round-robin
DOCUMENT_SHARE = 16  # no document takes more than 1/16 of the sample while others remain


def spread_order(n: int, width: int = MAX_OPEN) -> list[int]:
    """0..n-1 interleaved with stride ceil(n / width): the first `width` are spread over all."""
    stride = max(1, -(-n // width))
    return [i for r in range(stride) for i in range(r, n, stride)]


def round_robin(inputs: Sequence[str], reader: ReaderConfig, max_open: int = MAX_OPEN) -> Iterator[bytes]:
    """Every non-empty document of the inputs, taking one from each open input in turn."""
    paths = expand_inputs(list(inputs))
    pending = deque(paths[i] for i in spread_order(len(paths), max_open))
    active: deque[Iterator] = deque()
    try:
        while pending or active:
            while pending and len(active) < max_open:
                active.append(iter(read_source(pending.popleft(), reader)))
            source = active.popleft()
            for doc in source:
                if doc.data:
                    active.append(source)
                    yield doc.data
                    break
    finally:
        for source in active:
            getattr(source, "close", lambda: None)()


def sample_documents(inputs: Sequence[str], reader: ReaderConfig, sample_bytes: int) -> list[bytes]:
    """About `sample_bytes` bytes of documents (or all of them if the corpus is smaller),
    spread round-robin over the inputs, long documents truncated (see the module doc)."""
    if sample_bytes < 1:
        raise ValueError(f"sample size must be >= 1 byte, got {sample_bytes}")
    cap = max(1, sample_bytes // DOCUMENT_SHARE)
    sample: list[bytes] = []
    tails: list[tuple[int, bytes]] = []  # (index in sample, bytes after the cut): at most sample_bytes in all
    total = reserve = 0
    docs = round_robin(inputs, reader)
    try:
        for data in docs:
            take = min(len(data), cap, sample_bytes - total)
            sample.append(data[:take])
            total += take
            if total >= sample_bytes:
                return sample
            if len(data) > take and reserve < sample_bytes:
                tails.append((len(sample) - 1, data[take : take + sample_bytes - reserve]))
                reserve += len(tails[-1][1])
    finally:
        docs.close()
    for i, tail in tails:  # the inputs ran out first: let the truncated documents grow back
        extra = tail[: sample_bytes - total]
        sample[i] += extra
        total += len(extra)
        if total >= sample_bytes:
            break
    return sample
