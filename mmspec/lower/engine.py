"""Evaluates distribution nodes and objective leaves for one batch, sharing all work.

Within one `Evaluation`: each encoder runs once, all products of experts at one depth are one
batched tensor operation, each distribution is sampled once (with the largest K any term asks
of it), and each decoder runs once on every latent sample that any term decodes with it.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import torch
from torch import Tensor

from ..model import ir
from ..model.graph import (Average, Conditional, Detached, Expert, Flow, GradientOrigin, JointExpert, LadderPosterior,
                           LaplacePrior, Marginal,
                           Mixture, MixturePrior, ModelGraph, NormalPrior, PoE, Refined, WeightedPoE, closure,
                           members_of, mixture_parts)
from . import likelihoods
from .batched import BatchedGroups, run_networks
from .distributions import (DiagGaussian, constant, MixtureOf, average_of_experts, from_head, kl_closed,
                            laplace_prior, product_of_experts, standard_normal)
from .iwae import iwae_value
from . import conditional, flows, hierarchy, ladder, latents as several, mog, refine, stratified


class TorchNoise:
    """Default reparameterisation noise: fresh draws from torch's global generator."""

    def normal(self, key: str, shape: Sequence[int], like: Tensor) -> Tensor:
        return torch.randn(tuple(shape), device=like.device, dtype=like.dtype)

    def uniform(self, key: str, shape: Sequence[int], like: Tensor) -> Tensor:
        return torch.rand(tuple(shape), device=like.device, dtype=like.dtype)


def data_free_prior(node: NormalPrior | LaplacePrior, module, B: int, D: int, like: Tensor):
    """N(0, I), or the Laplace prior with its fixed or learned scale."""
    if isinstance(node, NormalPrior):
        return standard_normal(B, D, like)
    logits = module.prior_logits[node.owner] if node.scale is None else None
    return laplace_prior(B, D, like, node.scale, logits, node.eps)


