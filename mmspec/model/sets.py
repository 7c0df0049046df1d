"""Modality sets: `*`, names, tuples and `subsets(...)`, shared by sums, indices and infer rules."""
from __future__ import annotations

from itertools import combinations
from typing import Iterable, Sequence


def all_subsets(modalities: Sequence[str], size: int | None = None) -> list[frozenset[str]]:
    """Non-empty subsets, smallest first, each in modality order (2^M - 1 of them)."""
    sizes = [size] if size is not None else range(1, len(modalities) + 1)
    return [frozenset(c) for k in sizes for c in combinations(modalities, k)]


def subset_label(subset: Iterable[str], order: Sequence[str]) -> str:
    members = [m for m in order if m in set(subset)]
    return "{" + ",".join(members) + "}"


def short_subset_label(subset: Iterable[str], order: Sequence[str]) -> str:
    """`M+S+T` style label used in tables (first letter of each modality, upper case)."""
    members = [m for m in order if m in set(subset)]
    initials = [m[0].upper() for m in order]
    if len(set(initials)) == len(initials):
        return "+".join(m[0].upper() for m in members)
    return "+".join(members)
