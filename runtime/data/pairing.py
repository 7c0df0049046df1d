"""The official MNIST-SVHN(-Text) pairing, as index pairs (never materialised images).

For each class l (in increasing order): take the first n = min(#A_l, #B_l, max_per_class) indices
of class l in A and in B (original order), then append `dm` independent random permutations of
each list. MMVAE and MoPoE use max_per_class = 10000 and dm = 20 (the data multiplier) for train
and test alike: with the real sets this yields 1,121,360 train and 200,000 test pairs.
"""
from __future__ import annotations

import torch
from torch import Tensor

OFFICIAL_MAX_PER_CLASS = 10000
OFFICIAL_DM = 20


def pair_by_label(labels_a: Tensor, labels_b: Tensor, *, max_per_class: int = OFFICIAL_MAX_PER_CLASS,
                  dm: int = OFFICIAL_DM, generator: torch.Generator | None = None
                  ) -> tuple[Tensor, Tensor]:
    """Index pairs (into A, into B) with equal labels; length dm * sum_l n_l."""
    labels_a, labels_b = labels_a.cpu().long(), labels_b.cpu().long()
    out_a, out_b = [], []
    for label in torch.unique(labels_a).tolist():
        ia = torch.nonzero(labels_a == label)[:, 0]
        ib = torch.nonzero(labels_b == label)[:, 0]
        n = min(len(ia), len(ib), max_per_class)
        ia, ib = ia[:n], ib[:n]
        for _ in range(dm):
            out_a.append(ia[torch.randperm(n, generator=generator)])
            out_b.append(ib[torch.randperm(n, generator=generator)])
    if not out_a:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    return torch.cat(out_a), torch.cat(out_b)


def pair_count(labels_a: Tensor, labels_b: Tensor, *, max_per_class: int = OFFICIAL_MAX_PER_CLASS,
               dm: int = OFFICIAL_DM) -> int:
    """The number of pairs `pair_by_label` makes, without drawing them."""
    ca = torch.bincount(labels_a.long(), minlength=10)
    cb = torch.bincount(labels_b.long(), minlength=max(len(ca), 10))[: len(ca)]
    return int(dm * torch.minimum(torch.minimum(ca, cb), torch.tensor(max_per_class)).sum())
