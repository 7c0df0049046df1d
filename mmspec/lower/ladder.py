"""The torch half of ladders (mmspec/constructs/ladder.py): the networks, the posterior's draws level
by level with each level's KL at those draws, and the per-level distributions that evaluation and
generation draw ancestrally (mmspec/lower/latents.py's Concatenated).

A level below the top is a distribution given a value of the latent above: `Level.at(values)` (the
duck type of hierarchy.ConditionalPrior), so `hierarchy.ancestral` draws or takes means top down;
with means all the way down that is MultiVae's MHVAE encode(return_mean=True).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..model.graph import LadderPosterior, LadderPrior, ModelGraph
from ..networks import GaussianHeads, build_encoder_body
from .distributions import DiagGaussian, kl_gaussian, product_of_experts, standard_normal
from .hierarchy import relu_mlp


def _key(latent: str) -> str:
    return latent.replace(".", "_")


class LadderPriorNet(nn.Module):
    """Per level below the top: the top-down MLP t_l of the latent above and the Gaussian heads g_l."""

    def __init__(self, graph: ModelGraph, node: LadderPrior):
        super().__init__()
        down, heads, self.state_width = {}, {}, {}
        for z, upper in zip(node.latents[1:], node.latents[:-1]):
            down[_key(z)], width = relu_mlp(graph.latent_size(upper), node.hidden)
            heads[_key(z)] = GaussianHeads(width, graph.latent_size(z))
            self.state_width[z] = width
        self.top_down, self.heads = nn.ModuleDict(down), nn.ModuleDict(heads)


class LadderPosteriorNet(nn.Module):
    """Per modality: its encoder body, the bottom-up blocks and the top expert's heads; per level below
    the top: the posterior block f_l (one for every modality, or one per modality)."""

    def __init__(self, graph: ModelGraph, node: LadderPosterior, modalities: tuple[str, ...], prior: LadderPriorNet):
        super().__init__()
        levels = len(node.latents)
        bodies, ups, tops, widths = {}, {}, {}, {}
        for m in modalities:
            mod = graph.modalities[m]
            bodies[m], width = build_encoder_body(mod.net.name, mod.net.as_dict(), mod.kind, mod.shape,
                                                  graph.latent_size(node.latents[0]))
            widths[m] = [width]                                    # d_m^1, d_m^2, ...
            blocks = []
            for _ in range(levels - 2):
                blocks.append(nn.Sequential(nn.Linear(width, node.width), nn.ReLU()))
                width = node.width
                widths[m].append(width)
            ups[m] = nn.ModuleList(blocks)
            tops[m] = GaussianHeads(width, graph.latent_size(node.latents[0]))
        self.bodies, self.bottom_up, self.top = nn.ModuleDict(bodies), nn.ModuleDict(ups), nn.ModuleDict(tops)
        self.shared = node.shared
        if node.shared and len({tuple(w) for w in widths.values()}) > 1:
            raise ValueError(f"{node.network}: experts=shared needs the same feature widths for every modality "
                             f"({', '.join(f'{m}: {w[0]}' for m, w in widths.items())}); use experts=per_modality")
        owners = ["shared"] if node.shared else list(modalities)
        self.blocks = nn.ModuleDict({o: nn.ModuleDict() for o in owners})
        for i, z in enumerate(node.latents[1:]):
            skip = levels - 2 - i                                  # z_l reads d^l: index l - 1
            for o in owners:
                width_in = prior.state_width[z] + widths[modalities[0] if o == "shared" else o][skip]
                body, width = relu_mlp(width_in, node.hidden)
                self.blocks[o][_key(z)] = nn.Sequential(body, GaussianHeads(width, graph.latent_size(z)))

    def features(self, m: str, x: Tensor) -> tuple[list[Tensor], DiagGaussian]:
        """[d_m^1, ..., d_m^{L-1}] and the top expert of modality m."""
        d = [self.bodies[m](x)]
        for block in self.bottom_up[m]:
            d.append(block(d[-1]))
        return d, DiagGaussian(*self.top[m](d[-1]))

    def expert(self, m: str, z: str, state: Tensor, skip: Tensor) -> DiagGaussian:
        skip = skip.expand(*state.shape[:-1], skip.shape[-1])
        return DiagGaussian(*self.blocks["shared" if self.shared else m][_key(z)](torch.cat([state, skip], -1)))


def build_modules(graph: ModelGraph) -> dict[str, nn.Module]:
    """One network per ladder declaration: priors first (their posteriors read their widths)."""
    out: dict[str, nn.Module] = {}
    for node in graph.nodes.values():
        if isinstance(node, LadderPrior):
            out[node.owner] = LadderPriorNet(graph, node)
    for node in graph.nodes.values():
        if isinstance(node, LadderPosterior) and node.network not in out:
            net = graph.networks[f"ladder.{node.network}"]
            out[node.network] = LadderPosteriorNet(graph, node, net.modalities, out[graph.nodes[node.prior].owner])
    return out


def _product(members: list[DiagGaussian]) -> DiagGaussian:
    """The product of Gaussian experts of one shape [..., B, D] (mmspec's one PoE, flattened to [E, N, D])."""
    shape = torch.broadcast_shapes(*(g.mu.shape for g in members))
    mus = torch.stack([g.mu.expand(shape).reshape(-1, shape[-1]) for g in members])
    logvars = torch.stack([g.logvar.expand(shape).reshape(-1, shape[-1]) for g in members])
    mu, logvar = product_of_experts(mus, logvars, mus.new_ones((1, len(members))))
    return DiagGaussian(mu[0].reshape(shape), logvar[0].reshape(shape))


class Ladder:
    """One ladder posterior on one batch: its top level and the level below at any value of the one above."""

    def __init__(self, ev, node: LadderPosterior):
        self.node, self.g = node, ev.g
        prior = ev.g.nodes[node.prior]
        self.prior_net: LadderPriorNet = ev.module.ladders[prior.owner]
        self.net: LadderPosteriorNet = ev.module.ladders[node.network]
        present = [m for m in node.modalities if m in ev.batch]
        skips, experts = {}, []
        for m in present:
            skips[m], top = features(ev, node.network, m)
            experts.append(top)
        self.skips = skips
        self.top_prior = standard_normal(ev.B, ev.g.latent_size(node.latents[0]), ev.like)
        self.top = _product([self.top_prior] + experts)

    def level(self, z: str, upper: Tensor) -> tuple[DiagGaussian, DiagGaussian]:
        """(q(z | X, upper), p(z | upper)) at a value of the latent above [..., B, D]."""
        state = self.prior_net.top_down[_key(z)](upper)
        prior = DiagGaussian(*self.prior_net.heads[_key(z)](state))
        skip = len(self.node.latents) - 2 - self.node.latents[1:].index(z)
        experts = [self.net.expert(m, z, state, d[skip]) for m, d in self.skips.items()]
        return _product([prior] + experts), prior


def features(ev, network: str, m: str) -> tuple[list[Tensor], DiagGaussian]:
    """A modality's skip features and top expert, computed once per batch for all the subsets that read
    them (31 ladder posteriors of PolyMNIST share 5 encoder passes; in evaluation, the evaluation of
    the whole batch shares them with each subset's, as encoders are shared there)."""
    source = ev.experts_from if ev.experts_from is not None and m in ev.experts_from.batch else ev
    key = ("features", network, m)
    if key not in source.ladders:
        source.ladders[key] = ev.module.ladders[network].features(m, source.batch[m])
    return source.ladders[key]


@dataclass
class Chain:
    """k draws of every level of a ladder posterior, and each level's (q, p) at the draws above."""
    draws: dict[str, Tensor]
    pairs: list[tuple[DiagGaussian, DiagGaussian]]

    def whole(self, node) -> Tensor:
        """The draws over the ladder's latents, top first (the node's latent order)."""
        return torch.cat([self.draws[l] for l in node.latents], dim=-1)


def chain(ev, key: str, k: int) -> Chain:
    """The step's draws of a ladder posterior, computed once per evaluation (with the largest K)."""
    if key not in ev.ladders:
        ev.ladders[key] = _drawn(ev, key, max(k, ev.samples_needed.get(key, 1)))
    found = ev.ladders[key]
    have = next(iter(found.draws.values())).shape[0]
    if have < k:
        raise ValueError(f"{ev.g.label(key)} was sampled {have} times, {k} are needed")
    return found


def _drawn(ev, key: str, k: int) -> Chain:
    """Top down: k draws of the top level, then each level at (and as many as) the draws above."""
    node, label = ev.g.nodes[key], ev.g.label(key)
    ladder = Ladder(ev, node)
    noise = lambda latent, shape: ev.noise.normal(f"{label} on {latent}", shape, ev.like)
    top = node.latents[0]
    draws = {top: ladder.top.sample_with(noise(top, (k, ev.B, ev.g.latent_size(top))))}
    pairs = [(ladder.top, ladder.top_prior)]
    for z, upper in zip(node.latents[1:], node.latents[:-1]):
        q, p = ladder.level(z, draws[upper])
        draws[z] = q.sample_with(noise(z, tuple(q.mu.shape)))
        pairs.append((q, p))
    return Chain(draws, pairs)


def samples(ev, key: str, k: int) -> Tensor:
    """[k, B, D] draws over the ladder's latents, top first (the node's latent order)."""
    found = chain(ev, key, k)
    return found.whole(ev.g.nodes[key])[:k]


def kl(ev, key: str) -> Tensor:
    """Σ_l KL(q(z_l | X, z_{l+1}) || p(z_l | z_{l+1})) per item [B], closed form at the step's draws."""
    return sum(kl_gaussian(q, p).reshape(-1, ev.B).mean(0) for q, p in chain(ev, key, 1).pairs)


# ---- evaluation and generation: per-level distributions for ancestral draws -------------------------

class Level:
    """A ladder level below the top as a distribution given the latent above (hierarchy.ancestral)."""

    def __init__(self, at, upper: str, detached: bool = False):
        self._at, self.reads_latents, self._detached = at, (upper,), detached

    def at(self, values: dict[str, Tensor]) -> DiagGaussian:
        dist = self._at(values[self.reads_latents[0]])
        return dist.detach() if self._detached else dist

    def detach(self) -> "Level":
        return Level(self._at, self.reads_latents[0], True)


def posterior_parts(ev, key: str) -> dict[str, object]:
    """{latent: its distribution}: the top level's Gaussian, each lower one a Level."""
    node = ev.g.nodes[key]
    ladder = Ladder(ev, node)
    parts: dict[str, object] = {node.latents[0]: ladder.top}
    for z, upper in zip(node.latents[1:], node.latents[:-1]):
        parts[z] = Level(lambda value, z=z: ladder.level(z, value)[0], upper)
    return parts


def prior_part(ev, latent: str):
    """The ladder prior's distribution of `latent` (None when its prior is not a ladder): N(0, I) at the
    top, else a Level of the top-down network."""
    key = ev.g.latent_priors.get(latent)
    node = ev.g.nodes.get(key) if key is not None else None
    if not isinstance(node, LadderPrior):
        return None
    i = node.latents.index(latent)
    if i == 0:
        return standard_normal(ev.B, ev.g.latent_size(latent), ev.like)
    net: LadderPriorNet = ev.module.ladders[node.owner]
    state = lambda value: net.top_down[_key(latent)](value)
    return Level(lambda value: DiagGaussian(*net.heads[_key(latent)](state(value))), node.latents[i - 1])
