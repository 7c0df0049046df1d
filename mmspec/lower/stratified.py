"""Stratified reconstruction of a mixture, lowered: one component per item, decoders run once on N latents.

For a mixture sum_j w_j q_j (J components, flattened) and a batch of N items, every step:
  1. a random permutation pi of the items, from the step's noise: pi = argsort(u_1..u_N), u ~ U[0, 1);
  2. one random offset v ~ U[0, 1); the item at position p of pi gets the component j with
     C_{j-1} <= (p + v)/N < C_j, C_j = w_1 + ... + w_j (systematic sampling);
  3. item i decodes z_i = the reparameterised sample of its component a(i) (the component's own
     sample, so a distribution is still sampled once per step, whatever terms read it).
The slices have floor(N w_j) or ceil(N w_j) items (equal slices for uniform weights when J divides
N), and P(a(i) = j) = w_j exactly for every item: (p + v)/N is uniform on [0, 1) because p is
uniform on 0..N-1 and v on [0, 1). So E_a[log p(x_i | z_i)] = sum_j w_j E_{q_j}[log p(x_i | z)],
the exact mixture reconstruction, item by item, for any N and any weights (also J > N).

MoPoE's code (and MultiVae's deterministic selection) instead fixes the slices by batch position,
floor(N w_j) items each and the remainder to the last component: random only through the data
loader's shuffling, and biased towards the last component when N w_j is not an integer.
"""
from __future__ import annotations

from itertools import accumulate

import torch
from torch import Tensor

from .distributions import constant


def source(mixture: str) -> tuple[str, str]:
    """The key under which the engine decodes a mixture's stratified samples (beside component keys)."""
    return ("stratified", mixture)


def is_source(key) -> bool:
    return isinstance(key, tuple) and key[:1] == ("stratified",)


def assignment(weights: list[float], n: int, noise, key: str, like: Tensor) -> Tensor:
    """The component index of each of the n items [n] (long), from `noise`'s uniform draws under `key`."""
    like = torch.zeros((), dtype=torch.float64, device=like.device)      # no ties among float32 draws
    order = noise.uniform(f"{key}/order", (n,), like)
    offset = noise.uniform(f"{key}/offset", (1,), like)
    total = sum(weights)
    bounds = [c / total for c in accumulate(weights[:-1])] + [1.0]        # exactly 1 at the end
    cumulative = constant(tuple(bounds), like)
    positions = (torch.arange(n, device=like.device, dtype=torch.float64) + offset) / n
    at_position = torch.searchsorted(cumulative, positions, right=True).clamp(max=len(weights) - 1)
    permutation = torch.argsort(order)                     # position p holds item permutation[p]
    return torch.empty(n, dtype=torch.long, device=like.device).scatter_(0, permutation, at_position)


def samples(ev, mixture: str, parts: list[tuple[str, float]], k: int) -> Tensor:
    """[k, B, D]: item i's k samples of its own component (`parts`: the mixture's flattened
    components and weights); one assignment per mixture and evaluation, shared by all its targets."""
    cache = ev.stratified
    if mixture not in cache:
        cache[mixture] = assignment([w for _, w in parts], ev.B, ev.noise, ev.g.label(mixture), ev.like)
    if (mixture, k) not in cache:            # the same latents for every target (one gather, not one per target)
        stacked = torch.stack([ev.samples(c, k) for c, _ in parts])      # [J, k, B, D]
        items = torch.arange(ev.B, device=stacked.device)
        cache[(mixture, k)] = stacked[cache[mixture], :, items].transpose(0, 1)   # [B, k, D] -> [k, B, D]
    return cache[(mixture, k)]
