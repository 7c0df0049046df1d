"""The contract between the compiler and the runtime.

`mmspec.compile_spec(...)` returns a `CompiledModel`. The runtime trains and evaluates it through
this interface alone, so it never needs to know which method a spec describes.

Tensor conventions (a *batch* is ``dict[modality name -> float tensor]`` on the model's device):
- image(C, H, W): float in [0, 1], shape [B, C, H, W];
- text(L, V): one-hot float, shape [B, L, V];
- vector(D): float, shape [B, D].
Latents are [B, D]; samples from a posterior are [K, B, D].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import torch
from torch import Tensor, nn

from .model.settings import (MetricRequest, OptimizerSettings, SchedulerSettings, Selection, StageSettings,
                             TrainSettings)

__all__ = ["CompiledModel", "GivenInfo", "LossOutput", "MetricRequest", "ModalityInfo", "NoiseSource", "OptimizerSettings",
           "Posterior", "SchedulerSettings", "Selection", "StageSettings", "TrainSettings", "default_device"]


class Posterior(Protocol):
    """A distribution over one latent, for every item of a batch."""

    @property
    def mean(self) -> Tensor:  # [B, D]; a mixture's mean for mixtures
        ...

    def rsample(self, k: int = 1) -> Tensor:  # [k, B, D], reparameterised
        ...

    def log_prob(self, z: Tensor) -> Tensor:  # z [..., B, D] -> [..., B]
        ...


@dataclass(frozen=True)
class ModalityInfo:
    name: str
    kind: str                  # "image" | "text" | "vector"
    shape: tuple[int, ...]     # (C, H, W) | (L, V) | (D,)
    likelihood: str            # "laplace" | "gaussian" | "bernoulli" | "categorical"
    weight: float              # likelihood weight w_m (1, a number, or the `rescale` value)


@dataclass(frozen=True)
class GivenInfo:
    """Data a conditional spec reads and never generates (`given m1: ...`, a CVAE's conditioning input)."""
    name: str
    kind: str
    shape: tuple[int, ...]


@dataclass
class LossOutput:
    loss: Tensor                 # scalar to minimise (graph attached)
    terms: dict[str, Tensor]     # detached scalar value of every named term, batch means


@dataclass(frozen=True)
class Clock:
    """Where training stands, for weight schedules: `step` is a 0-dim integer tensor on the model's
    device holding the number of optimizer steps already taken (the trainer advances it in place, so
    reading it never waits for the device), `steps_per_epoch` converts steps to epochs."""
    step: Tensor
    steps_per_epoch: int


class CompiledModel(Protocol):
    """What the lowering produces; see mmspec.lower.model for the implementation."""

    module: nn.Module                          # every trainable network of the spec
    name: str                                  # the spec's model name
    dataset: str                               # the spec's `data` name (mst, polymnist, ...)
    data_decl: Any                             # mmspec.data.decl.DataDecl of `data NAME { ... }`, else None
    modalities: dict[str, ModalityInfo]        # in spec order
    givens: dict[str, GivenInfo]               # conditioning data (`given m1: ...`); {} unless the spec is conditional
    latent_dim: int
    params: dict[str, float]                   # resolved params (after --set overrides)
    train: TrainSettings                       # staged specs: epochs = the sum over stages
    stages: list[StageSettings]                # in training order; one implicit stage unless the spec has `stage`s
    evaluate: list[MetricRequest]
    source_text: str                           # the spec's text
    source_hash: str                           # sha256 of source_text + overrides
    can_generate: bool                         # whether sampling the prior and decoding is meaningful
    generation_note: str                       # why not, when it is not
    schedules: dict[str, str]                  # scheduled params -> the schedule as written

    def set_clock(self, clock: Clock | None) -> None:
        """Scheduled weights follow `clock` from now on (the trainer calls this once); without a
        clock a scheduled param has its final value."""

    def schedule_notes(self, epochs: int, steps_per_epoch: int) -> list[str]:
        """What a run of `epochs` epochs should say about the schedules (one cut short by --epochs)."""

    def loss(self, batch: dict[str, Tensor], noise: "NoiseSource | None" = None,
             objective: str | None = None) -> LossOutput:
        """The loss of the named objective (default: the first declared; a stage's is `stage.objective`);
        terms["objective"] is the objective's batch-mean value as written (not negated)."""

    def encode(self, batch: dict[str, Tensor], subset: Sequence[str]) -> Posterior:
        """The posterior the spec's `infer` rules give for the modalities in `subset`."""

    def encode_subsets(self, batch: dict[str, Tensor], subsets: Sequence[Sequence[str]]) -> list[Posterior]:
        """`encode` for each subset, sharing the encoder passes between them."""

    def decode(self, modality: str, z: Tensor, given: dict[str, Tensor] | None = None) -> Tensor:
        """Likelihood mean in data space: [*, *shape]; text gives probabilities [*, L, V]. A decoder
        conditioned on given data (`given m1`) reads it from `given` (the batch: {name: [B, ...]})."""

    def log_likelihood(self, modality: str, z: Tensor, x: Tensor, given: dict[str, Tensor] | None = None) -> Tensor:
        """w-unweighted log p(x_m | z) summed over the modality's dims: z [..., B, D] -> [..., B]."""

    def prior(self, batch_size: int) -> Posterior: ...

    def sample_prior(self, n: int) -> Tensor:  # [n, D]
        ...


class NoiseSource(Protocol):
    """Supplies reparameterisation noise; tests pass a fixed one to compare against references."""

    def normal(self, key: str, shape: Sequence[int], like: Tensor) -> Tensor: ...

    def uniform(self, key: str, shape: Sequence[int], like: Tensor) -> Tensor: ...


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
