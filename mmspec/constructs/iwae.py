"""`iwae(...)`: importance-weighted objective terms, from the spec to the IR and back to math.

    iwae(q -> *, k=30)                                   log 1/K sum_k p(X, z_k) / q(z_k | X)
    iwae(mix -> *, k=30, estimator=dreg, form=looser)    MMVAE's paper objective
    iwae(q -> (a, b), k=5, prior=p)
    iwae(q -> *, k=30, prior=none) - beta * kl(q || p)   the importance-weighted reconstruction alone

It reads like `elbo(...)`: a posterior, optional targets (all modalities by default), and the prior
(the spec's data-free prior by default). `k` is required: it is the point of the term. A mixture
posterior is sampled per component, so it must say how the samples combine: `form=looser` (the mean
over components of their bounds, MMVAE's `--looser`) or `form=standard` (one log-mean-exp over all
draws, MMVAE's `m_iwae`/`m_dreg`). The estimator maths is in mmspec/lower/iwae.py.

`prior=none` drops p(z)/q(z|X) from the weight: w(z) = prod_t p(x_t | z)^{w_t}, so the term is
log 1/K sum_k p(X | z_k), the importance-weighted reconstruction (a lower bound on log E_q p(X|z),
tight as K grows), and the divergences are separate terms with their own weights.
"""
from __future__ import annotations

import re

from . import ladder
from ..model import ir
from ..model.graph import mixture_parts
from ..model.notation import conditioned, decoder_args, fmt
from ..syntax import ast

OPTIONS = {"k": "", "prior": "", "estimator": "", "form": ""}
GRADIENTS = ("iwae", "dreg")
FORMS = ("looser", "standard")


def iwae_term(builder, call: ast.Call, env) -> ir.Term:
    """Elaborate `iwae(q [-> targets], k=K, prior=p, estimator=iwae|dreg, form=looser|standard)`."""
    e, g = builder.e, builder.g
    if len(call.args) != 1:
        builder.fail("iwae takes one posterior, with optional targets", call,
                     "iwae(q -> *, k=K) or iwae(q, k=K)")
    arg = call.args[0]
    left, targets_expr = (arg.left, arg.right) if isinstance(arg, ast.Arrow) else (arg, ast.Star(span=arg.span))
    opts = builder._options(call, OPTIONS)
    q = e.dist(left, env)
    ladder.refuse_inside(builder, [q], call, "an importance-weighted bound")
    prior = None if _no_prior(opts) else builder.elbo_prior(opts, env, call)
    if prior is not None:
        builder.check_same_latent(q, prior, call)
    targets = builder.targets(targets_expr, env)
    for t in targets:
        builder.check_decodable(q, t, call)
    if "k" not in opts:
        builder.fail("iwae needs its number of importance samples", call, "k=K, e.g. iwae(q -> *, k=30)")
    k = builder._k(opts, env)
    estimator = ast.word_option(opts, "estimator", GRADIENTS, "iwae", builder.fail, "for iwae")
    if prior is None and estimator == "dreg":
        builder.fail("DReG is the gradient of the full bound, whose weight has q(z|X) in it; with "
                     "prior=none the weight is the likelihood alone", opts["estimator"], "estimator=iwae")
    mixture = g.nodes[q].family == "mixture"
    if mixture and "form" not in opts:
        builder.fail("an importance-weighted bound of a mixture samples each component: choose how the "
                     "samples combine", call,
                     "form=looser (mean of the components' bounds, MMVAE's paper) or form=standard "
                     "(one log-mean-exp over all samples)")
    if not mixture and "form" in opts:
        builder.fail(f"form=... is for mixture posteriors; {g.label(q)} is a single distribution", opts["form"])
    form = ast.word_option(opts, "form", FORMS, "looser", builder.fail, "for iwae") if mixture else "single"
    return ir.LeafTerm(ir.IWAE(q, prior, tuple(targets), k, estimator, form))


