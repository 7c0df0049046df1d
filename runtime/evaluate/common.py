"""What every metric shares: subsets of modalities, fixed evaluation batches, posterior access.

Metrics see the model only through the `CompiledModel` contract. Encoding runs with autograd on,
because some posteriors are computed by gradient steps (a gradient-origin network, an iterative
refinement); everything downstream of the posterior runs under `torch.no_grad`.
"""
from __future__ import annotations

from itertools import combinations
from typing import Iterator, Sequence

import torch
from torch import Tensor

Subset = tuple[str, ...]


def nonempty_subsets(names: Sequence[str]) -> list[Subset]:
    """All non-empty subsets, smallest first, each in the spec's modality order."""
    names = list(names)
    return [s for k in range(1, len(names) + 1) for s in combinations(names, k)]


def subset_label(subset: Subset) -> str:
    """'mnist+text'; the prior (empty subset) is 'prior'."""
    return "+".join(subset) if subset else "prior"


def cross_pairs(names: Sequence[str]) -> list[tuple[Subset, str]]:
    """(given subset, target) for every target and every non-empty subset not containing it."""
    return [(s, t) for t in names for s in nonempty_subsets(names) if t not in s]


def headline_pairs(names: Sequence[str]) -> list[tuple[Subset, str]]:
    """The pairs worth a picture or an expensive metric: one given modality, or all the others."""
    names = list(names)
    out = []
    for s, t in cross_pairs(names):
        if len(s) == 1 or len(s) == len(names) - 1:
            out.append((s, t))
    return out


class EvalData:
    """Deterministic batches of a split, identical for every metric that asks.

    When fewer than all items are asked for, they are a seeded random subset of the split (datasets
    may store their items sorted by class, so "the first n" could miss whole classes), taken in
    index order. `dataset.batch` gets a generator seeded from `seed`, so data generated on the fly
    is the same on every pass.
    """

    def __init__(self, dataset, modalities: Sequence[str], *, seed: int, chunk: int = 500):
        self.dataset = dataset
        self.modalities = list(modalities)
        self.seed = seed
        self.chunk = chunk

    def size(self, split: str, n: int | None) -> int:
        total = int(self.dataset.split_size(split))
        return total if n is None else min(int(n), total)

    def device(self) -> torch.device:
        return self.dataset.labels("test").device

    def indices(self, split: str, n: int | None = None) -> Tensor:
        """The items a metric uses: all of the split, or a seeded random subset of n, sorted."""
        total = int(self.dataset.split_size(split))
        device = self.dataset.labels(split).device
        if n is None or n >= total:
            return torch.arange(total, device=device)
        pick = torch.randperm(total, generator=torch.Generator().manual_seed(self.seed))[: int(n)]
        return pick.sort().values.to(device)

    def chunks(self, split: str, n: int | None = None) -> Iterator[tuple[dict[str, Tensor], Tensor]]:
        """Yields (batch restricted to the spec's modalities, labels) chunk by chunk."""
        index = self.indices(split, n)
        labels = self.dataset.labels(split)
        gen = torch.Generator(device=labels.device)
        gen.manual_seed(self.seed)
        for idx in index.split(self.chunk):
            full = self.dataset.batch(split, idx, generator=gen)
            yield {m: full[m] for m in self.modalities}, labels[idx]


def given_names(model) -> list[str]:
    """The data a conditional spec reads and never generates (`given m1: ...`, a CVAE); [] for others."""
    return list(getattr(model, "givens", None) or {})


def conditional_pairs(model) -> list[tuple[Subset, str]]:
    """(given data, target) for a conditional spec: z from what its `infer` rule gives for the given data
    alone (the prior), each target decoded given that data — the CVAE's conditional generation."""
    given = tuple(given_names(model))
    return [(given, t) for t in model.modalities] if given else []


def decode(model, target: str, z: Tensor, batch: dict[str, Tensor]) -> Tensor:
    """model.decode, passing the batch's given data to a conditional spec's decoders."""
    given = given_names(model)
    if not given:
        return model.decode(target, z)
    return model.decode(target, z, given={c: batch[c] for c in given})


def log_likelihood(model, target: str, z: Tensor, batch: dict[str, Tensor]) -> Tensor:
    """model.log_likelihood of the batch's `target`, with the given data a conditional decoder reads."""
    given = given_names(model)
    if not given:
        return model.log_likelihood(target, z, batch[target])
    return model.log_likelihood(target, z, batch[target], given={c: batch[c] for c in given})


def encode(model, batch: dict[str, Tensor], subset: Subset):
    """The posterior for `subset` (and the given data every item carries), computed with autograd
    enabled (see the module docstring)."""
    with torch.enable_grad():
        return model.encode({m: batch[m] for m in (*subset, *given_names(model)) if m in batch}, list(subset))


def encode_many(model, batch: dict[str, Tensor], subsets: Sequence[Subset]) -> dict[Subset, object]:
    """The posterior of every subset, each encoder run once for all of them."""
    with torch.enable_grad():
        return dict(zip(subsets, model.encode_subsets(batch, [list(s) for s in subsets])))


def posterior_means(model, data: EvalData, split: str, n: int | None,
                    subsets: Sequence[Subset]) -> tuple[dict[Subset, Tensor], Tensor]:
    """Posterior means [N, D] (on the CPU) of every subset over the first `n` items of `split`."""
    means: dict[Subset, list[Tensor]] = {s: [] for s in subsets}
    labels = []
    for batch, y in data.chunks(split, n):
        for s, posterior in encode_many(model, batch, subsets).items():
            means[s].append(posterior.mean.detach().float().cpu())
        labels.append(y.cpu())
    return {s: torch.cat(v) for s, v in means.items()}, torch.cat(labels)
