"""Memory for one long document, per patcher, side by side in one run.

For each patcher, the peak RSS of `bytepatch segment` on one document of --mb MB and on
a 1 KB document (the base: Python, Numba, pyarrow, the entropy model); the document's
cost is the difference, reported as a multiple of its size. The promise (docs/cli.md):
under 3x for every patcher.

    python bench/long_document.py [--mb 300] [--patchers space stride entropy]

Corpus: the Python standard library's sources, concatenated and repeated to size.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

BYTEPATCH = str(Path(sys.executable).with_name("bytepatch"))


def make_document(path: Path, n_bytes: int) -> None:
    src = b"".join(p.read_bytes() for p in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")))
    with open(path, "wb") as f:
        written = 0
        while written < n_bytes:
            part = src[: n_bytes - written]
            f.write(part)
            written += len(part)


def peak_rss_bytes(cmd: list[str]) -> int:
    """Peak RSS of `cmd`, measured by a fresh parent whose only child it is."""
    code = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, *cmd], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=300.0)
    ap.add_argument("--patchers", nargs="+", default=["space", "stride", "entropy"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n = int(args.mb * 1e6)
        make_document(tmp / "long.txt", n)
        make_document(tmp / "tiny.txt", 1000)
        print(f"one document of {n / 1e6:.0f} MB; peak RSS of `bytepatch segment`, minus the same run on 1 KB")
        print(f"{'patcher':<9} {'1 KB run':>10} {'long run':>10} {'document cost':>14} {'x size':>7}")
        for patcher in args.patchers:
            peaks = []
            for doc in ("tiny", "long"):
                out = tmp / f"out-{patcher}-{doc}"
                peaks.append(
                    peak_rss_bytes(
                        [BYTEPATCH, "segment", str(tmp / f"{doc}.txt"), "-o", str(out), "--patcher", patcher, "-q"]
                    )
                )
            cost = peaks[1] - peaks[0]
            print(
                f"{patcher:<9} {peaks[0] / 1e6:>8.0f}MB {peaks[1] / 1e6:>8.0f}MB {cost / 1e6:>12.0f}MB {cost / n:>7.2f}"
            )


if __name__ == "__main__":
    main()
