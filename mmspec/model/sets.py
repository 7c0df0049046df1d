"""Modality sets: `*`, names, tuples and `subsets(...)`, shared by sums, indices and infer rules."""
from __future__ import annotations

from dataclasses import dataclass
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
    sizes = [size] if size is not None else range(1, len(modalities) + 1)
    return [frozenset(c) for k in sizes for c in combinations(modalities, k)]


def subset_label(subset: Iterable[str], order: Sequence[str]) -> str:
    members = [m for m in order if m in set(subset)]
    return "{" + ",".join(members) + "}"


def value_label(value: Value, order: Sequence[str]) -> str:
    """A bound value as printed: a modality's name, or a subset's `{a,b}`."""
    return value if isinstance(value, str) else subset_label(value, order)
