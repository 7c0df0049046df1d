"""Ladders: a top-down hierarchy of latents whose posterior is built level by level from bottom-up
skip features (the ladder VAE's inference, Sønderby et al. 2016; multimodal, with a product of
experts at every level, in MHVAE, Dorent et al. 2023, MultiVae's MHVAE).

    latent z1: 32                                    # the bottom level: what the decoders read
    latent z2: 32
    latent z3: 32                                    # the top level
    prior p = ladder(z3, z2, z1, hidden=[512])       # p(z3) p(z2 | z3) p(z1 | z2)
    posterior q[S in subsets(*)] = ladder(p, S, width=512)

The prior: N(0, I) on the first latent listed (the top), then p(z_l | z_{l+1}) = N(g_l(h_l)),
h_l = t_l(z_{l+1}) the level's top-down state (t_l an MLP of `hidden` layers, g_l Gaussian heads).

The posterior of a ladder prior given modalities S: each modality's encoder body (its `net`) gives a
feature d_m^1, bottom-up blocks (a linear layer of `width` and a ReLU each) give d_m^2 .. d_m^{L-1},
and a last block Gaussian heads on the top latent. Then, top down,

    q(z_L | X_S)          = p(z_L)            · Π_{m ∈ S} N(e_m(d_m^{L-1}))
    q(z_l | X_S, z_{l+1}) = p(z_l | z_{l+1})  · Π_{m ∈ S} N(f_l([h_l, d_m^l]))

with h_l the prior's own top-down state at the draw of z_{l+1} (shared by prior and posterior, as
MHVAE shares it) and f_l an MLP of `hidden` layers and Gaussian heads, one per level for every
modality (`experts=shared`, the default) or one per level and modality (`experts=per_modality`).

`kl(q[S] || p)` is Σ_l KL(q(z_l | X_S, z_{l+1}) || p(z_l | z_{l+1})) in closed form at one draw of
the levels above (the top level: at none), MHVAE's estimator; `rec(q[S] -> *)` decodes the draw of
the latents the decoders read. mmspec/lower/ladder.py builds and evaluates it.
"""
from __future__ import annotations

import re

from ..errors import did_you_mean, one_of
from ..model import ir
from ..model.graph import LadderPosterior, LadderPrior, ModelGraph, NetworkInstance
from ..model.notation import latex_latent, latex_name
from ..syntax import ast

FUNCS = ("ladder",)
PRIOR_OPTIONS = ("hidden",)
POSTERIOR_OPTIONS = ("width", "hidden", "experts")
EXPERTS = ("shared", "per_modality")
DEFAULT_TOP_DOWN = (512,)
DEFAULT_WIDTH = 512
FORMS = ("ladder(z3, z2, z1, hidden=[...]) (a prior over latents listed top first) or "
         "ladder(p, S, width=W, hidden=[...], experts=shared|per_modality) (its posterior given modalities S)")


def elaborate(elab, call: ast.Call, env, owner: str | None, on) -> str:
    """`ladder(...)` -> a LadderPrior or LadderPosterior node key (called by the Elaborator)."""
    if owner is None:
        elab.fail("ladder(...) creates trainable networks, so it must be the whole right-hand side of a "
                  "prior or posterior declaration", call, FORMS)
    if on is not None:
        elab.fail("a ladder describes the latents it lists (its prior's): it cannot be put `on` one", call)
    if not call.args:
        elab.fail("ladder(...) needs its latents (a prior) or its prior and modalities (a posterior)", call, FORMS)
    role = elab.decls[owner.split("[")[0]].stmt.role
    first = call.args[0]
    if role == "prior":
        return _prior(elab, call, env, owner)
    if not (isinstance(first, ast.Name) and first.id in elab.decls):
        elab.fail("a ladder posterior is built on a ladder prior: name it first", first,
                  "ladder(p, S) with `prior p = ladder(z3, z2, z1)`")
    return _posterior(elab, call, env, owner)


def _prior(elab, call: ast.Call, env, owner: str) -> str:
    opts = _options(elab, call, PRIOR_OPTIONS, "a ladder prior")
    if not elab.g.has_layout:
        elab.fail("a ladder describes several latents: each decoder says which it reads", call,
                  hint="add `, from z1` (the bottom latent) to each modality (docs/language.md, 'Ladders')")
    latents = []
    for arg in call.args:
        latent = elab.latent_ref(arg, env, "in a ladder prior (its latents, top first)")
        if latent in latents:
            elab.fail(f"{latent} appears twice in this ladder", arg)
        latents.append(latent)
    if len(latents) < 2:
        elab.fail("a ladder has at least two levels", call, "ladder(z2, z1): z2 the top, z1 the bottom")
    hidden = _layers(elab, opts.get("hidden"), env, DEFAULT_TOP_DOWN)
    node = LadderPrior(key=f"ladder:{owner}", owner=owner, latents=tuple(latents), hidden=hidden)
    return elab.add_node(node, owner)


