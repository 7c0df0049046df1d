"""`explain` for posteriors computed by gradient steps (mmspec/constructs/refine.py): the update as math in
Unicode, LaTeX and JSON, their place in the model family, and what they add to the cost of a step.

The inner objective is printed from the same IR the lowering differentiates (mmspec/lower/refine.py).
"""
from __future__ import annotations

from ..model import ir
from ..model.graph import GradientOrigin, Iterate, Refined, closure
from ..model.notation import conditioned, fmt
from . import latex
from .leaves import leaf_text

GRAD_TEXT = {"detached": "gradients detached (first order, the reference implementation)",
             "through": "differentiated through the gradients (second order, create_graph)"}
LOSS_TEXT = {"mean": "while training, each term of {name} itself is averaged over the iterates t = 1..T",
             "final": "while training, terms of {name} read the final iterate t = T"}


def is_iterative(node) -> bool:
    return isinstance(node, (Iterate, Refined, GradientOrigin))


def inner_terms(node) -> list[ir.LinearTerm]:
    return ir.Objective("inner", node.direction, node.objective).linear_terms()


def objective_text(program, node) -> str:
    """The inner objective, expanded: `1·E_r[mnist]ᵗ[log p(x_mnist | z)] − 1·KL(...)` (LaTeX: latex.terms)."""
    out = []
    for i, t in enumerate(inner_terms(node)):
        sign = "-" if t.coefficient < 0 else ("+" if i else "")
        sg = " (stop-gradient)" if t.detached else ""
        out.append(f"{sign} {fmt(abs(t.coefficient))}·{leaf_text(program, t.leaf)}{sg}".strip())
    return " ".join(out)


def definition(program, key: str) -> str:
    """The distribution as math (Unicode), several lines for the refinement."""
    g = program.graph
    node = g.nodes[key]
    if isinstance(node, Iterate):
        return (f"the iterate of {node.owner} at which its objective's gradient is taken "
                f"({'step t of the refinement' if node.members else 'the origin z0 = 0'})")
    pad = "\n      "
    L = f"L({g.label(node.iterate)})"
    obj = f"{L} = {objective_text(program, node)}   ({node.direction}d)"
    if isinstance(node, GradientOrigin):
        return (f"N(μ(z0'), diag exp lv(z0')) with trainable linear heads μ, lv (origins.{node.network})"
                f"{pad}z0 = 0,  z0' = z0 + ∇_z0 {L},  {g.label(node.iterate)} = N(μ(z0), diag exp lv(z0))"
                f"{pad}{obj}"
                f"{pad}training backpropagates through the gradient step (second order, create_graph)")
    xs = ", ".join(f"x_{m}" for m in node.inputs)
    return (f"{g.label(node.init)} refined by T = {node.steps} gated steps (evaluation: T = {node.eval_steps})"
            f"{pad}μ_t+1 = g_μ ⊙ μ_t + (1 − g_μ) ⊙ μ̃,  log σ_t+1 = g_σ ⊙ log σ_t + (1 − g_σ) ⊙ log σ̃,  "
            f"μ̃, log σ̃ = tanh(·), g = sigmoid(·)"
            f"{pad}update network refiners.{node.network} (hidden {node.hidden}) reads "
            f"{xs + ', ' if xs else ''}μ_t, log σ_t, LN(∇_μ L), LN(∇_log σ L); {GRAD_TEXT[node.grad]}"
            f"{pad}{obj}"
            f"{pad}{LOSS_TEXT[node.loss].format(name=g.label(key))}")


