"""Hierarchical latents: `normal(given=...)`, a Gaussian over one latent whose mean and variance are a
network of a draw of other latents (Nexus, Vasco et al. 2022). `given=` names latents or distributions
here; a network of given DATA (a CVAE's `given m1: ...`) is `encoder(given=m1)` (check/conditional.py).

    latent z[m]: 32                                   # lower latents, one per modality
    latent s: 32                                      # the top latent
    posterior q[m] = encoder(m) on z[m]
    posterior top[S in subsets(*)] = normal(given=mean m in S: sg(q[m]), message=10) on s   # q(s | msg(z_S))
    prior pz[m] = normal(given=s, hidden=[512], scale=1, link=sigmoid) on z[m]             # p(z_m | s)

    maximize ... + sum m: rec(top[(m0, m1)] -> sg(q[m])) - kl(top[(m0, m1)] || p)

What `given=` reads:
- a distribution (`sg(q[m])`, `q[m]`): the step's draw of it, the same draw every other term uses
  (a stop-gradient reads its member's draw, detached);
- `mean m: D[m]` (or `mean m in S: ...`): each draw mapped by its own message network (one per
  modality, `message=K` outputs) and the messages averaged (Nexus's aggregation);
- a latent (`s`): a free variable. A conditional prior p(z_m | s) is evaluated at a draw of s:
  `rec(top -> sg(q[m]))` scores q[m]'s draw under p(z_m | s) at top's draws of s; evaluation and
  generation draw s first, then z_m from p(z_m | s) (ancestral sampling).

Options: `message=K`, `hidden=[...]` (the MLP; MultiVae's default two layers of 512), `scale=c`
(a fixed standard deviation: only a mean head, MultiVae's Nexus top decoders use 1), and
`link=sigmoid` (the mean through a sigmoid, as MultiVae's default top decoder ends). A declaration
indexed by subsets (`top[S in subsets(*)]`) shares one network across its subsets: its per-modality
message networks make it valid for any subset. mmspec/lower/hierarchy.py builds and evaluates it.
"""
from __future__ import annotations

import re

from ..errors import did_you_mean, one_of
from ..model import ir
from ..model.graph import Conditional, Detached, ModelGraph, NetworkInstance
from ..model.notation import fmt, latent_condition, latent_conditioned, latex_latent, latex_name
from ..model.sets import Env
from ..syntax import ast

OPTIONS = ("message", "hidden", "scale", "link", "dropout")          # besides given=
LINKS = ("identity", "sigmoid")
DEFAULT_HIDDEN = (512, 512)           # MultiVae's Encoder_VAE_MLP: two hidden layers of 512

NORMAL_FORMS = ("normal() (N(0, I)), or normal(given=X, ...): a Gaussian whose mean and variance are a network "
                "of X (a latent or a distribution's draw), with options " + ", ".join(OPTIONS))
FUNCTION_GIVEN_HINT = ("a Gaussian whose mean and variance are a network of X is normal(given=X, ...); "
                       "`given NAME: KIND` (a statement) declares given data")
WHAT_IT_READS = ("a latent (normal(given=s)), a distribution's draw (normal(given=sg(q[m]))) or messages "
                 "(normal(given=mean m: sg(q[m]), message=10))")


