"""Patching speed, side by side in one run on the same documents.

Measures (1) the raw Numba kernels in MB/s on one core, (2) `bytepatch segment
--patcher space` and (3) `bytepatch segment` (entropy patching with the shipped default
model) end to end as a user runs them (process start, reading files, entropies,
patching, writing Arrow shards), and (4) HF `tokenizers` BPE encoding of the same
documents with one thread, using a 32k BPE trained on the same text: the comparison
users make. Targets: kernels >= 500 MB/s; space >= 5x faster than BPE; entropy
patching at least as fast as BPE.

    python bench/segment.py [--size-mb 32]

Needs the `bench` extra (`pip install -e .[bench]`). Corpus: the Python standard
library's source files (on every machine), repeated up to --size-mb.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # tokenizers: one thread, read at import
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from bytepatch.kernels import entropy_starts, space_lengths, space_starts, starts_to_lengths, stride_starts  # noqa: E402


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def build_corpus(root: Path, size_mb: float) -> list[Path]:
    """Copies UTF-8 stdlib .py files into `root` until `size_mb` is reached (repeating if needed)."""
    sources = sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"))
    target, total, files, rnd = size_mb * 1e6, 0, [], 0
    while total < target:
        for src in sources:
            try:
                data = src.read_bytes()
            except OSError:
                continue
            if not _is_utf8(data):  # tokenizers' trainer needs UTF-8 files
                continue
            dst = root / f"r{rnd}" / src.relative_to(src.anchor).as_posix().replace("/", "_")
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(data)
            files.append(dst)
            total += len(data)
            if total >= target:
                break
        rnd += 1
    return files


def best_of(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_kernels(data: np.ndarray) -> dict[str, float]:
    """MB/s of each patcher's kernels on one document, as the patchers call them."""
    offsets = np.array([0, len(data)], dtype=np.int64)
    h = np.random.default_rng(0).gamma(1.0, 1.0, size=len(data)).astype(np.float32)  # ~27% starts
    mb = len(data) / 1e6
    cases = {
        "space (fused, what SpacePatcher runs)": lambda: space_lengths(data, offsets),
        "space (start mask + lengths)": lambda: starts_to_lengths(space_starts(data, offsets), offsets, 0),
        "entropy global (mask + lengths)": lambda: starts_to_lengths(
            entropy_starts(h, offsets, 1.3, 0.0, True, False), offsets, 0
        ),
        "stride (mask + lengths)": lambda: starts_to_lengths(stride_starts(offsets, 4), offsets, 0),
    }
    for fn in cases.values():
        fn()  # compile / load Numba's cache outside the timing
    return {name: mb / best_of(fn) for name, fn in cases.items()}


def bench_segment(corpus: Path, out: Path, *patcher: str, repeats: int = 3) -> float:
    exe = Path(sys.executable).with_name("bytepatch")
    cmd = [str(exe), "segment", str(corpus), "-o", str(out), *patcher, "-q", "--overwrite"]
    subprocess.run(cmd, check=True)  # warm numba's on-disk cache, as any second run has it

    def once() -> None:
        subprocess.run(cmd, check=True)

    return best_of(once, repeats=repeats)


def bench_bpe(files: list[Path], docs: list[str]) -> tuple[float, float]:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=32000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    t0 = time.perf_counter()
    tok.train([str(f) for f in files], trainer)
    train_s = time.perf_counter() - t0
    encode_s = best_of(lambda: [tok.encode(d) for d in docs], repeats=2)
    return encode_s, train_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=32.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bytepatch-bench-"))
    try:
        files = build_corpus(tmp / "corpus", args.size_mb)
        raw = [f.read_bytes() for f in files]
        n_bytes = sum(len(r) for r in raw)
        mb = n_bytes / 1e6
        print(f"corpus: {len(files):,} files, {mb:.1f} MB (Python stdlib sources)")
        for name, rate in bench_kernels(np.frombuffer(b"".join(raw), dtype=np.uint8)).items():
            flag = "ok" if rate >= 500 else "BELOW 500 MB/s target"
            print(f"kernel {name:<40} {rate:8.0f} MB/s  [{flag}]")
        seg_s = bench_segment(tmp / "corpus", tmp / "out", "--patcher", "space")
        print(f"bytepatch segment --patcher space (end to end)  {seg_s:6.2f} s  {mb / seg_s:8.1f} MB/s")
        ent_s = bench_segment(tmp / "corpus", tmp / "out", repeats=1)
        print(f"bytepatch segment (entropy, default model)      {ent_s:6.2f} s  {mb / ent_s:8.1f} MB/s")
        docs = [r.decode("utf-8", "replace") for r in raw]
        bpe_s, train_s = bench_bpe(files, docs)
        print(f"HF tokenizers BPE-32k encode (1 thread)         {bpe_s:6.2f} s  {mb / bpe_s:8.1f} MB/s"
              f"  (training took {train_s:.1f} s, not counted)")  # fmt: skip
        ratio = bpe_s / seg_s
        flag = "ok" if ratio >= 5 else "BELOW 5x target"
        print(f"ratio: segment --patcher space is {ratio:.1f}x faster than BPE encoding  [{flag}]")
        ratio = bpe_s / ent_s
        flag = "ok" if ratio >= 1 else "BELOW 1x target"
        print(f"ratio: segment (entropy) is {ratio:.2f}x the speed of BPE encoding  [{flag}]")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