def _no_prior(opts: dict) -> bool:
    """`prior=none`: the importance-weighted reconstruction alone (a name `none`, not a distribution)."""
    node = opts.get("prior")
    return isinstance(node, ast.Name) and node.id == "none"


# ---- printing: explain's text, LaTeX and JSON -------------------------------------------------

def _components(graph, leaf: ir.IWAE) -> list[tuple[str, float]]:
    return mixture_parts(graph, leaf.dist)


def draw_latents(g, leaf: ir.IWAE) -> list[str]:
    """The latents one draw holds, as explain writes them: `z` for one latent; with several, those
    the drawn distribution (or component) describes, a component's own indexed latent as `w[j]` when
    the components differ only in it (MMVAE+: component j draws (z, w[j]))."""
    if not g.has_layout:
        return ["z"]
    own = [g.node_latents(c) for c, _ in _components(g, leaf)]
    if len(set(own)) == 1:
        return list(own[0]) or ["z"]
    generic = [tuple(re.sub(r"\[.+\]$", "[j]", l) for l in latents) for latents in own]
    if len(set(generic)) == 1:
        return list(generic[0])
    return [l for l in g.layout() if any(l in latents for latents in own)]


def describe(program, leaf: ir.IWAE) -> str:
    """One line of Unicode math: the bound, the sampling, the weight w(z), the gradient."""
    g = program.graph
    lik = "·".join(f"p(x_{t}|{decoder_args(g, t)})" + (f"^{fmt(g.modalities[t].weight, 4)}" if g.modalities[t].weight != 1 else "")
                   for t in leaf.targets)
    drawn = ", ".join(draw_latents(g, leaf))
    xs = ", ".join(f"x_{m}" for m in g.modalities if m in g.sees(leaf.dist))
    q = f"{g.label(leaf.dist)}({drawn} | {xs})" if g.has_layout else conditioned(program, leaf.dist)
    w = (f"w({drawn}) = {g.label(leaf.prior)}({drawn})·{lik} / {q}"
         if leaf.prior is not None else f"w({drawn}) = {lik}, the reconstruction alone (prior=none)")
    grad = "DReG gradient" if leaf.estimator == "dreg" else "IWAE gradient"
    if g.has_layout:
        w += "; a latent a decoder reads that the draw does not describe is drawn from its prior"
    u = "z" if drawn == "z" else f"({drawn})"          # one draw: z_k, or (z, w[j])_jk over several latents
    if leaf.form == "single":
        bound = f"log 1/K Σ_k w({u}_k), {u}_k ~ {g.label(leaf.dist)}"
    else:
        parts = _components(g, leaf)
        names = ", ".join(f"{fmt(a, 4)}·{g.label(c)}" for c, a in parts)
        outer = (f"Σ_j a_j log 1/K Σ_k w({u}_jk)" if leaf.form == "looser"
                 else f"log Σ_j a_j 1/K Σ_k w({u}_jk)")
        bound = f"{outer}, {u}_jk ~ component j of {g.label(leaf.dist)} = {names}"
    return f"IWAE[{leaf.form}, K={leaf.k}]: {bound}; {w}  [{grad}]"


def describe_latex(program, leaf: ir.IWAE, weight: str | None = None) -> str:
    """The bound in LaTeX; `weight`: a name written in place of the importance weight (which
    `weight_latex` then gives for a row of its own, when the whole bound is too wide for one)."""
    g = program.graph
    w = weight or weight_latex(program, leaf)[0]
    inner = f"\\frac{{1}}{{{leaf.k}}} \\sum_{{k=1}}^{{{leaf.k}}} {w}"
    grad = "\\text{DReG}" if leaf.estimator == "dreg" else "\\text{IWAE}"
    if leaf.form == "single":
        return f"\\log {inner}\\;[{grad}]"
    n = len(_components(g, leaf))
    if leaf.form == "looser":
        return f"\\sum_{{j=1}}^{{{n}}} a_j \\log {inner}\\;[{grad}]"
    return f"\\log \\sum_{{j=1}}^{{{n}}} a_j {inner}\\;[{grad}]"


