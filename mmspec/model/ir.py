"""The objective IR: one expression tree that `explain` prints and the loss evaluates.

Leaves are reconstruction terms (one posterior, one target modality) and divergences. Weights are
symbolic (they print as written: `pi/2`, `beta`) and carry their numeric value. Sums over
modalities and subsets are expanded when the tree is built, and kept grouped so the printout can
show them both as written and fully expanded. `linear_terms` flattens the tree into
coefficient x leaf, which is exactly what the lowering computes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from .graph import mixture_parts


# ---- numeric weights -----------------------------------------------------------------------

@dataclass(frozen=True)
class Num:
    value: float
    text: str


@dataclass(frozen=True)
class Sym:
    """A named number: a param, M, a likelihood weight, |S|."""
    name: str
    value: float


@dataclass(frozen=True)
class WBin:
    op: str
    left: "Weight"
    right: "Weight"

    @property
    def value(self) -> float:
        a, b = self.left.value, self.right.value
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "^": a ** b}[self.op]


@dataclass(frozen=True)
class WNeg:
    operand: "Weight"

    @property
    def value(self) -> float:
        return -self.operand.value


Weight = Union[Num, Sym, WBin, WNeg]

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 3}


def render_weight(w: Weight, parent: int = 0) -> str:
    """A weight as written (`pi/2`, `beta·pi`), parenthesised only where precedence needs it."""
    if isinstance(w, Num):
        return w.text
    if isinstance(w, Sym):
        return w.name
    if isinstance(w, WNeg):
        return "-" + render_weight(w.operand, 4)
    prec = _PREC[w.op]
    left = render_weight(w.left, prec)
    right = render_weight(w.right, prec + (w.op in "-/^"))
    op = {"*": "·"}.get(w.op, w.op)
    text = f"{left}{op}{right}" if w.op in "*/^" else f"{left} {op} {right}"
    return f"({text})" if prec < parent else text


# ---- leaves --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rec:
    """E_{z~q}[log p(x_target | z)], K samples. A mixture q: `sampling="exact"` is the weighted sum
    over its components (every component decodes); `"stratified"` gives each item ONE component,
    chosen by a weighted random split of the batch (an unbiased estimate; mmspec/lower/stratified.py)."""
    dist: str
    target: str
    k: int = 1
    sampling: str = "exact"

    def distributions(self) -> tuple[str, ...]:
        return (self.dist,)

    def decoded(self) -> list["Decoded"]:
        return [Decoded("rec", self.dist, self.target, self.k, self.sampling)]

    def sampled(self) -> tuple[tuple[str, int], ...]:
        return ((self.dist, self.k),)

    def name(self, graph) -> str:
        k = f", k={self.k}" if self.k > 1 else ""
        how = ", stratified" if self.sampling == "stratified" else ""
        return f"rec({graph.label(self.dist)}->{self.target}{k}{how})"


@dataclass(frozen=True)
class KL:
    """KL(q || p) with an estimator: closed (Gaussians), mc (K samples of q), jensen (mixtures)."""
    q: str
    p: str
    estimator: str = "closed"
    k: int = 1

    def distributions(self) -> tuple[str, ...]:
        return (self.q, self.p)

    def decoded(self) -> list["Decoded"]:
        return []

    def sampled(self) -> tuple[tuple[str, int], ...]:
        return ((self.q, self.k),) if self.estimator == "mc" else ()

    def name(self, graph) -> str:
        est = "" if self.estimator == "closed" else f", {self.estimator}" + (f" k={self.k}" if self.estimator == "mc" else "")
        return f"kl({graph.label(self.q)}||{graph.label(self.p)}{est})"


@dataclass(frozen=True)
class IWAE:
    """The importance-weighted bound log 1/K sum_k w(z_k), w(z) = p(z) prod_t p(x_t | z)^{w_t} / q(z | X).

    A mixture q is sampled per component (stratified, K draws each): form `looser` averages the
    components' bounds with the mixture weights (MMVAE's paper objective), `standard` pools all draws
    in one log-mean-exp; a single distribution has form `single`. `estimator` picks the gradient:
    `iwae` (plain reparameterised) or `dreg` (doubly reparameterised, Tucker et al. 2018); the value
    is the same. See mmspec/lower/importance.py.
    """
    dist: str
    prior: str
    targets: tuple[str, ...]
    k: int
    estimator: str = "iwae"
    form: str = "single"

    def distributions(self) -> tuple[str, ...]:
        return (self.dist, self.prior)

    def decoded(self) -> list["Decoded"]:
        return [Decoded("iwae", self.dist, t, self.k) for t in self.targets]

    def sampled(self) -> tuple[tuple[str, int], ...]:
        return ((self.dist, self.k),)

    def name(self, graph) -> str:
        form = "" if self.form == "single" else f", {self.form}"
        targets = "*" if len(self.targets) == len(graph.modalities) else ",".join(self.targets)
        return f"iwae({graph.label(self.dist)}->{targets}, k={self.k}, {self.estimator}{form})"


Leaf = Union[Rec, KL, IWAE]
# Every leaf answers these questions itself, so no phase needs to ask which kind of leaf it holds:
#   distributions()  the distribution nodes it reads (what the lowering must compute for it)
#   decoded()        the (distribution, target modality, K) pairs it decodes, as `Decoded`
#   sampled()        (distribution, K): the distributions whose components it draws K samples of
#   name(graph)      how the term is named in progress bars, logs and reports


@dataclass(frozen=True)
class Decoded:
    """One modality decoded from one distribution's samples, by a rec or an iwae term."""
    name: str
    dist: str
    target: str
    k: int
    sampling: str = "exact"


