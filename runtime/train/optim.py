"""Optimizer and learning-rate scheduler from the spec's `train` settings.

The spec names them (adam, adamw, sgd; exponential, step, cosine, none) with numeric keyword
params; a param torch does not know is a user mistake, reported with the accepted names.
"""
from __future__ import annotations

import inspect

import torch

from ..errors import RunError

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
SCHEDULERS = {"exponential": torch.optim.lr_scheduler.ExponentialLR,
              "step": torch.optim.lr_scheduler.StepLR,
              "cosine": torch.optim.lr_scheduler.CosineAnnealingLR}
_INT_PARAMS = {"step_size", "T_max"}
_BOOL_PARAMS = {"nesterov", "amsgrad"}


def _accepted(cls, skip: set[str]) -> list[str]:
    return [p for p in inspect.signature(cls).parameters if p not in skip]


def _convert(params: dict) -> dict:
    """Spec numbers to what torch expects: betas as a pair, integer and boolean params typed."""
    p = {("T_max" if k == "t_max" else k): v for k, v in params.items()}
    if "beta1" in p or "beta2" in p:
        p["betas"] = (float(p.pop("beta1", 0.9)), float(p.pop("beta2", 0.999)))
    elif "betas" in p:
        p["betas"] = tuple(float(b) for b in p["betas"])
    for key in list(p):
        if key in _INT_PARAMS:
            p[key] = int(p[key])
        elif key in _BOOL_PARAMS:
            p[key] = bool(p[key])
        elif key != "betas":
            p[key] = float(p[key])
    return p


def build_optimizer(settings, parameters) -> torch.optim.Optimizer:
    """torch optimizer named by `settings.name` with `settings.params` (lr, betas, weight_decay, ...)."""
    cls = OPTIMIZERS.get(settings.name.lower())
    if cls is None:
        raise RunError(f"unknown optimizer {settings.name!r}; the runtime knows {', '.join(OPTIMIZERS)}")
    params = _convert(settings.params)
    accepted = _accepted(cls, {"params"}) + ["beta1", "beta2"]
    unknown = [k for k in settings.params if k not in accepted]
    if unknown:
        raise RunError(f"optimizer {settings.name} does not take {', '.join(unknown)}; "
                       f"it takes {', '.join(a for a in accepted if a != 'betas')}")
    parameters = list(parameters)
    if _fusable(cls, parameters):
        params.setdefault("fused", True)     # one kernel for the whole update instead of one per tensor
    return cls(parameters, **params)


def _fusable(cls, parameters) -> bool:
    """Adam/AdamW on CUDA have a fused implementation (same update, fewer kernel launches)."""
    return (cls in (torch.optim.Adam, torch.optim.AdamW) and bool(parameters)
            and all(p.is_cuda and p.is_floating_point() for p in parameters))


def build_scheduler(settings, optimizer, epochs: int):
    """A per-epoch scheduler, or None; cosine anneals over the run's epochs unless T_max is given."""
    name = settings.name.lower()
    if name in ("none", ""):
        return None
    cls = SCHEDULERS.get(name)
    if cls is None:
        raise RunError(f"unknown scheduler {settings.name!r}; the runtime knows none, {', '.join(SCHEDULERS)}")
    params = _convert(settings.params)
    if name == "cosine":
        params.setdefault("T_max", max(int(epochs), 1))
    accepted = _accepted(cls, {"optimizer", "last_epoch", "verbose"})
    unknown = [k for k in params if k not in accepted]
    if unknown:
        raise RunError(f"scheduler {settings.name} does not take {', '.join(unknown)}; it takes {', '.join(accepted)}")
    try:
        return cls(optimizer, **params)
    except TypeError as exc:
        raise RunError(f"scheduler {settings.name}: {exc}") from None
