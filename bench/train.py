"""Training-step speed and memory of BLT and the byte baseline across sequence lengths.

For each model (BLT tiny and small, the baseline transformer) and each sequence
length (2k, 4k, 8k, 16k bytes per row), one child process builds the model and
AdamW exactly as `bytepatch train` does, runs warm-up steps and then timed steps
(forward, backward, clipping, AdamW; best of `--steps`) on random bytes with random
patch lengths (mean 4.5), and reports:

- bytes/s: ids per step / step time;
- achieved FLOP/s: 3 x forward FLOPs per byte (paper accounting, `models/blt/flops.py`,
  BLT's patch count measured on the batch) x ids / step time, as a fraction of a
  plain `torch.matmul` peak measured in the same process (same device, dtype and
  threads: float32 on CPU, bf16 on CUDA);
- peak memory: on CUDA `torch.cuda.max_memory_allocated`; on CPU the rise of the
  process's peak resident set (ru_maxrss) over the resident set before the first
  step, i.e. what the training step itself needs on top of weights and batch;
- the ratio of each model's peak memory at the longest to the shortest length.

Each child runs under an address-space limit (`--max-gb`), so a configuration that
would need more memory than the machine should give reports "over N GB" instead of
swapping a shared box. One command, one table:

    python bench/train.py                     # full table (a few minutes on a laptop CPU)
    python bench/train.py --quick             # tiny + baseline at 2k and 4k, one timed step
    python bench/train.py --models blt-small --seq-lens 2048,16384 --activation-checkpointing --json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

MODELS = {"blt-tiny": ("blt", "tiny"), "blt-small": ("blt", "small"), "baseline": ("baseline", "small")}
SEQ_LENS = (2048, 4096, 8192, 16384)


def matmul_peak(device, dtype, n: int = 1024, seconds: float = 0.3, trials: int = 3) -> float:
    """FLOP/s of repeated (n x n) @ (n x n) products, best of `trials`: the practical peak to compare against."""
    import torch

    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    a @ b
    best = 0.0
    for _ in range(trials):
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            a @ b
            reps += 1
            if device.type == "cuda":
                torch.cuda.synchronize()
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - start))
    return best


def random_batch(model_type: str, batch: int, seq_len: int, seed: int = 0) -> dict:
    """Random byte ids (BOS first) and, for BLT, random patch lengths of mean 4.5 covering each row."""
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    ids = torch.from_numpy(rng.integers(4, 260, (batch, seq_len))).long()
    ids[:, 0] = 1
    out = {"ids": ids, "targets": ids.roll(-1, 1)}
    if model_type == "blt":
        rows = []
        for _ in range(batch):
            lengths = [1]  # BOS patch
            while sum(lengths) < seq_len:
                lengths.append(int(min(rng.integers(1, 9), seq_len - sum(lengths))))
            rows.append(lengths)
        width = max(map(len, rows))
        out["patch_lengths"] = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    return out


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def child(args: argparse.Namespace) -> dict:
    """One configuration, in this process; returns its row."""
    import torch

    from bytepatch.models.train import RunConfig, TrainConfig, build_model
    from bytepatch.models.train.metrics import batch_nll, forward_flops_per_byte, mean_patch_size
    from bytepatch.models.train.parallel import prepare_model
    from bytepatch.models.train.trainer import adamw

    model_type, preset = MODELS[args.model]
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    from bytepatch.models.train import preset_config

    train = TrainConfig(
        seq_len=args.seq_len,
        batch_size=args.batch_size,
        device=device.type,
        compile=args.compile,
        activation_checkpointing=args.activation_checkpointing,
    )
    run = RunConfig(model_type, preset_config(model_type, preset), train)
    amp = torch.bfloat16 if device.type == "cuda" else None
    peak = matmul_peak(device, amp or torch.float32)
    torch.manual_seed(0)
    model = build_model(run).to(device)
    stepped = prepare_model(
        model,
        parallel="ddp",
        compile=args.compile,
        device=device,
        world=1,
        activation_checkpointing=args.activation_checkpointing,
    )
    opt = adamw(model, run, device)
    host = random_batch(model_type, args.batch_size, args.seq_len)
    batch = {k: v.to(device) for k, v in host.items()}
    patch = mean_patch_size(host["patch_lengths"]) if "patch_lengths" in host else 1.0
    flops = 3.0 * forward_flops_per_byte(run, patch) * host["ids"].numel()

    def step() -> float:
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            loss, _, _ = batch_nll(model_type, stepped, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    before = rss_bytes()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    for _ in range(args.warmup):
        step()
    seconds = min(step() for _ in range(args.steps))
    if device.type == "cuda":
        mem = torch.cuda.max_memory_allocated() - before
    else:
        mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    return {
        "model": args.model,
        "seq_len": args.seq_len,
        "device": device.type,
        "threads": torch.get_num_threads(),
        "step_s": seconds,
        "bytes_per_s": host["ids"].numel() / seconds,
        "flops_per_s": flops / seconds,
        "matmul_peak": peak,
        "mfu": flops / seconds / peak,
        "peak_mem_bytes": mem,
    }


def run_child(args: argparse.Namespace, model: str, seq_len: int) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--model",
        model,
        "--seq-len",
        str(seq_len),
        "--batch-size",
        str(args.batch_size),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
    ]
    cmd += [
        f
        for f, on in (
            ("--compile", args.compile),
            ("--activation-checkpointing", args.activation_checkpointing),
            ("--cpu", args.cpu),
        )
        if on
    ]
    limit = int(args.max_gb * 2**30)

    def cap() -> None:  # the child only: a configuration over the limit fails instead of swapping
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    result = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=cap, timeout=args.timeout)
    if result.returncode != 0:
        oom = "MemoryError" in result.stderr or "alloc" in result.stderr.lower() or result.returncode < 0
        why = f"over {args.max_gb:g} GB" if oom else result.stderr.strip().splitlines()[-1][:80]
        return {"model": model, "seq_len": seq_len, "error": why}
    return json.loads(result.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    lines = [
        f"{'model':<10} {'seq':>6} {'step s':>8} {'bytes/s':>10} {'FLOP/s':>9} {'matmul':>9} {'of peak':>8} "
        f"{'peak mem':>9}"
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['model']:<10} {r['seq_len']:>6}  {r['error']}")
            continue
        lines.append(
            f"{r['model']:<10} {r['seq_len']:>6} {r['step_s']:>8.2f} {r['bytes_per_s']:>10,.0f} "
            f"{r['flops_per_s']:>9.3g} {r['matmul_peak']:>9.3g} {r['mfu']:>7.1%} "
            f"{r['peak_mem_bytes'] / 2**20:>7,.0f} MB"
        )
    for model in dict.fromkeys(r["model"] for r in rows):
        ok = [r for r in rows if r["model"] == model and "error" not in r]
        if len(ok) >= 2:
            lo, hi = ok[0], ok[-1]
            ratio = hi["peak_mem_bytes"] / max(lo["peak_mem_bytes"], 1)
            lines.append(
                f"{model}: peak memory {hi['seq_len']}/{lo['seq_len']} = {ratio:.1f}x "
                f"(lengths {hi['seq_len'] / lo['seq_len']:.0f}x)"
            )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help=f"comma list of {', '.join(MODELS)}")
    p.add_argument("--seq-lens", default=",".join(map(str, SEQ_LENS)))
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--steps", type=int, default=2, help="timed steps (best of)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="blt-tiny and baseline at 2k, 4k; one timed step")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--activation-checkpointing", action="store_true")
    p.add_argument("--cpu", action="store_true", help="CPU even when CUDA is present")
    p.add_argument("--max-gb", type=float, default=8.0, help="address-space cap per configuration")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per configuration")
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--seq-len", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    models, lens = args.models.split(","), [int(x) for x in args.seq_lens.split(",")]
    if args.quick:
        models, lens, args.steps = ["blt-tiny", "baseline"], [2048, 4096], 1
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    rows = []
    for model in models:
        for n in lens:
            rows.append(run_child(args, model, n))
            print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(json.dumps(rows, indent=2) if args.json else table(rows))


if __name__ == "__main__":
    main()
