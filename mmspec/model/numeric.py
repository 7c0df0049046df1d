"""Numbers in a spec are finite reals, and counts are integers in range: checked where they are made.

Every number of a spec — a param, a weight of the objective, a setting — is built as an
`ir.Weight` tree by `Elaborator.weight`, and that is where it is checked: each sub-expression must
have a finite real value, so `1e400`, `1/(M-M)`, `(-8)^(1/3)` (a complex number in Python) and
`10^400` are located errors at check time instead of a crash in `explain` or a NaN loss in `run`.
Counts (sizes, samples, steps, epochs) go through `whole_number`.
"""
from __future__ import annotations

import math

from . import ir

MAX_COUNT = 2**31 - 1           # the largest size, count or step number a spec may ask for


class NotANumber(ValueError):
    """A weight whose value is not a finite real number; the message says why."""


def finite_value(weight: ir.Weight) -> float:
    """The value of a weight tree, or NotANumber (division by zero, overflow, complex, NaN)."""
    try:
        value = weight.value
    except ZeroDivisionError:
        raise NotANumber("division by zero") from None
    except OverflowError:
        raise NotANumber("the value overflows (it is larger than about 1.8e308)") from None
    if isinstance(value, complex):
        raise NotANumber("the value is not a real number (a negative number to a fractional power)")
    if math.isnan(value):
        raise NotANumber("the value is not a number (NaN)")
    if math.isinf(value):
        raise NotANumber("the value is infinite (it is larger than about 1.8e308)")
    return float(value)


def whole_number(elab, expr, env=None, what: str = "this count") -> int:
    """A positive integer up to MAX_COUNT, or a located error (2.5, 0, -1, 1e12 are refused)."""
    value = elab.number(expr, env)
    if value != int(value) or value < 1:
        elab.fail(f"{what} must be a positive integer", expr, hint=f"got {value:g}")
    if value > MAX_COUNT:
        elab.fail(f"{what} must be at most {MAX_COUNT:,} (got {value:g})", expr)
    return int(value)
