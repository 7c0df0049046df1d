"""What every registered network shares: the registry record, parameter validators and shape rules.

Pure Python: `mmspec check` reads the registry without importing torch. The architecture modules
build torch modules through `nn` and `blocks` below, which import torch when the first network is
built (see `Deferred`); the torch building blocks themselves are in `blocks.py`.

Every architecture module (``mst``, ``polymnist``, ``resnet``, ``cub``, ``generic``) describes its
networks as :class:`NetworkInfo` records; ``registry`` collects them into ``REGISTRY``.
"""
from __future__ import annotations

import copy
import importlib
import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ..errors import closest

if TYPE_CHECKING:
    import torch.nn


class Deferred:
    """A module imported on first attribute access, so that importing the registry (for names,
    defaults and checks) does not import torch; building a network does."""

    def __init__(self, module: str):
        self._module = module

    def __getattr__(self, name: str):
        return getattr(importlib.import_module(self._module), name)


nn = Deferred("torch.nn")                           # torch.nn, imported when a network is built
blocks = Deferred("mmspec.networks.blocks")         # the shared torch modules (SwapLast, ...)

KINDS = ("image", "text", "vector")

# body(params, kind, shape, latent_dim) -> (module mapping [B, *shape] -> [B, F], F)
BodyFn = Callable[[dict, str, tuple, int], "tuple[nn.Module, int]"]
# decoder(params, kind, shape, latent_dim) -> module mapping [N, D] -> raw [N, *shape]
DecoderFn = Callable[[dict, str, tuple, int], "nn.Module"]
# validator(value) -> None if fine, else what the value must be ("a positive integer")
Validator = Callable[[object], "str | None"]
# shape_rule(kind, shape, resolved_params) -> None if fine, else the expected form
# ("image(3, 32, 32)")
ShapeRule = Callable[[str, tuple, dict], "str | None"]


def format_modality(kind: str, shape: tuple[int, ...]) -> str:
    """``image(1, 28, 28)``: a modality written as in a spec."""
    return f"{kind}({', '.join(str(s) for s in shape)})"


@dataclass(frozen=True)
class NetworkInfo:
    """One registered network: what it accepts, how to build it, and where it comes from.

    ``defaults`` lists every accepted parameter with its default; ``check`` is the only validation
    the compiler needs (the builders call it too and raise ``ValueError`` with its message).
    """

    name: str
    summary: str
    defaults: dict[str, object] = field(hash=False)
    body: BodyFn = field(default=None, repr=False, compare=False, hash=False)
    decoder: DecoderFn = field(default=None, repr=False, compare=False, hash=False)
    link: str = "identity"                       # output link for a Laplace/Gaussian mean
    kinds: tuple[str, ...] = KINDS               # modality kinds it can handle
    shape_rule: ShapeRule | None = field(default=None, repr=False, compare=False, hash=False)
    validators: dict[str, Validator] = field(default_factory=dict, repr=False, compare=False,
                                             hash=False)
    source: str = ""                             # the code it reproduces

    def resolve(self, params: dict | None) -> dict:
        """Defaults overridden by ``params`` (deep copies: builds never share mutable defaults)."""
        return {**copy.deepcopy(self.defaults), **copy.deepcopy(dict(params or {}))}

    def check(self, kind: str, shape: tuple[int, ...], params: dict | None) -> str | None:
        """None if this network can handle modality ``kind``/``shape`` with ``params``, else why."""
        params = dict(params or {})
        known = sorted(self.defaults)
        for key in params:
            if key not in self.defaults:
                if not known:
                    return (f"unknown parameter {key!r} for {self.name} "
                            f"({self.name} takes no parameters)")
                hint = closest(key, known, cutoff=0.5)
                hint = f"; did you mean {hint!r}?" if hint else ""
                return (f"unknown parameter {key!r} for {self.name} "
                        f"(known: {', '.join(known)}){hint}")
        try:
            shape = tuple(operator.index(s) for s in shape)
        except (TypeError, ValueError):
            return f"{self.name}: shape must be a tuple of integers, got {shape!r}"
        if not shape or any(s <= 0 for s in shape):
            return f"{self.name}: shape must be non-empty with positive sizes, got {shape!r}"
        got = format_modality(kind, shape)
        if kind not in self.kinds:
            kinds = " or ".join(self.kinds)
            article = "an" if kinds[0] in "aeiou" else "a"
            return f"{self.name} expects {article} {kinds} modality, got {got}"
        resolved = self.resolve(params)
        for key, validate in self.validators.items():
            need = validate(resolved[key])
            if need:
                return f"{key} for {self.name} must be {need}, got {resolved[key]!r}"
        if self.shape_rule is not None:
            expected = self.shape_rule(kind, shape, resolved)
            if expected:
                return f"{self.name} expects {expected}, got {got}"
        return None


# ---------------------------------------------------------------------------------------------
# Parameter validators: each returns None when the value is fine, else what it must be.

def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def positive_int(v: object) -> str | None:
    return None if _is_int(v) and v > 0 else "a positive integer"


def non_negative_int(v: object) -> str | None:
    return None if _is_int(v) and v >= 0 else "a non-negative integer"


def positive_int_list(v: object) -> str | None:
    ok = isinstance(v, (list, tuple)) and all(_is_int(h) and h > 0 for h in v)
    return None if ok else "a list of positive integers"


def one_of(*choices: str) -> Validator:
    def validate(v: object) -> str | None:
        return None if v in choices else "one of " + ", ".join(repr(c) for c in choices)
    return validate


def fixed_shape(kind: str, shape: tuple[int, ...]) -> ShapeRule:
    """A shape rule accepting exactly one modality type (the authors' hard-coded input size)."""
    def rule(k: str, s: tuple, _params: dict) -> str | None:
        return None if (k, tuple(s)) == (kind, tuple(shape)) else format_modality(kind, shape)
    return rule


# ---------------------------------------------------------------------------------------------
# Modules

ACTIVATIONS: dict[str, Callable[[], "nn.Module"]] = {
    "relu": lambda: nn.ReLU(),
    "elu": lambda: nn.ELU(),
    "leaky_relu": lambda: nn.LeakyReLU(0.2),     # slope of the MMVM / GAN-resnet code
    "tanh": lambda: nn.Tanh(),
}


__all__ = [
    "ACTIVATIONS", "Deferred", "KINDS", "NetworkInfo", "blocks", "fixed_shape", "format_modality", "nn",
    "non_negative_int", "one_of", "positive_int", "positive_int_list",
]
