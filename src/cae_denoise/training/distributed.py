"""Multi-process training with PyTorch's own engine: launched by ``torchrun``, run with DDP.

``torchrun --nproc_per_node N -m cae_denoise train ...`` sets RANK / WORLD_SIZE / LOCAL_RANK; this module
reads them, joins the process group (nccl on CUDA, gloo on CPU) and offers the few collective helpers the
training loop needs. Without those variables everything degrades to a single process and no-ops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Context:
    """This process's place in the job: ``rank`` of ``world_size``, on GPU ``local_rank``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes files and prints."""
        return self.rank == 0


def context_from_env() -> Context:
    """The context ``torchrun`` describes in the environment (single process when absent)."""
    return Context(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def setup(context: Context, device: torch.device) -> torch.device:
    """Join the process group if there is one; returns the device this rank trains on."""
    if not context.enabled:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def teardown(context: Context) -> None:
    """Leave the process group once every rank is done with it (safe to call when there is none).

    The barrier keeps a fast rank from destroying its end of the group while another still has collective
    work in flight, which aborted that rank at exit ("terminate called without an active exception").
    """
    if context.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def wrap(model: nn.Module, context: Context, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel when distributed (gradients averaged across ranks), else itself."""
    if not context.enabled:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def mean_across_ranks(value: float, context: Context, device: torch.device) -> float:
    """The average of a scalar over all ranks (for logging the loss)."""
    if not context.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / context.world_size


def gather(value: Any, context: Context) -> list[Any]:
    """Every rank's ``value`` (any picklable object), in rank order, on every rank."""
    if not context.enabled:
        return [value]
    values: list[Any] = [None] * context.world_size
    dist.all_gather_object(values, value)
    return values


def barrier(context: Context) -> None:
    """Wait for every rank (e.g. until rank 0 has written a checkpoint)."""
    if context.enabled:
        dist.barrier()