def elaborate(elab, call: ast.Call, env: Env, owner: str | None, on) -> str:
    """`normal(given=X, ...)` -> a Conditional node key (called by the Elaborator)."""
    if owner is None:
        elab.fail("normal(given=...) creates trainable networks, so it must be the whole right-hand side of a "
                  "posterior or prior declaration", call,
                  hint="declare `prior pz[m] = normal(given=s) on z[m]` and use pz[m]")
    condition = call.kwarg("given")
    for item in condition.items if isinstance(condition, ast.Tuple) else [condition]:
        _not_given_data(elab, item)
    if not isinstance(on, str):
        elab.fail("normal(given=...) describes one latent: say which with `on`", call,
                  "e.g. `prior pz[m] = normal(given=s) on z[m]`")
    if call.args:
        elab.fail("normal(given=...) takes no positional argument: what it is conditioned on goes in given=",
                  call.args[0], WHAT_IT_READS)
    opts = _options(elab, call)
    inputs, senders, latents = _conditioning(elab, condition, env)
    message = elab.whole_number(opts["message"], env, "a message size") if "message" in opts else None
    if isinstance(condition, ast.BigOp) and message is None:
        elab.fail("mean m: ... averages messages: say their size", condition, "message=K, e.g. message=10")
    dropout = _dropout(elab, opts.get("dropout"), env, message)
    network = _network_name(owner)
    if network != owner and message is None:
        elab.fail("a declaration indexed by subsets shares one network across them, so it must read averaged "
                  "messages", call, "normal(given=mean m in S: sg(q[m]), message=K)")
    prior = elab.decls[owner.split("[")[0]].stmt.role == "prior"
    _no_cycle(elab, on, latents + tuple(l for k in inputs for l in elab.g.node_latents(k)), prior, call)
    node = Conditional(key=f"cond:{owner}", network=network, inputs=inputs, senders=senders, reads_latents=latents,
                       message=message, hidden=_hidden(elab, opts.get("hidden"), env),
                       scale=_scale(elab, opts.get("scale"), env), link=_link(elab, opts.get("link")),
                       dropout=dropout, latent=on)
    return elab.add_node(node, owner)


def plain_normal(elab, call: ast.Call) -> None:
    """normal() without given= is N(0, I): its options configure normal(given=...)'s network, so they are
    refused with what normal accepts."""
    if call.args:
        arg = call.args[0].id if isinstance(call.args[0], ast.Name) else "X"
        elab.fail("normal takes no positional argument", call.args[0], NORMAL_FORMS,
                  f"what a normal is conditioned on goes in given=: normal(given={arg}, ...)")
    for kw in call.kwargs:
        if kw.name in OPTIONS:
            elab.fail(f"{kw.name}= configures the network of normal(given=...): say what it reads with given=",
                      kw, NORMAL_FORMS)
        elab.fail(f"unknown option '{kw.name}' for normal", kw, NORMAL_FORMS,
                  did_you_mean(kw.name, ("given",) + OPTIONS))


def _options(elab, call: ast.Call) -> dict[str, ast.Expr]:
    opts = {}
    for kw in call.kwargs:
        if kw.name == "given":
            continue
        if kw.name not in OPTIONS:
            elab.fail(f"unknown option '{kw.name}' for normal(given=...)", kw, one_of(("given",) + OPTIONS),
                      did_you_mean(kw.name, OPTIONS))
        opts[kw.name] = kw.value
    return opts


def _conditioning(elab, arg: ast.Expr, env: Env) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(input distributions, their message senders, free latents) of the value of given=."""
    if isinstance(arg, ast.BigOp):
        if arg.kind != "mean":
            elab.fail("messages are averaged: write `mean m: ...`", arg, "mean m: sg(q[m])")
        values, _ = elab.domain(arg.domain, env)
        if not all(isinstance(v, str) for v in values):
            elab.fail("messages come one per modality: bind a modality", arg, "mean m: ... or mean m in S: ...")
        inputs = tuple(_draw(elab, arg.body, env.bind(arg.var, v)) for v in values)
        return inputs, tuple(values), ()
    items = arg.items if isinstance(arg, ast.Tuple) else [arg]
    inputs, latents = [], []
    for item in items:
        if _is_latent(elab, item):
            latents.append(elab.latent_ref(item, env, "in normal(given=...)"))
        else:
            inputs.append(_draw(elab, item, env))
    return tuple(inputs), tuple(elab.g.label(k) for k in inputs), tuple(latents)


def _not_given_data(elab, expr: ast.Expr) -> None:
    """normal(given=...) reads latents; a CVAE's given data (`given m1: ...`) is read by an encoder."""
    if isinstance(expr, ast.Name) and expr.id in elab.g.givens and expr.id not in elab.decls:
        elab.fail(f"'{expr.id}' is given data (`given {expr.id}: ...`), not a latent or a distribution: "
                  "normal(given=...) is a network of a draw of latents", expr,
                  hint=f"a distribution computed from given data is a joint encoder: encoder(given={expr.id}) "
                  f"(a learned prior p(z | x_{expr.id})) or encoder(m, given={expr.id})")


