"""Timing training steps side by side: warm-up, then alternating rounds, medians, peak memory.

Several step functions measured in one process on one device, alternating in rounds of a few
steps, see the same machine load, caches and clock: their ratio is meaningful even on a shared
machine where absolute figures drift. Each step is timed alone (on CUDA between two
synchronisations, so the figure is the step's device time, not its launch time); the summary is
the median over the timed steps.
"""
from __future__ import annotations

import os
import resource
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass
class Timing:
    name: str
    batch: int
    step_s: list[float] = field(default_factory=list)
    peak_bytes: int = 0
    memory_kind: str = ""

    @property
    def median_s(self) -> float:
        return statistics.median(self.step_s)

    @property
    def samples_per_s(self) -> float:
        return self.batch / self.median_s

    @property
    def spread(self) -> tuple[float, float]:
        """Quartiles of the step time: how noisy the measurement was."""
        if len(self.step_s) < 2:
            return self.median_s, self.median_s
        q = statistics.quantiles(self.step_s, n=4)
        return q[0], q[2]

    def as_dict(self) -> dict:
        lo, hi = self.spread
        return {"name": self.name, "batch": self.batch, "steps_timed": len(self.step_s),
                "median_step_ms": 1e3 * self.median_s, "q1_step_ms": 1e3 * lo, "q3_step_ms": 1e3 * hi,
                "samples_per_s": self.samples_per_s, "peak_memory_mib": self.peak_bytes / 2 ** 20,
                "memory_kind": self.memory_kind}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_rss() -> bool:
    """Restart the peak-RSS record (Linux: writing 5 to /proc/self/clear_refs resets VmHWM), so
    each side's rounds report their own peak; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """The process's peak resident set size since the last reset (VmHWM), else since it started."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024    # Linux reports KiB


def _segment(step: Callable[[], None], n: int, device: torch.device, times: list[float] | None) -> None:
    for _ in range(n):
        _sync(device)
        start = time.perf_counter()
        step()
        _sync(device)
        if times is not None:
            times.append(time.perf_counter() - start)


def time_steps(steps_by_name: dict[str, Callable[[], None]], *, batch: int, device: torch.device,
               warmup: int, steps: int, round_steps: int = 5) -> dict[str, Timing]:
    """Warm every step function up, then time `steps` steps of each, alternating in rounds."""
    cpu_kind = "peak RSS during its rounds" if reset_peak_rss() else "peak RSS of the whole process"
    out = {name: Timing(name, batch, memory_kind="CUDA peak allocated" if device.type == "cuda" else cpu_kind)
           for name in steps_by_name}
    for name, step in steps_by_name.items():
        _segment(step, warmup, device, None)
    done = 0
    while done < steps:
        n = min(round_steps, steps - done)
        for name, step in steps_by_name.items():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            else:
                reset_peak_rss()
            _segment(step, n, device, out[name].step_s)
            peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else peak_rss_bytes()
            out[name].peak_bytes = max(out[name].peak_bytes, peak)
        done += n
    return out


def machine_load() -> dict:
    """What else was running: the load average against the number of cores."""
    one, five, _ = os.getloadavg()
    return {"loadavg_1min": round(one, 2), "loadavg_5min": round(five, 2), "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads()}