class Evaluation:
    def __init__(self, graph: ModelGraph, module, links: dict[str, str], batch: dict[str, Tensor],
                 noise=None, samples_needed: dict[str, int] | None = None):
        self.g = graph
        self.module = module
        self.links = links
        self.batch = batch
        self.noise = noise or TorchNoise()
        self.samples_needed = samples_needed or {}
        any_x = next(iter(batch.values()))
        self.like = any_x if any_x.is_floating_point() else any_x.float()
        self.B = any_x.shape[0]
        self.D = next(iter(graph.latents.values())).dim      # refine's iterates (specs with one latent size)
        self._gauss: dict[str, DiagGaussian] = {}
        self._samples: dict[str, Tensor] = {}
        self._needed: set[str] | None = None           # the nodes the leaves being evaluated read
        self.stratified: dict = {}                      # lower/stratified.py's: mixture -> assignment, (mixture, k) -> latents
        self.refine_trajectories: dict[str, list] = {}  # lower/refine.py's: refined node -> [q^0, ..., q^T]
        self.ladders: dict = {}                         # lower/ladder.py's: a ladder posterior's draws; its skip features
        self.averaging_iterate = False                  # lower/refine.py's: evaluating at one iterate of a loss=mean average
        self.experts_from: Evaluation | None = None     # share encoder outputs with another evaluation

    def fork(self, overrides: dict, stale: set[str], samples_needed: dict[str, int]) -> "Evaluation":
        """A child evaluation of the same batch where `overrides` (node key -> distribution) replace
        those nodes; cached results outside `stale` (what depends on them) are shared."""
        child = Evaluation(self.g, self.module, self.links, self.batch, self.noise, samples_needed)
        child._gauss = {k: v for k, v in self._gauss.items() if k not in stale}
        child._gauss.update(overrides)
        child._samples = {k: v for k, v in self._samples.items() if k not in stale}
        child.refine_trajectories = {k: v for k, v in self.refine_trajectories.items() if k not in stale}
        return child

    # ---- distributions ---------------------------------------------------------------------
    def posterior(self, key: str) -> DiagGaussian | MixtureOf:
        parts = mixture_parts(self.g, key)
        if isinstance(self.g.nodes[key], Mixture):
            return MixtureOf([self.gaussian(k) for k, _ in parts], [w for _, w in parts])
        return self.gaussian(key)

    def gaussian(self, key: str) -> DiagGaussian:
        """A non-mixture distribution node, computed once (a DiagGaussian, or a DiagLaplace for that family)."""
        if key not in self._gauss:
            node = self.g.nodes[key]
            if self.experts_from is not None and isinstance(node, Expert) and node.modality in self.batch:
                self._gauss[key] = self.experts_from.gaussian(key)   # an expert reads only its modality
            elif isinstance(node, (PoE, WeightedPoE)):
                self.products([key])
            elif isinstance(node, Expert) and self._batched("encoders", node.network):
                self._experts_together(node.network)
            else:
                self._gauss[key] = self._single(node)
        return self._gauss[key]

    def _single(self, node) -> DiagGaussian:
        if isinstance(node, (NormalPrior, LaplacePrior)):
            return data_free_prior(node, self.module, self.B, self.g.node_dim(node.key), self.like)
        if isinstance(node, Expert):
            return self._head(node, self.module.encoders[node.network](self.batch[node.modality]))
        if isinstance(node, Marginal):
            return self.gaussian(node.members[0]).part(self.g.latent_slice(node.members[0], node.latent))
        if isinstance(node, JointExpert):
            return from_head(node.family, *self.module.joint_encoders[node.network](self.batch))
        if isinstance(node, Average):
            return average_of_experts([self.gaussian(m) for m in node.members])
        if isinstance(node, Detached):
            return self.gaussian(node.member).detach()
        if isinstance(node, (Refined, GradientOrigin)):
            return refine.infer(self, node)           # gradient steps: mmspec/lower/refine.py
        if isinstance(node, Flow):
            return flows.distribution(self, node)     # normalizing flow: mmspec/lower/flows.py
        if isinstance(node, MixturePrior):
            return mog.distribution(self.module, node, self.B, self.like)     # mmspec/lower/mog.py
        if isinstance(node, Conditional):
            return hierarchy.distribution(self, node)     # normal(given=...): mmspec/lower/hierarchy.py
        raise TypeError(f"{node!r} is not a Gaussian")

    def on_latent(self, key: str, latent: str):
        """`key` as a distribution over `latent`: a latent-free prior (N(0, I)) at that latent's size."""
        node = self.g.nodes[key]
        if isinstance(node, (NormalPrior, LaplacePrior)) and not self.g.node_latents(key):
            return data_free_prior(node, self.module, self.B, self.g.latent_size(latent), self.like)
        return self.posterior(key)

    def _batched(self, kind: str, name: str) -> BatchedGroups | None:
        groups = getattr(self.module, "batched", None)
        groups = groups and groups[kind]
        return groups if groups is not None and groups.covers(name) else None

    def _experts_together(self, network: str) -> None:
        """Every expert whose encoder shares `network`'s architecture, in one batched call."""
        groups = self._batched("encoders", network)
        peers = set(groups.peers(network))
        needed = self._needed
        keys = [k for k, n in self.g.nodes.items() if isinstance(n, Expert) and n.network in peers
                and n.modality in self.batch and k not in self._gauss and (needed is None or k in needed)]
        names = [self.g.nodes[k].network for k in keys]
        outs = run_networks(groups, self.module.encoders, names, [self.batch[self.g.nodes[k].modality] for k in keys])
        for k, out in zip(keys, outs):
            self._gauss[k] = self._head(self.g.nodes[k], out)

    def _head(self, node, out):
        """An encoder's output as its distribution (over each of its latents in turn)."""
        return from_head(node.family, *out, tuple(self.g.latent_size(l) for l in node.latents))

    def products(self, keys: list[str]) -> None:
        """All (weighted) products of experts in `keys` as one batched operation per depth."""
        pending = [k for k in dict.fromkeys(keys) if k not in self._gauss]
        while pending:
            ready = [k for k in pending if all(self._known_or_leaf(m) for m in members_of(self.g.nodes[k]))]
            if not ready:   # a member is itself a product: compute that level first
                inner = [m for k in pending for m in members_of(self.g.nodes[k])
                         if isinstance(self.g.nodes[m], (PoE, WeightedPoE)) and m not in self._gauss]
                self.products(inner)
                continue
            size = self.g.node_dim(ready[0])              # one batched product per latent size
            ready = [k for k in ready if self.g.node_dim(k) == size]
            experts = list(dict.fromkeys(m for k in ready for m in members_of(self.g.nodes[k])))
            index = {m: i for i, m in enumerate(experts)}
            gs = [self.gaussian(m) for m in experts]
            rows = [[0.0] * len(experts) for _ in ready]       # built in Python, a device tensor made once
            for row, k in zip(rows, ready):
                node = self.g.nodes[k]
                ws = node.weights if isinstance(node, WeightedPoE) else [1.0] * len(node.members)
                for m, w in zip(node.members, ws):
                    row[index[m]] += w
            weights = constant(tuple(map(tuple, rows)), gs[0].mu)
            mus = torch.stack([g.mu.expand(self.B, size) for g in gs])
            logvars = torch.stack([g.logvar.expand(self.B, size) for g in gs])
            mu, logvar = product_of_experts(mus, logvars, weights)
            # unbind, not mu[row]: its backward is one stack of the S row gradients, where S separate
            # selects would each scatter into a zero [S, B, D] tensor (quadratic in S = 2^M - 1 for MoPoE)
            for k, mu_k, logvar_k in zip(ready, mu.unbind(0), logvar.unbind(0)):
                self._gauss[k] = DiagGaussian(mu_k, logvar_k)
            pending = [k for k in pending if k not in self._gauss]

    def _known_or_leaf(self, key: str) -> bool:
        return key in self._gauss or not isinstance(self.g.nodes[key], (PoE, WeightedPoE))

    def samples(self, key: str, k: int) -> Tensor:
        """[k, B, D] reparameterised samples; one draw per node per evaluation (the largest K)."""
        if isinstance(self.g.nodes[key], LadderPosterior):
            return ladder.samples(self, key, k)             # drawn level by level, top down
        if key not in self._samples:
            draws = max(k, self.samples_needed.get(key, 1))
            dist = self.gaussian(key)
            draw = self.noise.uniform if dist.noise == "uniform" else self.noise.normal
            blocks = getattr(self.g.nodes[key], "latents", ())
            if isinstance(self.g.nodes[key], Expert) and len(blocks) > 1:     # noise per latent it describes
                eps = torch.cat([draw(f"{self.g.label(key)} on {l}", (draws, self.B, self.g.latent_size(l)), self.like)
                                 for l in blocks], dim=-1)
            else:
                eps = draw(self.g.label(key), (draws, self.B, self.g.node_dim(key)), self.like)
            self._samples[key] = dist.sample_with(eps)
        have = self._samples[key]
        if have.shape[0] < k:
            raise ValueError(f"{self.g.label(key)} was sampled {have.shape[0]} times, {k} are needed")
        return have[:k]

    def log_prob(self, key: str, z: Tensor) -> Tensor:
        return self.posterior(key).log_prob(z)

    # ---- leaves ----------------------------------------------------------------------------
    def rec_values(self, leaves: list[ir.Rec]) -> dict[ir.Rec, Tensor]:
        """Per-item E_q[log p(x_t|z)] [B] for each leaf; one decoder call per target modality."""
        wanted: dict[str, dict[str, int]] = defaultdict(dict)     # target -> component (or source) -> k
        for leaf in leaves:
            for comp, _ in self.rec_sources(leaf):
                wanted[leaf.target][comp] = max(leaf.k, wanted[leaf.target].get(comp, 0))
        loglik: dict[tuple[str, str], Tensor] = {}
        zs = {t: [self.decoder_input(c, k, t) for c, k in comps.items()] for t, comps in wanted.items()}
        decoded = self.decode_logliks({t: torch.cat(z, dim=0) for t, z in zs.items()})
        for target, comps in wanted.items():
            sizes = [z.shape[0] for z in zs[target]]
            for (c, k), v in zip(comps.items(), torch.split(decoded[target], sizes)):
                loglik[(c, target)] = v
        out = {}
        for leaf in leaves:
            out[leaf] = sum(w * loglik[(c, leaf.target)][: leaf.k].mean(0) for c, w in self.rec_sources(leaf))
        return out

    def rec_sources(self, leaf: ir.Rec) -> list[tuple]:
        """What a rec decodes, weighted: every component (exact), or one stratified draw per item."""
        if leaf.sampling == "stratified":
            return [(stratified.source(leaf.dist), 1.0)]
        return mixture_parts(self.g, leaf.dist)

    def decoder_input(self, key, k: int, target: str) -> Tensor:
        """[k, B, D_in] latents `target`'s decoder reads when a rec decodes it from `key`."""
        if not self.g.has_layout:
            return self.rec_samples(key, k)
        return several.decoder_input(self, key, several.draw(self, key, k), target)

    def rec_samples(self, key, k: int) -> Tensor:
        if stratified.is_source(key):
            return stratified.samples(self, key[1], mixture_parts(self.g, key[1]), k)
        return self.samples(key, k)

    def decode_logliks(self, zs: dict[str, Tensor]) -> dict[str, Tensor]:
        """decode_loglik for every target; identical decoders as one batched call when enabled."""
        zs = {t: conditional.with_given(self.g, t, z, self.batch) for t, z in zs.items()}   # CVAE: + x_given
        groups = getattr(self.module, "batched", None)
        if groups is None:
            return {t: self.decode_loglik(t, z) for t, z in zs.items()}
        targets = list(zs)
        raws = run_networks(groups["decoders"], self.module.decoders, targets,
                            [zs[t].reshape(-1, zs[t].shape[-1]) for t in targets])
        return {t: self.decode_loglik(t, zs[t], raw) for t, raw in zip(targets, raws)}

    def decode_loglik(self, target: str, z: Tensor, raw: Tensor | None = None) -> Tensor:
        """log p(x_target | z) for z [K, B, D] -> [K, B], with one decoder pass (or its `raw` output)."""
        mod = self.g.modalities[target]
        if raw is None:
            raw = self.module.decoders[target](z.reshape(-1, z.shape[-1]))
        raw = raw.reshape(*z.shape[:-1], *mod.shape)
        log_scale = self.module.log_scales[target] if target in self.module.log_scales else None
        return likelihoods.log_likelihood(mod.likelihood, self.links[target], raw, self.batch[target],
                                          log_scale, len(mod.shape))

    def kl_value(self, leaf: ir.KL) -> Tensor:
        if isinstance(self.g.nodes[leaf.q], LadderPosterior):
            return ladder.kl(self, leaf.q)                  # closed form level by level, at the step's draws
        if leaf.estimator == "closed":
            return kl_closed(self.gaussian(leaf.q), self.gaussian(leaf.p))
        if leaf.estimator == "jensen":
            return self.jensen(leaf.q, leaf.p)
        total = 0.0
        for comp, w in mixture_parts(self.g, leaf.q):
            z = self.samples(comp, leaf.k)
            total = total + w * (self.log_prob(leaf.q, z) - self.log_prob(leaf.p, z)).mean(0)
        return total

    def gaussian_kls(self, leaves: list[ir.KL]) -> dict[ir.KL, Tensor]:
        """Closed-form Gaussian KLs towards one p as one batched kl_gaussian (MoPoE: 2^M - 1 of them),
        so the op count does not grow with the number of subsets; other KLs are left to kl_value."""
        by_p: dict[tuple[str, int], list[ir.KL]] = defaultdict(list)
        for leaf in (l for l in leaves if not isinstance(self.g.nodes[l.q], LadderPosterior)):
            by_p[(leaf.p, self.g.node_dim(leaf.q))].append(leaf)
        out = {}
        for (p, size), group in by_p.items():
            qs = [self.gaussian(l.q) for l in group]
            prior = self.gaussian(p)
            if len(group) < 2 or not all(type(d) is DiagGaussian for d in qs + [prior]):
                continue
            stacked = DiagGaussian(torch.stack([q.mu.expand(self.B, size) for q in qs]),
                                   torch.stack([q.logvar.expand(self.B, size) for q in qs]))
            out.update(zip(group, kl_closed(stacked, prior).unbind(0)))
        return out

    def jensen(self, q: str, p: str) -> Tensor:
        """Upper bound by convexity of KL: sum_j sum_k a_j b_k KL(q_j || p_k)."""
        return sum(a * b * kl_closed(self.gaussian(qj), self.gaussian(pk))
                   for qj, a in mixture_parts(self.g, q) for pk, b in mixture_parts(self.g, p))

    def leaf_values(self, leaves: list[ir.Leaf]) -> dict[ir.Leaf, Tensor]:
        if self._needed is None:        # the first leaves evaluated decide which encoders run together
            self._needed = closure(self.g, [k for l in leaves for k in l.distributions()])
        self.products([k for k, n in self.g.nodes.items() if isinstance(n, (PoE, WeightedPoE)) and k in self._needed])
        out: dict[ir.Leaf, Tensor] = dict(self.rec_values([l for l in leaves if isinstance(l, ir.Rec)]))
        out.update(self.gaussian_kls([l for l in leaves if isinstance(l, ir.KL) and l.estimator == "closed"]))
        for leaf in leaves:
            if isinstance(leaf, ir.KL) and leaf not in out:
                out[leaf] = self.kl_value(leaf)
            elif isinstance(leaf, ir.IWAE):
                out[leaf] = iwae_value(self, leaf)
            elif isinstance(leaf, ir.LatentRec):
                out[leaf] = hierarchy.latent_rec_value(self, leaf)
        return refine.average_over_iterates(self, leaves, out)
