"""The torch half of `mog(k=K, ...)` (mmspec/constructs/mog.py): a learned mixture prior with its
exact log density, log p(z) = logsumexp_c [log softmax(ω)_c + log p_c(z)]."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..model.graph import MixturePrior, ModelGraph
from .distributions import DiagGaussian, DiagLaplace


class MixtureParams(nn.Module):
    """Means [k, D] (uniform in [-1, 1], as CMVAE), log-scales [k, D] (log of the spec's scale, 0 by
    default) and logits [k] (0); the parts
    the spec does not learn are buffers, so no optimizer or stage ever moves them."""

    def __init__(self, components: int, dim: int, learn: tuple[str, ...], scale: float = 1.0):
        super().__init__()
        values = {"means": 2 * torch.rand(components, dim) - 1,
                  "log_scales": torch.full((components, dim), math.log(scale)),
                  "logits": torch.zeros(components)}
        learned = {"means": "means" in learn, "log_scales": "scales" in learn, "logits": "weights" in learn}
        for name, value in values.items():
            if learned[name]:
                setattr(self, name, nn.Parameter(value))
            else:
                self.register_buffer(name, value)


def build_modules(graph: ModelGraph) -> dict[str, MixtureParams]:
    """Each mixture prior's parameters, by its declaration (`prior_mixtures.p`), at its latent's size."""
    return {n.owner: MixtureParams(n.components, graph.node_dim(k), n.learn, n.scale) for k, n in graph.nodes.items()
            if isinstance(n, MixturePrior)}


@dataclass
class LearnedMixture:
    """sum_c pi_c p_c(z) with p_c = N(mu_c, diag sigma_c^2) or Laplace(mu_c, sigma_c), for a batch of B."""
    means: Tensor               # [k, D]
    log_scales: Tensor          # [k, D]
    logits: Tensor              # [k]
    family: str
    batch: int

    @property
    def log_weights(self) -> Tensor:
        return torch.log_softmax(self.logits, dim=-1)

    @property
    def mean(self) -> Tensor:
        return (self.log_weights.exp()[:, None] * self.means).sum(0).expand(self.batch, -1)

    def components(self):
        """The k components as one distribution over [k, D] (the shared Gaussian / Laplace densities)."""
        if self.family == "laplace":
            return DiagLaplace(self.means, torch.exp(self.log_scales))
        return DiagGaussian(self.means, 2 * self.log_scales)

    def component_log_probs(self, z: Tensor) -> Tensor:
        """log p_c(z) for every component: z [..., B, D] -> [..., B, k]."""
        return self.components().log_prob(z[..., None, :])

    def log_prob(self, z: Tensor) -> Tensor:
        return torch.logsumexp(self.log_weights + self.component_log_probs(z), dim=-1)

    def rsample(self, k: int = 1) -> Tensor:
        """Ancestral samples [k, B, D] (generation from the prior; the component choice carries no
        gradient, which is why the checker lets no objective term draw from this prior)."""
        pick = torch.multinomial(self.log_weights.exp().detach(), k * self.batch, replacement=True).view(k, self.batch)
        mu, scale = self.means[pick], torch.exp(self.log_scales)[pick]
        if self.family == "laplace":
            return torch.distributions.Laplace(mu, scale).rsample()
        return mu + scale * torch.randn_like(mu)

    def detach(self) -> "LearnedMixture":
        return LearnedMixture(self.means.detach(), self.log_scales.detach(), self.logits.detach(), self.family,
                              self.batch)


def distribution(module, node: MixturePrior, batch: int, like: Tensor) -> LearnedMixture:
    params = module.prior_mixtures[node.owner]
    cast = lambda t: t.to(like.dtype)
    return LearnedMixture(cast(params.means), cast(params.log_scales), cast(params.logits), node.component_family, batch)
