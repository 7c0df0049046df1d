"""Metric paths into a run's results.json, and mean ± std over seeds: the arithmetic of a report.

A path is dot-separated keys, e.g. `coherence.cross.mnist.svhn`. A key may be a glob (`*`, `m?`) or
alternatives (`mnist|svhn`); a path that matches several numbers stands for their mean, so
`coherence.cross.*.*` is the mean cross-coherence and `latent_probe.accuracy.m?` the mean unimodal
probe of PolyMNIST. The `index` axis reads lists (one line per matched list). The `size` axis groups the keys matched by the last pattern by how many
modalities they name (`m0+m1` has size 2).
"""
from __future__ import annotations

import math
from fnmatch import fnmatchcase
from statistics import fmean, stdev

PATTERN_CHARS = set("*?|[")


def _matches(key: str, pattern: str) -> bool:
    return any(fnmatchcase(key, alt) for alt in pattern.split("|"))


def _number(node) -> bool:
    return isinstance(node, (int, float)) and not isinstance(node, bool) and math.isfinite(node)


def leaves(results: dict, path: str, want=_number) -> list[tuple[tuple[str, ...], object]]:
    """Every number (or, with `want`, other leaf) the path matches, with the keys its patterns matched."""
    found: list[tuple[tuple[str, ...], object]] = []

    def walk(node, parts: list[str], keys: tuple[str, ...]) -> None:
        if not parts:
            if want(node):
                found.append((keys, float(node) if want is _number else node))
            return
        if not isinstance(node, dict):
            return
        head, rest = parts[0], parts[1:]
        if PATTERN_CHARS & set(head):
            for key in node:
                if _matches(str(key), head):
                    walk(node[key], rest, keys + (str(key),))
        elif head in node:
            walk(node[head], rest, keys)

    walk(results, path.split("."), ())
    return found


def value(results: dict, path: str) -> float | None:
    """The mean of the numbers a path matches; None when it matches none."""
    found = [v for _, v in leaves(results, path)]
    return fmean(found) if found else None


def by_size(results: dict, path: str) -> dict[int, float]:
    """{number of modalities named by the last pattern key: mean of the numbers with that key}."""
    groups: dict[int, list[float]] = {}
    for keys, v in leaves(results, path):
        if keys:
            groups.setdefault(len(keys[-1].split("+")), []).append(v)
    return {size: fmean(vs) for size, vs in sorted(groups.items())}


def curves(results: dict, path: str) -> dict[str, list[float]]:
    """Lists of numbers (e.g. `refinement_curve.elbo.*`, the ELBO after t = 0..T steps) by matched key."""
    found = leaves(results, path, want=lambda n: isinstance(n, list) and all(_number(v) for v in n))
    return {"/".join(keys) or path: [float(v) for v in vs] for keys, vs in found}


def mean_std(values: list[float]) -> tuple[float | None, float | None, int]:
    """Mean and sample standard deviation (n - 1) over seeds; the std is None for one seed."""
    vs = [v for v in values if v is not None]
    if not vs:
        return None, None, 0
    return fmean(vs), (stdev(vs) if len(vs) > 1 else None), len(vs)
