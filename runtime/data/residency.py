"""Resident or streamed: where a dataset's tensors live, chosen from its size and the free memory.

Data that fits stays resident on the training device (the fast path every built-in dataset takes:
a batch is an index gather, no Python per item). Data that does not fit is memory-mapped from .npy
files on disk (the user's own .npy, or a decoded copy in the cache) and each batch is read from the
map, converted exactly as the resident path would convert it, and copied to the device, so both
paths give the same batch for the same indices. The budget is half the free memory of the device
(CUDA) or of the machine (CPU); `memory resident|stream` in the data block, or $MMSPEC_DATA_BUDGET
(bytes, with an optional K/M/G suffix), decides instead.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

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
        return False, f"streamed from memory-mapped files ({human(total_bytes)}; `memory stream` in the spec)"
    env = os.environ.get(BUDGET_ENV)
    budget = parse_bytes(env) if env else free_bytes(device) // 2
    why = f"${BUDGET_ENV}" if env else f"half the free {'GPU' if device.type == 'cuda' else 'host'} memory"
    if total_bytes <= budget:
        return True, f"resident on {device.type} ({human(total_bytes)} <= {human(budget)}, {why})"
    return False, (f"streamed from memory-mapped files ({human(total_bytes)} > {human(budget)}, {why}); "
                   f"each batch is read from disk")


@dataclass(frozen=True)
class MappedStore:
    """One modality of one split, read per batch from a memory-mapped array [K, ...].

    rows: the split's item -> array row map; layout "nhwc" arrays are permuted to channels first;
    kind "image" (uint8 -> [0, 1]), "tokens" (-> one-hot over `vocab_size`) or "float".
    """

    array: np.ndarray
    rows: np.ndarray
    kind: str
    layout: str = ""
    vocab_size: int = 0
    device: torch.device = torch.device("cpu")

    def gather(self, index: Tensor, generator=None) -> Tensor:
        rows = self.rows[index.detach().cpu().numpy()]
        block = torch.from_numpy(np.ascontiguousarray(self.array[rows]))
        block = block.to(self.device, non_blocking=True)
        if self.layout == "nhwc":
            block = block.permute(0, 3, 1, 2)
        elif self.layout == "nhw":
            block = block.unsqueeze(1)
        if self.kind == "image" and block.dtype == torch.uint8:
            return block.float().div_(255.0)
        if self.kind == "tokens":
            return torch.nn.functional.one_hot(block.long(), self.vocab_size).float()
        return block.float()

    def sources(self, index: Tensor) -> Tensor:
        """The array row each item shows: items sharing a row are copies of one source item."""
        return torch.from_numpy(self.rows[index.detach().cpu().numpy()])

    def to(self, device, memo=None) -> "MappedStore":
        return MappedStore(self.array, self.rows, self.kind, self.layout, self.vocab_size, torch.device(device))