def latex_lines(program, key: str) -> list[str]:
    """align* rows for `explain --latex`, from the left margin (a block of their own, see
    latex.definition_blocks): the update rule and the inner objective each broken over rows."""
    g = program.graph
    node = g.nodes[key]
    if isinstance(node, Iterate):
        return []
    it = conditioned(program, node.iterate, True).rsplit("(", 1)[0]
    L = f"\\mathcal{{L}}\\left({it}\\right)"
    name = conditioned(program, key, True)
    inner = latex.hanging_rows(f"{L} =", latex.terms(program, inner_terms(node), leaf_text))
    if isinstance(node, GradientOrigin):
        return latex.hanging_rows(
            f"{name} = \\mathcal{{N}}\\left(\\mu(z_0'), \\operatorname{{diag}} e^{{\\mathrm{{lv}}(z_0')}}\\right),",
            [f"z_0' = z_0 + \\nabla_{{z_0}} {L},\\ z_0 = 0"]) + inner
    init = conditioned(program, node.init, True).rsplit("(", 1)[0]
    update = ["\\mu_{t+1} = g_\\mu \\odot \\mu_t + (1 - g_\\mu) \\odot \\tilde\\mu_t,",
              "\\log\\sigma_{t+1} = g_\\sigma \\odot \\log\\sigma_t + (1 - g_\\sigma) \\odot \\widetilde{\\log\\sigma}_t,",
              f"t = 0..{node.steps - 1},\\ (\\mu_0, \\sigma_0) \\text{{ from }} {init}"]
    rows = latex.hanging_rows(f"{name}\\colon", update[:1])
    return rows + [f"  &\\qquad {u} \\\\" for u in update[1:]] + inner


def json_fields(program, key: str) -> dict:
    node = program.graph.nodes[key]
    g = program.graph
    if isinstance(node, Refined):
        return {"refinement": {"init": g.label(node.init), "steps": node.steps, "eval_steps": node.eval_steps,
                               "grad": node.grad, "loss": node.loss, "network": f"refiners.{node.network}",
                               "hidden": node.hidden, "inputs": list(node.inputs), "direction": node.direction,
                               "objective": objective_text(program, node)}}
    if isinstance(node, GradientOrigin):
        return {"gradient_origin": {"network": f"origins.{node.network}", "direction": node.direction,
                                    "objective": objective_text(program, node), "second_order": True}}
    return {}


# ---- model family and cost -----------------------------------------------------------------------

def family_notes(program, leaves) -> tuple[list[str], list[str]]:
    """Labels and reasons for posteriors computed by gradient steps that the objective uses."""
    g = program.graph
    used = closure(g, [d for l in leaves for d in l.distributions()])
    labels, reasons = [], []
    refined = [k for k in g.nodes if k in used and isinstance(g.nodes[k], Refined)]
    origins = [k for k in g.nodes if k in used and isinstance(g.nodes[k], GradientOrigin)]
    if refined:
        labels.append("iterative amortized inference")
        for k in refined[:4]:
            n = g.nodes[k]
            extra = sorted(n.reads - g.sees(n.init))
            reach = f"; through the gradients it reads {', '.join(extra)} as well" if extra else ""
            reasons.append(f"{g.label(k)} refines {g.label(n.init)} in {n.steps} gradient-driven steps{reach}")
    if origins:
        labels.append("gradient-origin inference")
        reasons += [f"{g.label(k)} is computed from one gradient step of its objective at z0 = 0 "
                    f"(reads {', '.join(sorted(g.nodes[k].reads))})" for k in origins]
    return labels, reasons


def inner_cost(program, needed: set[str], leaves) -> dict:
    """What gradient steps add to one training step, per data item: each refinement step and each
    gradient-origin step evaluates (and differentiates) its objective once; loss=mean evaluates the
    terms of the refined posterior at every iterate."""
    g = program.graph
    out = {"decoded_samples": 0, "kl_terms": 0, "decoder_targets": set(), "gradient_steps": 0, "update_passes": 0}
    for key in needed:
        node = g.nodes[key]
        if not isinstance(node, (Refined, GradientOrigin)):
            continue
        times = node.steps if isinstance(node, Refined) else 1
        inner = ir.Objective("inner", node.direction, node.objective).leaves()
        pairs = ir.decoded_pairs(inner)
        out["decoded_samples"] += times * sum(p.k for p in pairs)
        out["kl_terms"] += times * sum(1 for l in inner if isinstance(l, ir.KL))
        out["decoder_targets"] |= {p.target for p in pairs}
        out["gradient_steps"] += times
        if isinstance(node, Refined):
            out["update_passes"] += node.steps
            if node.loss == "mean":
                direct = [l for l in leaves if key in l.distributions()]
                out["decoded_samples"] += (node.steps - 1) * sum(p.k for p in ir.decoded_pairs(direct))
                out["kl_terms"] += (node.steps - 1) * sum(1 for l in direct if isinstance(l, ir.KL))
    return out
