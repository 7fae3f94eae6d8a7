"""Whether a model fits: the bytes its weights take and the free memory of a device, checked on a meta-device
skeleton before any weights are read."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ModelLoadError

__all__ = ["parameter_bytes", "available_memory_bytes", "check_memory"]


def parameter_bytes(model: nn.Module) -> int:
    """Bytes the parameters and buffers take."""
    return sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))


def available_memory_bytes(device: torch.device) -> int | None:
    """Free memory on `device` (GPU: free device memory; CPU: the kernel's MemAvailable), or None if unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _bytes_to_load(model: nn.Module, dtype: torch.dtype) -> int:
    # The weights twice over while loading: the checkpoint's copy and the model's.
    return 2 * parameter_bytes(model) * torch.finfo(dtype).bits // 32


def _check_memory(what: str, skeleton: nn.Module, device: torch.device | None, dtype: torch.dtype) -> None:
    """Refuse a model whose (meta-device) `skeleton` would not fit in the free memory of `device` in `dtype`."""
    needed = _bytes_to_load(skeleton, dtype)
    free = available_memory_bytes(device or torch.device("cpu"))
    if free is not None and needed > free:
        raise ModelLoadError(
            f"{what} needs about {needed / 2**30:.1f} GB of memory to load but only {free / 2**30:.1f} GB "
            "is free; choose a smaller model or free some memory."
        )


check_memory = _check_memory
