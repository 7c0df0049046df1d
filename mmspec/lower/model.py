"""The lowering's product: one object the runtime trains and evaluates (see mmspec.compiled).

The loss is the objective IR's linear form evaluated by the engine; nothing here knows which
method a spec describes.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from .. import ir
from ..check import Program
from ..compiled import LossOutput, ModalityInfo
from ..graph import NormalPrior
from ..networks import output_link
from . import likelihoods
from .distributions import DiagGaussian, MixtureOf, standard_normal
from .engine import Evaluation, mixture_parts
from .modules import SpecModule


def leaf_name(graph, leaf: ir.Leaf) -> str:
    """How a term is named in progress bars, logs and reports."""
    if isinstance(leaf, ir.Rec):
        k = f", k={leaf.k}" if leaf.k > 1 else ""
        return f"rec({graph.label(leaf.dist)}->{leaf.target}{k})"
    est = "" if leaf.estimator == "closed" else f", {leaf.estimator}" + (f" k={leaf.k}" if leaf.estimator == "mc" else "")
    return f"kl({graph.label(leaf.q)}||{graph.label(leaf.p)}{est})"


class CompiledSpec:
    """Implements mmspec.compiled.CompiledModel for a checked Program."""

    def __init__(self, program: Program):
        self.program = program
        g = self.graph = program.graph
        self.module = SpecModule(g)
        self.name, self.dataset = g.name, g.dataset
        self.modalities = {n: ModalityInfo(n, m.kind, m.shape, m.likelihood.name, m.weight)
                           for n, m in g.modalities.items()}
        self.latent_dim = g.latent_dim()
        self.params = dict(g.params)
        self.train, self.evaluate = program.train, program.evaluate
        self.source_text, self.source_hash = program.spec.source, program.source_hash
        self.links = {n: output_link(m.net.name) for n, m in g.modalities.items()}
        self.objective = program.objective
        self.terms = self.objective.linear_terms()
        self.leaves = self.objective.leaves()
        self.term_names = {leaf: leaf_name(g, leaf) for leaf in self.leaves}
        self.samples_needed = _samples_needed(g, self.leaves)
        self.can_generate, self.generation_note = self._generation()

    # ---- training ----------------------------------------------------------------------------
    def evaluation(self, batch: dict[str, Tensor], noise=None) -> Evaluation:
        return Evaluation(self.graph, self.module, self.links, batch, noise, self.samples_needed)

    def per_item_objective(self, batch: dict[str, Tensor], noise=None) -> tuple[Tensor, dict]:
        """The objective for each item [B] (maximize sense), and each leaf's per-item value."""
        values = self.evaluation(batch, noise).leaf_values(self.leaves)
        total = sum(t.coefficient * (values[t.leaf].detach() if t.detached else values[t.leaf]) for t in self.terms)
        return total, values

    def loss(self, batch: dict[str, Tensor], noise=None) -> LossOutput:
        total, values = self.per_item_objective(batch, noise)
        objective = total.mean()
        loss = -objective if self.objective.direction == "maximize" else objective
        terms = {self.term_names[leaf]: v.detach().mean() for leaf, v in values.items()}
        terms["objective"] = objective.detach()
        return LossOutput(loss, terms)

    # ---- evaluation --------------------------------------------------------------------------
    def encode(self, batch: dict[str, Tensor], subset: Sequence[str]) -> DiagGaussian | MixtureOf:
        key = self.program.ir.infer.get(frozenset(subset))
        if key is None:
            raise KeyError(f"no infer rule for {sorted(subset)}; modalities: {list(self.modalities)}")
        given = {m: batch[m] for m in subset}
        return self.evaluation(given).posterior(key)

    def decode(self, modality: str, z: Tensor) -> Tensor:
        mod = self.graph.modalities[modality]
        raw = self.module.decoders[modality](z.reshape(-1, z.shape[-1])).reshape(*z.shape[:-1], *mod.shape)
        return likelihoods.mean(mod.likelihood, self.links[modality], raw)

    def log_likelihood(self, modality: str, z: Tensor, x: Tensor) -> Tensor:
        mod = self.graph.modalities[modality]
        raw = self.module.decoders[modality](z.reshape(-1, z.shape[-1])).reshape(*z.shape[:-1], *mod.shape)
        scale = self.module.log_scales[modality] if modality in self.module.log_scales else None
        return likelihoods.log_likelihood(mod.likelihood, self.links[modality], raw, x, scale, len(mod.shape))

    def prior(self, batch_size: int) -> DiagGaussian:
        like = next(self.module.parameters())
        return standard_normal(batch_size, self.latent_dim, like)

    def sample_prior(self, n: int) -> Tensor:
        return self.prior(n).rsample(1)[0]

    def to(self, device) -> "CompiledSpec":
        self.module.to(device)
        return self

    def _generation(self) -> tuple[bool, str]:
        """Unconditional generation samples N(0, I); it is meaningful only when the objective ties
        the latent to that prior."""
        used = {k for l in self.leaves if isinstance(l, ir.KL) for k in (l.q, l.p)}
        for leaf in self.leaves:
            if isinstance(leaf, ir.Rec):
                used.add(leaf.dist)
        stack, seen = list(used), set()
        while stack:
            k = stack.pop()
            if k in seen:
                continue
            seen.add(k)
            if isinstance(self.graph.nodes[k], NormalPrior):
                return True, ""
            from ..graph import members_of
            stack.extend(members_of(self.graph.nodes[k]))
        return False, ("the objective never ties the latent to N(0, I) (its prior is data-dependent), "
                       "so sampling N(0, I) does not generate from the model")


def _samples_needed(graph, leaves: list[ir.Leaf]) -> dict[str, int]:
    need: dict[str, int] = {}
    for leaf in leaves:
        if isinstance(leaf, ir.Rec):
            parts = mixture_parts(graph, leaf.dist)
        elif leaf.estimator == "mc":
            parts = mixture_parts(graph, leaf.q)
        else:
            continue
        for comp, _ in parts:
            need[comp] = max(need.get(comp, 1), leaf.k)
    return need
