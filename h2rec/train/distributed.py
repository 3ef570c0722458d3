"""Data-parallel training with torch.distributed, launched by `torchrun`.

    torchrun --standalone --nproc_per_node 2 -m h2rec.cli train            # one machine
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 \\
             --rdzv_backend c10d --rdzv_endpoint head:29500 -m h2rec.cli train   # each node

Every rank builds the same global batches from the same seed and trains on its slice of each
(`shard`); DistributedDataParallel averages the gradients, so a step sees the whole global
batch. NCCL on GPUs, gloo on CPUs. Only rank 0 writes checkpoints, metrics and MLflow runs.
Without torchrun (no WORLD_SIZE in the environment) everything here is a no-op.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


def setup() -> None:
    """Join the process group torchrun describes in the environment, once."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def shard(users: np.ndarray) -> np.ndarray:
    """This rank's part of a global batch (round robin keeps lengths balanced).

    A batch smaller than the world (the last, odd one) is repeated so every rank steps.
    """
    if len(users) < world():
        users = np.resize(users, world())
    return users[rank() :: world()]


def mean(values: dict[str, float]) -> dict[str, float]:
    """Average per-rank numbers (losses) over all ranks."""
    if not active():
        return values
    keys = sorted(values)
    # NCCL reduces CUDA tensors only; gloo CPU ones.
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, (t / world()).tolist()))


def barrier() -> None:
    if active():
        dist.barrier()


class LossModule(nn.Module):
    """Routes `calculate_loss` through `forward`, where DistributedDataParallel hooks in."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch):
        return self.model.calculate_loss(batch)


def wrap(model: nn.Module, device: torch.device | None = None) -> nn.Module:
    """A callable `batch -> (loss, terms)` whose backward averages gradients over ranks.

    On CUDA each rank drives the GPU `device` (auto picks LOCAL_RANK's) and NCCL averages.
    """
    loss_module = LossModule(model)
    if not active() or not any(p.requires_grad for p in model.parameters()):
        return loss_module
    ids = [device.index] if device is not None and device.type == "cuda" else None
    # Some components (e.g. an ablated branch) may get no gradient in a step.
    return nn.parallel.DistributedDataParallel(loss_module, device_ids=ids, find_unused_parameters=True)
