"""`mmspec bench` as a function: build the step(s), time them, describe the machine.

The result is a plain dict (written as JSON by `--out`) so benchmark tables in docs/benchmarks.md
can be regenerated from it.
"""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import RunError
from .steps import compile_for_bench, mmspec_step, multivae_step
from .synthetic import SyntheticData
from .timing import machine_load, time_steps


@dataclass
class BenchOptions:
    spec: Path
    overrides: dict[str, str] = field(default_factory=dict)
    device: str | None = None
    batch: int | None = None               # default: the spec's batch
    steps: int = 20
    warmup: int = 3
    against: str | None = None             # "multivae", or "plain" (mmspec's own plain path)
    seed: int = 0
    amp: str | None = None
    compile: bool = False
    batched: bool | None = None            # identical networks as one vmapped call; default: on CUDA
    items: int | None = None               # resident synthetic items (default: 4 batches)
    round_steps: int = 5


def _positive(name: str, value: int | None, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise RunError(f"--{name} must be at least {minimum}, got {value}")


def versions() -> dict:
    out = {"python": platform.python_version(), "torch": torch.__version__}
    for package in ("mmspec", "multivae"):
        try:
            from importlib.metadata import version
            out[package] = version(package)
        except Exception:
            pass
    return out


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU: {cpu_model()}, {torch.get_num_threads()} torch threads"


def cpu_model() -> str:
    """The processor's model name (Linux), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bench(opts: BenchOptions, log=print) -> dict:
    """Time mmspec's training step for a spec (and MultiVae's, alternating) on one device."""
    from ..session import resolve_device
    _positive("steps", opts.steps)
    _positive("warmup", opts.warmup, 0)
    _positive("batch", opts.batch)
    device = resolve_device(opts.device)
    batched = device.type == "cuda" if opts.batched is None else opts.batched
    model = compile_for_bench(opts.spec, opts.overrides, device, opts.seed, batched)
    batch = opts.batch or model.train.batch
    data = SyntheticData({**model.modalities, **getattr(model, "givens", {})},    # + a CVAE's given data
                         opts.items or 4 * batch, device, seed=opts.seed)
    steps = {}
    mv_model = None
    if opts.against == "multivae":
        from . import multivae_side
        mv_model = multivae_side.build(model)     # before training: the same initial weights
        steps["multivae"] = multivae_step(mv_model, model, data, batch, seed=opts.seed)
    elif opts.against == "plain":
        # the same spec and initial weights on the plain path: eager, float32, networks one by one
        plain = compile_for_bench(opts.spec, opts.overrides, device, opts.seed, batched=False)
        steps["plain"] = mmspec_step(plain, data, batch, seed=opts.seed, amp=None, compile=False)
    elif opts.against is not None:
        raise RunError(f"--against {opts.against!r}: 'multivae' or 'plain' are supported")
    steps = {"mmspec": mmspec_step(model, data, batch, seed=opts.seed, amp=opts.amp, compile=opts.compile), **steps}
    load_before = machine_load()
    log(f"timing {', '.join(steps)}: {opts.warmup} warm-up + {opts.steps} timed steps each, batch {batch}, "
        f"on {device_name(device)}")
    start = time.perf_counter()
    timings = time_steps(steps, batch=batch, device=device, warmup=opts.warmup, steps=opts.steps,
                         round_steps=opts.round_steps)
    result = {"spec": str(opts.spec), "model": model.name, "overrides": dict(opts.overrides), "batch": batch,
              "device": device_name(device), "device_type": device.type, "amp": opts.amp, "compile": opts.compile,
              "batched_identical_networks": batched, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              "versions": versions(), "load_before": load_before, "load_after": machine_load(),
              "wall_s": round(time.perf_counter() - start, 2),
              "timings": {k: t.as_dict() for k, t in timings.items()}}
    if mv_model is not None:
        from . import multivae_side
        method = multivae_side.method_of(model.name)
        result["ratio_vs_multivae"] = timings["mmspec"].samples_per_s / timings["multivae"].samples_per_s
        result["multivae_method"] = method
        result["multivae_note"] = multivae_side.NOTES[method]
        result["parameters"] = {"mmspec": multivae_side.spec_network_count(model),
                                "multivae": multivae_side.network_count(mv_model)}
    return result


def summary_lines(result: dict) -> list[str]:
    """The result as a few lines for the terminal."""
    lines = [f"{result['model']} ({result['spec']}), batch {result['batch']}, {result['device']}"
             + (f", amp {result['amp']}" if result["amp"] else "") + (", compiled" if result["compile"] else "")]
    for name, t in result["timings"].items():
        lines.append(f"  {name:9s} {t['samples_per_s']:10.1f} samples/s   median step {t['median_step_ms']:9.2f} ms "
                     f"(quartiles {t['q1_step_ms']:.2f}-{t['q3_step_ms']:.2f})   peak memory "
                     f"{t['peak_memory_mib']:.0f} MiB ({t['memory_kind']})")
    if "plain" in result["timings"]:
        t = result["timings"]
        lines.append(f"  fast path / plain path samples per second: "
                     f"{t['mmspec']['samples_per_s'] / t['plain']['samples_per_s']:.2f}x")
    if "ratio_vs_multivae" in result:
        p = result["parameters"]
        lines.append(f"  mmspec / MultiVae samples per second: {result['ratio_vs_multivae']:.2f}x "
                     f"(network parameters {p['mmspec']:,} vs {p['multivae']:,}; "
                     f"{result['multivae_method']}: {result['multivae_note']})")
    lb, la = result["load_before"], result["load_after"]
    lines.append(f"  machine load: {lb['loadavg_1min']} before, {la['loadavg_1min']} after "
                 f"(1-min load average, {lb['cpus']} CPUs)")
    return lines
