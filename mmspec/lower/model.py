"""The lowering's product: one object the runtime trains and evaluates (see mmspec.compiled).

The loss is the objective IR's linear form evaluated by the engine; nothing here knows which
method a spec describes.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..check import Program
from ..compiled import GivenInfo, LossOutput, ModalityInfo
from ..explain.leaves import leaf_name
from ..model import ir
from ..model.graph import Flow, LadderPrior, LaplacePrior, MixturePrior, NormalPrior, closure
from ..networks import output_link
from ..constructs.schedules import shortfall
from . import conditional, latents as several, likelihoods, refine, schedules
from .distributions import DiagGaussian, MixtureOf, constant, standard_normal
from .engine import Evaluation, data_free_prior
from .modules import SpecModule

__all__ = ["CompiledSpec", "leaf_name"]


class CompiledSpec:
    """Implements mmspec.compiled.CompiledModel for a checked Program."""

    def __init__(self, program: Program):
        self.program = program
        g = self.graph = program.graph
        self.module = SpecModule(g)
        self.name, self.dataset = g.name, g.dataset
        self.data_decl = program.data                 # own files (`data NAME { ... }`), else None
        self.modalities = {n: ModalityInfo(n, m.kind, m.shape, m.likelihood.name, m.weight)
                           for n, m in g.modalities.items()}
        self.givens = {n: GivenInfo(n, c.kind, c.shape) for n, c in g.givens.items()}
        self.latent_dim = g.latent_dim()
        self.params = dict(g.params)
        self.train, self.evaluate = program.train, program.evaluate
        self.source_text, self.source_hash = program.spec.source, program.source_hash
        self.links = {n: output_link(m.net.name) for n, m in g.modalities.items()}
        self.stages = list(program.stages)
        self.lowered = {name: _Lowered(g, obj) for name, obj in program.ir.objectives.items()}
        self.objective = program.objective            # the default: the first declared objective
        default = self.lowered[self.objective.name]
        self.terms, self.leaves, self.samples_needed = default.terms, default.leaves, default.samples_needed
        self.term_names = {leaf: leaf_name(g, leaf) for low in self.lowered.values() for leaf in low.leaves}
        self.can_generate, self.generation_note = self._generation()
        self.schedules = {n: s.text for n, s in g.schedules.items()}
        self.clock = None

    # ---- weight schedules (mmspec/lower/schedules.py) ------------------------------------------
    def set_clock(self, clock) -> None:
        """Scheduled weights follow `clock` (a compiled.Clock) from now on; None: their final values."""
        self.clock = clock

    def schedule_notes(self, epochs: int, steps_per_epoch: int) -> list[str]:
        found = (shortfall(n, s, epochs, steps_per_epoch) for n, s in self.graph.schedules.items())
        return [note for note in found if note]

    # ---- training ----------------------------------------------------------------------------
    def evaluation(self, batch: dict[str, Tensor], noise=None, samples_needed=None) -> Evaluation:
        return Evaluation(self.graph, self.module, self.links, batch, noise,
                          self.samples_needed if samples_needed is None else samples_needed)

    def _lowered_for(self, objective: str | None) -> "_Lowered":
        if objective is None:
            return self.lowered[self.objective.name]
        if objective not in self.lowered:
            raise KeyError(f"no objective {objective!r}; the spec has {', '.join(self.lowered)}")
        return self.lowered[objective]

    def per_item_objective(self, batch: dict[str, Tensor], noise=None, objective: str | None = None) -> tuple[Tensor, dict]:
        """The objective for each item [B] (as written, not negated), and each leaf's per-item value
        (and each scheduled param's current value, under its name)."""
        low = self._lowered_for(objective)
        values = self.evaluation(batch, noise, low.samples_needed).leaf_values(low.leaves)
        # one weighted sum over the stacked terms: a few ops however many terms (MoPoE: 2^M - 1 KLs)
        # (elementwise, not a matmul, which autocast would run in bf16)
        stacked = torch.stack([values[t.leaf].detach() if t.detached else values[t.leaf] for t in low.terms])
        current = schedules.values(low.schedules, self.clock, stacked)       # {} without schedules
        coefficients = schedules.coefficients(low.terms, current, stacked)
        return (coefficients[:, None] * stacked).sum(0), {**current, **values}

    def loss(self, batch: dict[str, Tensor], noise=None, objective: str | None = None) -> LossOutput:
        """The named objective's loss (default: the first declared; a stage's is `stage.objective`)."""
        total, values = self.per_item_objective(batch, noise, objective)
        value = total.mean()
        loss = -value if self._lowered_for(objective).objective.direction == "maximize" else value
        terms = {self.term_names[leaf] if not isinstance(leaf, str) else _shown(leaf, self.term_names):
                 v.detach().mean() for leaf, v in values.items()}
        terms["objective"] = value.detach()
        return LossOutput(loss, terms)

    # ---- evaluation --------------------------------------------------------------------------
    def _infer_key(self, subset: Sequence[str]) -> str:
        key = self.program.ir.infer.get(frozenset(subset))
        if key is None:
            raise KeyError(f"no infer rule for {sorted(subset)}; modalities: {list(self.modalities)}")
        return key

    def _seen(self, batch: dict[str, Tensor], subset: Sequence[str]) -> dict[str, Tensor]:
        """The subset's modalities, and the given (conditioning) data every item carries."""
        missing = [c for c in self.givens if c not in batch]
        if missing:
            raise conditional.MissingGiven(f"encoding needs the given data {', '.join(missing)}: a conditional "
                                           "spec's batches carry it with every subset of modalities")
        return {m: batch[m] for m in [*subset, *self.givens] if m in batch}

    def encode(self, batch: dict[str, Tensor], subset: Sequence[str]) -> DiagGaussian | MixtureOf:
        return self._inferred(self.evaluation(self._seen(batch, subset)), self._infer_key(subset))

    def _inferred(self, ev: Evaluation, key: str):
        """The infer rule's distribution; with several latents, over the whole latent vector (the
        latents it does not describe from their priors)."""
        return several.Concatenated(ev, key) if self.graph.has_layout else ev.posterior(key)

    def encode_subsets(self, batch: dict[str, Tensor], subsets: Sequence[Sequence[str]]) -> list:
        """The posterior of every subset, each encoder run once on the batch for all of them
        (what evaluation over PolyMNIST's 31 subsets needs); equal to `encode` subset by subset."""
        shared = self.evaluation(batch)
        out = []
        for subset in subsets:
            ev = self.evaluation(self._seen(batch, subset))
            ev.experts_from = shared
            out.append(self._inferred(ev, self._infer_key(subset)))
        return out

    def refined_posteriors(self) -> dict[str, tuple[str, ...]]:
        """Each refine(...) posterior -> the modalities its initial posterior sees (MIAI's Fig. 4)."""
        return refine.refined_posteriors(self.graph)

    def refinement_trajectory(self, batch: dict[str, Tensor], name: str, steps: int) -> list[DiagGaussian]:
        """[q^0, ..., q^T] of a refined posterior for T = steps (its objective may read all of `batch`)."""
        return refine.trajectory_of(self, batch, name, steps)

    def _decoder_input(self, modality: str, z: Tensor, given: dict[str, Tensor] | None) -> Tensor:
        z = several.reads_from_whole(self.graph, modality, z) if self.graph.has_layout else z
        return conditional.with_given(self.graph, modality, z, given)

    def decode(self, modality: str, z: Tensor, given: dict[str, Tensor] | None = None) -> Tensor:
        """`given`: the batch's conditioning data, for a decoder that reads some (`given m1`)."""
        mod = self.graph.modalities[modality]
        z = self._decoder_input(modality, z, given)
        raw = self.module.decoders[modality](z.reshape(-1, z.shape[-1])).reshape(*z.shape[:-1], *mod.shape)
        return likelihoods.mean(mod.likelihood, self.links[modality], raw)

    def log_likelihood(self, modality: str, z: Tensor, x: Tensor, given: dict[str, Tensor] | None = None) -> Tensor:
        mod = self.graph.modalities[modality]
        z = self._decoder_input(modality, z, given)
        raw = self.module.decoders[modality](z.reshape(-1, z.shape[-1])).reshape(*z.shape[:-1], *mod.shape)
        scale = self.module.log_scales[modality] if modality in self.module.log_scales else None
        return likelihoods.log_likelihood(mod.likelihood, self.links[modality], raw, x, scale, len(mod.shape))

    def prior(self, batch_size: int) -> DiagGaussian:
        """The spec's data-free prior: N(0, I), or the Laplace, mixture (mog) or flow prior it declares."""
        like = next(self.module.parameters())
        if self.graph.has_layout:           # every latent from its own prior
            return several.Concatenated(self.evaluation({"": like.new_zeros(batch_size)}), None)
        laplace = [n for k, n in self.graph.nodes.items() if isinstance(n, LaplacePrior) and k in self.graph.prior_keys]
        learned = [k for k, n in self.graph.nodes.items() if isinstance(n, (MixturePrior, Flow))
                   and k in self.graph.prior_keys and not self.graph.sees(k)]
        if learned:                         # mog(...), flow(normal()): computed as in the loss, for a batch of this size
            blank = {"": torch.zeros((batch_size, 1), device=like.device, dtype=like.dtype)}
            return Evaluation(self.graph, self.module, self.links, blank).gaussian(learned[0])
        if laplace:
            return data_free_prior(laplace[0], self.module, batch_size, self.latent_dim, like)
        return standard_normal(batch_size, self.latent_dim, like)

    def sample_prior(self, n: int) -> Tensor:
        return self.prior(n).rsample(1)[0]

    def to(self, device) -> "CompiledSpec":
        self.module.to(device)
        return self

    def _generation(self) -> tuple[bool, str]:
        """Unconditional generation samples N(0, I); it is meaningful only when the objective ties
        the latent to that prior, and no decoder needs given data (a CVAE generates conditionally)."""
        conditioned = [m for m in self.graph.modalities.values() if m.given]
        if conditioned:
            given = sorted({c for m in conditioned for c in m.given})
            return False, (f"the decoders of {', '.join(m.name for m in conditioned)} read given data "
                           f"({', '.join(given)}), so every generation is conditional: evaluation reports it as "
                           f"the {'+'.join(self.givens)} -> target pairs (z from the infer rule for the given "
                           "data alone)")
        used = closure(self.graph, [k for low in self.lowered.values() for l in low.leaves
                                    for k in l.distributions()])
        if any(isinstance(self.graph.nodes[k], (NormalPrior, LaplacePrior, MixturePrior, Flow, LadderPrior))
               and not self.graph.sees(k)
               for k in used):
            return True, ""
        return False, ("the objective never ties the latent to N(0, I) (its prior is data-dependent), "
                       "so sampling N(0, I) does not generate from the model")


class _Lowered:
    """One objective ready to evaluate: its linear terms, distinct leaves and samples per distribution."""

    def __init__(self, graph, objective: ir.Objective):
        self.objective = objective
        self.terms = objective.linear_terms()
        self.leaves = objective.leaves()
        self.samples_needed = ir.samples_needed(graph, self.leaves)
        self.schedules = {n: graph.schedules[n] for n in schedules.used(self.terms)}


def _shown(name: str, term_names: dict) -> str:
    """How a scheduled param is named beside the terms: its own name unless a term is called so."""
    return name if name not in set(term_names.values()) | {"objective", "loss"} else f"param {name}"
