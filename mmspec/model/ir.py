"""The objective IR: one expression tree that `explain` prints and the loss evaluates.

Leaves are reconstruction terms (one posterior, one target modality) and divergences. Weights are
symbolic (they print as written: `pi/2`, `beta`) and carry their numeric value. Sums over
modalities and subsets are expanded when the tree is built, and kept grouped so the printout can
show them both as written and fully expanded. `linear_terms` flattens the tree into
coefficient x leaf, which is exactly what the lowering computes.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Union

from .graph import Joint, mixture_parts


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
        return _ARITHMETIC[self.op](self.left.value, self.right.value)     # only the operator written


@dataclass(frozen=True)
class WNeg:
    operand: "Weight"

    @property
    def value(self) -> float:
        return -self.operand.value


@dataclass(frozen=True)
class Scheduled:
    """A param that follows a schedule over training (mmspec/constructs/schedules.py). Its value is
    data known only at a step, so it has none here: the linear form keeps it apart
    (`LinearTerm.scheduled`) and the lowering evaluates it each step with `weight_value`."""
    name: str
    schedule: object

    @property
    def value(self) -> float:
        raise TypeError(f"'{self.name}' follows a schedule: it has a value only at a training step")


Weight = Union[Num, Sym, WBin, WNeg, Scheduled]


def has_schedule(w: Weight) -> bool:
    if isinstance(w, Scheduled):
        return True
    if isinstance(w, WBin):
        return has_schedule(w.left) or has_schedule(w.right)
    return isinstance(w, WNeg) and has_schedule(w.operand)


def weight_value(w: Weight, scheduled: dict):
    """A weight's value with each scheduled param's value taken from `scheduled` (floats for a
    printout, device tensors in the loss: the same arithmetic serves both)."""
    if isinstance(w, Scheduled):
        return scheduled[w.name]
    if isinstance(w, WBin):
        return _ARITHMETIC[w.op](weight_value(w.left, scheduled), weight_value(w.right, scheduled))
    if isinstance(w, WNeg):
        return -weight_value(w.operand, scheduled)
    return w.value

_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "^": operator.pow}

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 3}


def _latex_name(name: str) -> str:
    greek = {"beta", "alpha", "pi", "gamma", "lambda", "tau", "sigma", "mu", "eta", "delta"}
    return f"\\{name}" if name in greek else (name if len(name) == 1 else f"\\mathrm{{{name}}}")


def render_weight(w: Weight, latex: bool = False, parent: int = 0) -> str:
    if isinstance(w, Num):
        return w.text
    if isinstance(w, (Sym, Scheduled)):
        return _latex_name(w.name) if latex else w.name
    if isinstance(w, WNeg):
        return "-" + render_weight(w.operand, latex, 4)
    prec = _PREC[w.op]
    left = render_weight(w.left, latex, prec)
    right = render_weight(w.right, latex, prec + (w.op in "-/^"))
    if latex and w.op == "/":
        text = f"\\frac{{{render_weight(w.left, True)}}}{{{render_weight(w.right, True)}}}"
        return text
    op = {"*": " \\cdot " if latex else "·"}.get(w.op, w.op)
    text = f"{left}{op}{right}" if w.op in "*/^" else f"{left} {op} {right}"
    if latex and w.op == "^":
        text = f"{left}^{{{render_weight(w.right, True)}}}"
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

    def evaluated(self) -> tuple[tuple[str, str, int], ...]:
        return ()

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

    def evaluated(self) -> tuple[tuple[str, str, int], ...]:
        return ((self.q, self.q, self.k), (self.p, self.q, self.k)) if self.estimator == "mc" else ()

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
    is the same. See mmspec/lower/iwae.py.
    """
    dist: str
    prior: str | None                   # None (`prior=none`): w(z) = prod_t p(x_t | z)^{w_t} alone
    targets: tuple[str, ...]
    k: int
    estimator: str = "iwae"
    form: str = "single"

    def distributions(self) -> tuple[str, ...]:
        return (self.dist, self.prior) if self.prior is not None else (self.dist,)

    def decoded(self) -> list["Decoded"]:
        return [Decoded("iwae", self.dist, t, self.k) for t in self.targets]

    def sampled(self) -> tuple[tuple[str, int], ...]:
        return ((self.dist, self.k),)

    def evaluated(self) -> tuple[tuple[str, str, int], ...]:
        return ((self.dist, self.dist, self.k),) + (((self.prior, self.dist, self.k),) if self.prior is not None else ())

    def name(self, graph) -> str:
        form = "" if self.form == "single" else f", {self.form}"
        targets = "*" if len(self.targets) == len(graph.modalities) else ",".join(self.targets)
        prior = "" if self.prior is not None else ", prior=none"
        return f"iwae({graph.label(self.dist)}->{targets}, k={self.k}, {self.estimator}{form}{prior})"


@dataclass(frozen=True)
class LatentRec:
    """E_{s~dist}[log prior(v | s)]: the draw v of `target` (a distribution over a lower latent; its
    member's draw, detached, for sg(...)) scored by the conditional prior `prior` = p(v | s) at K draws
    s of `dist` (Nexus's top-level reconstruction; mmspec/constructs/hierarchy.py)."""
    dist: str
    target: str
    prior: str
    k: int = 1

    def distributions(self) -> tuple[str, ...]:
        return (self.dist, self.target, self.prior)

    def decoded(self) -> list["Decoded"]:
        return []

    def sampled(self) -> tuple[tuple[str, int], ...]:
        return ((self.dist, self.k),)          # the target's draw is its member's one draw of the step

    def evaluated(self) -> tuple[tuple[str, str, int], ...]:
        return ((self.prior, self.target, self.k),)   # p(v | s) at the target's draw, once per draw of s

    def name(self, graph) -> str:
        k = f", k={self.k}" if self.k > 1 else ""
        return f"rec({graph.label(self.dist)}->{graph.label(self.target)}{k})"


