"""A spec's training and evaluation settings, as checked: plain data the runtime reads through
mmspec.compiled (which re-exports these names)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OptimizerSettings:
    name: str                                   # "adam" | "adamw" | "sgd"
    params: dict[str, float] = field(default_factory=dict)   # lr, betas, weight_decay, ...


@dataclass(frozen=True)
class SchedulerSettings:
    name: str                                   # "none" | "exponential" | "step" | "cosine"
    params: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch: int
    optimizer: OptimizerSettings
    scheduler: SchedulerSettings


@dataclass(frozen=True)
class Selection:
    """Model selection in a stage: keep the epoch whose validation value of `objective` is best."""
    objective: str                              # a named objective of the spec, valued as written
    mode: str                                   # "min" | "max"


@dataclass(frozen=True)
class StageSettings:
    """One training stage. Parameter groups are module paths of `CompiledModel.module`:
    "encoders.q[mnist]", "joint_encoders.qj", "decoders.text", "log_scales.mnist"; a parameter
    belongs to a group when its name is the path or starts with the path and a dot."""
    name: str
    objective: str                              # the objective whose loss this stage minimises
    trains: tuple[str, ...]                     # groups the stage's optimizer updates
    frozen: tuple[str, ...]                     # groups that stay as they are (eval mode, no optimizer)
    train: TrainSettings                        # this stage's epochs, batch, optimizer, scheduler
    select: Selection | None = None
    explicit: bool = True                       # False: the one implicit stage of a single-objective spec


@dataclass(frozen=True)
class MetricRequest:
    name: str                                   # "coherence", "latent_probe", "fid", "elbo", "nll", ...
    params: dict[str, Any] = field(default_factory=dict)
