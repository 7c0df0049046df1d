"""Cosine similarity between latent means inferred from different modalities (CUB, CelebA papers).

A matched pair (the same item seen through two modalities) is compared with a mismatched baseline
(each item paired with another item's mean), so that a high similarity caused by a collapsed,
input-independent latent is visible as such.
"""
from __future__ import annotations

from itertools import combinations

import torch
from torch import Tensor


def cosine_pairs(means: dict[str, Tensor], *, seed: int = 0) -> dict[str, dict[str, float]]:
    """{"a~b": {"matched": mean cos(mu_a(i), mu_b(i)), "shuffled": mean cos(mu_a(i), mu_b(perm(i)))}}."""
    out = {}
    gen = torch.Generator().manual_seed(seed)
    for a, b in combinations(list(means), 2):
        ma, mb = means[a].float(), means[b].float()
        perm = torch.randperm(mb.shape[0], generator=gen)
        cos = torch.nn.functional.cosine_similarity
        out[f"{a}~{b}"] = {"matched": float(cos(ma, mb, dim=-1).mean()),
                           "shuffled": float(cos(ma, mb[perm], dim=-1).mean())}
    return out
