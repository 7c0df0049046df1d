"""Reconstruction error: how well each modality is decoded from a posterior (seed 004 Figures 2 and 7).

For modality m decoded from the posterior of the given modalities S,

    error(m | S) = -(1/N) sum_i (1/K) sum_k log p(x_m,i | z_k),   z_k ~ q(z | x_S,i),

in nats per item, with the spec's likelihood unweighted (no rescaling weights, as the test ELBO), so
methods that rescale their training objective are compared on the same quantity. Two given sets:
`all` (every modality given: the x axis of seed 004 Figure 2) and `self` (each modality given only
itself: "the self-reconstruction error", Figure 7's x axis). The paper plots the sum over modalities,
`all_total` and `self_total`; per-modality values sit beside them.
"""
from __future__ import annotations

import torch

from .common import EvalData, encode_many, log_likelihood

DEFINITION = ("-log p(x_m | z), z ~ q(z | given), unweighted likelihood, nats per item; "
              "all: every modality given; self: each modality given only itself; *_total: the sum over modalities")


def reconstruction_error(model, data: EvalData, split: str = "test", n: int | None = None, k: int = 1) -> dict:
    """{"all": {m: error}, "all_total", "self": {m: error}, "self_total", "samples": K, "items": N}."""
    names = list(model.modalities)
    everything = tuple(names)
    subsets = [everything] + [(m,) for m in names if (m,) != everything]
    sums = {(s, m): torch.zeros((), dtype=torch.float64) for s in ("all", "self") for m in names}
    items = 0
    for batch, labels in data.chunks(split, n):
        posteriors = encode_many(model, batch, subsets)
        with torch.no_grad():
            z_all = posteriors[everything].rsample(k)              # [K, B, D], one draw decodes every modality
            for m in names:
                for which, z in (("all", z_all), ("self", posteriors[(m,)].rsample(k) if len(names) > 1 else z_all)):
                    sums[(which, m)] += -log_likelihood(model, m, z, batch).double().mean(0).sum().cpu()
        items += labels.shape[0]
    out: dict = {"samples": k, "items": items, "definition": DEFINITION}
    for which in ("all", "self"):
        per = {m: float(sums[(which, m)]) / items for m in names}
        out[which], out[f"{which}_total"] = per, sum(per.values())
    return out
