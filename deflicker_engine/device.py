"""Device choice happens when a job starts, never at import time."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Dict, Iterator, Optional

import torch

from .errors import DeviceError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """Map 'auto' | 'cpu' | 'cuda' | 'cuda:N' to a torch.device that exists on this machine."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device '{name}' requested but no CUDA GPU is available; use --device cpu or auto")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device '{name}' requested but only {torch.cuda.device_count()} GPU(s) exist")
        return device
    raise DeviceError(f"unknown device '{name}'; choose one of auto, cpu, cuda, cuda:N")


def memory_report(device: torch.device) -> Optional[Dict[str, object]]:
    """What the accelerator holds (MB), for status displays; None on the CPU (host memory is the OS's to show)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    free, total = torch.cuda.mem_get_info(device)
    mb = 2 ** 20
    return {"device": str(device), "name": torch.cuda.get_device_name(device), "total_mb": round(total / mb),
            "free_mb": round(free / mb), "allocated_mb": round(torch.cuda.memory_allocated(device) / mb),
            "reserved_mb": round(torch.cuda.memory_reserved(device) / mb),
            "peak_mb": round(torch.cuda.max_memory_allocated(device) / mb)}


@contextmanager
def out_of_memory_as_error(device: torch.device, what: str) -> Iterator[None]:
    """Turn the accelerator running out of memory into a DeviceError a user can act on, and give the cached
    blocks back so that a resident server stays usable for smaller jobs."""
    try:
        yield
    except torch.cuda.OutOfMemoryError as exc:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise DeviceError(f"{device} ran out of memory while {what}; lower --working-size (the analysis runs at "
                          "that size), close other programs using the GPU, or use --device cpu") from exc
