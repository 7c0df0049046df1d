"""How a sweep shares the cluster out among its trials: a pure function of the cluster's resources.

- GPUs: each trial asks Ray for a fraction 1/k of one GPU, so that k trials share a device. k comes
  from `--gpus-per-trial` when given, else from the trial's memory estimate and the GPU's memory
  (as many as fit in HEADROOM of it, at most MAX_TRIALS_PER_GPU), else DEFAULT_GPU_FRACTION.
- CPUs: trials run side by side, at most one per CPU, and torch's threads are divided among them
  (each trial reserves its share of CPUs in Ray, so Ray never oversubscribes a node).

`plan_trials` sees only numbers (`Cluster`, estimates), so tests cover it with made-up clusters;
the driver fills a `Cluster` from `ray.cluster_resources()`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import RunError

DEFAULT_GPU_FRACTION = 0.25         # four trials to a GPU when nothing says how big a trial is
MAX_TRIALS_PER_GPU = 8
HEADROOM = 0.8                      # of a GPU's memory the trials sharing it may plan to use
ACTIVATION_FLOATS_PER_INPUT = 32    # rough: floats kept for backward per input float, per pass (conv nets)
BYTES_PER_PARAMETER = 16            # float32 weight, gradient and Adam's two moments


@dataclass(frozen=True)
class Cluster:
    cpus: float
    gpus: float = 0.0
    gpu_bytes: int | None = None    # memory of one GPU, when the driver can tell


@dataclass(frozen=True)
class TrialPlan:
    concurrent: int                 # trials in flight at once
    cpus_per_trial: int             # CPUs each trial reserves in Ray
    threads: int                    # torch threads of each trial
    device: str                     # cuda | cpu
    gpu_fractions: tuple[float, ...]    # per trial, in the order given; 0 on the CPU

    def describe(self) -> str:
        cpus = f"{self.cpus_per_trial} CPU{'s' * (self.cpus_per_trial != 1)}"
        if self.device == "cpu":
            return f"{self.concurrent} at a time, {cpus} ({self.threads} torch threads) per trial"
        shares = sorted(set(self.gpu_fractions))
        gpu = " or ".join(f"{f:.3g}" for f in shares)
        return f"{self.concurrent} at a time, {cpus} and {gpu} GPU per trial"


def cluster_of(resources: dict, gpu_bytes: int | None = None) -> Cluster:
    """A Cluster from `ray.cluster_resources()` (keys CPU, GPU)."""
    return Cluster(float(resources.get("CPU", 1)), float(resources.get("GPU", 0)), gpu_bytes)


def gpu_fraction(trial_bytes: int | None, gpu_bytes: int | None, requested: float | None = None) -> float:
    """The share of one GPU a trial asks for: 1/k, with k trials fitting on a device."""
    if requested is not None:
        if not 0 < requested <= 1:
            raise RunError(f"--gpus-per-trial must be in (0, 1] (a trial runs on one GPU), got {requested:g}")
        return requested
    if not trial_bytes or not gpu_bytes:
        return DEFAULT_GPU_FRACTION
    fit = math.floor(HEADROOM * gpu_bytes / trial_bytes)
    return 1.0 / max(1, min(MAX_TRIALS_PER_GPU, fit))


def plan_trials(cluster: Cluster, trial_bytes: list[int | None], *, max_concurrent: int | None = None,
                gpus_per_trial: float | None = None, device: str | None = None) -> TrialPlan:
    """The shares of `len(trial_bytes)` trials (memory estimates in bytes, None if unknown)."""
    n = len(trial_bytes)
    cpus = max(1, math.floor(cluster.cpus))
    if max_concurrent is not None and max_concurrent < 1:
        raise RunError("--max-concurrent must be at least 1")
    if device == "cuda" and cluster.gpus <= 0:
        raise RunError("--device cuda, but the Ray cluster has no GPU (ray.cluster_resources() lists none)")
    if n == 0:
        return TrialPlan(0, 1, 1, device or "cpu", ())
    if cluster.gpus > 0 and device != "cpu":
        fractions = tuple(gpu_fraction(b, cluster.gpu_bytes, gpus_per_trial) for b in trial_bytes)
        fit = math.floor(cluster.gpus / min(fractions) + 1e-9)        # Ray queues what does not fit yet
        concurrent = max(1, min(max_concurrent or fit, fit, n, cpus))
        each = max(1, cpus // concurrent)
        return TrialPlan(concurrent, each, each, "cuda", fractions)
    concurrent = max(1, min(max_concurrent or cpus, n, cpus))
    each = max(1, cpus // concurrent)
    return TrialPlan(concurrent, each, each, "cpu", (0.0,) * n)


def trial_memory_bytes(spec: str, overrides: dict[str, str], batch: int | None = None) -> int | None:
    """A rough estimate of a trial's GPU memory: its networks' training state (exact parameter count,
    16 bytes each) plus the activations of a step (batch x inputs read and decoded per item x
    ACTIVATION_FLOATS_PER_INPUT floats). None when the spec cannot be built here."""
    try:
        from mmspec import check_spec
        from mmspec.check.footprint import parameter_counts
        from mmspec.explain.analysis import step_cost
        program = check_spec(spec, overrides)
        params = sum(parameter_counts(program.graph).values())
        cost = step_cost(program)
    except Exception:                    # an estimate only: the default share applies
        return None
    dims = [m.dim for m in program.graph.modalities.values()]
    floats = sum(dims) + cost.decoded_samples * sum(dims) / len(dims)   # the inputs, and each decoded sample
    items = batch or program.train.batch
    return int(params * BYTES_PER_PARAMETER + items * floats * ACTIVATION_FLOATS_PER_INPUT * 4)
