"""Normalizing-flow distributions: `flow(BASE, transforms=T, hidden=[...])` (JNF's unimodal posteriors).

    posterior q[m]  = encoder(m)
    posterior qf[m] = flow(q[m], transforms=2, hidden=[128, 128, 128])

z = T^{-1}(z0) with z0 ~ BASE (a Gaussian or Laplace distribution: an encoder, a product of experts,
N(0, I), ...) and T = T_n ∘ ... ∘ T_1 a stack of masked autoregressive affine transforms (zuko's MAF,
Papamakarios et al. 2017; the order of the latent's coordinates reversed between transforms). The
density is exact by the change of variables,

    log q(z) = log BASE(T(z)) + log |det ∂T/∂z|,

and costs one pass of each transform; a sample costs D passes (the autoregressive inverse). A KL
with a flow has no closed form: it is estimated by Monte Carlo (`estimator=mc, k=K`).

The transforms are trainable weights owned by the declaration (parameter group `flows.NAME`, also
reached through the declaration's name in a stage: `train qf[*]`), so a flow must be the whole
right-hand side of a posterior or prior declaration. mmspec/lower/flows.py builds and evaluates it.
"""
from __future__ import annotations

from ..errors import did_you_mean, one_of
from ..model.graph import Flow, ModelGraph, NetworkInstance
from ..model.notation import conditioned, fmt
from ..syntax import ast

FUNCS = ("flow",)
OPTIONS = ("transforms", "hidden")
DEFAULT_TRANSFORMS = 2                  # MultiVae's default MAF (pythae: 2 MADE blocks ...)
DEFAULT_HIDDEN = (128, 128, 128)        # ... of 3 hidden layers of 128 units)
BASE_FAMILIES = ("gaussian", "laplace")


def elaborate(elab, call: ast.Call, env, owner: str | None, on: str | None) -> str:
    """`flow(BASE, ...)` -> a Flow node key (called by the Elaborator)."""
    if owner is None:
        elab.fail("flow(...) creates trainable transforms, so it must be the whole right-hand side of a "
                  "posterior or prior declaration", call, hint="declare `posterior qf[m] = flow(q[m])` and use qf[m]")
    if len(call.args) != 1:
        elab.fail("flow takes one base distribution", call, "flow(q[m], transforms=2), flow(encoder(m))")
    opts: dict[str, ast.Expr] = {}
    for kw in call.kwargs:
        if kw.name not in OPTIONS:
            elab.fail(f"unknown option '{kw.name}' for flow", kw, one_of(OPTIONS), did_you_mean(kw.name, OPTIONS))
        opts[kw.name] = kw.value
    base = elab.dist(call.args[0], env, owner=owner, on=on)
    if elab.g.label(base) == owner:         # an encoder written inline: name it apart from the flow
        elab.g.display[base] = f"{owner}_base"
    family = elab.g.nodes[base].family
    if family not in BASE_FAMILIES:
        what = "a mixture" if family == "mixture" else f"a {family} distribution"
        elab.fail(f"the base of a flow must be a Gaussian or Laplace distribution; {elab.g.label(base)} is {what}",
                  call.args[0], "an encoder, a product of experts, normal(), or another Gaussian posterior")
    transforms = (elab.whole_number(opts["transforms"], env, "a number of transforms")
                  if "transforms" in opts else DEFAULT_TRANSFORMS)
    hidden = _hidden(elab, opts.get("hidden"), env)
    latent = on or elab.g.nodes[base].latent
    node = Flow(key=f"flow:{owner}", base=base, network=owner, transforms=transforms, hidden=hidden, latent=latent)
    return elab.add_node(node, owner)


def _hidden(elab, expr: ast.Expr | None, env) -> tuple[int, ...]:
    if expr is None:
        return DEFAULT_HIDDEN
    items = expr.items if isinstance(expr, ast.ListLit) else [expr]
    if not items:
        elab.fail("hidden=[] gives the transforms' networks no hidden layer", expr, "hidden=[128, 128]")
    return tuple(elab.whole_number(i, env, "a hidden size") for i in items)


def register_networks(graph: ModelGraph) -> None:
    """Each flow's transforms, by declaration, so stages can select and freeze them (keyed apart from the
    declaration's encoder: `qj = flow(encoder(*))` owns both a joint encoder and transforms named qj)."""
    for node in graph.nodes.values():
        if isinstance(node, Flow):
            graph.networks[f"flow.{node.network}"] = NetworkInstance(node.network, "flow", (), node.hidden)


# ---- explain ------------------------------------------------------------------------------------

def definition(program, key: str) -> str | None:
    """A flow as math (Unicode), or None for any other node."""
    node = program.graph.nodes[key]
    if not isinstance(node, Flow):
        return None
    base = program.graph.label(node.base)
    return (f"flow: z = T⁻¹(z0), z0 ~ {conditioned(program, node.base)}, "
            f"T = {node.transforms} masked autoregressive affine transforms (MAF, hidden {list(node.hidden)}); "
            f"log density exact: log {base}(T(z)) + log|det ∂T/∂z|")


def latex_rows(program, key: str) -> list[str]:
    """align* rows defining a flow (change of variables), or [] for any other node."""
    node = program.graph.nodes[key]
    if not isinstance(node, Flow):
        return []
    base = conditioned(program, node.base, True).rsplit("(", 1)[0]
    t = f"T_{{{_latex_name(program.graph.label(key))}}}"
    return [f"\\log {conditioned(program, key, True)} &= \\log {base}\\big({t}(z)\\big) + "
            f"\\log\\Big|\\det \\tfrac{{\\partial {t}}}{{\\partial z}}\\Big| \\\\",
            f"  &\\quad {t} = \\text{{{node.transforms} MAF transforms, hidden {fmt(list(node.hidden))}}} \\\\"]


def _latex_name(label: str) -> str:
    return label.replace("_", "\\_").replace("[", "_{\\mathrm{").replace("]", "}}")
