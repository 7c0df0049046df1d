"""Building blocks shared by every registered network: the registry record, parameter validators,
Gaussian heads and a few shape-plumbing modules.

Every architecture module (``mst``, ``polymnist``, ``resnet``, ``cub``, ``generic``) describes its
networks as :class:`NetworkInfo` records; ``registry`` collects them into ``REGISTRY``.
"""
from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field
from typing import Callable

from torch import Tensor, nn

from ..errors import closest

KINDS = ("image", "text", "vector")

# body(params, kind, shape, latent_dim) -> (module mapping [B, *shape] -> [B, F], F)
BodyFn = Callable[[dict, str, tuple, int], "tuple[nn.Module, int]"]
# decoder(params, kind, shape, latent_dim) -> module mapping [N, D] -> raw [N, *shape]
DecoderFn = Callable[[dict, str, tuple, int], nn.Module]
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

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),     # slope of the MMVM / GAN-resnet code
    "tanh": nn.Tanh,
}


class GaussianHeads(nn.Module):
    """Two linear maps from body features to the mean and log-variance of q(z|x).

    Kept separate from the bodies so that a joint encoder (JMVAE, SMVAE) can concatenate the
    features of several bodies and put its own heads on top.
    """

    def __init__(self, features: int, latent_dim: int):
        super().__init__()
        self.mu = nn.Linear(features, latent_dim)
        self.logvar = nn.Linear(features, latent_dim)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        return self.mu(h), self.logvar(h)


class Encoder(nn.Module):
    """A body (x -> features [B, F]) followed by Gaussian heads; forward(x) -> (mu, logvar)."""

    def __init__(self, body: nn.Module, features: int, latent_dim: int):
        super().__init__()
        self.body = body
        self.features = features
        self.heads = GaussianHeads(features, latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.heads(self.body(x))


class SwapLast(nn.Module):
    """[B, L, V] <-> [B, V, L]: one-hot text is stored length-first, Conv1d wants channels first."""

    def forward(self, x: Tensor) -> Tensor:
        return x.transpose(-2, -1)


class CropLength(nn.Module):
    """Keep the first ``length`` positions of [B, C, L'] (L' >= length)."""

    def __init__(self, length: int):
        super().__init__()
        self.length = length

    def forward(self, x: Tensor) -> Tensor:
        return x[..., : self.length]

    def extra_repr(self) -> str:
        return f"length={self.length}"


class AsFeatureMap(nn.Module):
    """[N, D] -> [N, D, 1, 1], for decoders whose first layer is a transposed conv (MMVAE CUB)."""

    def forward(self, z: Tensor) -> Tensor:
        return z[:, :, None, None]


__all__ = [
    "ACTIVATIONS", "AsFeatureMap", "CropLength", "Encoder", "GaussianHeads", "KINDS", "NetworkInfo",
    "SwapLast",
    "closest", "fixed_shape", "format_modality", "non_negative_int", "one_of", "positive_int",
    "positive_int_list",
]
