"""Inference speed of the transformer entropy LM, and how close it runs to the hardware.

For each device (CPU, and CUDA when present) and each preset, scores real text
(Python standard library sources, cut into 4 KB documents) with
`TransformerEntropyModel.entropies` and reports bytes/s. Achieved FLOP/s = bytes/s x
the model's forward FLOPs per byte (paper accounting, `models/blt/flops.py`: weights +
attention over the window + output head); it is given as a fraction of a plain
`torch.matmul` peak measured in the same run on the same device and dtype (float32
on CPU, bf16 on CUDA). Weights are random: speed does not depend on them.

    python bench/entropy_lm.py [--presets small,entropy-paper] [--cpu-kb 32] [--cuda-mb 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import sysconfig
import time
from pathlib import Path

import torch

from bytepatch.models.entropy_lm import TransformerEntropyModel
from bytepatch.models.blt.flops import transformer_flops_per_byte
from bytepatch.models.nn.transformer import TRANSFORMER_PRESETS, ByteTransformer


def corpus(n_bytes: int, doc_size: int = 4096) -> list[bytes]:
    """`n_bytes` of stdlib source text in `doc_size`-byte documents."""
    data = bytearray()
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        if len(data) >= n_bytes:
            break
        data += path.read_bytes()
    return [bytes(data[i : i + doc_size]) for i in range(0, min(n_bytes, len(data)), doc_size)]


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, trials: int = 5, seconds: float = 0.4) -> float:
    """FLOP/s of repeated (n x n) @ (n x n) products, best of `trials`: the practical peak to compare against.

    Best-of rather than mean, like the model timings, so that other load on a shared
    machine biases neither side of the ratio.
    """
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    best = 0.0
    for _ in range(trials):
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(4):
                a @ b
            reps += 4
            sync(device)
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - start))
    return best


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_preset(name: str, device: torch.device, docs: list[bytes], repeats: int = 2) -> dict:
    """Bytes/s of `entropies(docs)`, best of `repeats` timed runs after a warm-up."""
    cfg = TRANSFORMER_PRESETS[name]
    torch.manual_seed(0)
    lm = TransformerEntropyModel(ByteTransformer(cfg), device=device.type)
    lm.entropies(docs[: max(1, len(docs) // 8)])  # warm-up: kernels, allocator
    seconds = math.inf
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        lm.entropies(docs)
        sync(device)
        seconds = min(seconds, time.perf_counter() - start)
    n_bytes = sum(map(len, docs))
    flops_per_byte = transformer_flops_per_byte(cfg, seq_len=cfg.window)["total"]
    return {
        "preset": name,
        "params": lm.model.num_params(),
        "bytes": n_bytes,
        "seconds": seconds,
        "bytes_per_s": n_bytes / seconds,
        "gflop_per_byte": flops_per_byte / 1e9,
        "achieved_tflop_s": n_bytes / seconds * flops_per_byte / 1e12,
        "batch_size": lm.batch_size,
        "chunk_len": lm.chunk_len,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="small,entropy-paper")
    parser.add_argument("--cpu-kb", type=float, default=32.0, help="KB scored per preset on CPU (paper preset: 1/8)")
    parser.add_argument("--cuda-mb", type=float, default=8.0, help="MB scored per preset on CUDA")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    results = []
    for device in devices:
        on_gpu = device.type == "cuda"
        name = torch.cuda.get_device_name() if on_gpu else f"CPU, {torch.get_num_threads()} threads"
        for preset in args.presets.split(","):
            size = args.cuda_mb * 1e6 if on_gpu else args.cpu_kb * 1e3 / (8 if preset == "entropy-paper" else 1)
            r = bench_preset(preset, device, corpus(int(size)))
            # Peak measured right after the model, so both see the same machine state.
            peak = matmul_peak(device, torch.bfloat16 if on_gpu else torch.float32, 8192 if on_gpu else 1024)
            r.update(device=name, matmul_peak_tflop_s=peak / 1e12,
                     fraction_of_matmul_peak=r["achieved_tflop_s"] * 1e12 / peak)  # fmt: skip
            results.append(r)
    if args.json:
        print(json.dumps({"torch": torch.__version__, "results": results}, indent=2))
        return
    print(f"torch {torch.__version__}")
    print(f"{'device':<28} {'preset':<14} {'params':>8} {'bytes':>9} {'bytes/s':>11} {'GFLOP/B':>8} "
          f"{'TFLOP/s':>8} {'matmul peak':>11} {'of peak':>8}")  # fmt: skip
    for r in results:
        print(f"{r['device']:<28} {r['preset']:<14} {r['params'] / 1e6:>7.1f}M {r['bytes']:>9,} "
              f"{r['bytes_per_s']:>11,.0f} {r['gflop_per_byte']:>8.3f} {r['achieved_tflop_s']:>8.3f} "
              f"{r['matmul_peak_tflop_s']:>10.3f}T {r['fraction_of_matmul_peak']:>8.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
