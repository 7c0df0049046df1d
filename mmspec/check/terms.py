"""Objective expressions -> IR terms (rec, kl, elbo, sums, weights, stop-gradient).

Objectives are linear in their terms: every product has a numeric weight on one side. That rule
is what lets `explain` print each term with one number and the loss add them up.
"""
from __future__ import annotations

from ..constructs import hierarchy, iwae, ladder, stratified
from ..errors import Invalid, did_you_mean, one_of
from ..model import ir
from ..model.sets import Env, value_label
from ..syntax import ast
from ..model import numeric
from . import families, latents as several
from .elaborate import ESTIMATORS, Elaborator, _text


class TermBuilder:
    def __init__(self, elab: Elaborator, prior_names: list[str]):
        self.e = elab
        self.prior_names = prior_names

    @property
    def g(self):
        return self.e.g

    def fail(self, *args, **kwargs):
        self.e.fail(*args, **kwargs)

    def term(self, expr: ast.Expr, env: Env) -> ir.Term:
        if isinstance(expr, ast.BinOp) and expr.op in "+-":
            sign = 1 if expr.op == "+" else -1
            left, right = self._try(expr.left, env), self._try(expr.right, env)
            if left is None or right is None:     # both sides were checked: report every error
                raise Invalid()
            return _add([(1, left), (sign, right)])
        if isinstance(expr, ast.BinOp):
            return self.product(expr, env)
        if isinstance(expr, ast.Neg):
            return _add([(-1, self.term(expr.operand, env))])
        if isinstance(expr, ast.BigOp):
            return self.big(expr, env)
        if isinstance(expr, ast.Call) and expr.func in ("rec", "kl", "elbo", "sg"):
            return getattr(self, f"term_{expr.func}")(expr, env)
        if isinstance(expr, ast.Call) and expr.func == "iwae":
            return iwae.iwae_term(self, expr, env)
        if self.e.is_numeric(expr):
            self.fail("a number on its own is not a term of the objective", expr,
                      "a term: rec(...), kl(...), elbo(...), or a weighted sum of them",
                      "constants do not change the optimum; multiply a term by it instead")
        if isinstance(expr, ast.Call):
            funcs = ["rec", "kl", "elbo", "iwae", "sg"]
            self.fail(f"'{expr.func}' is not an objective term", ast.Name(span=expr.func_span, id=expr.func),
                      one_of(funcs), did_you_mean(expr.func, funcs))
        if isinstance(expr, (ast.Name, ast.Indexed)):
            self.fail(f"'{_text(self.e.sink.source, expr)}' is a distribution, not a term", expr,
                      hint="use it inside rec(...), kl(...) or elbo(...)")
        self.fail("expected an objective term", expr, "rec(...), kl(...), elbo(...), sum/mean")

    def _try(self, expr: ast.Expr, env: Env) -> ir.Term | None:
        try:
            return self.term(expr, env)
        except Invalid:
            return None

    def product(self, expr: ast.BinOp, env: Env) -> ir.Term:
        for side in (expr.left, expr.right):
            if isinstance(side, ast.String):        # `"2" * kl(...)`: say it is a string, not a term
                self.e.weight(side, env)
        left_num, right_num = self.e.is_numeric(expr.left), self.e.is_numeric(expr.right)
        if left_num and right_num:
            self.fail("a number on its own is not a term of the objective", expr)
        if expr.op == "/":
            if not right_num:
                self.fail("division by a term is not linear: divide by a number", expr.right)
            return ir.Scale(self.e.weight(expr.right, env), self.term(expr.left, env), divide=True)
        for side in (expr.left, expr.right):
            if isinstance(side, ast.Indexed) or (isinstance(side, ast.Name) and side.id in self.e.decls):
                self.fail(f"'{_text(self.e.sink.source, side)}' is a distribution, not a number: a weight must be a number",
                          side, "a number, a param, M, or arithmetic of these")
        if not left_num and not right_num:
            self.fail("the product of two terms is not linear: one side must be a number", expr,
                      "a weight (number, param, M) times a term")
        weight, child = (expr.left, expr.right) if left_num else (expr.right, expr.left)
        return ir.Scale(self.e.weight(weight, env), self.term(child, env))

    def big(self, expr: ast.BigOp, env: Env) -> ir.Term:
        if expr.var in env.bindings or expr.var in self.g.modalities or expr.var in self.g.params:
            self.fail(f"'{expr.var}' is already a name here; choose another variable", expr)
        values, domain = self.e.domain(expr.domain, env)
        items = []
        for value in values:
            items.append((value_label(value, list(self.g.modalities)), self.term(expr.body, env.bind(expr.var, value))))
        return ir.Big(expr.kind, expr.var, domain, tuple(items))

    # ---- leaves ----------------------------------------------------------------------------
    def _options(self, call: ast.Call, allowed: dict[str, str]) -> dict[str, ast.Expr]:
        found = {}
        for kw in call.kwargs:
            if kw.name not in allowed:
                self.fail(f"unknown option '{kw.name}' for {call.func}", kw, one_of(allowed),
                          did_you_mean(kw.name, allowed))
            found[kw.name] = kw.value
        return found

    def _k(self, opts: dict, env: Env) -> int:
        if "k" not in opts:
            return 1
        return numeric.whole_number(self.e, opts["k"], env, "k")

    def _arrow(self, call: ast.Call, name: str) -> ast.Arrow:
        if len(call.args) != 1 or not isinstance(call.args[0], ast.Arrow):
            self.fail(f"{name} takes a posterior and targets", call, f"{name}(q -> *), {name}(q -> m)")
        return call.args[0]

    def targets(self, expr: ast.Expr, env: Env) -> list[str]:
        mods = self.e.modality_set(expr, env)
        if not mods:
            self.fail("an empty set of targets", expr)
        return mods

    def rec_terms(self, q: str, targets: list[str], k: int, node: ast.Node, sampling: str = "exact") -> ir.Term:
        parts = []
        for t in targets:
            self.check_decodable(q, t, node)
            leaf: ir.Term = ir.LeafTerm(ir.Rec(q, t, k, sampling))
            modality = self.g.modalities[t]
            if modality.weight != 1.0:
                leaf = ir.Scale(ir.Sym(f"w_{t}", modality.weight), leaf)
            parts.append((1, leaf))
        return parts[0][1] if len(parts) == 1 else ir.Add(tuple(parts))

    def check_decodable(self, q: str, target: str, node: ast.Node) -> None:
        """With one latent per modality, the decoder of m reads z[m]: decoding it from another latent
        would silently tie two latents, so it must be said with `on`."""
        families.check_sampled(self, q, node)
        if self.g.has_layout:
            return several.check_decodable(self, q, target, node)
        latent = self.g.nodes[q].latent
        indexed = [l for l in self.g.latents.values() if l.indexed]
        if latent is None or not indexed or "[" not in latent:
            return
        wanted = f"{latent.split('[')[0]}[{target}]"
        if latent != wanted:
            self.fail(f"rec decodes {target} from {self.g.label(q)}, a distribution over {latent}, "
                      f"but the decoder of {target} reads {wanted}", node,
                      hint=f"decode {target} from a distribution over {wanted}")

    def term_rec(self, call: ast.Call, env: Env) -> ir.Term:
        arrow = self._arrow(call, "rec")
        opts = self._options(call, {"k": "samples", "sampling": "exact or stratified (mixtures)"})
        q = self.e.dist(arrow.left, env)
        if hierarchy.is_latent_target(self, arrow.right, env):      # rec(top -> sg(q[m])): a latent's draw
            return hierarchy.rec_term(self, call, q, arrow.right, env, self._k(opts, env))
        sampling = stratified.rec_sampling(self, opts, q, call)
        if sampling == "stratified" and self.g.has_layout and several.is_joint(self.g, q):
            self.fail("sampling=stratified gives each item one sample of one latent; the components of "
                      f"{self.g.label(q)} describe several latents", call, hint="drop `sampling=`")
        return self.rec_terms(q, self.targets(arrow.right, env), self._k(opts, env), call, sampling)

    def term_kl(self, call: ast.Call, env: Env) -> ir.Term:
        if len(call.args) != 1 or not isinstance(call.args[0], ast.DBar):
            self.fail("kl takes two distributions", call, "kl(q || p)")
        pair = call.args[0]
        opts = self._options(call, {"estimator": "", "k": ""})
        q, p = self.e.dist(pair.left, env), self.e.dist(pair.right, env)
        if ladder.check_kl(self, q, p, call):           # closed form level by level (constructs/ladder.py)
            for name, value in opts.items():
                if name == "k" or getattr(value, "id", None) != "closed":
                    self.fail("a ladder's KL is closed form level by level at one draw of the level above", value,
                              "kl(q[S] || p)")
            return ir.LeafTerm(ir.KL(q, p, "closed", 1))
        for d in (q, p):
            if several.is_joint(self.g, d):
                self.fail(f"{self.g.label(d)} describes several latents: write the KL of each factor",
                          call, "kl(qz[m] || p) + kl(qw[m] || r[m])",
                          "declare a factor as `posterior qw[m] = q[m] on w[m]`")
        self.check_same_latent(q, p, call)
        estimator = self.estimator(opts, q, p, call)
        if estimator == "mc":
            families.check_sampled(self, q, pair.left)
        if estimator == "mc" and "k" not in opts:
            self.fail("estimator=mc needs its number of samples", call,
                      "k=K, e.g. kl(q || p, estimator=mc, k=1) for one sample per item")
        k = self._k(opts, env)
        if estimator != "mc" and "k" in opts:
            self.fail(f"k only applies to estimator=mc (this KL is {estimator})", opts["k"])
        return ir.LeafTerm(ir.KL(q, p, estimator, k))

    def check_same_latent(self, q: str, p: str, node: ast.Node) -> None:
        if self.g.has_layout:
            return several.check_same_latents(self, q, p, node)
        lq, lp = self.g.nodes[q].latent, self.g.nodes[p].latent
        if lq is not None and lp is not None and lq != lp:
            self.fail(f"KL between distributions over different latents: {self.g.label(q)} is over {lq}, "
                      f"{self.g.label(p)} over {lp}", node,
                      hint="a divergence compares two densities of one variable; use `on` to re-host one")

    def estimator(self, opts: dict, q: str, p: str, call: ast.Call) -> str:
        fq, fp = (families.family_name(self.g.nodes[k].family) for k in (q, p))
        mixture = "mixture" in (self.g.nodes[q].family, self.g.nodes[p].family)
        closed = families.has_closed_kl(self.g, q, p)
        if "estimator" not in opts:
            if mixture:
                self.fail("KL with a mixture has no closed form: choose an estimator", call,
                          "estimator=jensen (upper bound) or estimator=mc, k=K (Monte Carlo)")
            if not closed:
                self.fail(f"KL between a {fq} and a {fp} distribution has no closed form here: choose an estimator",
                          call, "estimator=mc, k=K (Monte Carlo)")
            return "closed"
        node = opts["estimator"]
        name = node.id if isinstance(node, ast.Name) else None
        if name not in ESTIMATORS:
            self.fail("unknown KL estimator", node, one_of(ESTIMATORS), did_you_mean(str(name), ESTIMATORS))
        if name == "closed" and mixture:
            self.fail("no closed form for a KL with a mixture", node, "estimator=jensen or estimator=mc")
        if name == "closed" and not closed:
            self.fail(f"no closed form for a KL between a {fq} and a {fp} distribution", node, "estimator=mc, k=K")
        if name == "jensen" and not mixture:
            self.fail("the Jensen bound is for mixtures" + ("; this KL has a closed form" if closed else ""), node,
                      "estimator=closed" if closed else "estimator=mc, k=K")
        if name == "jensen" and not families.jensen_applies(self.g, q, p):
            self.fail("the Jensen bound needs closed-form KLs between the components, but they are of "
                      + ("different families" if len(families.components_family(self.g, q)
                                                     | families.components_family(self.g, p)) > 1
                         else "a family without one"), node, "estimator=mc, k=K")
        return name

    def term_elbo(self, call: ast.Call, env: Env) -> ir.Term:
        if len(call.args) != 1:
            self.fail("elbo takes one posterior, with optional targets", call, "elbo(q) or elbo(q -> m)")
        arg = call.args[0]
        left, targets_expr = (arg.left, arg.right) if isinstance(arg, ast.Arrow) else (arg, ast.Star(span=arg.span))
        opts = self._options(call, {"beta": "", "prior": "", "k": ""})
        q = self.e.dist(left, env)
        prior = self.elbo_prior(opts, env, call)
        targets = self.targets(targets_expr, env)
        rec = self.rec_terms(q, targets, self._k(opts, env), call)
        self.check_same_latent(q, prior, call)
        if not families.has_closed_kl(self.g, q, prior):
            self.fail("elbo(...) uses a closed-form KL; with a mixture, or families without one, write "
                      "rec(...) - kl(..., estimator=...)", call)
        kl: ir.Term = ir.LeafTerm(ir.KL(q, prior, "closed", 1))
        if "beta" in opts:
            kl = ir.Scale(self.e.weight(opts["beta"], env), kl)
        label = f"elbo({_text(self.e.sink.source, arg)})"
        return ir.Group(label, ir.Add(((1, rec), (-1, kl))))

    def elbo_prior(self, opts: dict, env: Env, call: ast.Call) -> str:
        if "prior" in opts:
            return self.e.dist(opts["prior"], env)
        plain = [n for n in self.prior_names if not self.e.decls[n].indexed]
        if len(plain) > 1:      # several priors: the one that sees no data is the elbo's
            plain = [n for n in plain if not self.g.sees(self.e.declared(n, None, call))]
        if len(plain) != 1:
            self.fail("elbo(...) needs to know its prior", call,
                      "prior=NAME" if plain else "a `prior p = normal()` declaration")
        return self.e.declared(plain[0], None, call)

    def term_sg(self, call: ast.Call, env: Env) -> ir.Term:
        if len(call.args) != 1 or call.kwargs:
            self.fail("sg(...) takes one term", call)
        return ir.StopGrad(self.term(call.args[0], env))


def _add(items: list[tuple[int, ir.Term]]) -> ir.Add:
    """Flatten nested sums so `a + b - c` prints and sums as one list."""
    flat: list[tuple[int, ir.Term]] = []
    for sign, t in items:
        if isinstance(t, ir.Add):
            flat += [(sign * s, c) for s, c in t.items]
        else:
            flat.append((sign, t))
    return ir.Add(tuple(flat))
