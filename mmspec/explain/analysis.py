"""What `explain` derives from a checked program: the model family and the cost of a step.

Both are read off the model graph and the objective IR, never from the method's name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..check import Program, check_text
from ..errors import SpecError
from ..model import ir
from ..model.graph import (Detached, Expert, Flow, Joint, JointExpert, Marginal, Mixture, MixturePrior, PoE,
                           WeightedPoE, closure, mixture_parts)
from ..model.ir import decoded_pairs
from ..constructs import hierarchy, ladder
from . import refine
from ..constructs import conditional


@dataclass
class Family:
    labels: list[str]
    reasons: list[str] = field(default_factory=list)


def model_family(program: Program) -> Family:
    g = program.graph
    leaves = list({l: None for o in program.ir.objectives.values() for l in o.leaves()})   # every stage's
    recs = decoded_pairs(leaves)
    kls = [l for l in leaves if isinstance(l, ir.KL)]
    labels, reasons = [], []
    cross = [l for l in recs if any(l.target not in g.sees(c) for c, _ in mixture_parts(g, l.dist))]
    if cross:
        labels.append("mixture-based")
        shown = ", ".join(f"{l.name}({g.label(l.dist)} -> {l.target})" for l in cross[:4])
        more = f" and {len(cross) - 4} more" if len(cross) > 4 else ""
        reasons.append(f"cross-generation: {shown}{more} decode a modality from a posterior (component) that "
                       "did not see it; such terms are subject to the generative-quality gap of "
                       "Daunhawer et al. (2022)")
    tied = [l for l in kls if g.sees(l.q) and g.sees(l.p) and g.sees(l.q) != g.sees(l.p)]
    if tied and not cross:
        labels.append("coordination-based")
        shown = ", ".join(f"KL({g.label(l.q)} || {g.label(l.p)})" for l in tied[:4])
        reasons.append(f"posteriors of different modality sets are tied by divergences ({shown}) "
                       "without cross-generation")
    coupled = any(len(g.sees(l.dist) | {l.target}) > 1 for l in recs) or \
        any(len(g.sees(l.q) | g.sees(l.p)) > 1 for l in kls)
    if not coupled and not g.givens:
        labels.append("independent")
        reasons.append("no term couples two modalities")
    priors = [k for k in g.nodes if k in g.prior_keys and g.sees(k)]   # node order: deterministic
    if priors:
        labels.append("data-dependent prior")
        reasons.append("; ".join(f"the prior {g.label(k)} is built from the encoders of "
                                 f"{', '.join(sorted(g.sees(k)))}" for k in priors))
    given_labels, given_reasons = conditional.family_notes(program)     # CVAE: decoders given data
    labels, reasons = labels + given_labels, reasons + given_reasons
    if not labels:
        labels.append("aggregation-based")
        reasons.append("a joint posterior aggregated from unimodal experts, without cross-generation "
                       "or coordination terms")
    more_labels, more_reasons = refine.family_notes(program, leaves)    # refine, gradient_origin
    tree_labels, tree_reasons = hierarchy.family_notes(program, leaves)    # normal(given=...)
    ladder_labels, ladder_reasons = ladder.family_notes(program, leaves)  # ladder(...)
    return Family(labels + more_labels + tree_labels + ladder_labels, reasons + more_reasons + tree_reasons + ladder_reasons)


@dataclass
class Cost:
    encoder_passes: int
    decoder_calls: int
    decoded_samples: int        # latent samples decoded per data item
    sampled_distributions: int
    latent_draws: int           # reparameterised draws per data item
    products: int               # products of experts (subset posteriors) computed
    kl_terms: int
    gradient_steps: int = 0     # objective gradients taken inside inference (refine, gradient_origin)
    update_passes: int = 0      # refinement update-network passes
    prior_draws: int = 0        # latents drawn from their prior for a decoder (MMVAE+'s cross-generation)
    flow_passes: int = 0        # flow transforms applied per item: T per density point, D·T per draw
    mog_evaluations: int = 0    # points at which a learned mixture prior's density is evaluated

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def step_cost(program: Program, objective: str | None = None) -> Cost:
    """The cost of one step of the named objective (default: the first declared)."""
    g = program.graph
    leaves = (program.ir.objectives[objective] if objective else program.objective).leaves()
    needed = closure(g, [k for l in leaves for k in l.distributions()])
    encoders = {g.nodes[k].network for k in needed if isinstance(g.nodes[k], (Expert, JointExpert))}
    encoders |= ladder.encoder_bodies(g, needed)
    draws: dict[str, int] = {}
    decoded: dict[tuple[str, str], int] = {}
    iwae_decoded: dict[tuple[str, str], int] = {}
    for term in leaves:
        pairs: dict[tuple[str, str], int] = {}
        for leaf in term.decoded():
            for comp, _ in mixture_parts(g, leaf.dist):
                draws[comp] = max(draws.get(comp, 0), leaf.k)
            comps = [f"stratified {leaf.dist}"] if leaf.sampling == "stratified" else \
                [c for c, _ in mixture_parts(g, leaf.dist)]      # stratified: one component's sample per item
            for comp in comps:
                pairs[(comp, leaf.target)] = max(pairs.get((comp, leaf.target), 0), leaf.k)
        for pair, k in pairs.items():
            if isinstance(term, ir.IWAE):           # each IWAE term decodes its own draws (lower/iwae.py)
                iwae_decoded[pair] = iwae_decoded.get(pair, 0) + k
            else:                                   # the recs share one decoder pass per pair (largest K)
                decoded[pair] = max(decoded.get(pair, 0), k)
    for leaf in leaves:
        if isinstance(leaf, (ir.KL, ir.LatentRec)):
            for dist, k in leaf.sampled():          # a Monte Carlo KL draws from q; a hierarchy's term from its top
                for comp, _ in mixture_parts(g, dist):
                    draws[comp] = max(draws.get(comp, 0), k)
    products = sum(1 for k in needed if isinstance(g.nodes[k], (PoE, WeightedPoE))) + ladder.products(g, needed)
    inner = refine.inner_cost(program, needed, leaves)
    flows, mogs = density_cost(g, leaves)
    sampled: dict[str, int] = {}                    # a joint is drawn factor by factor, a factor once
    for key, k in draws.items():
        for f in _factors(g, key):
            if not isinstance(g.nodes[f], Joint):
                sampled[f] = max(sampled.get(f, 0), k)
    return Cost(len(encoders), len({t for _, t in decoded} | {t for _, t in iwae_decoded} | inner["decoder_targets"]),
                sum(decoded.values()) + sum(iwae_decoded.values()) + inner["decoded_samples"], len(sampled),
                sum(sampled.values()), products,
                sum(1 for l in leaves if isinstance(l, ir.KL)) + inner["kl_terms"], inner["gradient_steps"],
                inner["update_passes"], prior_draws(g, decoded) + prior_draws(g, iwae_decoded),
                flows + flow_draw_passes(g, draws), mogs)


def prior_draws(g, decoded: dict[tuple[str, str], int]) -> int:
    """Draws of latents a decoder reads that the decoded distribution does not describe: each comes
    from its prior, K per (distribution, target) pair (mmspec/lower/latents.py)."""
    if not g.has_layout:
        return 0
    return sum(k * sum(1 for l in g.decoder_reads(target) if l not in g.node_latents(source))
               for (source, target), k in decoded.items() if source in g.nodes)


def flow_draw_passes(g, draws: dict[str, int]) -> int:
    """A draw from a flow inverts its T autoregressive transforms: D sequential passes each."""
    return sum(k * g.nodes[f].transforms * g.node_dim(f)
               for key, k in draws.items() for f in _factors(g, key) if isinstance(g.nodes[f], Flow))


def density_cost(g, leaves) -> tuple[int, int]:
    """(flow transform passes, mixture-prior points) of the densities the leaves evaluate: each
    (distribution, drawn from, K) of `leaf.evaluated()` is a density at K draws of each component of
    what was drawn, walked down to the flows and learned mixture priors that density reads."""
    found = {"flow": 0, "mog": 0}
    for leaf in leaves:
        for dist, source, k in leaf.evaluated():
            for comp, _ in mixture_parts(g, source):
                at = set(g.node_latents(comp)) if g.has_layout else None
                _walk_density(g, dist, at, k, found)
    return found["flow"], found["mog"]


def _walk_density(g, key: str, at: set[str] | None, points: int, found: dict) -> None:
    """Add what evaluating `key`'s density at `points` draws over the latents `at` costs: a product of
    experts is one Gaussian (its members' densities are not evaluated); a mixture, joint or marginal
    evaluates its members on the latents they describe; a flow applies its transforms, then its base."""
    node = g.nodes[key]
    if at is not None and g.node_latents(key) and not at & set(g.node_latents(key)):
        return                                      # describes none of the drawn latents
    if isinstance(node, Flow):
        found["flow"] += points * node.transforms
        _walk_density(g, node.base, at, points, found)
    elif isinstance(node, MixturePrior):
        found["mog"] += points
    elif isinstance(node, (Mixture, Joint, Marginal, Detached)):
        for member in (node.member,) if isinstance(node, Detached) else node.members:
            _walk_density(g, member, at, points, found)


def _factors(g, key: str) -> list[str]:
    """A joint is drawn factor by factor."""
    node = g.nodes[key]
    return [key] + [f for m in (node.members if isinstance(node, Joint) else ()) for f in _factors(g, m)]


def cost_in_m(program: Program, sizes=(2, 3, 4, 5, 6)) -> dict | None:
    """The step cost for M = 2..6 copies of the first modality, and how it grows with M.

    Re-checks the spec with synthetic modalities, so it only works for specs written over `*`,
    `m` and `subsets(...)` rather than named modalities; None otherwise.
    """
    source = program.spec.source
    lines = source.splitlines()
    mod_lines = [i for i, line in enumerate(lines) if re.match(r"\s*modality\s", line)]
    if not mod_lines:
        return None
    first = program.graph.modalities[next(iter(program.graph.modalities))].name
    template = lines[mod_lines[0]]
    table = {}
    for m in sizes:
        copies = [re.sub(rf"modality\s+{first}\b", f"modality v{i}", template, count=1) for i in range(m)]
        new = [l for i, l in enumerate(lines) if i not in mod_lines[1:]]
        new[mod_lines[0]] = "\n".join(copies)
        try:
            other = check_text("\n".join(new), "<cost>", program.overrides)
        except SpecError:
            return None
        table[m] = step_cost(other).as_dict()
    growth = {k: _growth([table[m][k] for m in sizes], sizes) for k in table[sizes[0]]}
    return {"by_M": table, "growth": growth}


def _growth(values: list[int], sizes) -> str:
    if len(set(values)) == 1:
        return "constant"
    if all(v > 0 for v in values):
        ratios = [b / a for a, b in zip(values, values[1:])]
        if all(abs(r - 2) < 0.35 for r in ratios[-2:]):
            return "exponential (~2^M)"
        per_m = [v / m for v, m in zip(values, sizes)]
        if all(abs(b / a - 2) < 0.35 for a, b in list(zip(per_m, per_m[1:]))[-2:]):
            return "exponential (~M·2^M)"
    for degree, name in ((1, "linear (~M)"), (2, "quadratic (~M^2)")):
        if _fits_poly(values, sizes, degree):
            return name
    return "faster than quadratic"


def _fits_poly(values, sizes, degree) -> bool:
    diffs = list(values)
    for _ in range(degree + 1):
        diffs = [b - a for a, b in zip(diffs, diffs[1:])]
    return all(abs(d) < 1e-9 for d in diffs)
