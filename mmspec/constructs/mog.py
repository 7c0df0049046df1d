"""A learned mixture-of-Gaussians prior: `prior p = mog(k=10)` (CMVAE's clusters, Palumbo et al. 2024).

    p(z) = Σ_c π_c N(z; μ_c, diag σ_c²),   π = softmax(ω),

with k components whose means μ_c ∈ R^D, log-scales log σ_c ∈ R^D and mixture logits ω ∈ R^k are
trainable (`learn=[means, scales, weights]`, all three by default; a part left out stays at its
initial value). Initial values follow CMVAE's code: μ_c uniform in [-1, 1], σ_c = 1, π uniform.
`family=laplace` makes the components Laplace(μ_c, σ_c) (CMVAE's default latent family).

The density is exact (log p(z) = logsumexp_c [log π_c + log p_c(z)]) but a KL to it has no closed
form: `kl(q || p, estimator=mc, k=K)`. The parameters belong to the declaration (parameter group
`prior_mixtures.NAME`; a stage names it by the declaration, `train p`), so `mog(...)` must be the
whole right-hand side of a declaration. mmspec/lower/mog.py evaluates it.
"""
from __future__ import annotations

from ..errors import did_you_mean, one_of
from ..model.graph import MixturePrior, ModelGraph, NetworkInstance
from ..model.notation import conditioned, fmt, latex_latent
from ..syntax import ast

FUNCS = ("mog",)
OPTIONS = ("k", "learn", "family", "scale")
PARTS = ("means", "scales", "weights")
FAMILIES = ("gaussian", "laplace")


def elaborate(elab, call: ast.Call, env, owner: str | None, on: str | None) -> str:
    """`mog(k=K, learn=[...], family=...)` -> a MixturePrior node key (called by the Elaborator)."""
    if owner is None:
        elab.fail("mog(...) creates trainable means, scales and weights, so it must be the whole right-hand "
                  "side of a prior declaration", call, hint="declare `prior p = mog(k=10)` and use p")
    if call.args:
        elab.fail("mog(...) takes named options only", call.args[0], "mog(k=10), mog(k=10, learn=[means, weights])")
    opts: dict[str, ast.Expr] = {}
    for kw in call.kwargs:
        if kw.name not in OPTIONS:
            elab.fail(f"unknown option '{kw.name}' for mog", kw, one_of(OPTIONS), did_you_mean(kw.name, OPTIONS))
        opts[kw.name] = kw.value
    if "k" not in opts:
        elab.fail("mog(...) needs its number of components", call, "k=K, e.g. mog(k=10)")
    k = elab.whole_number(opts["k"], env, "a number of components")
    learn = _learned(elab, opts.get("learn"))
    family = ast.word_option(opts, "family", FAMILIES, "gaussian", elab.fail, "component family for mog")
    scale = elab.number(opts["scale"], env) if "scale" in opts else 1.0
    if scale <= 0:
        elab.fail("a scale must be positive", opts["scale"])
    latent = on or elab.latent_for(None, owner, call)
    node = MixturePrior(key=f"mog:{owner}", owner=owner, components=k, learn=learn, component_family=family,
                        scale=scale, latent=latent)
    return elab.add_node(node, owner)


def _learned(elab, expr: ast.Expr | None) -> tuple[str, ...]:
    if expr is None:
        return PARTS
    items = expr.items if isinstance(expr, ast.ListLit) else [expr]
    out = []
    for item in items:
        name = item.id if isinstance(item, ast.Name) else None
        if name not in PARTS:
            elab.fail("unknown part of a mixture to learn", item, one_of(PARTS), did_you_mean(str(name), PARTS))
        if name in out:
            elab.fail(f"'{name}' is listed twice", item)
        out.append(name)
    return tuple(p for p in PARTS if p in out)


def register_networks(graph: ModelGraph) -> None:
    """Each learned mixture prior's parameters, by declaration, so stages can select and freeze them."""
    for node in graph.nodes.values():
        if isinstance(node, MixturePrior):
            graph.networks[f"prior_mixture.{node.owner}"] = NetworkInstance(node.owner, "prior_mixture", ())


# ---- explain ------------------------------------------------------------------------------------

def definition(program, key: str) -> str | None:
    """A mixture prior as math (Unicode), or None for any other node."""
    node = program.graph.nodes[key]
    if not isinstance(node, MixturePrior):
        return None
    comp = "N(z; μ_c, diag σ_c²)" if node.component_family == "gaussian" else "Laplace(z; μ_c, σ_c)"
    fixed = [p if p != "scales" else f"scales (σ_c = {fmt(node.scale, 10)})" for p in PARTS if p not in node.learn]
    return (f"Σ_c π_c {comp}, c = 1..{node.components}, π = softmax(ω); learned: "
            f"{', '.join(node.learn) or 'nothing'}" + (f"; fixed: {', '.join(fixed)}" if fixed else "")
            + "; log density exact (log-sum-exp over components)")


def latex_rows(program, key: str) -> list[str]:
    """align* rows defining a mixture prior, or [] for any other node."""
    node = program.graph.nodes[key]
    if not isinstance(node, MixturePrior):
        return []
    z = latex_latent(node.latent or "z")
    comp = (f"\\mathcal{{N}}\\big({z}; \\mu_c, \\operatorname{{diag}}\\sigma_c^2\\big)" if node.component_family == "gaussian"
            else f"\\operatorname{{Laplace}}\\big({z}; \\mu_c, \\sigma_c\\big)")
    learned = ", ".join(node.learn) or "nothing"
    return [f"{conditioned(program, key, True)} &= \\sum_{{c=1}}^{{{node.components}}} \\pi_c\\, {comp}, \\\\",
            f"  &\\quad \\pi = \\operatorname{{softmax}}(\\omega)\\;[\\text{{learned: {learned}}}] \\\\"]
