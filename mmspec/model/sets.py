"""Modality sets: `*`, names, tuples and `subsets(...)`, shared by sums, indices and infer rules."""
from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from typing import Iterable, Sequence


def all_subsets(modalities: Sequence[str], size: int | None = None) -> list[frozenset[str]]:
    """Non-empty subsets, smallest first, each in modality order (2^M - 1 of them)."""
    return list(_subsets(tuple(modalities), size))


@lru_cache(maxsize=32)
def _subsets(modalities: tuple[str, ...], size: int | None) -> tuple[frozenset[str], ...]:
    """Built once per modality list: a spec asks for the same 2^M - 1 subsets at every use."""
    sizes = [size] if size is not None else range(1, len(modalities) + 1)
    return tuple(frozenset(c) for k in sizes for c in combinations(modalities, k))


def subset_label(subset: Iterable[str], order: Sequence[str]) -> str:
    chosen = set(subset)
    return "{" + ",".join(m for m in order if m in chosen) + "}"


def short_subset_label(subset: Iterable[str], order: Sequence[str]) -> str:
    """`M+S+T` style label used in tables (first letter of each modality, upper case)."""
    members = [m for m in order if m in set(subset)]
    initials = [m[0].upper() for m in order]
    if len(set(initials)) == len(initials):
        return "+".join(m[0].upper() for m in members)
    return "+".join(members)
