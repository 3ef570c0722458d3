"""Which torch device and precision a stage runs on (params `train.device`, `evaluate.device`,
`embed.device`, `train.precision`).

    auto   CUDA when a GPU is present (the first one, or this process's torchrun rank's), else CPU
    cpu, cuda, cuda:1, mps, ...   as torch names them

torch is imported only when a device is resolved, so reading params stays light.
"""

from __future__ import annotations

import os
from contextlib import nullcontext

from h2rec.errors import ConfigError


def resolve_device(name: str, key: str = "device"):
    """The torch.device `name` means here; a device this machine lacks is a ConfigError."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"{key}: {name!r} is not a torch device ({e}); use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{key}: {name!r} asked for, but this machine has no CUDA device; use auto or cpu")
    return device


def autocast(device, precision: str):
    """bf16 autocast on CUDA unless `precision` is fp32; the CPU always computes in fp32.

    (bf16 matmuls on 2-core CPUs are slower than fp32 ones, and the CPU results are the
    reference the GPU ones are checked against.)
    """
    import torch

    if effective_precision(device, precision) == "fp32":
        return nullcontext()
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16)


def effective_precision(device, precision: str) -> str:
    """What `autocast` computes in on `device`: "bf16" (CUDA, unless fp32 is asked) or "fp32"."""
    return "fp32" if device.type != "cuda" or precision == "fp32" else "bf16"
