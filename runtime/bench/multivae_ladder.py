"""MultiVae's MHVAE built from a ladder spec's networks (`prior p = ladder(...)`, `posterior q[S] =
ladder(p, S)`): the encoder bodies (MultiVae's encoders, the first skip feature), the bottom-up blocks
with the top experts' heads last, the prior's top-down MLPs and heads (top_down_blocks, prior_blocks)
and the posterior blocks, all deep copies of the compiled spec's modules (runtime/bench/multivae_side.py
calls it)."""
from __future__ import annotations

import copy

from torch import nn

from mmspec.model.graph import LadderPosterior, LadderPrior

from ..errors import RunError


def build(model, models, BaseEncoder, ModelOutput, decoders: dict, config: dict) -> nn.Module:
    g, module = model.graph, model.module
    posteriors = {n.network: n for n in g.nodes.values() if isinstance(n, LadderPosterior)}
    if len(posteriors) != 1:
        raise RunError("MultiVae's MHVAE has one ladder posterior: `posterior q[S in subsets(*)] = ladder(p, S)`")
    (node,) = posteriors.values()
    prior: LadderPrior = g.nodes[node.prior]
    up = copy.deepcopy(module.ladders[node.network])
    down = copy.deepcopy(module.ladders[prior.owner])

    class Heads(BaseEncoder):
        """Gaussian heads (after an optional MLP) as a MultiVae BaseEncoder."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            mu, log_var = self.net(x)
            return ModelOutput(embedding=mu, log_covariance=log_var)

    class Features(BaseEncoder):
        def __init__(self, body):
            super().__init__()
            self.body = body

        def forward(self, x):
            return ModelOutput(embedding=self.body(x))

    bottom = list(reversed(prior.latents[1:]))                 # MultiVae's levels 1 .. L-1: bottom first
    key = lambda latent: latent.replace(".", "_")
    bottom_up = {m: list(up.bottom_up[m]) + [Heads(up.top[m])] for m in g.modalities}
    posterior_blocks = ([Heads(up.blocks["shared"][key(z)]) for z in bottom] if node.shared else
                        {m: [Heads(up.blocks[m][key(z)]) for z in bottom] for m in g.modalities})
    config.update(n_latent=len(prior.latents), latent_dim=g.latent_size(prior.latents[0]),
                  beta=float(model.params.get("beta", 1.0)))
    return models.MHVAE(models.MHVAEConfig(**config), encoders={m: Features(up.bodies[m]) for m in g.modalities},
                        decoders=decoders, bottom_up_blocks=bottom_up,
                        top_down_blocks=[down.top_down[key(z)] for z in bottom],
                        posterior_blocks=posterior_blocks,
                        prior_blocks=[Heads(down.heads[key(z)]) for z in bottom])