def decoded_pairs(leaves) -> list[Decoded]:
    return [d for leaf in leaves for d in leaf.decoded()]


def samples_needed(graph, leaves) -> dict[str, int]:
    """Draws per distribution component: the largest K any of `leaves` asks of it."""
    need: dict[str, int] = {}
    for leaf in leaves:
        for dist, k in leaf.sampled():
            for comp, _ in mixture_parts(graph, dist):
                need[comp] = max(need.get(comp, 1), k)
    return need


# ---- objective tree ------------------------------------------------------------------------

@dataclass(frozen=True)
class LeafTerm:
    leaf: Leaf
    detached: bool = False


@dataclass(frozen=True)
class Scale:
    weight: Weight
    child: "Term"
    divide: bool = False            # child / weight rather than weight * child


@dataclass(frozen=True)
class Add:
    items: tuple[tuple[int, "Term"], ...]       # (+1 or -1, term), in the order written


@dataclass(frozen=True)
class Big:
    """A sum or mean over a binder, already expanded: one item per value of the variable."""
    kind: str                       # "sum" | "mean"
    var: str
    domain: str                     # as the user wrote it, e.g. "subsets(*)"
    items: tuple[tuple[str, "Term"], ...]      # (value label, term)


@dataclass(frozen=True)
class Group:
    """A named shorthand kept for printing (elbo(...)), expanded underneath."""
    label: str
    child: "Term"


@dataclass(frozen=True)
class StopGrad:
    child: "Term"


Term = Union[LeafTerm, Scale, Add, Big, Group, StopGrad]


@dataclass(frozen=True)
class LinearTerm:
    coefficient: float
    leaf: Leaf
    detached: bool
    provenance: tuple[str, ...] = ()     # the written weight of each occurrence, e.g. "-beta·pi"


@dataclass
class Objective:
    name: str
    direction: str                  # maximize | minimize
    tree: Term
    source: str = ""                # the objective's text as written

    def linear_terms(self) -> list[LinearTerm]:
        """coefficient x leaf, identical leaves merged, in the order they first appear."""
        acc: dict[tuple[Leaf, bool], list] = {}
        _collect(self.tree, 1.0, (), False, acc)
        return [LinearTerm(c, leaf, det, tuple(prov)) for (leaf, det), (c, prov) in acc.items() if c != 0.0]

    def leaves(self) -> list[Leaf]:
        seen: dict[Leaf, None] = {}
        for t in self.linear_terms():
            seen.setdefault(t.leaf, None)
        return list(seen)


def _collect(term: Term, coef: float, factors: tuple[str, ...], detached: bool, acc: dict) -> None:
    if isinstance(term, LeafTerm):
        slot = acc.setdefault((term.leaf, detached or term.detached), [0.0, []])
        slot[0] += coef
        slot[1].append(_provenance(coef, factors))
    elif isinstance(term, Scale):
        w = term.weight.value
        text = render_weight(term.weight, parent=2)
        factor = f"1/{render_weight(term.weight, parent=3)}" if term.divide else text
        _collect(term.child, coef / w if term.divide else coef * w, factors + (factor,), detached, acc)
    elif isinstance(term, Add):
        for sign, child in term.items:
            _collect(child, coef * sign, factors + (("-",) if sign < 0 else ()), detached, acc)
    elif isinstance(term, Big):
        n = len(term.items)
        for _, child in term.items:
            extra = (f"1/{n}",) if term.kind == "mean" else ()
            _collect(child, coef / n if term.kind == "mean" else coef, factors + extra, detached, acc)
    elif isinstance(term, Group):
        _collect(term.child, coef, factors, detached, acc)
    elif isinstance(term, StopGrad):
        _collect(term.child, coef, factors, True, acc)
    else:  # pragma: no cover - the builder only makes the types above
        raise TypeError(f"unknown IR node {term!r}")


def _provenance(coef: float, factors: tuple[str, ...]) -> str:
    """The written weights that multiply into one occurrence of a leaf: `-beta·pi`."""
    sign = "-" if factors.count("-") % 2 else ""
    parts = [f for f in factors if f != "-"]
    return sign + ("·".join(parts) if parts else "1")


@dataclass
class InferRule:
    pattern: str                    # all | any | exact
    names: tuple[str, ...]
    text: str


@dataclass
class ProgramIR:
    """Everything derived from a spec that the printer and the lowering share."""
    objectives: dict[str, Objective] = field(default_factory=dict)
    infer: dict[frozenset, str] = field(default_factory=dict)     # subset -> node key
    infer_rules: list[InferRule] = field(default_factory=list)
