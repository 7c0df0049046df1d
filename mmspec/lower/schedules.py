"""Weight schedules on the device: each step, the scheduled params' values and the objective's
coefficients are computed from the step counter, a device tensor, so a step neither waits for the
host nor changes the compiled graph (the value is data, never a Python constant baked in).

Formulas (x is the time in the schedule's unit: e = step / steps per epoch, or t = step; L its length):
    warmup:    a + (b - a)·min(1, x/L)
    cosine:    a + (b - a)·(1 - cos(π·min(1, x/L)))/2
    cyclical:  a + (b - a)·min(1, ((x mod P)/P)/R) for x < L, else b; P = L / cycles, R = ratio
    stepwise:  values[i], i = the number of change times <= x
Outside training (no clock) a scheduled param has its final value b. See mmspec/constructs/schedules.py.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..compiled import Clock
from ..constructs.schedules import Schedule
from ..model import ir
from .distributions import constant


def value(s: Schedule, clock: Clock) -> Tensor:
    """The schedule's value at the clock's step: a float64 scalar on the step's device."""
    step = clock.step.to(torch.float64)
    x = step / clock.steps_per_epoch if s.unit == "epochs" else step
    a, b = s.start, s.end
    if s.kind == "stepwise":
        passed = (x >= constant(s.bounds, step)).sum()
        return constant(s.values, step)[passed]
    if s.kind == "cyclical":
        period = s.length / s.cycles
        rise = torch.clamp(torch.remainder(x, period) / period / s.ratio, max=1.0)
        return torch.where(x >= s.length, b, a + (b - a) * rise)
    frac = torch.clamp(x / s.length, 0.0, 1.0)
    if s.kind == "cosine":
        return a + (b - a) * (1.0 - torch.cos(math.pi * frac)) / 2.0
    return a + (b - a) * frac


def values(schedules: dict[str, Schedule], clock: Clock | None, like: Tensor) -> dict[str, Tensor]:
    """Every scheduled param's current value, in `like`'s dtype (its final value without a clock)."""
    if clock is None:
        return {n: constant((s.end,), like)[0] for n, s in schedules.items()}
    return {n: value(s, clock).to(like.dtype) for n, s in schedules.items()}


def coefficients(terms: list[ir.LinearTerm], current: dict[str, Tensor], like: Tensor) -> Tensor:
    """The linear terms' coefficients [T] at this step: the fixed parts as one constant, plus each
    scheduled part `c · prod(factors)` added where it belongs."""
    fixed = constant(tuple(t.coefficient for t in terms), like)
    where = [i for i, t in enumerate(terms) if t.scheduled]
    if not where:
        return fixed
    moving = [_part_sum(terms[i].scheduled, current) for i in where]
    return fixed.index_add(0, constant(tuple(where), torch.empty((), dtype=torch.long, device=like.device)),
                           torch.stack([m.to(like.dtype) for m in moving]))


def _part_sum(parts, current: dict[str, Tensor]) -> Tensor:
    """sum over parts of c · prod(factors), written as plain loops so torch.compile traces it."""
    total = None
    for c, factors in parts:
        product = c
        for f in factors:
            product = product * ir.weight_value(f, current)
        total = product if total is None else total + product
    return total


def used(terms: list[ir.LinearTerm]) -> list[str]:
    """The scheduled params an objective's coefficients read, in order of first use."""
    names: dict[str, None] = {}
    for t in terms:
        for _, factors in t.scheduled:
            for f in factors:
                _names(f, names)
    return list(names)


def _names(w: ir.Weight, out: dict) -> None:
    if isinstance(w, ir.Scheduled):
        out.setdefault(w.name, None)
    elif isinstance(w, ir.WBin):
        _names(w.left, out)
        _names(w.right, out)
    elif isinstance(w, ir.WNeg):
        _names(w.operand, out)
