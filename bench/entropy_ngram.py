"""Throughput of the shipped n-gram entropy model: MB/s of entropies on one core and on all.

Runs the Numba kernels on real text when the Debian docs of docs/design.md §7 are
installed, else on the repository's own sources, and prints MB/s for the entropy-only
kernel (what `segment` runs: one lookup of each byte's longest context), for the full
`entropies()` call (packing and splitting included), and for the full kernel that also
gives surprisals (what `eval-entropy` runs), on one thread and on every CPU available,
best of several repeats, plus the load time of the model and the process's peak memory
right after loading it.

    .venv/bin/python bench/entropy_ngram.py [--megabytes 8] [--repeats 5] [--model default]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from bytepatch.entropy import load_entropy_model
from bytepatch.entropy import ngram_kernels as K
from bytepatch.entropy.ngram import pack_documents

ROOTS = ("/usr/share/doc/gnu-standards", "/usr/share/doc/python3.11/html/_sources")


def corpus(megabytes: float) -> list[bytes]:
    """Documents of about 4 KB up to `megabytes` of text."""
    paths = [p for root in ROOTS for p in sorted(Path(root).rglob("*.txt"))]
    if not paths:
        paths = sorted(Path(__file__).resolve().parent.parent.rglob("*.py"))
    docs: list[bytes] = []
    size = 0
    while size < megabytes * 1e6:
        for p in paths:
            data = p.read_bytes()
            for i in range(0, len(data), 4096):
                docs.append(data[i : i + 4096])
                size += len(docs[-1])
            if size >= megabytes * 1e6:
                break
    return docs


def best_seconds(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="default")
    args = parser.parse_args()

    t = time.perf_counter()
    model = load_entropy_model(args.model)
    load_s = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    docs = corpus(args.megabytes)
    mb = sum(map(len, docs)) / 1e6
    model.entropies(docs[:2])  # compile / load the cached kernel
    data, offsets = pack_documents(docs)
    tb = model._tables
    kernel_args = (
        data,
        offsets,
        model.config.order,
        tb["base"],
        tb["base_sum_plogp"],
        tb["slots"],
        tb["pair_meta"],
        tb["stream_prob"],
        tb["stream_byte"],
    )
    only_args = (data, offsets, model.config.order, tb["hslots"], tb["short_h"], tb["pair_meta"])
    threads = len(os.sched_getaffinity(0))
    kernel_s = best_seconds(lambda: K.ngram_entropies(*kernel_args), args.repeats)
    only_s = best_seconds(lambda: K.ngram_entropies_only(*only_args), args.repeats)
    api_s = best_seconds(lambda: model.entropies(docs), args.repeats)
    only_threaded_s = best_seconds(lambda: K.ngram_entropies_only(*only_args, threads=threads), args.repeats)
    threaded_s = best_seconds(lambda: K.ngram_entropies(*kernel_args, threads=threads), args.repeats)
    print(f"model {model!r}, loaded in {load_s:.2f}s, process peak RSS after load {peak_mb:.0f} MB")
    print(f"corpus {mb:.1f} MB in {len(docs)} documents")
    print(f"entropies only (longest-context lookup), 1 core: {mb / only_s:6.2f} MB/s")
    print(f"model.entropies(docs),                   1 core: {mb / api_s:6.2f} MB/s")
    print(f"full kernel (entropy + surprisal),       1 core: {mb / kernel_s:6.2f} MB/s")
    print(
        f"entropies only, {threads} threads:                   {mb / only_threaded_s:6.2f} MB/s "
        f"({only_s / only_threaded_s:.2f}x of 1)"
    )
    print(
        f"full kernel, {threads} threads:                      {mb / threaded_s:6.2f} MB/s "
        f"({kernel_s / threaded_s:.2f}x of 1)"
    )
    print(f"bits/byte on this corpus: {model.cross_entropy(docs):.3f}")


if __name__ == "__main__":
    main()
