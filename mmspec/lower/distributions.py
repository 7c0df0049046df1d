"""The one implementation of every distribution operation: Gaussian, Laplace, PoE, KL, mixtures.

Every method of the catalogue goes through these functions; nothing else in mmspec computes a
product of experts or a divergence.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)
POE_EPS = 1e-8          # added to each expert's variance before inverting (as the MoPoE code does)


_CONSTANTS: dict[tuple, Tensor] = {}


def constant(values: tuple, like: Tensor) -> Tensor:
    """Fixed numbers (a tuple, or a tuple of tuples) as a tensor on `like`'s device and dtype, made
    once: `torch.tensor(..., device="cuda")` copies from the host and waits for it, which a training
    step must not do every step."""
    key = (values, like.device, like.dtype)
    if key not in _CONSTANTS:
        _CONSTANTS[key] = torch.tensor(values, device=like.device, dtype=like.dtype)
    return _CONSTANTS[key]


@dataclass
class DiagGaussian:
    """N(mu, diag exp(logvar)) for every item of a batch: mu, logvar [B, D]."""
    mu: Tensor
    logvar: Tensor
    noise = "normal"            # the reparameterisation noise sample_with expects

    @property
    def mean(self) -> Tensor:
        return self.mu

    @property
    def std(self) -> Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample_with(self, eps: Tensor) -> Tensor:
        """Reparameterised samples from noise eps [K, B, D]."""
        return self.mu + self.std * eps

    def rsample(self, k: int = 1) -> Tensor:
        return self.sample_with(torch.randn((k, *self.mu.shape), device=self.mu.device, dtype=self.mu.dtype))

    def log_prob(self, z: Tensor) -> Tensor:
        """log N(z; mu, var) summed over dimensions: z [..., B, D] -> [..., B]."""
        return -0.5 * (LOG_2PI + self.logvar + (z - self.mu) ** 2 * torch.exp(-self.logvar)).sum(-1)

    def detach(self) -> "DiagGaussian":
        return DiagGaussian(self.mu.detach(), self.logvar.detach())

    def part(self, where: slice) -> "DiagGaussian":
        """The factor on some of the dimensions (one latent of several)."""
        return DiagGaussian(self.mu[..., where], self.logvar[..., where])


@dataclass
class DiagLaplace:
    """Laplace(loc, scale) independently in every dimension: loc, scale [B, D] (MMVAE's family)."""
    loc: Tensor
    scale: Tensor
    noise = "uniform"

    @property
    def mean(self) -> Tensor:
        return self.loc

    def sample_with(self, u: Tensor) -> Tensor:
        """Reparameterised samples from uniform noise u in [0, 1) [K, B, D], by the inverse CDF:
        v = 2u - 1, z = loc - scale·sign(v)·log(1 - |v|) (as torch.distributions.Laplace)."""
        v = (2.0 * u - 1.0).clamp(min=torch.finfo(u.dtype).eps - 1.0)
        return self.loc - self.scale * v.sign() * torch.log1p(-v.abs())

    def rsample(self, k: int = 1) -> Tensor:
        return self.sample_with(torch.rand((k, *self.loc.shape), device=self.loc.device, dtype=self.loc.dtype))

    def log_prob(self, z: Tensor) -> Tensor:
        """log Laplace(z; loc, scale) summed over dimensions: z [..., B, D] -> [..., B]."""
        return (-torch.log(2.0 * self.scale) - torch.abs(z - self.loc) / self.scale).sum(-1)

    def detach(self) -> "DiagLaplace":
        return DiagLaplace(self.loc.detach(), self.scale.detach())

    def part(self, where: slice) -> "DiagLaplace":
        return DiagLaplace(self.loc[..., where], self.scale[..., where])


LAPLACE_EPS = 1e-6      # MMVAE's Constants.eta, added to the posterior scale


def laplace_from_head(loc: Tensor, raw: Tensor) -> DiagLaplace:
    """MMVAE's Laplace posterior from an encoder's two heads: scale = D·softmax(raw) + 1e-6."""
    return DiagLaplace(loc, torch.softmax(raw, dim=-1) * raw.shape[-1] + LAPLACE_EPS)


def from_head(family: str, first: Tensor, second: Tensor, blocks: tuple[int, ...] = ()):
    """An encoder's two heads as its family's distribution: Gaussian (mu, logvar) or MMVAE's Laplace.
    `blocks`: the sizes of the latents the heads cover in turn (MMVAE's softmax is per latent)."""
    if family != "laplace":
        return DiagGaussian(first, second)
    if len(blocks) < 2:
        return laplace_from_head(first, second)
    parts = [laplace_from_head(a, b) for a, b in zip(first.split(blocks, -1), second.split(blocks, -1))]
    return DiagLaplace(torch.cat([p.loc for p in parts], -1), torch.cat([p.scale for p in parts], -1))


def laplace_prior(batch: int, dim: int, like: Tensor, scale: float | None, logits: Tensor | None,
                  eps: float = 0.0) -> DiagLaplace:
    """Laplace(0, b): b fixed, or MMVAE's learned b = D·softmax(logits) (+ eps: MultiVae's MMVAE+ adds 1e-6)."""
    loc = torch.zeros((batch, dim), device=like.device, dtype=like.dtype)
    if logits is None:
        return DiagLaplace(loc, torch.full_like(loc, scale))
    scale = torch.softmax(logits, dim=-1) * logits.shape[-1]
    return DiagLaplace(loc, (scale + eps if eps else scale).to(like.dtype).expand(batch, logits.shape[-1]))


@dataclass
class MixtureOf:
    """A finite mixture sum_j w_j q_j over one latent (weights are constants; Gaussian or Laplace parts)."""
    components: list
    weights: list[float]

    @property
    def mean(self) -> Tensor:
        return sum(w * c.mean for w, c in zip(self.weights, self.components))

    def rsample(self, k: int = 1) -> Tensor:
        """Ancestral samples (component drawn per item); used at evaluation, not in the loss."""
        draws = torch.stack([c.rsample(k) for c in self.components])            # [J, K, B, D]
        probs = constant(tuple(self.weights), draws)
        pick = torch.multinomial(probs, k * draws.shape[2], replacement=True).view(k, -1)
        index = pick[None, :, :, None].expand(1, *draws.shape[1:])
        return draws.gather(0, index)[0]

    def log_prob(self, z: Tensor) -> Tensor:
        logs = torch.stack([math.log(w) + c.log_prob(z) for w, c in zip(self.weights, self.components) if w > 0])
        return torch.logsumexp(logs, dim=0)

    def detach(self) -> "MixtureOf":
        return MixtureOf([c.detach() for c in self.components], list(self.weights))


def standard_normal(batch: int, dim: int, like: Tensor) -> DiagGaussian:
    zeros = torch.zeros((batch, dim), device=like.device, dtype=like.dtype)
    return DiagGaussian(zeros, zeros)


def product_of_experts(mus: Tensor, logvars: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """Weighted products of Gaussian experts, many at once.

    mus, logvars: [E, B, D] (the experts); weights: [S, E] (row s: the weight of each expert in
    product s; 0 leaves it out, 1 is a plain PoE). Returns mu, logvar [S, B, D]:
    precision = sum_e w_e / var_e, mu = var * sum_e w_e mu_e / var_e.
    """
    precision_e = 1.0 / (torch.exp(logvars) + POE_EPS)
    precision = torch.einsum("se,ebd->sbd", weights, precision_e)
    mu = torch.einsum("se,ebd->sbd", weights, mus * precision_e) / precision
    return mu, -torch.log(precision)


def average_of_experts(members: list[DiagGaussian]) -> DiagGaussian:
    """AVG (Hosoya): the mean of the means and the mean of the standard deviations."""
    mu = torch.stack([m.mu for m in members]).mean(0)
    std = torch.stack([m.std for m in members]).mean(0)
    return DiagGaussian(mu, 2.0 * torch.log(std))


def kl_gaussian(q: DiagGaussian, p: DiagGaussian) -> Tensor:
    """KL(q || p) in closed form, summed over dimensions: [B]."""
    return 0.5 * (p.logvar - q.logvar + (torch.exp(q.logvar) + (q.mu - p.mu) ** 2) * torch.exp(-p.logvar) - 1.0).sum(-1)


def kl_laplace(q: DiagLaplace, p: DiagLaplace) -> Tensor:
    """KL(q || p) in closed form for any locations, summed over dimensions: [B].
    With d = |loc_q - loc_p|: log(b_p/b_q) + (d + b_q exp(-d/b_q))/b_p - 1, from E_q|z - loc_p| = d + b_q e^{-d/b_q}."""
    d = torch.abs(q.loc - p.loc)
    return (torch.log(p.scale / q.scale) + (d + q.scale * torch.exp(-d / q.scale)) / p.scale - 1.0).sum(-1)


def kl_closed(q, p) -> Tensor:
    """The closed-form KL of two distributions of one family (the checker admits no other pair)."""
    if isinstance(q, DiagGaussian) and isinstance(p, DiagGaussian):
        return kl_gaussian(q, p)
    if isinstance(q, DiagLaplace) and isinstance(p, DiagLaplace):
        return kl_laplace(q, p)
    raise TypeError(f"no closed-form KL between {type(q).__name__} and {type(p).__name__}")
