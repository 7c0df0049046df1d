"""`mmspec explain`: the derived model and objective, printed from the same IR the loss evaluates.

Three renderings of one `Explanation`: Unicode text (default), LaTeX, JSON.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..check import Program
from ..constructs import conditional, flows, hierarchy, iwae, ladder, mog, schedules
from ..model import ir
from ..model.graph import (Average, Detached, Expert, Joint, JointExpert, LaplacePrior, Marginal, Mixture, NormalPrior,
                           PoE, WeightedPoE)
from ..model.notation import conditioned, fmt
from . import fold as explain_fold, latex as latex_parts
from ..model.sets import subset_label
from . import refine, stages
from .analysis import Family, cost_in_m, model_family, step_cost
from .leaves import leaf_text


@dataclass
class Explanation:
    program: Program
    family: Family
    cost: dict
    cost_m: dict | None

    @staticmethod
    def of(program: Program, with_m: bool = True) -> "Explanation":
        return Explanation(program, model_family(program), step_cost(program).as_dict(),
                           cost_in_m(program) if with_m else None)


# ---- shared pieces ----------------------------------------------------------------------------

def definition(program: Program, key: str) -> str:
    """A distribution as math (Unicode)."""
    g = program.graph
    node = g.nodes[key]
    D = g.node_dim(key)
    if refine.is_iterative(node):
        return refine.definition(program, key)
    free = g.has_layout and not g.node_latents(key)       # a prior valid on every latent, at its size
    for construct in (flows, mog, hierarchy, ladder):    # flow(...), mog(...), normal(given=...), ladder(...)
        text = construct.definition(program, key)
        if text is not None:
            return text
    if isinstance(node, NormalPrior):
        return "N(0, I) on every latent" if free else f"N(0, I_{D})"
    if isinstance(node, LaplacePrior):
        eps = f" + {fmt(node.eps)}" if node.eps else ""
        scale = (f"b = D·softmax(λ){eps}, λ ∈ R^D learned (b = 1{eps} at start)" if node.scale is None
                 else f"b = {fmt(node.scale, 10)}")
        return f"Laplace(0, b) in every dimension of every latent, {scale}" if free else (
            f"Laplace(0, b) in each of {D} dimensions, {scale}")
    if isinstance(node, Joint):
        return " · ".join(conditioned(program, m) for m in node.members) + "   (independent latents)"
    dist = ("Laplace(μ, b), b = D·softmax(head) + 1e-6," if getattr(node, "family", "") == "laplace"
            else "N(μ, diag σ²)")
    if isinstance(node, Expert):
        net = g.modalities[node.modality].net.name
        heads = (", heads for " + " then ".join(f"{l} ({g.latent_size(l)})" for l in node.latents)
                 + (", softmax per latent" if node.family == "laplace" else "")) if node.latents else ""
        return f"{dist} from encoder {node.network} ({net}) of x_{node.modality}{heads}"
    if isinstance(node, Marginal):
        return f"the factor on {node.latent} of {conditioned(program, node.members[0])}"
    if isinstance(node, JointExpert):
        return f"{dist} from a joint encoder {node.network} {conditional.encoder_inputs(node)}"
    members = [conditioned(program, m) for m in getattr(node, "members", ())]
    if isinstance(node, PoE):
        return "∝ " + " · ".join(members) + "   (product of experts)"
    if isinstance(node, WeightedPoE):
        return "∝ " + " · ".join(f"{m}^{fmt(w)}" for m, w in zip(members, node.weights)) + "   (weighted PoE)"
    if isinstance(node, Average):
        return f"AVG({', '.join(members)}): μ = mean of μ_k, σ = mean of σ_k"
    if isinstance(node, Mixture):
        several = g.has_layout and len(g.node_latents(key)) > 1
        return " + ".join(f"{fmt(w)}·{m}" for m, w in zip(members, node.weights)) + (
            "   (mixture; its density at a draw of one component: on each latent, the mixture of the "
            "components that describe it)" if several else "   (mixture)")
    if isinstance(node, Detached):
        return f"sg({conditioned(program, node.member)})   (stop-gradient)"
    return type(node).__name__


# ---- Unicode ----------------------------------------------------------------------------------

def render_text(ex: Explanation, expand: bool = False) -> str:
    """The printout; families of more than explain_fold.RUN_LIMIT subset lines folded unless `expand`."""
    p, g = ex.program, ex.program.graph
    out = [f"model {g.name}   data {g.dataset}   M = {g.M}", ""]
    out.append("Modalities")
    for m in g.modalities.values():
        lik = m.likelihood
        extra = "scale learned" if lik.learned else (f"scale {fmt(lik.scale)}" if lik.scale else "")
        weight = "" if m.weight == 1 else f"   w = {fmt(m.weight)} ({m.weight_text})"
        reads = f"   decoder reads ({', '.join(m.reads)})" if m.reads else ""
        out.append(f"  {m.name:<8} {m.kind}{m.shape}  ~ {lik.name}({extra})   net {m.net.name}{weight}{reads}"
                   + conditional.decoder_note(g, m.name))
    out += conditional.given_lines(g)
    out.append("Latents")
    for l in g.latents.values():
        out.append(f"  {l.name}{'[m]' if l.indexed else ''} ∈ R^{l.dim}" + ("   (one per modality)" if l.indexed else ""))
    if g.latent_priors:
        missing = ", ".join(f"{l} ~ {g.label(k)}" for l, k in g.latent_priors.items())
        out.append(f"  a latent a decoded distribution does not describe is drawn from its prior: {missing}")
    out += ["", "Distributions"]
    for key in g.nodes:
        out.append(f"  {conditioned(p, key)} = {definition(p, key)}")
    if g.params or g.schedules:
        out += ["", "Params   " + ", ".join([f"{k} = {fmt(v)}" for k, v in g.params.items()]
                                            + [f"{k} = {s.text}" for k, s in g.schedules.items()])]
    out += schedules.text_lines(g.schedules)
    staged = stages.is_staged(p)
    for obj in p.ir.objectives.values():
        named = f"{obj.name} " if staged else ""
        out += ["", f"Objective {named}({obj.direction}), as written", "  " + " ".join(obj.source.split())]
        out += ["", f"Objective{' ' + obj.name if staged else ''}, expanded over the {g.M} modalities"]
        for t in obj.linear_terms():
            sign, weight = schedules.coefficient_text(t) if t.scheduled else (
                "-" if t.coefficient < 0 else "+", fmt(abs(t.coefficient)))
            sg = "  (stop-gradient)" if t.detached else ""
            out.append(f"  {sign} {weight:>9} · {leaf_text(p, t.leaf)}{sg}"
                       f"      ← {' + '.join(t.provenance)}")
        loss = "-(objective)" if obj.direction == "maximize" else "objective"
        out.append(f"  loss minimised = {loss}, averaged over the batch")
    out += stages.text_lines(p) if staged else []
    out += ["", "Model family: " + ", ".join(ex.family.labels)]
    out += [f"  - {r}" for r in ex.family.reasons]
    out += ["", "Cost per training step (per data item)"]
    out += stages.cost_lines(p, _COST_LABELS, _ONLY_WHEN_USED) if staged else _cost_lines(ex)
    out += ["", "Evaluation posterior (infer)"]
    order = conditional.infer_order(g)
    for subset, key in p.ir.infer.items():
        out.append(f"  {subset_label(subset, order):<24} -> {g.label(key)}")
    t = p.train
    out += [""] if staged else ["", f"Train    epochs {t.epochs}, batch {t.batch}, optimizer {t.optimizer.name}"
            f"({', '.join(f'{k}={fmt(v) if not isinstance(v, tuple) else v}' for k, v in t.optimizer.params.items())})"
            + (f", scheduler {t.scheduler.name}{t.scheduler.params}" if t.scheduler.name != "none" else "")]
    out += [f"Train    {len(p.stages)} stages, in order: {', '.join(st.name for st in p.stages)}"] if staged else []
    if p.evaluate:
        out.append("Evaluate " + ", ".join(m.name + (f"{m.params}" if m.params else "") for m in p.evaluate))
    out += [f"Note     {n}" for n in p.notes]
    return "\n".join(out if expand else explain_fold.fold(out))


_COST_LABELS = {"encoder_passes": "encoder passes", "decoder_calls": "decoder calls (one per target modality)",
                "decoded_samples": "latent samples decoded", "sampled_distributions": "distributions sampled",
                "latent_draws": "reparameterised draws", "products": "products of experts (batched)",
                "kl_terms": "divergence terms", "gradient_steps": "objective gradients inside inference",
                "update_passes": "refinement update-network passes",
                "prior_draws": "latents drawn from their prior to decode",
                "flow_passes": "flow transforms (T a point, D·T a draw)",
                "mog_evaluations": "mixture-prior densities evaluated"}
_ONLY_WHEN_USED = ("gradient_steps", "update_passes",      # refine(...), gradient_origin(...)
                   "prior_draws", "flow_passes", "mog_evaluations")   # (z, w[m]) decoders, flow(...), mog(...)


def _cost_lines(ex: Explanation) -> list[str]:
    lines = []
    for key, label in _COST_LABELS.items():
        if key in _ONLY_WHEN_USED and not ex.cost[key]:
            continue
        growth = f"   grows {ex.cost_m['growth'][key]} in M" if ex.cost_m else ""
        lines.append(f"  {label:<42} {ex.cost[key]:>5}{growth}")
    if ex.cost_m:
        ms = list(ex.cost_m["by_M"])
        lines.append("  " + "M = " + ", ".join(str(m) for m in ms) + ":  decoded samples "
                     + ", ".join(str(ex.cost_m["by_M"][m]["decoded_samples"]) for m in ms)
                     + ";  products " + ", ".join(str(ex.cost_m["by_M"][m]["products"]) for m in ms))
    else:
        lines.append("  (growth in M not derived: the spec names modalities explicitly)")
    return lines


# ---- LaTeX ------------------------------------------------------------------------------------

def render_latex(ex: Explanation) -> str:
    p, g = ex.program, ex.program.graph
    used = latex_parts.used_by_objectives(p)
    out = [f"% mmspec explain --latex: {g.name} (data {g.dataset}, M = {g.M})", latex_parts.PREAMBLE]

    def updates(key: str) -> list[str]:             # rows that follow a definition: a flow's, a mixture's,
        rows = (flows.latex_rows(p, key) + mog.latex_rows(p, key) + hierarchy.latex_rows(p, key)   # a hierarchy's,
                + ladder.latex_rows(p, key))                                                     # a ladder's math,
        return rows + (refine.latex_lines(p, key) if refine.is_iterative(g.nodes[key]) else [])   # an update rule

    for block in latex_parts.definition_blocks(p, [k for k in g.nodes if k in used], conditioned, updates):
        out += ["\\begin{align*}", *block, "\\end{align*}"]
    out += latex_parts.prior_draws_note(p)
    out.append("\\begin{align*}")                  # its own block: a long definition does not push it right
    for obj in p.ir.objectives.values():
        sym = "\\mathcal{L}" if obj.direction == "maximize" else "\\mathcal{J}"
        if stages.is_staged(p):
            sym = stages.objective_symbol(obj.name, obj.direction)
        out += latex_parts.objective_rows(p, sym, obj.linear_terms(), leaf_text)
    out += schedules.latex_lines(g.schedules)
    out.append("\\end{align*}")
    evaluation_only = latex_parts.definition_blocks(     # an infer rule's joint is the product its rule writes
        p, [k for k in g.nodes if k not in used and not isinstance(g.nodes[k], Joint)], conditioned)
    if evaluation_only:
        out += ["% evaluation only: posteriors the infer rules give, which the objective does not use",
                latex_parts.EVALUATION_ONLY]
        out += [row for block in evaluation_only for row in ["\\begin{align*}", *block, "\\end{align*}"]]
    out += stages.latex_lines(p) if stages.is_staged(p) else []
    return "\n".join(out)


# ---- JSON -------------------------------------------------------------------------------------

def render_json(ex: Explanation) -> str:
    p, g = ex.program, ex.program.graph
    order = conditional.infer_order(g)
    data = {
        "model": g.name, "data": g.dataset, "M": g.M,
        "modalities": [{"name": m.name, "kind": m.kind, "shape": list(m.shape), "likelihood": m.likelihood.name,
                        "scale": m.likelihood.scale, "learned_scale": m.likelihood.learned, "net": m.net.name,
                        "weight": m.weight, "decoder_reads": list(m.reads), "decoder_given": list(m.given)}
                       for m in g.modalities.values()],
        "given": [{"name": c.name, "kind": c.kind, "shape": list(c.shape)} for c in g.givens.values()],
        "latents": [{"name": l.name, "dim": l.dim, "per_modality": l.indexed} for l in g.latents.values()],
        "distributions": [{"name": g.label(k), "type": type(n).__name__, "sees": sorted(g.sees(k)),
                           "latent": n.latent, "latents": list(g.node_latents(k)), "math": definition(p, k),
                           **refine.json_fields(p, k)}
                          for k, n in g.nodes.items()],
        "params": g.params,
        "objectives": [{"name": o.name, "direction": o.direction, "as_written": " ".join(o.source.split()),
                        "terms": [_term_json(p, t) for t in o.linear_terms()]} for o in p.ir.objectives.values()],
        "family": {"labels": ex.family.labels, "reasons": ex.family.reasons},
        "cost": ex.cost, "cost_in_M": ex.cost_m and {"by_M": {str(k): v for k, v in ex.cost_m["by_M"].items()},
                                                     "growth": ex.cost_m["growth"]},
        "infer": {subset_label(s, order): g.label(k) for s, k in p.ir.infer.items()},
        "train": {"epochs": p.train.epochs, "batch": p.train.batch, "optimizer": p.train.optimizer.name,
                  "optimizer_params": p.train.optimizer.params, "scheduler": p.train.scheduler.name,
                  "scheduler_params": p.train.scheduler.params},
        "evaluate": [{"name": m.name, "params": m.params} for m in p.evaluate],
    }
    if stages.is_staged(p):
        data["stages"] = stages.as_json(p)
    if g.schedules:
        data["schedules"] = schedules.as_json(g.schedules)
    return json.dumps(data, indent=2)


def _term_json(p: Program, t: ir.LinearTerm) -> dict:
    g = p.graph
    leaf = t.leaf
    base = {"coefficient": t.coefficient, "stop_gradient": t.detached, "weights_as_written": list(t.provenance),
            "text": leaf_text(p, leaf)}
    if t.scheduled:     # the coefficient at a step: coefficient + sum of constant · product of factors
        base["scheduled"] = [{"constant": c, "factors": [ir.render_weight(f) for f in factors]}
                             for c, factors in t.scheduled]
    if isinstance(leaf, ir.Rec):
        return {**base, "kind": "rec", "posterior": g.label(leaf.dist), "target": leaf.target, "k": leaf.k,
                "sampling": leaf.sampling}
    if isinstance(leaf, ir.IWAE):
        return {**base, **iwae.as_json(p, leaf)}
    if isinstance(leaf, ir.LatentRec):
        return {**base, **hierarchy.as_json(p, leaf)}
    return {**base, "kind": "kl", "q": g.label(leaf.q), "p": g.label(leaf.p), "estimator": leaf.estimator, "k": leaf.k}