def _is_latent(elab, expr: ast.Expr) -> bool:
    g, decls = elab.g, elab.decls
    if isinstance(expr, ast.Name):
        if expr.id not in decls and expr.id not in g.latents:
            names = list(g.latents) + list(decls)
            elab.fail(f"unknown latent or distribution '{expr.id}'", expr, one_of(names), did_you_mean(expr.id, names))
        return expr.id not in decls
    return isinstance(expr, ast.Indexed) and expr.base in g.latents and expr.base not in decls


def _draw(elab, expr: ast.Expr, env: Env) -> str:
    """A distribution whose draw a network reads: sampled (not a mixture or a data-free prior)."""
    key = elab.dist(expr, env)
    node = elab.g.nodes[key]
    member = elab.g.nodes[node.member] if isinstance(node, Detached) else node
    if member.family not in ("gaussian", "laplace", "joint") or not elab.g.node_latents(key):
        elab.fail(f"normal(given=...) reads a draw of {elab.g.label(key)}, which has none to read", expr,
                  "a posterior over a declared latent, e.g. sg(q[m])")
    return key


def _network_name(owner: str) -> str:
    """`top[{m0,m1}]` -> `top` (a declaration indexed by subsets shares one network); else the owner."""
    m = re.fullmatch(r"(\w+)\[\{.*\}\]", owner)
    return m.group(1) if m else owner


def _hidden(elab, expr: ast.Expr | None, env: Env) -> tuple[int, ...]:
    if expr is None:
        return DEFAULT_HIDDEN
    items = expr.items if isinstance(expr, ast.ListLit) else [expr]
    return tuple(elab.whole_number(i, env, "a hidden size") for i in items)


def _scale(elab, expr: ast.Expr | None, env: Env) -> float | None:
    if expr is None:
        return None
    value = elab.number(expr, env)
    if not value > 0:
        elab.fail("a standard deviation must be positive", expr, "scale=1")
    return value


def _dropout(elab, expr: ast.Expr | None, env: Env, message: int | None) -> float:
    """Nexus's forced perceptual dropout rate: only for averaged messages, a probability."""
    if expr is None:
        return 0.0
    if message is None:
        elab.fail("dropout=... drops messages: it needs averaged messages", expr,
                  "normal(given=mean m: ..., message=K, dropout=r)")
    value = elab.number(expr, env)
    if not 0.0 <= value <= 1.0:
        elab.fail(f"a dropout rate is a probability; {value:g} is not in [0, 1]", expr, "dropout=0.2")
    return value


def _link(elab, expr: ast.Expr | None) -> str:
    if expr is None:
        return "identity"
    if not isinstance(expr, ast.Name) or expr.id not in LINKS:
        elab.fail("unknown link for the mean", expr, one_of(LINKS), did_you_mean(getattr(expr, "id", ""), LINKS))
    return expr.id


def latent_edges(g: ModelGraph, priors: bool | None = None) -> set[tuple[str, str]]:
    """Each latent a normal(given=...) reads -> the latent it describes (only the priors' or only the
    posteriors' when `priors` says which: the generative and the inference direction)."""
    edges = set()
    for key, node in g.nodes.items():
        if isinstance(node, Conditional) and (priors is None or (key in g.prior_keys) == priors):
            for source in node.reads_latents + tuple(l for k in node.inputs for l in g.node_latents(k)):
                edges.add((source, node.latent))
    return edges


