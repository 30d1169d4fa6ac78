"""How a model is spread over devices and made cheaper to train, applied from outside the model.

    rank, world, device = init_distributed("auto")        # joins the torchrun process group
    stepped = prepare_model(model, parallel="ddp", compile=False, activation_checkpointing=False, ...)
    model_state, optim_state = full_state(model, optimizer, parallel)   # every rank calls it

`ddp` replicates the model on each rank and averages gradients (fast while the
model fits one device). `fsdp` shards parameters, gradients and optimizer state
over the ranks with FSDP2 (`torch.distributed.fsdp.fully_shard`, one unit per
transformer block plus the root), so each rank holds 1/world of them; checkpoints
are still written as one full, unsharded state dict (gathered to CPU), so
`load_checkpoint` reads them like any other; a run resumes in the mode it was
saved in (the optimizer state is keyed differently). Activation checkpointing
recomputes each transformer block's activations in the backward pass instead of
storing them (memory for compute); it replaces the block's `forward` on the
instance, so parameter names and checkpoints are unchanged. `torch.compile` wraps
the module used for the step; the weights stay those of the plain module.
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Any, Iterator

import torch
import torch.distributed as dist

from bytepatch.models.entropy_lm.model import resolve_device
from bytepatch.models.nn.layers import TransformerBlock

PARALLEL_MODES = ("ddp", "fsdp")


def init_distributed(device_name: str) -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under torchrun (WORLD_SIZE > 1) joins the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world == 1:
        return 0, 1, device
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


@contextlib.contextmanager
def process_group_scope() -> Iterator[None]:
    """On the way out, destroy a process group that `init_distributed` joined inside; a
    group the caller had already set up is left alone. (With DDP, torch keeps the gloo
    group's threads alive even so: the `bytepatch` command ends its torchrun ranks
    without interpreter shutdown, see `cli/main.py` `end_rank`.)"""
    had = dist.is_available() and dist.is_initialized()
    try:
        yield
    finally:
        if not had and dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def all_sum(values: list[float], device: torch.device, world: int) -> list[float]:
    """Element-wise sum over ranks (float64), the identity on one process."""
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if world > 1:
        dist.all_reduce(t)
    return t.tolist()


def blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model's transformer blocks: the units of activation checkpointing and FSDP sharding."""
    return [m for m in model.modules() if isinstance(m, TransformerBlock)]


def checkpoint_activations(model: torch.nn.Module) -> int:
    """Recompute every transformer block in the backward pass; returns how many blocks were wrapped."""
    from torch.utils.checkpoint import checkpoint

    found = blocks(model)
    for block in found:
        plain = block.forward

        @functools.wraps(plain)
        def forward(*args: Any, _plain: Any = plain, **kwargs: Any) -> Any:
            if not torch.is_grad_enabled():  # evaluation: nothing to save memory on
                return _plain(*args, **kwargs)
            return checkpoint(_plain, *args, use_reentrant=False, **kwargs)

        block.forward = forward
    return len(found)


def prepare_model(
    model: torch.nn.Module,
    *,
    parallel: str,
    compile: bool,
    activation_checkpointing: bool,
    device: torch.device,
    world: int,
) -> torch.nn.Module:
    """The module the training step calls: `model` checkpointed, sharded or replicated, and compiled as asked.

    With `fsdp`, `model` itself is sharded in place (its parameters become DTensors).
    """
    if parallel not in PARALLEL_MODES:
        raise ValueError(f"parallel must be one of {PARALLEL_MODES}, got {parallel!r}")
    if activation_checkpointing:
        checkpoint_activations(model)
    stepped = model
    if world > 1 and parallel == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for block in blocks(model):
            fully_shard(block)
        fully_shard(model)
    elif world > 1:
        from torch.nn.parallel import DistributedDataParallel

        stepped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if compile:
        stepped = torch.compile(stepped)
    return stepped


def full_state(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, parallel: str, world: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model, optimizer) state dicts, unsharded; under FSDP a collective (every rank calls it)."""
    if not (world > 1 and parallel == "fsdp"):
        return model.state_dict(), optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_state_dict(model, optimizer, options=options)


def load_full_state(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    model_state: dict[str, Any],
    optim_state: dict[str, Any],
    parallel: str,
    world: int,
) -> None:
    """Load unsharded state dicts (as `full_state` wrote them) into a plain, replicated or sharded model."""
    if not (world > 1 and parallel == "fsdp"):
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optim_state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=False)
    set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optim_state, options=options)


def unsharded_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A plain copy of an FSDP-sharded `ByteTransformer` with full weights (a collective: every rank calls it)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    from bytepatch.models.nn.transformer import ByteTransformer

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))
    plain = ByteTransformer(model.config)  # the one model the streaming scorer reads
    plain.load_state_dict(state)
    return plain.to(next(iter(state.values())).device)
