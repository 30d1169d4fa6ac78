"""Train the n-gram entropy model shipped in bytepatch/assets/entropy/default/.

Data (docs/design.md §7; Debian packages, install them first):
    apt-get update && apt-get install -y python3.11-doc perl-doc manpages gnu-standards \
        fortunes fortunes-de fortunes-ru fortunes-zh \
        debian-reference-de debian-reference-fr debian-reference-ja debian-reference-zh-cn \
        debian-reference-en debian-reference-es

Training mix (a stable hash of each document's name puts 10% of it in a held-out split):
Python 3.11 docs sources (English prose, reST), perl-doc POD manuals, English man pages
(troff, a deterministic sample), fortunes in English, German, Russian and Chinese,
the Debian reference in German, French, Japanese and Chinese, and a sample of the
Python standard library's source. Never seen in training, for the unseen-domain
figure: the GNU coding standards and maintainers' guide (technical English from
elsewhere) and the Spanish Debian reference.

The default threshold is chosen (global rule) so that the mean patch size on the
held-out Python docs (English prose) is 4.5 bytes, the paper's main setting.

Not bit-reproducible across machines: the man pages are every 8th file of what is
installed under /usr/share/man, so other installed packages give another model (and
fingerprint). Datasets record the shipped model's fingerprint: replace it only when
the format changes, and say so.

    .venv/bin/python scripts/train_default_entropy_model.py [--output DIR] [--order 6]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

from bytepatch.entropy.calibrate import calibrate_threshold
from bytepatch.entropy.ngram import NgramConfig, NgramModel

OUTPUT = Path(__file__).resolve().parent.parent / "bytepatch" / "assets" / "entropy" / "default"
HELD_OUT_PERCENT = 10
TARGET_PATCH_SIZE = 4.5
CHUNK = 4096  # long single files (manuals) are cut into documents of about this many bytes


def read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def chunks(data: bytes, size: int = CHUNK) -> Iterator[bytes]:
    """Cut at line ends near `size` so documents are whole lines."""
    start = 0
    while start < len(data):
        end = data.find(b"\n", start + size)
        end = len(data) if end < 0 else end + 1
        yield data[start:end]
        start = end


def fortunes(path: Path) -> Iterator[bytes]:
    """A fortune file holds fortunes separated by lines of a single '%'."""
    for item in read(path).split(b"\n%\n"):
        if item.strip():
            yield item.strip(b"%\n") + b"\n"


def files(root: str, pattern: str, every: int = 1) -> list[Path]:
    found = sorted(p for p in Path(root).glob(pattern) if p.is_file())
    return found[::every]


def sources() -> dict[str, list[tuple[str, bytes]]]:
    """name -> [(document name, bytes)]: the training mix, split later by document name."""
    stdlib = sysconfig.get_paths()["stdlib"]
    fortune_dir = Path("/usr/share/games/fortunes")
    en_fortunes = [
        p
        for p in fortune_dir.iterdir()
        if p.is_file() and not p.suffix and p.name not in ("chinese", "tang300", "song100")
    ]
    mix: dict[str, list[tuple[str, bytes]]] = {
        "python-docs": [(str(p), read(p)) for p in files("/usr/share/doc/python3.11/html/_sources", "**/*.txt")],
        "perl-doc": [
            (f"{p}#{i}", c) for p in files("/usr/share/perl/5.36.0/pod", "*.pod") for i, c in enumerate(chunks(read(p)))
        ],
        "manpages-en": [(str(p), read(p)) for d in range(1, 9) for p in files(f"/usr/share/man/man{d}", "*.gz", 8)],
        "fortunes-en": [(f"{p}#{i}", f) for p in sorted(en_fortunes) for i, f in enumerate(fortunes(p))],
        "fortunes-de": [
            (f"{p}#{i}", f) for p in files(fortune_dir / "de", "*") if not p.suffix for i, f in enumerate(fortunes(p))
        ],
        "fortunes-ru": [
            (f"{p}#{i}", f) for p in files(fortune_dir / "ru", "*") if not p.suffix for i, f in enumerate(fortunes(p))
        ],
        "fortunes-zh": [
            (f"{p}#{i}", f)
            for n in ("chinese", "tang300", "song100")
            for p in [fortune_dir / n]
            for i, f in enumerate(fortunes(p))
        ],
        "python-stdlib": [(str(p), read(p)) for p in files(stdlib, "**/[a-z]*.py", 16)],
    }
    for lang in ("de", "fr", "ja", "zh-cn"):
        path = Path(f"/usr/share/debian-reference/debian-reference.{lang}.txt.gz")
        mix[f"debian-reference-{lang}"] = [(f"{path}#{i}", c) for i, c in enumerate(chunks(read(path)))]
    return mix


def unseen() -> dict[str, list[bytes]]:
    gnu = [read(Path(f"/usr/share/doc/gnu-standards/{n}.text.gz")) for n in ("standards", "maintain")]
    es = read(Path("/usr/share/debian-reference/debian-reference.es.txt.gz"))
    return {"gnu-standards (en)": [c for g in gnu for c in chunks(g)], "debian-reference-es": list(chunks(es))}


def held_out(name: str) -> bool:
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % 100 < HELD_OUT_PERCENT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--order", type=int, default=6)
    parser.add_argument("--min-count", type=int, default=2)
    parser.add_argument("--max-successors", type=int, default=32)
    parser.add_argument("--max-contexts", type=int, default=1_200_000)
    args = parser.parse_args()

    t0 = time.time()
    mix = sources()
    train: list[bytes] = []
    test: dict[str, list[bytes]] = {}
    print(f"{'source':24} {'train MB':>9} {'held-out MB':>12}")
    for name, docs in mix.items():
        tr = [d for n, d in docs if not held_out(n)]
        te = [d for n, d in docs if held_out(n)]
        train += tr
        test[name] = te
        print(f"{name:24} {sum(map(len, tr)) / 1e6:9.2f} {sum(map(len, te)) / 1e6:12.2f}")
    print(f"{'total':24} {sum(map(len, train)) / 1e6:9.2f}   (read in {time.time() - t0:.1f}s)")

    config = NgramConfig(
        order=args.order, min_count=args.min_count, max_successors=args.max_successors, max_contexts=args.max_contexts
    )
    t1 = time.time()
    model = NgramModel.fit(train, config)
    print(f"fit: {time.time() - t1:.1f}s, {model}")

    report: dict[str, dict[str, float]] = {"held-out (in-domain)": {}, "unseen domain": {}}
    for name, docs in test.items():
        report["held-out (in-domain)"][name] = round(model.cross_entropy(docs), 4)
    for name, docs in unseen().items():
        report["unseen domain"][name] = round(model.cross_entropy(docs), 4)
    for split, rows in report.items():
        print(f"bits/byte, {split}:")
        for name, bpb in rows.items():
            print(f"  {name:24} {bpb:.3f}")

    prose = model.entropies(test["python-docs"])
    calibration = calibrate_threshold(prose, TARGET_PATCH_SIZE, rule="global")
    print(
        f"default_threshold {calibration.threshold:.6f} nats -> mean patch size {calibration.mean_patch_size:.3f} on held-out Python docs"
    )
    model = model.with_default_threshold(calibration.threshold)
    model.stats.update(
        {
            "bits_per_byte": report,
            "threshold_calibration": {
                "sample": "held-out python-docs",
                "rule": "global",
                "target_mean_patch_size": TARGET_PATCH_SIZE,
                "achieved": round(calibration.mean_patch_size, 4),
            },
            "sources": sorted(mix),
        }
    )
    model.save(args.output)
    size = sum(p.stat().st_size for p in args.output.iterdir())
    print(f"saved {args.output} ({size / 1e6:.2f} MB) in {time.time() - t0:.1f}s total")
    print(json.dumps({"fingerprint": model.fingerprint}))


if __name__ == "__main__":
    main()
