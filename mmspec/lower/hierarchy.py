"""The torch half of `normal(given=...)` (mmspec/constructs/hierarchy.py): the networks of a
distribution conditioned on a draw of other latents, the distribution in one Evaluation, the term that
scores a lower latent's draw under a conditional prior, and ancestral draws through conditional priors.

A normal(given=...) reads the step's draw of each distribution it names (a stop-gradient: its member's
draw, detached), so the draw a Nexus top level reads is the one the lower level decoded; with
`message=K` each draw goes through its modality's message network and the messages present are
averaged (all of them in training; the observed ones in evaluation, as MultiVae's encode averages over
the given modalities).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..model.graph import Conditional, Detached, ModelGraph
from .distributions import DiagGaussian


def relu_mlp(width: int, hidden: tuple[int, ...]) -> tuple[nn.Sequential, int]:
    """Linear + ReLU layers of the `hidden` widths from `width` inputs, and the width it ends at (the
    MLPs of normal(given=...) and of ladders)."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers), width


class ConditionalNet(nn.Module):
    """Messages (an MLP and a linear head per sender), then an MLP with a mean head and, unless the
    standard deviation is fixed, a log-variance head: MultiVae's Encoder_VAE_MLP / Decoder_AE_MLP shapes."""

    def __init__(self, senders: dict[str, int], free: int, message: int | None, hidden: tuple[int, ...],
                 out: int, learned_variance: bool):
        super().__init__()
        messages = {}
        for name, size in senders.items():
            body, width = relu_mlp(size, hidden)
            messages[name] = nn.Sequential(body, nn.Linear(width, message)) if message else nn.Identity()
        self.messages = nn.ModuleDict(messages)
        width_in = message if message else sum(senders.values()) + free
        self.body, width = relu_mlp(width_in, hidden)
        self.mean = nn.Linear(width, out)
        self.log_var = nn.Linear(width, out) if learned_variance else None

    def forward(self, draws: dict[str, Tensor], free: list[Tensor], average: bool,
                keep: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """`free`: the values of the free latents read (concatenated after the draws); `keep` [n, B]:
        which of the n messages each item averages (forced perceptual dropout)."""
        if average:
            messages = torch.stack([self.messages[n](d) for n, d in draws.items()])
            x = messages.mean(0) if keep is None else (messages * keep[..., None]).sum(0) / keep.sum(0)[:, None]
        else:
            x = torch.cat(list(draws.values()) + free, dim=-1)
        h = self.body(x)
        return self.mean(h), (self.log_var(h) if self.log_var is not None else None)


def _key(name: str) -> str:
    return name.replace(".", "_")         # a ModuleDict key has no dots


def build_modules(graph: ModelGraph) -> dict[str, ConditionalNet]:
    """One ConditionalNet per declaration (a subset-indexed one: its message networks cover every sender)."""
    by_network: dict[str, list[Conditional]] = {}
    for node in graph.nodes.values():
        if isinstance(node, Conditional):
            by_network.setdefault(node.network, []).append(node)
    out = {}
    for name, nodes in by_network.items():
        first = nodes[0]
        senders = {_key(s): graph.node_dim(k) for n in nodes for s, k in zip(n.senders, n.inputs)}
        free = sum(graph.latent_size(l) for l in first.reads_latents)
        out[name] = ConditionalNet(senders, free, first.message, first.hidden, graph.latent_size(first.latent),
                                   first.scale is None)
    return out


def draw_of(ev, key: str) -> Tensor:
    """The step's one draw [B, D] of a distribution (sg(...): its member's draw, detached)."""
    node = ev.g.nodes[key]
    if isinstance(node, Detached):
        return ev.samples(node.member, 1)[0].detach()
    return ev.samples(key, 1)[0]


def distribution(ev, node: Conditional, bound: dict[str, Tensor] | None = None) -> DiagGaussian:
    """The distribution at the step's draws of its inputs and, for free latents, at `bound` values
    ({latent: [..., B, D]}; the result has their leading shape)."""
    missing = [l for l in node.reads_latents if bound is None or l not in bound]
    if missing:
        raise ValueError(f"{ev.g.label(node.key)} is conditioned on {', '.join(missing)}, which has no draw here")
    present = [(s, k) for s, k in zip(node.senders, node.inputs) if ev.g.sees(k) <= set(ev.batch)]
    draws = {_key(s): draw_of(ev, k) for s, k in present}
    net = ev.module.conditionals[node.network]
    keep = forced_dropout(ev, node, len(draws)) if node.dropout and net.training and len(draws) > 1 else None
    mu, log_var = net(draws, [bound[l] for l in node.reads_latents], node.message is not None, keep)
    if node.link == "sigmoid":
        mu = torch.sigmoid(mu)
    if log_var is None:
        log_var = torch.full_like(mu, 2.0 * math.log(node.scale))
    return DiagGaussian(mu, log_var)


def forced_dropout(ev, node: Conditional, n: int) -> Tensor:
    """[n, B] 0/1: Nexus's forced perceptual dropout (MultiVae's _aggregate_during_training): with
    probability `dropout` an item keeps the messages of a random subset of 1 to n-1 of its n
    modalities (the size uniform, then a uniformly random subset of that size); else all of them."""
    u = ev.noise.uniform(f"{ev.g.label(node.key)} dropout", (3, ev.B, n), ev.like)
    drop = u[0, :, :1] < node.dropout                                   # [B, 1]
    size = 1 + torch.floor(u[1, :, :1] * (n - 1))                      # 1 .. n-1
    rank = u[2].argsort(-1).argsort(-1)                                  # a random order of the n
    return ((rank < size) | ~drop).T.to(ev.like.dtype)


def latent_rec_value(ev, leaf) -> Tensor:
    """E_{s~dist}[log prior(v | s)] per item [B]: K draws of dist, the one draw v of the target."""
    (upper,) = ev.g.node_latents(leaf.dist)             # the checker admits a distribution over one latent
    value = draw_of(ev, leaf.target)
    prior = distribution(ev, ev.g.nodes[leaf.prior], {upper: ev.samples(leaf.dist, leaf.k)})
    return prior.log_prob(value).mean(0)


class ConditionalPrior:
    """A conditional prior in an ancestral draw: its distribution once the latents it reads have values."""

    def __init__(self, ev, node: Conditional):
        self.ev, self.node, self.reads_latents = ev, node, node.reads_latents

    def at(self, values: dict[str, Tensor]) -> DiagGaussian:
        return distribution(self.ev, self.node, values)

    def detach(self) -> "ConditionalPrior":
        return self


def conditional_prior(ev, latent: str) -> ConditionalPrior | None:
    """The conditional prior `latent` is drawn from when no distribution describes it, if it has one."""
    key = ev.g.latent_priors.get(latent)
    node = ev.g.nodes.get(key) if key is not None else None
    return ConditionalPrior(ev, node) if isinstance(node, Conditional) and node.reads_latents else None


def ancestral(parts: list[tuple[str, object]], value_of, value_conditional) -> dict[str, Tensor]:
    """Each latent's value, a conditional one's (anything with `reads_latents` and `at(values)`: a
    ConditionalPrior, a ladder's level) once the latents it reads have theirs (the checker refuses
    cycles, so every pass settles at least one)."""
    out: dict[str, Tensor] = {}
    pending = list(parts)
    while pending:
        ready = [(l, d) for l, d in pending if all(u in out for u in getattr(d, "reads_latents", ()))]
        if not ready:
            raise ValueError("latents conditioned on each other: " + ", ".join(l for l, _ in pending))
        for l, d in ready:
            out[l] = value_conditional(d.at(out)) if hasattr(d, "reads_latents") else value_of(d)
        pending = [p for p in pending if p not in ready]
    return out
