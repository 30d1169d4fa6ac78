"""Peak memory and time of one training step, linear-memory attention vs dense (T x T) masks.

For BLT tiny and the byte baseline (a windowed `ByteTransformer`, documents masked)
at sequence lengths 2k..16k, runs one forward + backward with batch size 1 twice,
side by side in this run: `attn_impl="sdpa"` (chunked sliding windows and patch
cross-attention in O(T) memory, what models use by default) and `attn_impl="dense"`
(dense boolean masks, the path before chunking). Each measurement runs in its own
process; memory is the growth of the peak resident set over the process's RSS just
before the step (CPU), or `torch.cuda.max_memory_allocated` on CUDA. The last column
pair is the ratio to the 2k row: linear memory gives ~8x at 16k, dense masks ~30-60x.

    python bench/attention.py [--lengths 2048,4096,8192,16384] [--models blt-tiny,baseline] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from dataclasses import replace


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def one_step(model_name: str, impl: str, T: int, device: str) -> dict:
    """Build the model, run one forward + backward at length T, report peak memory growth and time."""
    import torch

    from bytepatch.models import BLT, PRESETS, ByteTransformer, ByteTransformerConfig
    from bytepatch.models.nn.layers import doc_ids_from_bos

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, 260, (1, T), generator=g)
    ids[0, ::4096] = 1  # a BOS every 4 KB: documents for the baseline's mask
    if model_name == "blt-tiny":
        c = PRESETS["tiny"]
        model = BLT(
            replace(c, attn_impl=impl, encoder=replace(c.encoder, window=512), decoder=replace(c.decoder, window=512))
        )
        lengths = torch.randint(1, 9, (T,), generator=g)  # mean patch ~4.5 bytes
        ends = lengths.cumsum(0)
        lengths = lengths[: int((ends < T).sum()) + 1]
        lengths[-1] = T - int(lengths[:-1].sum())
        args = (ids.to(device), lengths[None].to(device), ids.to(device))
        kwargs = {}
    else:
        cfg = ByteTransformerConfig(n_layers=2, dim=64, n_heads=4, window=512, attn_impl=impl)
        model = ByteTransformer(cfg)
        args = (ids.to(device), ids.to(device))
        kwargs = {"doc_ids": doc_ids_from_bos(ids).to(device)}
    model.to(device)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = rss_bytes()
    start = time.perf_counter()
    _, loss = model(*args, **kwargs)
    loss.backward()
    if device == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    return {"model": model_name, "impl": impl, "T": T, "peak_mb": peak / 2**20, "seconds": time.perf_counter() - start}


def measure(model_name: str, impl: str, T: int, device: str) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps([model_name, impl, T, device])]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if out.returncode:
        return {"model": model_name, "impl": impl, "T": T, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", default="2048,4096,8192,16384")
    p.add_argument("--models", default="blt-tiny,baseline")
    p.add_argument("--impls", default="sdpa,dense")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(one_step(*json.loads(a.child))))
        return
    lengths = [int(x) for x in a.lengths.split(",")]
    rows = [measure(m, i, T, a.device) for m in a.models.split(",") for i in a.impls.split(",") for T in lengths]
    if a.json:
        print(json.dumps(rows, indent=2))
        return
    base = {(r["model"], r["impl"]): r.get("peak_mb") for r in rows if r["T"] == lengths[0]}
    print(f"{'model':<10} {'attention':<9} {'T':>6} {'peak MB':>9} {'x vs ' + str(lengths[0]):>9} {'step s':>7}")
    for r in rows:
        if "error" in r:
            print(f"{r['model']:<10} {r['impl']:<9} {r['T']:>6} failed: {r['error']}")
            continue
        ratio = r["peak_mb"] / base[(r["model"], r["impl"])] if base.get((r["model"], r["impl"])) else float("nan")
        print(f"{r['model']:<10} {r['impl']:<9} {r['T']:>6} {r['peak_mb']:>9.1f} {ratio:>9.1f} {r['seconds']:>7.2f}")


if __name__ == "__main__":
    main()
