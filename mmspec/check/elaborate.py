"""Expressions -> meaning: sets, numeric weights, distribution nodes and objective terms.

One expression syntax serves four roles; the `Elaborator` gives each expression its role by where
it stands, resolves names (params, modalities, distributions, bound variables), and reports
every mistake as a located diagnostic with a suggestion.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

from ..constructs import flows, hierarchy, ladder, mog, refine
from ..errors import DiagnosticSink, Invalid, did_you_mean, one_of
from ..model import ir
from ..model.graph import Average, Detached, Expert, JointExpert, Mixture, ModelGraph, NormalPrior, PoE, WeightedPoE
from ..model.sets import Env, Value, all_subsets, value_label
from ..syntax import ast
from ..constructs import schedules
from ..model import numeric
from . import conditional, families, latents as several

__all__ = ["AGGREGATORS", "DIST_FUNCS", "DistDecl", "ESTIMATORS", "Elaborator", "Env", "Invalid", "Value"]


@dataclass
class DistDecl:
    stmt: ast.DistStmt
    indexed: bool


AGGREGATORS = ("poe", "moe", "avg", "wpoe", "mopoe")
DIST_FUNCS = ("normal", "laplace", "encoder", "sg") + AGGREGATORS + refine.FUNCS + flows.FUNCS + mog.FUNCS + ladder.FUNCS
ESTIMATORS = ("closed", "mc", "jensen")


class Elaborator:
    def __init__(self, graph: ModelGraph, sink: DiagnosticSink, decls: dict[str, DistDecl],
                 latent_for: Callable[[str | None, str, ast.Node], str | None]):
        self.g = graph
        self.sink = sink
        self.decls = decls
        self.latent_for = latent_for          # (modality or None, decl name, node) -> latent id
        self._decl_cache: dict[tuple[str, Value | None], str] = {}
        self._in_progress: set[tuple[str, Value | None]] = set()
        self._named: set[str] = set()
        self._domains: dict[str, tuple[list[Value], frozenset]] = {}    # a declaration's index values, once
        self.allow_mixed_latents = False
        # objective expression -> IR term, for constructs whose arguments are objectives (refine's
        # maximize=...); the checker sets it, since the term builder is built on this elaborator
        self.objective_term: Callable[[ast.Expr, Env], ir.Term] | None = None

    # ---- errors ----------------------------------------------------------------------------
    def fail(self, message: str, node: ast.Node, expected: str | None = None, hint: str | None = None):
        self.sink.error(message, node.span, expected, hint)
        raise Invalid()

    @property
    def modality_names(self) -> list[str]:
        return list(self.g.modalities)

    # ---- sets ------------------------------------------------------------------------------
    def modality(self, expr: ast.Expr, env: Env) -> str:
        """An expression naming exactly one modality (a name or a bound modality variable)."""
        if isinstance(expr, ast.Name):
            bound = env.bindings.get(expr.id)
            if isinstance(bound, str):
                return bound
            if isinstance(bound, frozenset):
                self.fail(f"'{expr.id}' is a subset of modalities here, not one modality", expr)
            if expr.id in self.g.modalities:
                return expr.id
            self.fail(f"unknown modality '{expr.id}'", expr, one_of(self.modality_names),
                      did_you_mean(expr.id, self.modality_names + list(env.bindings)))
        self.fail("expected a modality name", expr, one_of(self.modality_names))

    def modality_set(self, expr: ast.Expr, env: Env) -> list[str]:
        """`*`, a modality, a subset variable, or a tuple of modalities -> modality names in order."""
        if isinstance(expr, ast.Star):
            return self.modality_names
        if isinstance(expr, ast.Name) and isinstance(env.bindings.get(expr.id), frozenset):
            return [m for m in self.modality_names if m in env.bindings[expr.id]]
        if isinstance(expr, ast.Tuple):
            names = [self.modality(i, env) for i in expr.items]
            if len(set(names)) != len(names):
                self.fail("a modality appears twice in this set", expr)
            return [m for m in self.modality_names if m in names]
        return [self.modality(expr, env)]

    def domain(self, expr: ast.Expr | None, env: Env) -> tuple[list[Value], str]:
        """The values a bound variable ranges over, and the domain as written."""
        if expr is None:
            return list(self.modality_names), "modalities"
        if isinstance(expr, ast.Call) and expr.func == "subsets":
            return self.subsets(expr, env), _text(self.sink.source, expr)
        values = self.modality_set(expr, env)
        if not values:
            self.fail("this set of modalities is empty", expr)
        return list(values), _text(self.sink.source, expr)

    def subsets(self, call: ast.Call, env: Env) -> list[frozenset]:
        base: list[str] = []
        for arg in call.args or [ast.Star(span=call.span)]:
            base += [m for m in self.modality_set(arg, env) if m not in base]
        base = [m for m in self.modality_names if m in base]
        size = None
        for kw in call.kwargs:
            if kw.name != "size":
                self.fail(f"unknown option '{kw.name}' for subsets", kw, "size=N", did_you_mean(kw.name, ["size"]))
            size = numeric.whole_number(self, kw.value, env, "a subset size")
            if not 1 <= size <= len(base):
                self.fail(f"size={size} gives no subsets of {len(base)} modalities", kw.value,
                          f"a size from 1 to {len(base)}")
        found = all_subsets(base, size)
        if not found:
            self.fail("subsets(...) of an empty set is empty", call)
        return found

    # ---- numbers ---------------------------------------------------------------------------
    def weight(self, expr: ast.Expr, env: Env) -> ir.Weight:
        """A number as written, checked: every sub-expression has a finite real value (numeric.py)."""
        w = self._weight_tree(expr, env)
        try:
            numeric.finite_value(w) if not ir.has_schedule(w) else schedules.finite_throughout(w)
        except numeric.NotANumber as why:
            self.fail(f"this number is not a finite real number: {why}", expr)
        return w

    def _weight_tree(self, expr: ast.Expr, env: Env) -> ir.Weight:
        if isinstance(expr, ast.Number):
            return ir.Num(expr.value, expr.text)
        if isinstance(expr, ast.Name):
            if expr.id == "M":
                return ir.Sym("M", float(self.g.M))
            if expr.id in self.g.params:
                return ir.Sym(expr.id, self.g.params[expr.id])
            if expr.id in self.g.schedules:
                return ir.Scheduled(expr.id, self.g.schedules[expr.id])
            if expr.id in env.bindings:
                self.fail(f"'{expr.id}' is a modality or subset, not a number", expr,
                          hint="use size(S) for the number of modalities in a subset")
            if expr.id in self.decls:
                self.fail(f"'{expr.id}' is a distribution, not a number: weights must be numbers", expr)
            self.fail(f"unknown name '{expr.id}' in a numeric weight", expr,
                      one_of(list(self.g.params) + ["M"]), did_you_mean(expr.id, list(self.g.params) + ["M"]))
        if isinstance(expr, ast.BinOp):
            return ir.WBin(expr.op, self.weight(expr.left, env), self.weight(expr.right, env))
        if isinstance(expr, ast.Pow):
            return ir.WBin("^", self.weight(expr.base, env), self.weight(expr.exponent, env))
        if isinstance(expr, ast.Neg):
            return ir.WNeg(self.weight(expr.operand, env))
        if isinstance(expr, ast.Call) and expr.func == "size" and len(expr.args) == 1:
            members = self.modality_set(expr.args[0], env)
            return ir.Sym(f"|{_text(self.sink.source, expr.args[0])}|", float(len(members)))
        if isinstance(expr, (ast.Call, ast.BigOp, ast.Indexed)):
            self.fail("a weight must be a number, not a term or a distribution", expr,
                      "a number, a param, M, or arithmetic of these")
        if isinstance(expr, ast.String):
            as_number = _as_number(expr.value)
            self.fail(f'a string ("{expr.value}") where a number is expected', expr,
                      "a number, a param, M, or arithmetic of these",
                      f"write {as_number} without the quotes" if as_number else "strings only name files and labels")
        self.fail("expected a number", expr)

    def number(self, expr: ast.Expr, env: Env | None = None) -> float:
        w = self.weight(expr, env or Env({}))
        if ir.has_schedule(w):
            self.fail("this number must be fixed, but it uses a param that follows a schedule", expr,
                      hint="a scheduled param can only weight objective terms")
        try:
            return float(w.value)
        except (ZeroDivisionError, OverflowError):
            self.fail("this number is not finite (division by zero or overflow)", expr)

    def is_numeric(self, expr: ast.Expr) -> bool:
        """True when an expression holds no term, distribution or big operator."""
        if isinstance(expr, (ast.Number,)):
            return True
        if isinstance(expr, ast.Name):
            return expr.id not in self.decls
        if isinstance(expr, ast.BinOp):
            return self.is_numeric(expr.left) and self.is_numeric(expr.right)
        if isinstance(expr, ast.Pow):
            return self.is_numeric(expr.base) and self.is_numeric(expr.exponent)
        if isinstance(expr, ast.Neg):
            return self.is_numeric(expr.operand)
        if isinstance(expr, ast.Call):
            return expr.func == "size"
        return False

    # ---- distributions ---------------------------------------------------------------------
    def add_node(self, node, display: str) -> str:
        if node.key not in self.g.nodes:
            self.g.nodes[node.key] = node
            self.g.display.setdefault(node.key, display)
        return node.key

    def declared(self, name: str, index: Value | None, ref: ast.Node) -> str:
        """The node of a declared distribution (per index value), elaborated on first use."""
        decl = self.decls[name]
        cache_key = (name, index)
        if cache_key in self._decl_cache:
            return self._decl_cache[cache_key]
        if cache_key in self._in_progress:
            self.fail(f"'{name}' is defined in terms of itself", ref)
        self._in_progress.add(cache_key)
        try:
            stmt = decl.stmt
            env = Env({stmt.index.var: index}) if stmt.index else Env({})
            label = self.decl_label(cache_key)
            on = several.declared_on(self, stmt, env)
            key = several.marginal_if_asked(self, self.dist(stmt.expr, env, owner=label, on=on), on, stmt)
            if stmt.role == "prior":
                self.g.prior_keys.add(key)
            if key not in self._named:          # the first declared name is the one shown
                self.g.display[key] = label
                self._named.add(key)
            self._decl_cache[cache_key] = key
            return key
        finally:
            self._in_progress.discard(cache_key)

    def whole_number(self, expr: ast.Expr, env: Env | None = None, what: str = "this count") -> int:
        """A positive integer up to numeric.MAX_COUNT, or a located error (for constructs' counts)."""
        return numeric.whole_number(self, expr, env, what)

    @contextmanager
    def standing_for(self, owner: str, key: str):
        """While elaborating the declaration labelled `owner` (e.g. `r[mnist]`), its name refers to
        the node `key` (refine's iterate) instead of being a definition in terms of itself."""
        current = [k for k in self._in_progress if self.decl_label(k) == owner]
        for k in current:
            self._decl_cache[k] = key
        try:
            yield
        finally:
            for k in current:
                self._decl_cache.pop(k, None)

    def decl_label(self, cache_key: tuple[str, Value | None]) -> str:
        name, index = cache_key
        return name if index is None else f"{name}[{value_label(index, self.modality_names)}]"

    def decl_values(self, name: str) -> list[Value]:
        return self._decl_domain(name)[0]

    def _decl_domain(self, name: str) -> tuple[list[Value], frozenset]:
        """A declaration's domain is the same at every use: build it (2^M - 1 subsets) once."""
        if name not in self._domains:
            values = self.domain(self.decls[name].stmt.index.domain, Env({}))[0]
            self._domains[name] = (values, frozenset(values))
        return self._domains[name]

    def latent_ref(self, expr: ast.Expr, env: Env, where: str = "after 'on'") -> str:
        if isinstance(expr, ast.Name) and expr.id in self.g.latents and not self.g.latents[expr.id].indexed:
            return expr.id
        if isinstance(expr, ast.Indexed) and expr.base in self.g.latents and self.g.latents[expr.base].indexed:
            return f"{expr.base}[{self.modality(expr.index, env)}]"
        names = list(self.g.latents)
        self.fail(f"expected a declared latent {where}", expr, one_of(names),
                  did_you_mean(getattr(expr, "id", getattr(expr, "base", "")), names))

    def dist(self, expr: ast.Expr, env: Env, owner: str | None = None, on: str | None = None) -> str:
        """Elaborate a distribution expression to a node key."""
        items = self.dist_list(expr, env, owner, on)
        if len(items) != 1:
            self.fail(f"'{_text(self.sink.source, expr)}' is a list of {len(items)} distributions here",
                      expr, "a single distribution", "lists go inside poe(...), moe(...), avg(...) or wpoe(...)")
        return items[0]

    def dist_list(self, expr: ast.Expr, env: Env, owner: str | None = None, on: str | None = None) -> list[str]:
        if isinstance(expr, ast.Name):
            if expr.id in self.decls:
                if self.decls[expr.id].indexed:
                    self.fail(f"'{expr.id}' is declared with an index", expr,
                              f"{expr.id}[m], {expr.id}[*] or {expr.id}[S]")
                return [self.declared(expr.id, None, expr)]
            known = list(self.decls)
            self.fail(f"unknown distribution '{expr.id}'", expr, one_of(known), did_you_mean(expr.id, known))
        if isinstance(expr, ast.Indexed):
            return self.indexed_dists(expr, env)
        if isinstance(expr, ast.Tuple):
            return [several.joint(self, expr, env, on)]        # (qz[m], qw[m]): over several latents
        if isinstance(expr, ast.Call) and expr.func in DIST_FUNCS:
            return [self.dist_call(expr, env, owner, on)]
        if isinstance(expr, ast.Call):
            hint = hierarchy.FUNCTION_GIVEN_HINT if expr.func == "given" else did_you_mean(expr.func, DIST_FUNCS)
            self.fail(f"unknown distribution constructor '{expr.func}'", ast.Name(span=expr.func_span, id=expr.func),
                      one_of(DIST_FUNCS), hint)
        self.fail("expected a distribution", expr, "a posterior or prior name, or one of: " + ", ".join(DIST_FUNCS))

    def indexed_dists(self, expr: ast.Indexed, env: Env) -> list[str]:
        if expr.base not in self.decls:
            known = list(self.decls)
            self.fail(f"unknown distribution '{expr.base}'", ast.Name(span=expr.base_span, id=expr.base),
                      one_of(known), did_you_mean(expr.base, known))
        if not self.decls[expr.base].indexed:
            self.fail(f"'{expr.base}' is not declared with an index", expr, f"plain '{expr.base}'")
        domain, members = self._decl_domain(expr.base)
        by_subset = bool(domain) and isinstance(domain[0], frozenset)
        idx = expr.index
        if isinstance(idx, ast.Star):
            values = domain
        elif by_subset and isinstance(idx, ast.Name) and isinstance(env.bindings.get(idx.id), frozenset):
            values = [env.bindings[idx.id]]
        elif by_subset:
            values = [frozenset(self.modality_set(idx, env))]
        else:
            values = self.modality_set(idx, env)
        for v in values:
            if v not in members:
                self.fail(f"{expr.base}[{value_label(v, self.modality_names)}] is not declared", expr,
                          f"an index in {expr.base}'s domain")
        return [self.declared(expr.base, v, expr) for v in values]

    def dist_call(self, call: ast.Call, env: Env, owner: str | None, on: str | None) -> str:
        f = call.func
        if f == "normal":
            if call.kwarg("given") is not None:     # a network of other latents' draws: constructs/hierarchy.py
                return hierarchy.elaborate(self, call, env, owner, on)
            hierarchy.plain_normal(self, call)      # normal() is N(0, I): it refuses options
            return self.add_node(NormalPrior(key="normal()", latent=on), "N(0, I)")
        if f == "laplace":
            return families.laplace_prior(self, call, env, owner, on)
        if f == "encoder":
            return self.encoder(call, env, owner, on)
        if f in refine.FUNCS:
            if self.g.has_layout:       # its update networks and iterates have one latent's size
                self.fail(f"{f}(...) needs a spec whose decoders read one latent", call,
                          hint="drop the `from ...` clauses (one latent), or refine elsewhere")
            return refine.elaborate(self, call, env, owner, on)
        if f in flows.FUNCS:
            return flows.elaborate(self, call, env, owner, on)
        if f in mog.FUNCS:
            return mog.elaborate(self, call, env, owner, on)
        if f in ladder.FUNCS:                       # a top-down hierarchy of latents: constructs/ladder.py
            return ladder.elaborate(self, call, env, owner, on)
        if f == "sg":
            if len(call.args) != 1 or call.kwargs:
                self.fail("sg(...) takes one distribution", call)
            member = self.dist(call.args[0], env)
            ladder.refuse_inside(self, [member], call, "sg(...)")
            node = Detached(key=f"sg({member})", member=member, latent=self.g.nodes[member].latent,
                            family=self.g.nodes[member].family)
            return self.add_node(node, f"sg({self.g.label(member)})")
        return self.aggregate(call, env, on)

    def encoder(self, call: ast.Call, env: Env, owner: str | None, on: str | None) -> str:
        if owner is None:
            self.fail("encoder(...) creates trainable weights, so it must be the whole right-hand side "
                      "of a posterior declaration", call, hint="declare `posterior q[m] = encoder(m)` and use q[m]")
        if call.kwarg("given") is not None:     # a conditional encoder or prior (CVAE): check/conditional.py
            return conditional.encoder(self, call, env, owner, on, self._hidden(call, env),
                                       families.encoder_family(self, call))
        if len(call.args) != 1:
            self.fail("encoder takes one modality (encoder(m)) or a set (encoder(*), encoder((a, b)))", call)
        arg = call.args[0]
        hidden = self._hidden(call, env)
        family = families.encoder_family(self, call)
        if isinstance(arg, (ast.Star, ast.Tuple)) or (isinstance(arg, ast.Name) and isinstance(env.bindings.get(arg.id), frozenset)):
            mods = tuple(self.modality_set(arg, env))
            if isinstance(on, tuple):
                self.fail("a joint encoder describes one latent", call, "encoder(m) on (z, w[m]) for one modality")
            latent = on or self.latent_for(None, owner, call)
            node = JointExpert(key=f"encoder:{owner}", modalities=mods, network=owner, hidden=hidden, latent=latent,
                               family=family)
            return self.add_node(node, owner)
        if hidden:
            self.fail("hidden=... configures the joint encoder; a unimodal encoder uses its modality's net",
                      next(kw for kw in call.kwargs if kw.name == "hidden"))
        m = self.modality(arg, env)
        if isinstance(on, tuple):       # one network with heads for each latent in turn
            return self.add_node(Expert(key=f"encoder:{owner}", modality=m, network=owner, latent=None,
                                        family=family, latents=on), owner)
        latent = on or self.latent_for(m, owner, call)
        return self.add_node(Expert(key=f"encoder:{owner}", modality=m, network=owner, latent=latent,
                                    family=family), owner)

    def _hidden(self, call: ast.Call, env: Env) -> tuple[int, ...]:
        hidden: tuple[int, ...] = ()
        for kw in call.kwargs:
            if kw.name in ("family", "given"):
                continue
            if kw.name != "hidden":
                self.fail(f"unknown option '{kw.name}' for encoder", kw, "hidden=[...], family=laplace, given=DATA",
                          did_you_mean(kw.name, ["hidden", "family", "given"]))
            items = kw.value.items if isinstance(kw.value, ast.ListLit) else [kw.value]
            hidden = tuple(numeric.whole_number(self, i, env, "a hidden size") for i in items)
        return hidden

    def aggregate(self, call: ast.Call, env: Env, on: str | None) -> str:
        f = call.func
        members: list[str] = []
        for arg in call.args:
            members += self.dist_list(arg, env)
        if not members:
            self.fail(f"{f}(...) of no distributions", call, "at least one distribution")
        options = {kw.name: kw for kw in call.kwargs}
        allowed = {"moe": {"weights"}, "wpoe": {"weights"}}.get(f, set())
        for name, kw in options.items():
            if name not in allowed:
                self.fail(f"unknown option '{name}' for {f}", kw, one_of(allowed) if allowed else "no options",
                          did_you_mean(name, allowed))
        ladder.refuse_inside(self, members, call, f"{f}(...)")
        if f == "mopoe":
            return self.mopoe(call, members, on)
        families.check_aggregable(self, f, members, call)
        if f == "moe" and on is None and any(several.is_joint(self.g, m) for m in members):
            latent = None               # a mixture of joints: each latent has the mixture of its components
        else:
            latent = self.common_latent(members, call, on)
        weights = self.agg_weights(options.get("weights"), len(members), env, f)
        labels = ", ".join(self.g.label(m) for m in members)
        key_args = ", ".join(members)
        suffix = f" on {on}" if on else ""
        if f == "poe":
            node = PoE(key=f"poe({key_args}){suffix}", members=tuple(members), latent=latent)
        elif f == "avg":
            node = Average(key=f"avg({key_args}){suffix}", members=tuple(members), latent=latent)
        elif f == "wpoe":
            node = WeightedPoE(key=f"wpoe({key_args}; {weights}){suffix}", members=tuple(members),
                               weights=weights, latent=latent)
        else:
            node = Mixture(key=f"moe({key_args}; {weights}){suffix}", members=tuple(members),
                           weights=weights, latent=latent)
        return self.add_node(node, f"{f}({labels}){suffix}")

    def mopoe(self, call: ast.Call, members: list[str], on: str | None) -> str:
        """mopoe(q[*]) = moe over every non-empty subset S of the experts of poe(S);
        mopoe(p, q[*]) puts the prior expert into every subset's product."""
        families.check_aggregable(self, "poe", members, call)
        priors = [m for m in members if isinstance(self.g.nodes[m], NormalPrior)]
        experts = [m for m in members if m not in priors]
        parts = []
        for subset in all_subsets(experts):
            chosen = priors + [m for m in experts if m in subset]
            latent = self.common_latent(chosen, call, on)
            node = PoE(key=f"poe({', '.join(chosen)})", members=tuple(chosen), latent=latent)
            parts.append(self.add_node(node, f"poe({', '.join(self.g.label(c) for c in chosen)})"))
        w = tuple([1.0 / len(parts)] * len(parts))
        latent = self.common_latent(parts, call, on)
        key = f"moe({', '.join(parts)}; {w})"
        return self.add_node(Mixture(key=key, members=tuple(parts), weights=w, latent=latent),
                             f"mopoe({', '.join(self.g.label(m) for m in members)})")

    def agg_weights(self, kw: ast.KwArg | None, n: int, env: Env, f: str) -> tuple[float, ...]:
        if kw is None:
            return tuple([1.0 / n] * n) if f == "moe" else tuple([1.0] * n)
        items = kw.value.items if isinstance(kw.value, ast.ListLit) else None
        values = [self.number(i, env) for i in items] if items is not None else [self.number(kw.value, env)] * n
        if len(values) != n:
            self.fail(f"{len(values)} weights for {n} distributions", kw.value, f"{n} weights")
        if any(v < 0 for v in values):
            self.fail("weights must be non-negative", kw.value)
        if f == "moe":
            total = sum(values)
            if abs(total - 1.0) > 1e-6:
                self.fail(f"mixture weights sum to {total:g}, not 1", kw.value)
        return tuple(values)

    def common_latent(self, members: list[str], node: ast.Node, on: str | None) -> str | None:
        latents = {self.g.nodes[m].latent for m in members} - {None}
        if on is not None:
            dims = {self.g.latents[l.split("[")[0]].dim for l in latents | {on}}
            if len(dims) > 1:
                self.fail(f"'on {on}' joins latents of different sizes {sorted(dims)}", node)
            return on
        if len(latents) > 1 and not self.allow_mixed_latents:
            self.fail("these distributions are over different latents: " + ", ".join(sorted(latents)), node,
                      hint="add `on z[m]` to the declaration to say which latent the result describes")
        return next(iter(latents)) if len(latents) == 1 else None


def _as_number(text: str) -> str | None:
    """The text of a quoted number (`"0.5"` -> `0.5`), else None."""
    try:
        float(text.strip())
    except ValueError:
        return None
    return text.strip()


_text = ast.source_text          # the source text of a node, for messages and printouts
