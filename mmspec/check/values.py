"""Option values the runtime would only reject (or misuse) once it reaches them: checked in `check`.

`optimizer adam(lr=0)` trains nothing, `betas=[0.9]` and `scheduler step(step_size=0)` fail when
training starts, `nll(k=0)` and `latent_probe(samples=0)` fail after training has finished. Each
option of an optimizer, scheduler or metric has a rule here; `check_options` applies them with
the option's location, so the mistake is reported before any data is loaded.
"""
from __future__ import annotations

from typing import Callable

from ..model.numeric import MAX_COUNT

Rule = Callable[[object], "str | None"]        # value -> None if fine, else what it must be


def _scalar(test: Callable[[float], bool], need: str) -> Rule:
    return lambda v: None if not isinstance(v, tuple) and test(v) else need


POSITIVE = _scalar(lambda v: v > 0, "a positive number")
NON_NEGATIVE = _scalar(lambda v: v >= 0, "a number >= 0")
FRACTION = _scalar(lambda v: 0 <= v < 1, "a number from 0 up to (not including) 1")
COUNT = _scalar(lambda v: v == int(v) and 1 <= v <= MAX_COUNT, f"a positive integer (at most {MAX_COUNT:,})")


def _betas(v: object) -> str | None:
    ok = isinstance(v, tuple) and len(v) == 2 and all(0 <= b < 1 for b in v)
    return None if ok else "a list of two numbers from 0 up to (not including) 1, e.g. [0.9, 0.999]"


RULES: dict[str, dict[str, Rule]] = {
    "optimizer": {"lr": POSITIVE, "eps": POSITIVE, "weight_decay": NON_NEGATIVE, "momentum": FRACTION,
                  "betas": _betas},
    "scheduler": {"gamma": POSITIVE, "step_size": COUNT, "t_max": COUNT},
    "metric": {"samples": COUNT, "k": COUNT, "steps": COUNT},
}


def check_options(elab, what: str, name: str, params: dict, nodes: dict) -> None:
    """Fail (located at the option) on the first value its rule refuses; `nodes`: option -> AST node."""
    rules = RULES.get(what, {})
    for option, value in params.items():
        rule = rules.get(option)
        need = rule(value) if rule else None
        if need:
            shown = f"[{', '.join(f'{v:g}' for v in value)}]" if isinstance(value, tuple) else f"{value:g}"
            elab.fail(f"{option} of {name} must be {need}, not {shown}", nodes[option])
