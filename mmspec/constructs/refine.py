"""Posteriors computed by gradient steps: `refine(...)` (MIAI) and `gradient_origin(...)` (SMVGON).

    posterior r[m] = refine(poe(p, q[m]), maximize=elbo(r[m] -> *), steps=8, eval_steps=16,
                            grad=detached, loss=mean)
    posterior g    = gradient_origin(maximize=elbo(g -> *))

Inside `maximize=` (or `minimize=`) the declared name stands for the posterior at the current
iterate: r[m] at step t (mean mu_t, log-variance), g at the origin z0. The objective is an ordinary
objective expression, so it may read modalities the refined posterior's own encoder does not see
(MIAI's point: a unimodal posterior refined with the gradient of the multimodal ELBO).

This module elaborates both constructs into graph nodes (graph.Refined, graph.GradientOrigin);
mmspec/explain/refine.py prints them and mmspec/lower/refine.py computes them.
"""
from __future__ import annotations

from ..errors import did_you_mean, one_of
from ..model import ir
from ..model.graph import GradientOrigin, Iterate, ModelGraph, NetworkInstance, Refined, closure
from ..syntax import ast

FUNCS = ("refine", "gradient_origin")
REFINE_OPTIONS = ("maximize", "minimize", "steps", "eval_steps", "grad", "loss", "hidden")
ORIGIN_OPTIONS = ("maximize", "minimize")
GRAD_MODES = ("detached", "through")
LOSS_MODES = ("mean", "final")
DEFAULT_HIDDEN = 256


def elaborate(elab, call: ast.Call, env, owner: str | None, on: str | None) -> str:
    """`refine(...)` or `gradient_origin(...)` -> a node key (called by the Elaborator)."""
    if owner is None:
        elab.fail(f"{call.func}(...) creates trainable weights, so it must be the whole right-hand side of a "
                  "posterior declaration", call, hint=f"declare `posterior r = {call.func}(...)` and use r")
    allowed = REFINE_OPTIONS if call.func == "refine" else ORIGIN_OPTIONS
    opts: dict[str, ast.Expr] = {}
    for kw in call.kwargs:
        if kw.name not in allowed:
            elab.fail(f"unknown option '{kw.name}' for {call.func}", kw, one_of(allowed), did_you_mean(kw.name, allowed))
        opts[kw.name] = kw.value
    if "maximize" in opts and "minimize" in opts:
        elab.fail(f"{call.func}(...) follows one objective: give maximize= or minimize=, not both", opts["minimize"])
    if "maximize" not in opts and "minimize" not in opts:
        elab.fail(f"{call.func}(...) needs the objective its gradient steps follow", call,
                  f"maximize=TERM (or minimize=TERM), e.g. maximize=elbo({owner} -> *)")
    direction = "maximize" if "maximize" in opts else "minimize"
    if call.func == "refine":
        return _refine(elab, call, env, owner, on, opts, direction)
    if call.args:
        elab.fail("gradient_origin(...) starts from z0 = 0: it takes no positional argument", call.args[0])
    return _origin(elab, call, env, owner, on, opts, direction)


