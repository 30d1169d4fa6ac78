"""Segmentation at scale, side by side in one run: peak memory and worker scaling.

1. Peak RSS of `bytepatch segment` (default entropy patcher and model) on 1 MB, 150 MB
   and 300 MB of JSONL. Memory follows the shard size (64 MB by default: the shard being
   written and the chunk being read, each with its patch lengths and compressed write),
   not the corpus: 150 MB and 300 MB, both several shards, must peak within 1.1x of each
   other. 1 MB vs 150 MB shows the cost of those shards over the base process (the old
   1.5x target; the base shrank to ~220 MB once the model tables were memory-mapped, so
   the shards' working set now weighs more in it).
2. Throughput of `bytepatch segment` with --workers 1 and --workers 2 on the same input.

    python bench/scale.py [--big-mb 150] [--huge-mb 300] [--workers-mb 64]

Corpus: the Python standard library's sources as JSONL documents, repeated as needed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

BYTEPATCH = str(Path(sys.executable).with_name("bytepatch"))


def make_jsonl(path: Path, size_mb: float) -> int:
    """JSONL of stdlib sources, `size_mb` of text; returns the text bytes written."""
    sources = sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"))
    total, rnd = 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while total < size_mb * 1e6:
            for src in sources:
                text = src.read_text(encoding="utf-8", errors="replace")
                f.write(json.dumps({"text": text, "id": f"{rnd}/{src.name}"}) + "\n")
                total += len(text.encode())
                if total >= size_mb * 1e6:
                    break
            rnd += 1
    return total


def measure(cmd: list[str]) -> tuple[float, int]:
    """(seconds, peak RSS in kB) of a command, measured by a fresh parent process."""
    code = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, *cmd], check=True, capture_output=True, text=True)
    seconds, rss = out.stdout.split()[-2:]
    return float(seconds), int(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big-mb", type=float, default=150.0)
    parser.add_argument("--huge-mb", type=float, default=300.0)
    parser.add_argument("--workers-mb", type=float, default=64.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bytepatch-scale-"))
    try:
        small, big, mid = tmp / "small.jsonl", tmp / "big.jsonl", tmp / "mid.jsonl"
        huge = tmp / "huge.jsonl"
        make_jsonl(small, 1)
        make_jsonl(big, args.big_mb)
        make_jsonl(huge, args.huge_mb)
        n_mid = make_jsonl(mid, args.workers_mb)
        seg = [BYTEPATCH, "segment", "-q", "--overwrite"]
        subprocess.run([*seg, str(small), "-o", str(tmp / "warm")], check=True)  # warm Numba's cache
        s_small, rss_small = measure([*seg, str(small), "-o", str(tmp / "o1")])
        s_big, rss_big = measure([*seg, str(big), "-o", str(tmp / "o2")])
        print(f"peak RSS, 1 MB input:       {rss_small / 1e3:8.0f} MB  ({s_small:.1f} s)")
        print(f"peak RSS, {args.big_mb:.0f} MB input:     {rss_big / 1e3:8.0f} MB  ({s_big:.1f} s)")
        s_huge, rss_huge = measure([*seg, str(huge), "-o", str(tmp / "o3")])
        print(f"peak RSS, {args.huge_mb:.0f} MB input:     {rss_huge / 1e3:8.0f} MB  ({s_huge:.1f} s)")
        flat = rss_huge / rss_big
        print(
            f"{args.huge_mb:.0f} MB vs {args.big_mb:.0f} MB: {flat:.2f}x  [{'ok' if flat <= 1.1 else 'ABOVE 1.1x target'}]"
        )
        ratio = rss_big / rss_small
        print(f"{args.big_mb:.0f} MB vs 1 MB: {ratio:.2f}x  [{'ok' if ratio <= 1.5 else 'above the old 1.5x'}]")
        rates = {}
        for w in (1, 2):
            s, _ = measure([*seg, str(mid), "-o", str(tmp / f"w{w}"), "--workers", str(w), "--shard-size-mb", "4"])
            rates[w] = n_mid / 1e6 / s
            print(f"--workers {w}: {s:6.1f} s  {rates[w]:6.2f} MB/s  ({args.workers_mb:.0f} MB, entropy patcher)")
        print(f"speed-up with 2 workers: {rates[2] / rates[1]:.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