def _no_cycle(elab, latent: str, reads: tuple[str, ...], prior: bool, call: ast.Call) -> None:
    """A latent may not be conditioned, directly or through other normal(given=...)s, on itself: the priors
    form a hierarchy, and so do the posteriors (which run the other way: bottom-up inference)."""
    edges = latent_edges(elab.g, prior)
    for start in reads:
        if start == latent:
            elab.fail(f"normal(given=...) on {latent} reads a draw of {latent} itself", call)
        path, seen, stack = None, set(), [(latent, [latent])]      # does `start` already depend on `latent`?
        while stack and path is None:
            here, trail = stack.pop()
            if here == start:
                path = trail
            elif here not in seen:
                seen.add(here)
                stack += [(b, trail + [b]) for a, b in edges if a == here]
        if path is not None:
            what = "prior" if prior else "posterior"
            elab.fail(f"a cycle between latents: this {what} conditions {latent} on {start}, which is already "
                      f"conditioned on {latent} ({' -> '.join(path + [latent])})", call,
                      hint=f"the {what}s form a hierarchy: each latent is conditioned only on latents above it")


def register_networks(graph: ModelGraph) -> None:
    """Each normal(given=...)'s networks, by declaration (stages select them by the declaration's name)."""
    for node in graph.nodes.values():
        if isinstance(node, Conditional):
            graph.networks[f"conditional.{node.network}"] = NetworkInstance(node.network, "conditional", (), node.hidden)


def conditional_prior(g: ModelGraph, latent: str, upper: tuple[str, ...]) -> str | None:
    """The declared prior over `latent` given (some of) the latents `upper`, if any."""
    for key in g.prior_keys:
        node = g.nodes[key]
        if (isinstance(node, Conditional) and node.latent == latent and node.reads_latents
                and set(node.reads_latents) <= set(upper)):
            return key
    return None


def is_latent_target(builder, expr: ast.Expr, env: Env) -> bool:
    """Is the right of `rec(q -> ...)` a distribution's draw (a latent target) rather than modalities?"""
    if isinstance(expr, ast.Call):
        return expr.func == "sg"
    if isinstance(expr, ast.Name):
        return expr.id not in env.bindings and expr.id not in builder.g.modalities and expr.id in builder.e.decls
    return isinstance(expr, ast.Indexed) and expr.base in builder.e.decls


def rec_term(builder, call: ast.Call, q: str, target_expr: ast.Expr, env: Env, k: int) -> ir.Term:
    """`rec(top -> sg(q[m]))`: E_{s~top}[log p(v | s)] at the draw v of q[m], p the conditional prior
    declared on q[m]'s latent given top's."""
    g = builder.g
    target = builder.e.dist(target_expr, env)
    lower, upper = g.node_latents(target), g.node_latents(q)
    if len(lower) != 1:
        builder.fail(f"rec(... -> {g.label(target)}) scores a draw of one latent; {g.label(target)} describes "
                     f"{', '.join(lower) or 'none'}", target_expr)
    if len(upper) != 1:
        builder.fail(f"rec({g.label(q)} -> ...) conditions on a draw of one latent; {g.label(q)} describes "
                     f"{', '.join(upper) or 'none'}", call, "a distribution over the latent the prior is given")
    prior = conditional_prior(g, lower[0], upper)
    if prior is None:
        builder.fail(f"no prior over {lower[0]} given {', '.join(upper)} to score {g.label(target)}'s draw with",
                     call, f"a prior declared `= normal(given={upper[0]}, ...) on {lower[0]}`",
                     "rec(q -> D) decodes D's latent with its conditional prior (docs/language.md, 'Hierarchical latents')")
    return ir.LeafTerm(ir.LatentRec(q, target, prior, k))


# ---- explain ------------------------------------------------------------------------------------

