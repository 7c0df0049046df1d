"""Test ELBO and importance-weighted NLL of all modalities (methods.md; K = 12 in the MoPoE code).

With z_1..z_K ~ q(z | X) for the posterior of all modalities,
    log w_k = sum_m log p(x_m | z_k) + log p(z_k) - log q(z_k | X),
the ELBO estimate is the mean of log w_k and the IW bound is logsumexp_k log w_k - log K; the NLL is
minus that bound. Likelihoods are unweighted (no rescaling weights), so methods that rescale their
training objective are still compared on the same quantity.
"""
from __future__ import annotations

import math

import torch

from .common import EvalData, encode, given_names, log_likelihood


def elbo_and_nll(model, data: EvalData, split: str = "test", n: int | None = None, k: int = 12) -> dict:
    """{"elbo": nats per item, "nll": nats per item, "k": K, "items": N}."""
    modalities = list(model.modalities)
    elbo_sum = torch.zeros((), dtype=torch.float64)
    iw_sum = torch.zeros((), dtype=torch.float64)
    items = 0
    for batch, labels in data.chunks(split, n):
        posterior = encode(model, batch, tuple(modalities))
        with torch.no_grad():
            log_w = log_weights(model, batch, posterior, k)
            elbo_sum += log_w.mean(0).sum().cpu()
            iw_sum += (torch.logsumexp(log_w, 0) - math.log(k)).sum().cpu()
        items += labels.shape[0]
    return {"elbo": float(elbo_sum) / items, "nll": -float(iw_sum) / items, "k": k, "items": items}


def log_weights(model, batch: dict, posterior, k: int):
    """log w_k = sum_m log p(x_m | z_k) + log p(z_k) - log q(z_k | X) for z_k ~ q: [K, B] in float64."""
    z = posterior.rsample(k)                                                # [K, B, D]
    log_w = sum(log_likelihood(model, m, z, batch) for m in model.modalities)    # given data to a CVAE's decoders
    batch_size = next(iter(batch.values())).shape[0]
    given = tuple(given_names(model))      # a CVAE's prior is the infer rule's for its given data: p(z | x_c)
    prior = encode(model, batch, given) if given else model.prior(batch_size)
    return (log_w + prior.log_prob(z) - posterior.log_prob(z)).double()
