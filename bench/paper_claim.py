"""The BLT paper's claim at small scale: equal training FLOPs, held-out bits per byte, inference FLOPs per byte.

Trains, on the same real text and the same budget of training FLOPs,
  (a) BLT on entropy patches (`bytepatch segment`, the shipped default entropy model),
  (b) BLT on space patches (SpaceByte rule),
  (c) the byte-level baseline transformer,
then reports each model's held-out bits per byte (the same held-out documents for
all three) and inference FLOPs per byte, and writes an SVG plot of held-out bits per
byte against training FLOPs. The paper's direction (arXiv 2412.09871, Fig. 1 and
Table 2): at equal training FLOPs BLT matches or beats the byte baseline while
spending fewer inference FLOPs per byte, because its big global model runs once per
patch instead of once per byte.

    python bench/paper_claim.py --out bench/out/cpu                       # CPU defaults, < 30 min on 2 cores
    python bench/paper_claim.py --out big --device cuda --budget 3e15 \\
        --corpus-mb 11 --blt-preset small --baseline-preset small --seq-len 1024 --batch-size 32

Each model trains for as many steps as the budget buys at its FLOPs per byte
(3 x forward, paper accounting, `models.flops`; for BLT at the dataset's mean patch
size), with the same batch shape, learning rate and schedule shape. Corpus: Python's
reStructuredText documentation (`apt-get install python3.11-doc`), one document per
file; files are held out by a hash of their path (about 5%). Results: OUT/results.json,
OUT/results.md (the table), OUT/paper_claim.svg, and one run directory per model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bytepatch.dataset import open_dataset
from bytepatch.models.data import DocumentSource, evaluation_batches
from bytepatch.models.entropy_lm.data import held_out_score
from bytepatch.models.train import (
    LOG_FILE,
    RunConfig,
    TrainConfig,
    bits_per_byte,
    forward_flops_per_byte,
    load_checkpoint,
    preset_config,
    train,
)

DOCS = Path("/usr/share/doc/python3.11/html/_sources")
COLORS = {"blt-entropy": "#1f77b4", "blt-space": "#2ca02c", "baseline": "#d62728"}


def build_corpus(src: Path, work: Path, corpus_bytes: int, held_out_bytes: int) -> dict[str, int]:
    """Copy files into work/train and work/held-out: held out by path hash, both capped in size."""
    files = sorted(p for p in src.rglob("*.txt") if p.is_file())
    if not files:
        raise SystemExit(f"no .txt files under {src}; run: apt-get install -y python3.11-doc (or pass --corpus)")
    sizes = {"train": 0, "held-out": 0}
    caps = {"train": corpus_bytes, "held-out": held_out_bytes}
    for path in files:
        rel = path.relative_to(src)
        side = "held-out" if held_out_score(str(rel)) < 0.05 else "train"
        n = path.stat().st_size
        if sizes[side] + n > caps[side] or n == 0:
            continue
        dest = work / side / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        sizes[side] += n
    return sizes


def segment(bytepatch: str, inputs: Path, output: Path, patcher: str) -> dict:
    cmd = [bytepatch, "segment", str(inputs), "-o", str(output), "--patcher", patcher, "-q", "--overwrite"]
    subprocess.run(cmd, check=True)
    m = open_dataset(output).manifest
    return {
        "command": " ".join(cmd[1:]),
        "bytes": m["bytes"],
        "patches": m["patches"],
        "mean_patch_size": m["bytes"] / max(m["patches"], 1),
        "patcher": m["metadata"]["patcher"],
        "entropy_model": m["metadata"]["entropy_model"],
    }


def run_model(name: str, run: RunConfig, train_data: Path, held_data: Path, out: Path, mps: float) -> dict:
    t0 = time.perf_counter()
    log_lines: list[str] = []

    def log(line: str) -> None:
        log_lines.append(line)
        print(f"[{name}] {line}", file=sys.stderr, flush=True)

    summary = train(run, [train_data], out / name, eval_datasets=[held_data], overwrite=True, log=log)
    wall = time.perf_counter() - t0
    model, _, meta = load_checkpoint(out / name)
    source = DocumentSource([held_data], meta["data"]["signature"], "the run")
    import numpy as np
    import torch

    batches = evaluation_batches(
        source, np.arange(len(source)), batch_size=run.train.batch_size, seq_len=run.train.seq_len
    )
    bits, n_bytes, _ = bits_per_byte(run.model_type, model, batches, torch.device("cpu"))
    curve = [json.loads(ln) for ln in (out / name / LOG_FILE).read_text().splitlines()]
    curve = [(e["train_flops"], e["held_out_bits_per_byte"]) for e in curve if "held_out_bits_per_byte" in e]
    return {
        "model": name,
        "model_type": run.model_type,
        "params": sum(p.numel() for p in model.parameters()),
        "steps": summary["step"],
        "train_flops": summary["train_flops"],
        "train_bytes": summary["train_bytes"],
        "held_out_bits_per_byte": bits / n_bytes,
        "held_out_bytes": n_bytes,
        "mean_patch_size": mps if run.model_type == "blt" else 1.0,
        "inference_flops_per_byte": forward_flops_per_byte(run, mps),
        "wall_s": wall,
        "curve": curve,
    }


def svg_plot(results: list[dict], title: str) -> str:
    """Held-out bits/byte (y) against training FLOPs (x), one polyline per model; hand-written SVG."""
    W, H, L, R, T, B = 640, 400, 70, 170, 40, 50
    pts = [p for r in results for p in r["curve"]]
    x_max = max(x for x, _ in pts) * 1.05
    y_lo, y_hi = min(y for _, y in pts), max(y for _, y in pts)
    pad = (y_hi - y_lo) * 0.08 or 0.5
    y_lo, y_hi = y_lo - pad, y_hi + pad

    def sx(x: float) -> float:
        return L + (W - L - R) * x / x_max

    def sy(y: float) -> float:
        return T + (H - T - B) * (y_hi - y) / (y_hi - y_lo)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2 - R / 2}" y="22" text-anchor="middle" font-size="14">{title}</text>',
        f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
        f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
    ]
    for i in range(6):
        x = x_max * i / 5
        y = y_lo + (y_hi - y_lo) * i / 5
        out.append(f'<line x1="{sx(x):.1f}" y1="{H - B}" x2="{sx(x):.1f}" y2="{H - B + 5}" stroke="black"/>')
        out.append(f'<text x="{sx(x):.1f}" y="{H - B + 18}" text-anchor="middle">{x:.2g}</text>')
        out.append(f'<line x1="{L - 5}" y1="{sy(y):.1f}" x2="{W - R}" y2="{sy(y):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 8}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">training FLOPs</text>')
    out.append(
        f'<text x="18" y="{(T + H - B) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 18 {(T + H - B) / 2})">held-out bits per byte</text>'
    )
    for i, r in enumerate(results):
        color = COLORS.get(r["model"], "black")
        line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in r["curve"])
        out.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in r["curve"]:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>')
        ly = T + 10 + 36 * i
        out.append(f'<line x1="{W - R + 12}" y1="{ly}" x2="{W - R + 32}" y2="{ly}" stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{W - R + 38}" y="{ly + 4}">{r["model"]}</text>')
        out.append(
            f'<text x="{W - R + 38}" y="{ly + 18}" font-size="10">'
            f"{r['inference_flops_per_byte'] / 1e3:.0f}k inf. FLOP/B</text>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def table(results: list[dict]) -> str:
    rows = [
        "| model | patches | mean patch (bytes) | params | steps | training FLOPs | training bytes "
        "| held-out bits/byte | inference FLOPs/byte | wall (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows.append(
            f"| {r['model']} | {r.get('patcher', 'n/a')} | {r['mean_patch_size']:.2f} | {r['params']:,} "
            f"| {r['steps']} | {r['train_flops']:.3g} | {r['train_bytes']:,} "
            f"| **{r['held_out_bits_per_byte']:.3f}** | {r['inference_flops_per_byte']:,.0f} "
            f"| {r['wall_s']:.0f} |"
        )
    return "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("bench/out/paper_claim"))
    ap.add_argument("--corpus", type=Path, default=DOCS, help="directory of text files (one document each)")
    ap.add_argument("--corpus-mb", type=float, default=2.0, help="training text, MB")
    ap.add_argument("--held-out-kb", type=float, default=64.0, help="held-out text, KB")
    ap.add_argument("--budget", type=float, default=4e11, help="training FLOPs per model")
    ap.add_argument("--blt-preset", default="tiny")
    ap.add_argument("--baseline-preset", default="tiny")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--evals", type=int, default=5, help="held-out evaluations per run (points of the curve)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t_start = time.perf_counter()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    work = out / "corpus"
    shutil.rmtree(work, ignore_errors=True)
    sizes = build_corpus(args.corpus, work, int(args.corpus_mb * 1e6), int(args.held_out_kb * 1e3))
    print(f"corpus: {sizes['train']:,} training bytes, {sizes['held-out']:,} held-out bytes", file=sys.stderr)
    bytepatch = str(Path(sys.executable).parent / "bytepatch")
    data = {}
    for patcher in ("entropy", "space"):
        data[patcher] = {
            side: segment(bytepatch, work / side, out / f"data-{patcher}-{side}", patcher)
            for side in ("train", "held-out")
        }
        print(f"{patcher}: mean patch size {data[patcher]['train']['mean_patch_size']:.2f}", file=sys.stderr)

    jobs = [
        ("blt-entropy", "blt", args.blt_preset, "entropy"),
        ("blt-space", "blt", args.blt_preset, "space"),
        ("baseline", "baseline", args.baseline_preset, "space"),
    ]
    results = []
    for name, kind, preset, patcher in jobs:
        model_cfg = preset_config(kind, preset)
        mps = data[patcher]["train"]["mean_patch_size"]
        probe = RunConfig(kind, model_cfg, TrainConfig(seq_len=args.seq_len))
        per_step = 3 * forward_flops_per_byte(probe, mps) * args.batch_size * args.seq_len
        steps = max(10, round(args.budget / per_step))
        tc = TrainConfig(
            steps=steps,
            batch_size=args.batch_size,
            seq_len=args.seq_len,
            lr=args.lr,
            warmup_steps=max(1, steps // 20),
            seed=args.seed,
            eval_every=max(1, steps // args.evals),
            eval_batches=None,
            log_every=max(1, steps // 20),
            save_every=steps,
            device=args.device,
        )
        res = run_model(
            name,
            RunConfig(kind, model_cfg, tc),
            out / f"data-{patcher}-train",
            out / f"data-{patcher}-held-out",
            out,
            data[patcher]["held-out"]["mean_patch_size"],
        )
        res["patcher"] = patcher if kind == "blt" else "none (bytes)"
        res["preset"] = preset
        results.append(res)
        print(
            f"{name}: held-out {res['held_out_bits_per_byte']:.3f} bits/byte in {res['wall_s']:.0f}s", file=sys.stderr
        )

    title = f"equal training FLOPs ({args.budget:.2g}), Python docs"
    (out / "paper_claim.svg").write_text(svg_plot(results, title), encoding="utf-8")
    (out / "results.md").write_text(table(results), encoding="utf-8")
    report = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "corpus": sizes,
        "datasets": data,
        "results": results,
        "total_wall_s": time.perf_counter() - t_start,
    }
    (out / "results.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(table(results))
    print(
        f"total {report['total_wall_s']:.0f}s; wrote {out}/results.md, results.json, paper_claim.svg", file=sys.stderr
    )


if __name__ == "__main__":
    main()
