"""Running `bytepatch segment` under torchrun: ranks are jobs, rank 0 writes the manifest.

torchrun (torch.distributed's launcher) sets RANK, WORLD_SIZE and MASTER_ADDR/PORT;
each rank segments every WORLD_SIZE-th input file into its own namespace of the output
directory, all ranks meet at a barrier (gloo: works on CPU-only machines), then rank 0
merges the job manifests into manifest.json, and a last barrier makes every rank exit
only once the dataset is complete. torch is imported only when torchrun's variables
are present, so plain runs never load it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class TorchrunJob:
    rank: int
    world_size: int

    @classmethod
    def from_env(cls) -> "TorchrunJob | None":
        if not all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")):
            return None
        world = int(os.environ["WORLD_SIZE"])
        if world == 1:
            return None
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo")
        return cls(dist.get_rank(), dist.get_world_size())

    def finish(self, output: str | Path, options: Any) -> dict[str, Any] | None:
        """Barrier, rank 0 merges the manifests, barrier; returns the manifest on rank 0."""
        import torch.distributed as dist

        from bytepatch.segment.layout import JobLayout
        from bytepatch.segment.pipeline import merge_job_manifests

        dist.barrier()
        manifest = None
        if self.rank == 0:
            layout = JobLayout(Path(output), options.shard_format, self.world_size, 0)
            manifest = merge_job_manifests(layout)
            if manifest is None:
                raise RuntimeError(f"{output}: a rank finished without its job manifest")
        dist.barrier()
        dist.destroy_process_group()
        return manifest