def _posterior(elab, call: ast.Call, env, owner: str) -> str:
    opts = _options(elab, call, POSTERIOR_OPTIONS, "a ladder posterior")
    prior = elab.dist(call.args[0], env)
    node = elab.g.nodes[prior]
    if not isinstance(node, LadderPrior):
        elab.fail(f"{elab.g.label(prior)} is not a ladder prior", call.args[0],
                  "a prior declared `= ladder(z3, z2, z1, ...)`")
    if len(call.args) != 2:
        elab.fail("a ladder posterior takes its prior and the modalities it reads", call, "ladder(p, S)")
    modalities = elab.modality_set(call.args[1], env)
    for m in modalities:
        if m in elab.g.givens:
            elab.fail(f"'{m}' is given data: a ladder's experts read modalities", call.args[1])
    width = elab.whole_number(opts["width"], env, "a width") if "width" in opts else DEFAULT_WIDTH
    experts = ast.word_option(opts, "experts", EXPERTS, "shared", elab.fail, "posterior blocks for a ladder")
    network = re.sub(r"\[\{.*\}\]$", "", owner)      # a declaration indexed by subsets shares its networks
    posterior = LadderPosterior(key=f"ladder:{owner}", network=network, prior=prior, modalities=tuple(modalities),
                                latents=node.latents, width=width,
                                hidden=_layers(elab, opts.get("hidden"), env, ()), shared=experts == "shared")
    return elab.add_node(posterior, owner)


def _options(elab, call: ast.Call, allowed: tuple[str, ...], what: str) -> dict[str, ast.Expr]:
    opts = {}
    for kw in call.kwargs:
        if kw.name not in allowed:
            elab.fail(f"unknown option '{kw.name}' for {what}", kw, one_of(allowed), did_you_mean(kw.name, allowed))
        opts[kw.name] = kw.value
    return opts


def _layers(elab, expr: ast.Expr | None, env, default: tuple[int, ...]) -> tuple[int, ...]:
    if expr is None:
        return default
    items = expr.items if isinstance(expr, ast.ListLit) else [expr]
    return tuple(elab.whole_number(i, env, "a layer width") for i in items)


def register_networks(graph: ModelGraph) -> None:
    """Each ladder declaration's networks (the prior's top-down ones; a posterior's bottom-up ones)."""
    for node in graph.nodes.values():
        if isinstance(node, LadderPrior):
            graph.networks[f"ladder.{node.owner}"] = NetworkInstance(node.owner, "ladder", (), node.hidden)
        elif isinstance(node, LadderPosterior):
            name = f"ladder.{node.network}"
            seen = graph.networks[name].modalities if name in graph.networks else ()
            modalities = tuple(m for m in graph.modalities if m in set(seen) | set(node.modalities))
            graph.networks[name] = NetworkInstance(node.network, "ladder", modalities, node.hidden)


def refuse_inside(checker, keys, node: ast.Node, what: str) -> None:
    """A ladder is drawn level by level and has no density of one Gaussian: it is used whole, in
    rec(q -> ...) and kl(q || p), not inside products, mixtures, stop-gradients or importance weights."""
    for key in keys:
        if checker.g.nodes[key].family == "ladder":
            checker.fail(f"{checker.g.label(key)} is a ladder, which is used whole (rec(q -> ...), kl(q || p)), "
                         f"not inside {what}", node)


def check_kl(builder, q: str, p: str, node: ast.Node) -> bool:
    """kl(q || p) with a ladder on either side: q a ladder posterior and p its own prior, in closed form
    per level (True); False when neither is a ladder."""
    g = builder.g
    nq, np_ = g.nodes[q], g.nodes[p]
    if not isinstance(nq, (LadderPrior, LadderPosterior)) and not isinstance(np_, (LadderPrior, LadderPosterior)):
        return False
    if not (isinstance(nq, LadderPosterior) and nq.prior == p):
        builder.fail("a KL with a ladder compares a ladder posterior with the ladder prior it is built on",
                     node, f"kl(q[S] || p) with `posterior q[S in subsets(*)] = ladder(p, S)`")
    return True


# ---- explain ------------------------------------------------------------------------------------

def levels(g: ModelGraph, key: str) -> int:
    """How many draws (and divergences) one draw (KL) of `key` is: a ladder's levels, else 1."""
    node = g.nodes[key]
    return len(node.latents) if isinstance(node, LadderPosterior) else 1


def encoder_bodies(g: ModelGraph, keys) -> set[str]:
    """The encoder bodies the ladder posteriors among `keys` run, one per (declaration, modality)."""
    return {f"{g.nodes[k].network}.{m}" for k in keys if isinstance(g.nodes[k], LadderPosterior)
            for m in g.nodes[k].modalities}


def products(g: ModelGraph, keys) -> int:
    """A ladder posterior is a product of experts at every level."""
    return sum(levels(g, k) for k in keys if isinstance(g.nodes[k], LadderPosterior))


