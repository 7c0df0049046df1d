"""Decoder likelihoods p(x_m | z): log-densities and means from a decoder's raw output.

The network's raw output goes through the likelihood's link here, once: a sigmoid (when the
authors' network ends in one) for a Laplace/Gaussian location, logits for Bernoulli and
categorical. Log-likelihoods are summed over a modality's dimensions.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..model.graph import Likelihood


def location(raw: Tensor, link: str) -> Tensor:
    return torch.sigmoid(raw) if link == "sigmoid" else raw


def log_likelihood(lik: Likelihood, link: str, raw: Tensor, x: Tensor, log_scale: Tensor | None,
                   event_dims: int) -> Tensor:
    """log p(x | raw) summed over the last `event_dims` dimensions; raw and x broadcast."""
    if lik.name == "laplace":
        scale = lik.scale
        out = -torch.abs(x - location(raw, link)) / scale - math.log(2.0 * scale)
    elif lik.name == "gaussian":
        if log_scale is not None:
            out = -0.5 * ((x - location(raw, link)) * torch.exp(-log_scale)) ** 2 - log_scale - 0.5 * math.log(2 * math.pi)
        else:
            s = lik.scale
            out = -0.5 * ((x - location(raw, link)) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
    elif lik.name == "bernoulli":
        raw, x = torch.broadcast_tensors(raw, x)
        out = -F.binary_cross_entropy_with_logits(raw, x, reduction="none")
    elif lik.name == "categorical":
        out = x * F.log_softmax(raw, dim=-1)
    else:  # pragma: no cover - the checker admits only the four above
        raise ValueError(lik.name)
    return out.flatten(start_dim=out.dim() - event_dims).sum(-1)


def mean(lik: Likelihood, link: str, raw: Tensor) -> Tensor:
    """The likelihood's mean in data space (probabilities for categorical)."""
    if lik.name in ("laplace", "gaussian"):
        return location(raw, link)
    if lik.name == "bernoulli":
        return torch.sigmoid(raw)
    return torch.softmax(raw, dim=-1)