def _refine(elab, call, env, owner, on, opts, direction) -> str:
    if len(call.args) != 1:
        elab.fail("refine takes the posterior to start from", call, f"refine(q[m], maximize=elbo({owner} -> *))")
    init = elab.dist(call.args[0], env)
    if elab.g.nodes[init].family != "gaussian":
        elab.fail(f"refine updates a Gaussian's mean and log-variance; {elab.g.label(init)} is "
                  f"{elab.g.nodes[init].family}", call.args[0])
    latent = on or elab.g.nodes[init].latent
    iterate = elab.add_node(Iterate(key=f"iterate:{owner}", owner=owner, members=(init,), latent=latent), f"{owner}ᵗ")
    objective, uses, reads = _objective(elab, env, owner, iterate, opts[direction])
    steps = _count(elab, opts, "steps", env, None, call)
    eval_steps = _count(elab, opts, "eval_steps", env, steps, call)
    hidden = _count(elab, opts, "hidden", env, DEFAULT_HIDDEN, call)
    grad = ast.word_option(opts, "grad", GRAD_MODES, "detached", elab.fail, "mode for refine")
    loss = ast.word_option(opts, "loss", LOSS_MODES, "mean", elab.fail, "mode for refine")
    inputs = tuple(m for m in elab.modality_names if m in elab.g.sees(init))
    node = Refined(key=f"refine:{owner}", init=init, iterate=iterate, objective=objective, direction=direction,
                   steps=steps, eval_steps=eval_steps, grad=grad, loss=loss, network=owner, inputs=inputs,
                   hidden=hidden, members=(init,) + tuple(u for u in uses if u != init),
                   reads=elab.g.sees(init) | reads, latent=latent)
    return elab.add_node(node, owner)


def _origin(elab, call, env, owner, on, opts, direction) -> str:
    latent = on or elab.latent_for(None, owner, call)
    iterate = elab.add_node(Iterate(key=f"iterate:{owner}", owner=owner, latent=latent), f"{owner}(z0)")
    objective, uses, reads = _objective(elab, env, owner, iterate, opts[direction])
    node = GradientOrigin(key=f"origin:{owner}", iterate=iterate, objective=objective, direction=direction,
                          network=owner, members=tuple(uses), reads=reads, latent=latent)
    return elab.add_node(node, owner)


def _objective(elab, env, owner: str, iterate: str, expr: ast.Expr):
    """The objective term with the declared name standing for the iterate; the distributions it
    reads besides the iterate, and the modalities it reads."""
    with elab.standing_for(owner, iterate):
        term = elab.objective_term(expr, env)
    if any(t.scheduled for t in ir.Objective("refine", "maximize", term).linear_terms()):
        elab.fail("the objective inside refine(...) cannot use a scheduled param: its weights must be fixed", expr)
    leaves = ir.Objective("refine", "maximize", term).leaves()
    dists = [d for leaf in leaves for d in leaf.distributions()]
    if iterate not in closure(elab.g, dists):
        elab.fail(f"this objective never reads {owner}, so its gradient with respect to {owner} is zero", expr,
                  hint=f"write the objective in terms of {owner} itself, e.g. elbo({owner} -> *)")
    reads: frozenset[str] = frozenset()
    for leaf in leaves:
        reads |= frozenset(d.target for d in leaf.decoded())
    for d in dists:
        if d != iterate:
            reads |= elab.g.sees(d)
    uses = [d for d in dists if iterate not in closure(elab.g, [d])]      # what can be computed before step 0
    return term, tuple(dict.fromkeys(uses)), reads


def _count(elab, opts, name, env, default, call) -> int:
    if name not in opts:
        if default is None:
            elab.fail(f"refine needs its number of {name}", call, f"{name}=T, e.g. steps=8")
        return default
    return elab.whole_number(opts[name], env, name)


def require_refinement(elab, item: ast.Expr) -> None:
    """`evaluate refinement_curve` plots refined posteriors, so the spec must declare one."""
    if not any(isinstance(n, Refined) for n in elab.g.nodes.values()):
        elab.fail("refinement_curve plots the ELBO against refinement steps, and this spec refines no posterior",
                  item, "a posterior declared with refine(...), e.g. `posterior r[m] = refine(poe(p, q[m]), "
                  "maximize=elbo(r[m] -> *), steps=8)`")


def register_networks(graph: ModelGraph) -> None:
    """The update networks and gradient-origin heads, as named network instances (for stages)."""
    for node in graph.nodes.values():
        if isinstance(node, Refined):
            graph.networks[node.network] = NetworkInstance(node.network, "refiner", node.inputs, (node.hidden,))
        elif isinstance(node, GradientOrigin):
            graph.networks[node.network] = NetworkInstance(node.network, "gradient_origin", ())