def family_notes(program, leaves) -> tuple[list[str], list[str]]:
    g = program.graph
    found = sorted({l.q for l in leaves if isinstance(l, ir.KL) and isinstance(g.nodes[l.q], LadderPosterior)})
    if not found:
        return [], []
    chain = " -> ".join(g.nodes[found[0]].latents)
    return ["hierarchical (ladder)"], [f"latents drawn top down ({chain}); each level's posterior is the product "
                                       "of its conditional prior and the modalities' experts on skip features"]


def _levels(node) -> list[tuple[str, str]]:
    """(latent, the latent above it) from the second level down."""
    return list(zip(node.latents[1:], node.latents[:-1]))


def definition(program, key: str) -> str | None:
    """A ladder as math (Unicode), or None for any other node."""
    g = program.graph
    node = g.nodes[key]
    if isinstance(node, LadderPrior):
        rows = ["·".join(f"p({z}{' | ' + u if u else ''})" for z, u in zip(node.latents, (None,) + node.latents[:-1]))
                + f": p({node.latents[0]}) = N(0, I)"]
        rows += [f"p({z} | {u}) = N(g_{z}(h_{z})), h_{z} = t_{z}({u}) (t an MLP {list(node.hidden)})"
                 for z, u in _levels(node)]
        return rows[0] + "; " + "; ".join(rows[1:])
    if isinstance(node, LadderPosterior):
        p = g.label(node.prior)
        ms = ", ".join(node.modalities)
        top = node.latents[0]
        blocks = "one per level" if node.shared else "one per level and modality"
        over = f"Π_{{m ∈ {{{ms}}}}}"
        rows = [f"q({top} | {ms}) = {p}({top})·{over} N(e_m(d_m^{len(node.latents) - 1}))"]
        rows += [f"q({z} | {ms}, {u}) = {p}({z} | {u})·{over} N(f_{z}([h_{z}, d_m^{len(node.latents) - 1 - i}]))"
                 for i, (z, u) in enumerate(_levels(node))]
        rows.append(f"d_m^1 the body of m's net, each further d_m a linear layer of {node.width} and a ReLU; "
                    f"f an MLP {list(node.hidden)} with Gaussian heads, {blocks}; h the prior's top-down state")
        return "; ".join(rows)
    return None


def latex_rows(program, key: str) -> list[str]:
    """align* rows defining a ladder, or [] for any other node."""
    g = program.graph
    node = g.nodes[key]
    if not isinstance(node, (LadderPrior, LadderPosterior)):
        return []
    name, top = latex_name(g, key), latex_latent(node.latents[0])
    if isinstance(node, LadderPrior):
        rows = [f"{name}({top}) &= \\mathcal{{N}}(0, I) \\\\"]
        rows += [f"{name}({latex_latent(z)} \\mid {latex_latent(u)}) &= \\mathcal{{N}}\\big(g_{{{latex_latent(z)}}}"
                 f"(t_{{{latex_latent(z)}}}({latex_latent(u)}))\\big) \\\\" for z, u in _levels(node)]
        return rows
    p = latex_name(g, node.prior)
    given = "x_{\\mathrm{" + ",".join(m.replace("_", "\\_") for m in node.modalities) + "}}"
    top_level = len(node.latents) - 1
    rows = [f"{name}({top} \\mid {given}) &= {p}({top}) \\textstyle\\prod_m \\mathcal{{N}}(e_m(d_m^{{{top_level}}})) \\\\"]
    for i, (z, u) in enumerate(_levels(node)):
        zl, ul = latex_latent(z), latex_latent(u)
        rows.append(f"{name}({zl} \\mid {given}, {ul}) &= {p}({zl} \\mid {ul}) \\textstyle\\prod_m "
                    f"\\mathcal{{N}}(f_{{{zl}}}[t_{{{zl}}}({ul}), d_m^{{{top_level - i}}}]) \\\\")
    return rows


def describe_kl(program, q: str, p: str, latex: bool = False) -> str:
    """Σ over levels of closed-form KLs at one draw of the level above."""
    g = program.graph
    node = g.nodes[q]
    if latex:
        qn, pn = latex_name(g, q), latex_name(g, p)
        return ("\\textstyle\\sum_l \\mathrm{KL}\\left(" + qn + "(z_l | \\cdot) \\,\\|\\, " + pn
                + "(z_l | z_{l+1})\\right)\\;[\\text{closed form}]")
    levels = " + ".join(f"KL({g.label(q)}({z}{' | ' + u if u else ''}) || {g.label(p)}({z}{' | ' + u if u else ''}))"
                        for z, u in zip(node.latents, (None,) + node.latents[:-1]))
    return f"{levels} (each closed form, at one draw of the level above)"


__all__ = ["FUNCS", "elaborate", "register_networks", "definition", "latex_rows", "describe_kl", "check_kl"]