def definition(program, key: str) -> str | None:
    """A normal(given=...) as math (Unicode), or None for any other node."""
    g = program.graph
    node = g.nodes[key]
    if not isinstance(node, Conditional):
        return None
    f = f"f_{node.network}"
    args = ", ".join(node.reads_latents) or "·"
    if node.inputs:
        draws = [g.label(k) for k in node.inputs]
        args = (f"1/{len(draws)} Σ msg_m(draw of {', '.join(draws)}), msg_m an MLP {list(node.hidden)} -> "
                f"{node.message} per modality" if node.message else "draws of " + ", ".join(draws))
    mean = f"sigmoid({f}(…))" if node.link == "sigmoid" else f"{f}(…)"
    cov = f"{fmt(node.scale)}²·I" if node.scale is not None else "diag σ², log σ² a second head"
    drop = (f"; forced perceptual dropout {fmt(node.dropout)}: in training an item keeps, with that probability, "
            "the messages of a random 1 to n-1 of its n modalities only") if node.dropout else ""
    return f"N(μ, {cov}), μ = {mean}, {f} an MLP {list(node.hidden)} of {args}{drop}"


def latex_rows(program, key: str) -> list[str]:
    """An align* row defining a normal(given=...) node, or [] for any other node."""
    g = program.graph
    node = g.nodes[key]
    if not isinstance(node, Conditional):
        return []
    f = "f_{" + re.sub(r"(\w+)\[(\w+)\]", r"\\mathrm{\1}_{\\mathrm{\2}}", node.network.replace("_", "\\_")) + "}"
    if "[" not in node.network:
        f = "f_{\\mathrm{" + node.network.replace("_", "\\_") + "}}"
    arg = latent_condition(g, key, True) if not node.inputs else "\\cdot"          # the messages: on the left
    mean = f"\\operatorname{{sigmoid}}({f}({arg}))" if node.link == "sigmoid" else f"{f}({arg})"
    cov = f"{fmt(node.scale)}^2 I" if node.scale is not None else "\\operatorname{diag}\\sigma^2"
    drop = f"\\;[\\text{{forced dropout {fmt(node.dropout)}}}]" if node.dropout else ""
    return [f"{latent_conditioned(g, key, node.latent, True)} &= \\mathcal{{N}}\\big({mean},\\, {cov}\\big){drop} \\\\"]


def describe(program, leaf: ir.LatentRec, latex: bool = False) -> str:
    """`E_top[log pz[m0](z[m0] | s)], z[m0] = the draw of sg(q[m0])`: a LatentRec as math."""
    g = program.graph
    lower, upper = g.node_latents(leaf.target)[0], g.node_latents(leaf.dist)
    k = f" (K={leaf.k})" if leaf.k > 1 else ""
    detached = isinstance(g.nodes[leaf.target], Detached)
    if latex:
        v, given = latex_latent(lower), ", ".join(latex_latent(l) for l in upper)
        v_shown = f"\\mathrm{{sg}}[{v}]" if detached else v
        q = latex_name(g, leaf.dist)
        return (f"\\mathbb{{E}}_{{{q}}}\\left[\\log {latex_name(g, leaf.prior)}({v_shown} \\mid {given})\\right]{k}")
    v = f"sg({lower})" if detached else lower
    source = g.label(g.nodes[leaf.target].member) if detached else g.label(leaf.target)
    return (f"E_{g.label(leaf.dist)}[log {g.label(leaf.prior)}({v} | {', '.join(upper)})]{k}, "
            f"{lower} = the step's draw of {source}")


def as_json(program, leaf: ir.LatentRec) -> dict:
    g = program.graph
    return {"kind": "latent_rec", "posterior": g.label(leaf.dist), "target": g.label(leaf.target),
            "prior": g.label(leaf.prior), "k": leaf.k}


def family_notes(program, leaves) -> tuple[list[str], list[str]]:
    """`hierarchical` where an objective scores a lower latent's draw under a conditional prior."""
    g = program.graph
    found = [l for l in leaves if isinstance(l, ir.LatentRec)]
    if not found:
        return [], []
    edges = sorted(latent_edges(g, priors=True))
    shown = ", ".join(f"p({b} | {a})" for a, b in edges[:4]) + (f" and {len(edges) - 4} more" if len(edges) > 4 else "")
    tops = sorted({g.label(l.dist) for l in found})
    return ["hierarchical"], [f"latents conditioned on draws of other latents: {shown}; the top level "
                              f"({', '.join(tops[:2])}) is fitted to the lower latents' draws"]
