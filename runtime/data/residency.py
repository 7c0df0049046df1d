"""Resident or streamed: where a dataset's tensors live, chosen from its size and the free memory.

Data that fits stays resident on the training device (the fast path every built-in dataset takes:
a batch is an index gather, no Python per item). Data that does not fit is streamed (streaming.py):
each batch is read from disk (memory-mapped .npy, HDF5 by rows, image files) by a DataLoader's
workers, converted exactly as the resident path would convert it, and copied to the device, so both
paths give the same batch for the same indices. The budget is half the free memory of the device
(CUDA) or of the machine (CPU); `memory resident|stream` in the data block, or $MMSPEC_DATA_BUDGET
(bytes, with an optional K/M/G suffix), decides instead.
"""
from __future__ import annotations

import os
import torch

BUDGET_ENV = "MMSPEC_DATA_BUDGET"
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def free_bytes(device: torch.device) -> int:
    """Free memory of the device: CUDA's free memory, else the machine's available memory."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def parse_bytes(text: str) -> int:
    text = text.strip().upper().removesuffix("B")
    unit = text[-1] if text and text[-1] in _UNITS else ""
    return int(float(text[: len(text) - len(unit)]) * _UNITS[unit])


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TB"


def choose(total_bytes: int, device: torch.device, memory: str = "auto") -> tuple[bool, str]:
    """(resident?, the reason, for the banner)."""
    if memory == "resident":
        return True, f"resident on {device.type} ({human(total_bytes)}; `memory resident` in the spec)"
    if memory == "stream":
        return False, f"streamed from disk ({human(total_bytes)}; `memory stream` in the spec)"
    env = os.environ.get(BUDGET_ENV)
    budget = parse_bytes(env) if env else free_bytes(device) // 2
    why = f"${BUDGET_ENV}" if env else f"half the free {'GPU' if device.type == 'cuda' else 'host'} memory"
    if total_bytes <= budget:
        return True, f"resident on {device.type} ({human(total_bytes)} <= {human(budget)}, {why})"
    return False, f"streamed from disk ({human(total_bytes)} > {human(budget)}, {why})"