def weight_latex(program, leaf: ir.IWAE) -> tuple[str, list[str]]:
    """The importance weight of draw k (jk for a mixture): as one fraction, and as factors to break
    over rows (p/q first, then each likelihood)."""
    g = program.graph
    idx = draw_index(leaf)
    lik = _likelihood_latex(g, leaf.targets, idx)
    if leaf.prior is None:
        return lik, _likelihood_factors(g, leaf.targets, idx)
    q = conditioned(program, leaf.dist, True).rsplit("(", 1)[0]
    p = conditioned(program, leaf.prior, True).rsplit("(", 1)[0]
    drawn = ", ".join(_at_draw(l, idx) for l in draw_latents(g, leaf))
    return (f"\\frac{{{p}({drawn}) \\, {lik}}}{{{q}({drawn} \\mid X)}}",
            [f"\\frac{{{p}({drawn})}}{{{q}({drawn} \\mid X)}}"] + _likelihood_factors(g, leaf.targets, idx))


def draw_index(leaf: ir.IWAE) -> str:
    """The subscript of one draw: k, or jk (component j) for a mixture."""
    return "k" if leaf.form == "single" else "jk"


def _likelihood_latex(g, targets: tuple[str, ...], idx: str) -> str:
    """p(x_t | draws) for each target; three or more unweighted targets whose decoders read alike as
    one product over them, \\prod_{m in {m0, ..., m4}} p(x_m | z_jk, w_m,jk), so the bound fits a page."""
    factors = _likelihood_factors(g, targets, idx)
    alike = {_drawn(g, t, idx).replace(f"\\mathrm{{{t}}}", "m") for t in targets}
    if len(targets) < 3 or len(alike) > 1 or any(g.modalities[t].weight != 1 for t in targets):
        return " \\, ".join(factors)
    names = [f"\\mathrm{{{t}}}" for t in targets]
    shown = ", ".join(names if len(names) <= 3 else [names[0], "\\ldots", names[-1]])
    return f"\\prod_{{m \\in \\{{{shown}\\}}}} p(x_m \\mid {alike.pop()})"


def _likelihood_factors(g, targets: tuple[str, ...], idx: str) -> list[str]:
    """p(x_t | the draws its decoder reads)^{w_t}, one factor per target."""
    return [f"p(x_{{\\mathrm{{{t}}}}} \\mid {_drawn(g, t, idx)})"
            + (f"^{{{fmt(g.modalities[t].weight, 4)}}}" if g.modalities[t].weight != 1 else "") for t in targets]


def _drawn(g, target: str, idx: str) -> str:
    """The draws `target`'s decoder reads: z_{jk}, or z_{jk}, w_{m0,jk} when it reads several latents."""
    reads = g.modalities[target].reads if g.has_layout else ()
    return ", ".join(_at_draw(l, idx) for l in reads) or f"z_{{{idx}}}"


def _at_draw(latent: str, idx: str) -> str:
    """A latent at draw `idx`: z -> z_{jk}, w[m0] -> w_{\\mathrm{m0},jk}, w[j] (component j's) -> w_{j,jk}."""
    m = re.fullmatch(r"(\w+)\[(.+)\]", latent)
    if m is None:
        return f"{latent}_{{{idx}}}"
    index = m.group(2) if m.group(2) == "j" else f"\\mathrm{{{m.group(2)}}}"
    return f"{m.group(1)}_{{{index},{idx}}}"


def as_json(program, leaf: ir.IWAE) -> dict:
    g = program.graph
    return {"kind": "iwae", "posterior": g.label(leaf.dist), "prior": g.label(leaf.prior) if leaf.prior is not None else None,
            "targets": list(leaf.targets), "k": leaf.k, "estimator": leaf.estimator, "form": leaf.form,
            "likelihood_weights": {t: g.modalities[t].weight for t in leaf.targets},
            "components": [{"name": g.label(c), "weight": a} for c, a in _components(g, leaf)]}
