"""Inference speed of the transformer entropy LM, and how close it runs to the hardware.

For each device (CPU, and CUDA when present), precision (fp32 and bf16) and preset,
scores real text (Python standard library sources in 4 KB documents, enough of them
to fill every lane: `batch_size` lanes of `chunk_len` bytes per step) and reports
bytes/s. Achieved FLOP/s = bytes/s x the model's forward FLOPs per byte (paper
accounting, `models/blt/flops.py`). It is given as a fraction of a peak that is
comparable: the same dtype, the same threads, and the model's own matrix shapes (every
`nn.Linear` of the model applied to lanes x chunk_len rows), measured interleaved with
the model runs (peak, model, peak, model, ..., peak) and taken as the median of those
measurements, since a shared machine's speed drifts within a run. Weights are random:
speed does not depend on them. bf16 runs on a CPU only where its GEMM peak beats
fp32's (as on CPUs with AMX or AVX-512 BF16); elsewhere it is reported as skipped, with
the ratio of the two peaks. `--threads` defaults to the CPUs available to the
process (affinity, cgroup quota), not torch's default, which oversubscribes a shared box.

    python bench/entropy_lm.py [--presets small,entropy-paper] [--cpu-kb 64] [--cuda-mb 8] [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sysconfig
import time
from pathlib import Path

import torch

from bytepatch.cpus import available_cpus
from bytepatch.models.entropy_lm import TransformerEntropyModel
from bytepatch.models.blt.flops import transformer_flops_per_byte
from bytepatch.models.nn.transformer import TRANSFORMER_PRESETS, ByteTransformer


DOC_BYTES = 4096


def corpus(n_bytes: int, doc_size: int = DOC_BYTES) -> list[bytes]:
    """`n_bytes` of stdlib source text in `doc_size`-byte documents."""
    data = bytearray()
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        if len(data) >= n_bytes:
            break
        data += path.read_bytes()
    return [bytes(data[i : i + doc_size]) for i in range(0, min(n_bytes, len(data)), doc_size)]


def linear_shapes(model: torch.nn.Module) -> list[tuple[int, int]]:
    """(in_features, out_features) of every nn.Linear the forward pass runs."""
    return [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, torch.nn.Linear)]


def shaped_peak(shapes: list[tuple[int, int]], rows: int, device: torch.device, dtype: torch.dtype) -> float:
    """FLOP/s of the model's GEMMs ((rows x in) @ (in x out) for each linear) in `dtype`:
    the practical peak for exactly the products the model computes."""
    mats = [
        (torch.randn(rows, i, device=device, dtype=dtype), torch.randn(o, i, device=device, dtype=dtype))
        for i, o in shapes
    ]
    flops = sum(2 * rows * i * o for i, o in shapes)
    for x, w in mats:  # warm-up
        torch.nn.functional.linear(x, w)
    sync(device)
    reps, start = 0, time.perf_counter()
    while reps < 2 or time.perf_counter() - start < 0.3:
        for x, w in mats:
            torch.nn.functional.linear(x, w)
        reps += 1
    sync(device)
    return flops * reps / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_preset(
    name: str, device: torch.device, dtype: torch.dtype, repeats: int, cpu_kb: float, cuda_mb: float
) -> dict:
    """Bytes/s of scoring (median of `repeats` after a warm-up) and the shaped peak measured
    before and after each timed run (median); every lane is filled."""
    cfg = TRANSFORMER_PRESETS[name]
    torch.manual_seed(0)
    lm = TransformerEntropyModel(ByteTransformer(cfg), device=device.type, precision="fp32")
    autocast = None if dtype == torch.float32 else dtype
    lm.autocast = autocast
    scorer = lm.scorer()
    lanes = lm.batch_size
    size = cuda_mb * 1e6 if device.type == "cuda" else cpu_kb * 1e3
    docs = corpus(max(int(size), lanes * DOC_BYTES))  # at least one document per lane: every lane busy
    rows = lanes * scorer.chunk_len
    shapes = linear_shapes(lm.model)
    if dtype != torch.float32 and device.type == "cpu":
        # bf16 only where its matmul is faster than fp32's (a CPU without native bf16,
        # such as AVX2 only, emulates it at a tenth of fp32's speed): elsewhere a fraction
        # of its peak says nothing about the model, and no one would score in it.
        low, full = shaped_peak(shapes, rows, device, dtype), shaped_peak(shapes, rows, device, torch.float32)
        if low <= full:
            return {"preset": name, "dtype": str(dtype).replace("torch.", ""), "skipped": low / full}
    scorer.score(docs[:lanes], lanes)  # warm-up: kernels, allocator
    peaks = [shaped_peak(shapes, rows, device, dtype)]
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        scorer.score(docs, lanes)
        sync(device)
        times.append(time.perf_counter() - start)
        peaks.append(shaped_peak(shapes, rows, device, dtype))
    seconds = statistics.median(times)
    peak = statistics.median(peaks)
    n_bytes = sum(map(len, docs))
    flops_per_byte = transformer_flops_per_byte(cfg, seq_len=cfg.window)["total"]
    achieved = n_bytes / seconds * flops_per_byte
    return {
        "preset": name,
        "dtype": str(dtype).replace("torch.", ""),
        "params": lm.model.num_params(),
        "bytes": n_bytes,
        "seconds": seconds,
        "bytes_per_s": n_bytes / seconds,
        "gflop_per_byte": flops_per_byte / 1e9,
        "achieved_tflop_s": achieved / 1e12,
        "peak_tflop_s": peak / 1e12,
        "peak_range_tflop_s": [min(peaks) / 1e12, max(peaks) / 1e12],
        "fraction_of_peak": achieved / peak,
        "lanes": lanes,
        "chunk_len": lm.chunk_len,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="small,entropy-paper")
    parser.add_argument("--cpu-kb", type=float, default=64.0, help="KB scored per preset on CPU (at least full lanes)")
    parser.add_argument("--cuda-mb", type=float, default=8.0, help="MB scored per preset on CUDA")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads [default: CPUs available]")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads or available_cpus())
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    results = []
    for device in devices:
        on_gpu = device.type == "cuda"
        name = torch.cuda.get_device_name() if on_gpu else f"CPU, {torch.get_num_threads()} threads"
        for preset in args.presets.split(","):
            for dtype in (torch.float32, torch.bfloat16):
                r = bench_preset(preset, device, dtype, args.repeats, args.cpu_kb, args.cuda_mb)
                r["device"] = name
                results.append(r)
    if args.json:
        print(json.dumps({"torch": torch.__version__, "results": results}, indent=2))
        return
    print(
        f"torch {torch.__version__}; peak = the model's own GEMM shapes in the same dtype and threads, "
        "median of measurements interleaved with the model runs"
    )
    print(
        f"{'device':<22} {'preset':<14} {'dtype':<9} {'params':>8} {'bytes':>9} {'bytes/s':>10} {'GFLOP/B':>8} "
        f"{'TFLOP/s':>8} {'peak (range)':>22} {'of peak':>8}"
    )
    for r in results:
        if "skipped" in r:
            print(
                f"{r['device']:<22} {r['preset']:<14} {r['dtype']:<9} skipped: its GEMM peak on this CPU is "
                f"{r['skipped']:.2f}x fp32's (no native {r['dtype']}), so fp32 is what scores here"
            )
            continue
        lo, hi = r["peak_range_tflop_s"]
        peak = f"{r['peak_tflop_s']:.3f} ({lo:.3f}-{hi:.3f})"
        print(
            f"{r['device']:<22} {r['preset']:<14} {r['dtype']:<9} {r['params'] / 1e6:>7.1f}M {r['bytes']:>9,} "
            f"{r['bytes_per_s']:>10,.0f} {r['gflop_per_byte']:>8.3f} {r['achieved_tflop_s']:>8.3f} "
            f"{peak:>22} {r['fraction_of_peak']:>8.1%}"
        )


if __name__ == "__main__":
    main()
