"""Modality sets: `*`, names, tuples and `subsets(...)`, shared by sums, indices and infer rules."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import Iterable, Sequence, Union

Value = Union[str, frozenset]          # a modality name, or a subset of modality names


@dataclass
class Env:
    """What the bound variables of an expression stand for (`m` in `sum m: ...`, `S` in `q[S]`)."""
    bindings: dict[str, Value]

    def bind(self, var: str, value: Value) -> "Env":
        return Env({**self.bindings, var: value})


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


def value_label(value: Value, order: Sequence[str]) -> str:
    """A bound value as printed: a modality's name, or a subset's `{a,b}`."""
    return value if isinstance(value, str) else subset_label(value, order)
