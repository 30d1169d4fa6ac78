"""The Ray engine against the local engine, side by side in one run, plus the pickled
size of an entropy patcher.

1. `bytepatch segment CORPUS --workers 2` (local, 2 processes) and
   `bytepatch segment CORPUS --engine ray --ray-actors 2` (a local Ray instance on the
   same machine, 2 actors) on the same JSONL corpus, default entropy model: wall time of
   each command (start-up, model loading and writing included), MB/s, and whether the
   two datasets hold the same rows.
2. `len(pickle.dumps(bytepatch.load_patcher("entropy")))`: what every `datasets.map`,
   Ray, Dask or Spark task receives.

    python bench/engines.py [--mb 8] [--shard-size-mb 1]

Needs the `ray` extra (`pip install 'bytepatch[ray]'`).
"""

from __future__ import annotations

import argparse
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import BYTEPATCH, make_jsonl  # noqa: E402  (the same corpus as bench/scale.py)


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def rows(path: Path) -> set:
    import bytepatch

    return {(r.id, r.bytes, tuple(r.patch_lengths)) for r in bytepatch.open_dataset(path)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=8.0, help="corpus size in MB")
    parser.add_argument("--shard-size-mb", type=float, default=1.0)
    args = parser.parse_args()
    try:
        import ray.data  # noqa: F401
    except ImportError:
        sys.exit(
            "bench/engines.py runs `segment --engine ray`, and Ray Data is not installed: pip install 'bytepatch[ray]'"
        )

    import bytepatch

    patcher = bytepatch.load_patcher("entropy")
    blob = pickle.dumps(patcher)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = root / "corpus.jsonl"
        n = make_jsonl(corpus, args.mb)
        common = [BYTEPATCH, "segment", str(corpus), "-q", "--shard-size-mb", str(args.shard_size_mb)]
        local = timed(common + ["-o", str(root / "local"), "--workers", "2"])
        on_ray = timed(common + ["-o", str(root / "ray"), "--engine", "ray", "--ray-actors", "2"])
        same = rows(root / "local") == rows(root / "ray")
    print(f"corpus: {n / 1e6:.1f} MB of JSONL text (stdlib sources), default entropy model, 2 CPUs each")
    print(f"{'engine':<28}{'wall s':>8}{'MB/s':>8}")
    print(f"{'local --workers 2':<28}{local:>8.1f}{n / 1e6 / local:>8.2f}")
    print(f"{'ray --ray-actors 2':<28}{on_ray:>8.1f}{n / 1e6 / on_ray:>8.2f}")
    print(f"ray / local wall time: {on_ray / local:.2f}x; same rows: {same}")
    print(f"pickled entropy patcher: {len(blob):,} bytes (the model travels as a path + fingerprint)")


if __name__ == "__main__":
    main()
