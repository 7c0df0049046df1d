"""Examples for the cross-generation grids: a few test items, their given inputs, several samples.

Kept apart from the metric sweep because a picture wants several samples of the same items, while a
metric wants one sample of many items.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .common import EvalData, Subset, encode_many
from .generation import sample_given, to_data_space


def pick_items(labels: Tensor, n: int) -> Tensor:
    """Up to n item indices of the whole split, one per class first (so a grid shows every digit),
    ordered by class."""
    y = labels.cpu()
    classes = torch.unique(y)
    first = torch.stack([torch.nonzero(y == c)[0, 0] for c in classes])[:n]
    rest = torch.ones(y.shape[0], dtype=torch.bool)
    rest[first] = False
    chosen = torch.cat([first, torch.nonzero(rest)[: max(n - first.numel(), 0), 0]])
    chosen = chosen[torch.argsort(y[chosen], stable=True)]
    return chosen.to(labels.device)


def grid_examples(model, data: EvalData, pairs: list[tuple[Subset, str]], *, items: int = 10,
                  samples: int = 3) -> dict[tuple[Subset, str], dict]:
    """{(given, target): {"given": {m: [N, ...]}, "generated": [S, N, ...], "truth": [N, ...]}} on the CPU."""
    labels = data.dataset.labels("test")
    idx = pick_items(labels, items)
    gen = torch.Generator(device=labels.device).manual_seed(data.seed)
    full = data.dataset.batch("test", idx, generator=gen)
    small = {m: full[m] for m in data.modalities}
    posteriors = encode_many(model, small, list(dict.fromkeys(g for g, _ in pairs if g)))
    out = {}
    for given, target in pairs:
        z = sample_given(model, small, given, idx.shape[0], posteriors.get(given), samples=samples)
        draws = to_data_space(model, target, z, small).cpu().unflatten(0, (samples, idx.shape[0]))
        out[(given, target)] = {"given": {m: small[m].cpu() for m in given}, "generated": draws,
                                "truth": small[target].cpu(), "labels": labels[idx].cpu()}
    return out
