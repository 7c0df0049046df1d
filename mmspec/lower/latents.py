"""Several latents in the lowering: draws per latent, decoder inputs, and densities latent by latent.

In a spec whose decoders read several latents (`from (z, w[m])`, mmspec/check/latents.py), a
distribution's draw is one tensor per latent it describes. A decoder's input is the concatenation of
the latents it reads: the draw's where the distribution describes them, else a fresh draw from the
latent's prior, one per (distribution, target) pair (MMVAE+'s cross-generation, as MultiVae draws it).

Densities go latent by latent: a joint is the product of its factors; a mixture whose components
describe different latents has, on each latent, the mixture of the components that describe it
(weights renormalised among them), and its density at a draw is the product of these marginals.
For MMVAE+'s moe((qz[m], qw[m])) at a draw (z, w_m) of component m that is
(1/M Σ_j qz_j(z))·qw_m(w_m), MultiVae's log q(u | X) + log q(w_m | x_m).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..model.graph import Joint, LadderPosterior, Mixture, mixture_parts
from .distributions import MixtureOf
from . import ladder
from .hierarchy import ancestral, conditional_prior


def draw(ev, key: str, k: int) -> dict[str, Tensor]:
    """k reparameterised draws of each latent `key` describes: {latent: [k, B, D_latent]}."""
    node = ev.g.nodes[key]
    if isinstance(node, Joint):
        out: dict[str, Tensor] = {}
        for m in node.members:
            out.update(draw(ev, m, k))
        return out
    z = ev.samples(key, k)
    return {latent: z[..., ev.g.latent_slice(key, latent)] for latent in ev.g.node_latents(key)}


def prior_of(ev, latent: str):
    """The distribution a latent is drawn from when the decoded distribution does not describe it."""
    return ev.on_latent(ev.g.latent_priors[latent], latent)


def decoder_input(ev, source: str, parts: dict[str, Tensor], target: str) -> Tensor:
    """[k, B, D_in]: the latents `target`'s decoder reads, from `parts` or from their priors."""
    k = next(iter(parts.values())).shape[0]
    pieces = []
    for latent in ev.g.decoder_reads(target):
        if latent in parts:
            pieces.append(parts[latent])
            continue
        conditional = conditional_prior(ev, latent)           # p(z_m | s) at the draw's s (a hierarchy)
        prior = conditional.at(parts) if conditional is not None else prior_of(ev, latent)
        sample = ev.noise.uniform if prior.noise == "uniform" else ev.noise.normal
        label = f"{ev.g.label(ev.g.latent_priors[latent])} on {latent} for {target} from {ev.g.label(source)}"
        pieces.append(prior.sample_with(sample(label, (k, ev.B, ev.g.latent_size(latent)), ev.like)))
    return torch.cat(pieces, dim=-1) if len(pieces) > 1 else pieces[0]


def marginal(ev, key: str, latent: str):
    """The distribution `key` gives one of its latents (a latent-free prior: at that latent's size)."""
    g = ev.g
    node = g.nodes[key]
    own = g.node_latents(key)
    if not own:
        return ev.on_latent(key, latent)
    if own == (latent,):
        return ev.posterior(key)
    if isinstance(node, Joint):
        return marginal(ev, next(m for m in node.members if latent in g.node_latents(m)), latent)
    if isinstance(node, Mixture):
        parts = [(c, w) for c, w in mixture_parts(g, key) if latent in g.node_latents(c)]
        total = sum(w for _, w in parts)
        if len(parts) == 1:
            return marginal(ev, parts[0][0], latent)
        return MixtureOf([marginal(ev, c, latent) for c, _ in parts], [w / total for _, w in parts])
    return ev.gaussian(key).part(g.latent_slice(key, latent))      # an encoder over several latents


def log_density(ev, key: str, parts: dict[str, Tensor], detached: bool = False) -> Tensor:
    """log of `key`'s density at a draw {latent: [..., B, D]}, latent by latent -> [..., B]."""
    total = 0.0
    for latent, z in parts.items():
        d = marginal(ev, key, latent)
        total = total + (d.detach() if detached else d).log_prob(z)
    return total


class Concatenated:
    """A distribution over the spec's whole latent vector (every latent, in declaration order; what
    evaluation encodes, samples and decodes): the latents the inferred distribution describes from it,
    the others from their priors (MultiVae's `single_prior` reconstruction option)."""

    def __init__(self, ev, key: str | None):
        g = ev.g
        own = g.node_latents(key) if key is not None else ()
        levels = ladder.posterior_parts(ev, key) if key is not None and isinstance(g.nodes[key], LadderPosterior) else {}
        self.parts = [(l, levels[l] if l in levels else marginal(ev, key, l) if l in own else
                       ladder.prior_part(ev, l) or conditional_prior(ev, l) or prior_of(ev, l)) for l in g.layout()]
        self.sizes = [g.latent_size(l) for l in g.layout()]

    def _whole(self, values: dict[str, Tensor]) -> Tensor:
        return torch.cat([values[l] for l, _ in self.parts], dim=-1)

    @property
    def mean(self) -> Tensor:
        """Every latent's mean; a latent with a conditional prior: its mean given the others' means."""
        return self._whole(ancestral(self.parts, lambda d: d.mean, lambda d: d.mean))

    def rsample(self, k: int = 1) -> Tensor:
        """Ancestral draws: a latent with a conditional prior is drawn given the others' draws."""
        return self._whole(ancestral(self.parts, lambda d: d.rsample(k), lambda d: d.rsample(1)[0]))

    def log_prob(self, z: Tensor) -> Tensor:
        values = dict(zip((l for l, _ in self.parts), z.split(self.sizes, dim=-1)))
        return sum(d.at(values).log_prob(values[l]) if hasattr(d, "at") else d.log_prob(values[l])
                   for l, d in self.parts)

    def detach(self) -> "Concatenated":
        copy = object.__new__(Concatenated)
        copy.parts = [(l, d.detach()) for l, d in self.parts]
        copy.sizes = self.sizes
        return copy


def slices(g) -> dict[str, slice]:
    """Where each latent sits in the whole latent vector."""
    out, start = {}, 0
    for latent in g.layout():
        out[latent] = slice(start, start + g.latent_size(latent))
        start += g.latent_size(latent)
    return out


def reads_from_whole(g, target: str, z: Tensor) -> Tensor:
    """The decoder input of `target` from the whole latent vector z [..., D_total]."""
    where = slices(g)
    return torch.cat([z[..., where[l]] for l in g.decoder_reads(target)], dim=-1)