Leaf = Union[Rec, KL, IWAE, LatentRec]
# Every leaf answers these questions itself, so no phase needs to ask which kind of leaf it holds:
#   distributions()  the distribution nodes it reads (what the lowering must compute for it)
#   decoded()        the (distribution, target modality, K) pairs it decodes, as `Decoded`
#   sampled()        (distribution, K): the distributions whose components it draws K samples of
#   evaluated()      (distribution, drawn from, K): densities it evaluates at K draws of each component
#                    of `drawn from` (a Monte Carlo KL: log q and log p at draws of q; IWAE: q and prior)
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
                for part in _factors(graph, comp):
                    need[part] = max(need.get(part, 1), k)
    return need


def _factors(graph, key: str) -> list[str]:
    """A joint over several latents is sampled factor by factor; anything else is itself."""
    node = graph.nodes[key]
    members = node.members if isinstance(node, Joint) else ()
    return [key] + [f for m in members for f in _factors(graph, m)]


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
    # parts whose weight follows a schedule: (constant, scheduled factors); the coefficient at a
    # step is `coefficient + sum(c · prod(factors))` (mmspec/lower/schedules.py)
    scheduled: tuple[tuple[float, tuple[Weight, ...]], ...] = ()


@dataclass
class Objective:
    name: str
    direction: str                  # maximize | minimize
    tree: Term
    source: str = ""                # the objective's text as written

    def linear_terms(self) -> list[LinearTerm]:
        """coefficient x leaf, identical leaves merged, in the order they first appear.

        Computed once per tree (explain and the cost analysis ask several times; MoPoE on 16
        modalities has 65,535 terms)."""
        cached = self.__dict__.get("_linear_terms")
        if cached is None or cached[0] is not self.tree:
            acc: dict[tuple[Leaf, bool], list] = {}
            _collect(self.tree, 1.0, (), False, acc)
            terms = [LinearTerm(c, leaf, det, tuple(prov), tuple((v, f) for f, v in parts.items()))
                     for (leaf, det), (c, prov, parts) in acc.items() if c != 0.0 or parts]
            cached = self.__dict__["_linear_terms"] = (self.tree, terms)
        return list(cached[1])

    def leaves(self) -> list[Leaf]:
        seen: dict[Leaf, None] = {}
        for t in self.linear_terms():
            seen.setdefault(t.leaf, None)
        return list(seen)


def _collect(term: Term, coef: float, factors: tuple[str, ...], detached: bool, acc: dict,
             sched: tuple[Weight, ...] = ()) -> None:
    """Multiply the weights down to each leaf; weights that follow a schedule are kept as factors."""
    if isinstance(term, LeafTerm):
        slot = acc.setdefault((term.leaf, detached or term.detached), [0.0, [], {}])
        if sched:
            slot[2][sched] = slot[2].get(sched, 0.0) + coef
        else:
            slot[0] += coef
        slot[1].append(_provenance(coef, factors))
    elif isinstance(term, Scale):
        text = render_weight(term.weight, parent=2)
        factor = f"1/{render_weight(term.weight, parent=3)}" if term.divide else text
        if has_schedule(term.weight):
            c, scheduled = _split(term.weight)
            if term.divide:
                c, scheduled = 1.0 / c, WBin("/", Num(1.0, "1"), scheduled)
            _collect(term.child, coef * c, factors + (factor,), detached, acc, sched + (scheduled,))
            return
        w = term.weight.value
        _collect(term.child, coef / w if term.divide else coef * w, factors + (factor,), detached, acc, sched)
    elif isinstance(term, Add):
        for sign, child in term.items:
            _collect(child, coef * sign, factors + (("-",) if sign < 0 else ()), detached, acc, sched)
    elif isinstance(term, Big):
        n = len(term.items)
        for _, child in term.items:
            extra = (f"1/{n}",) if term.kind == "mean" else ()
            _collect(child, coef / n if term.kind == "mean" else coef, factors + extra, detached, acc, sched)
    elif isinstance(term, Group):
        _collect(term.child, coef, factors, detached, acc, sched)
    elif isinstance(term, StopGrad):
        _collect(term.child, coef, factors, True, acc, sched)
    else:  # pragma: no cover - the builder only makes the types above
        raise TypeError(f"unknown IR node {term!r}")


def _split(w: Weight) -> tuple[float, Weight]:
    """A weight with a schedule as (constant, scheduled part): `beta·pi` -> (0.25, beta)."""
    if isinstance(w, WNeg):
        c, rest = _split(w.operand)
        return -c, rest
    if isinstance(w, WBin) and w.op == "*":
        if not has_schedule(w.left):
            c, rest = _split(w.right)
            return w.left.value * c, rest
        if not has_schedule(w.right):
            c, rest = _split(w.left)
            return c * w.right.value, rest
    if isinstance(w, WBin) and w.op == "/" and not has_schedule(w.right):
        c, rest = _split(w.left)
        return c / w.right.value, rest
    return 1.0, w


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
