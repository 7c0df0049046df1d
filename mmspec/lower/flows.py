"""The torch half of `flow(BASE, ...)` (mmspec/constructs/flows.py): zuko's masked autoregressive
transforms around a base distribution, with the exact change-of-variables density.

Direction: T maps the latent z to the base's space (zuko's convention, and MultiVae's JNF flows'):
log q(z) = log base(T(z)) + log |det ∂T/∂z| costs one pass of each transform; a sample
z = T^{-1}(z0), z0 ~ base, costs the autoregressive inverse (D passes).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import zuko
from torch import Tensor, nn
from torch.func import functional_call

from ..model.graph import Flow, ModelGraph


class FlowTransform(nn.Module):
    """T = T_n ∘ ... ∘ T_1, masked autoregressive affine transforms (zuko.flows.MAF without its base)."""

    def __init__(self, dim: int, transforms: int, hidden: tuple[int, ...]):
        super().__init__()
        self.transform = zuko.flows.MAF(dim, 0, transforms=transforms, hidden_features=tuple(hidden)).transform

    def forward(self, x: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor | None]:
        """(T(x), log|det ∂T/∂x|) [..., D], [...]; or (T^{-1}(x), None) with `inverse`."""
        t = self.transform()
        return (t.inv(x), None) if inverse else t.call_and_ladj(x)


def build_modules(graph: ModelGraph, dim: int) -> dict[str, FlowTransform]:
    """Each flow's transforms, by the declaration that owns them (`flows.qf[m0]`)."""
    return {n.network: FlowTransform(dim, n.transforms, n.hidden) for n in graph.nodes.values() if isinstance(n, Flow)}


@dataclass
class FlowDistribution:
    """The pushforward of `base` by T^{-1}; `params` replaces the transform's parameters (sg: detached)."""
    base: object                            # DiagGaussian or DiagLaplace, [B, D]
    transform: FlowTransform
    params: dict[str, Tensor] | None = None

    @property
    def noise(self) -> str:
        return self.base.noise

    def _apply(self, x: Tensor, inverse: bool = False):
        if self.params is None:
            return self.transform(x, inverse)
        return functional_call(self.transform, self.params, (x, inverse))

    @property
    def mean(self) -> Tensor:
        """T^{-1} of the base's mean (the flow's mean has no closed form; what evaluation reads as
        the posterior's location, e.g. for latent probes)."""
        return self._apply(self.base.mean, inverse=True)[0]

    def sample_with(self, eps: Tensor) -> Tensor:
        """Reparameterised samples [K, B, D] from the base's noise."""
        return self._apply(self.base.sample_with(eps), inverse=True)[0]

    def rsample(self, k: int = 1) -> Tensor:
        return self._apply(self.base.rsample(k), inverse=True)[0]

    def log_prob(self, z: Tensor) -> Tensor:
        """log base(T(z)) + log|det ∂T/∂z|: z [..., B, D] -> [..., B]."""
        z0, ladj = self._apply(z)
        return self.base.log_prob(z0) + ladj

    def detach(self) -> "FlowDistribution":
        params = {n: p.detach() for n, p in self.transform.named_parameters()}
        return FlowDistribution(self.base.detach(), self.transform, params)


def distribution(evaluation, node: Flow) -> FlowDistribution:
    """A Flow node in one Evaluation: its base (computed once, shared) and its transforms."""
    return FlowDistribution(evaluation.gaussian(node.base), evaluation.module.flows[node.network])
