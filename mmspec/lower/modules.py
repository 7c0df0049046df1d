"""The trainable networks of a spec, gathered in one nn.Module.

Encoders are keyed by the posterior declaration that owns them ("q[mnist]"), decoders by modality;
a joint encoder concatenates a fresh body per modality and maps the features through an MLP to
Gaussian heads (JMVAE's and SMVAE's joint networks).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..model.graph import Expert, JointExpert, LaplacePrior, ModelGraph
from ..networks import GaussianHeads, build_decoder, build_encoder, build_encoder_body
from .batched import BatchedGroups
from . import flows, hierarchy, ladder, mog
from .refine import build_modules as build_refine_modules

DEFAULT_JOINT_HIDDEN = (512,)


class JointEncoder(nn.Module):
    def __init__(self, graph: ModelGraph, modalities: tuple[str, ...], hidden: tuple[int, ...], latent_dim: int):
        super().__init__()
        self.modalities = modalities
        bodies, width = {}, 0
        for m in modalities:                    # generated modalities, then given (conditioning) data
            mod = graph.modalities[m] if m in graph.modalities else graph.givens[m]
            body, features = build_encoder_body(mod.net.name, mod.net.as_dict(), mod.kind, mod.shape, latent_dim)
            bodies[m] = body
            width += features
        self.bodies = nn.ModuleDict(bodies)
        layers: list[nn.Module] = []
        for h in hidden or DEFAULT_JOINT_HIDDEN:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.mlp = nn.Sequential(*layers)
        self.heads = GaussianHeads(width, latent_dim)

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        features = torch.cat([self.bodies[m](batch[m]) for m in self.modalities], dim=-1)
        return self.heads(self.mlp(features))


class SpecModule(nn.Module):
    """Every network of one spec. Parameter names follow the spec: encoders.q[mnist].*, decoders.text.*"""

    def __init__(self, graph: ModelGraph):
        super().__init__()
        d = next(iter(graph.latents.values())).dim          # refine's networks: specs with one latent size
        # each network is built for the size of what it describes or reads
        sizes = {n.network: graph.node_dim(k) for k, n in graph.nodes.items() if isinstance(n, (Expert, JointExpert))}
        encoders, joints, decoders, scales = {}, {}, {}, {}
        for net in graph.networks.values():
            if net.role == "encoder":
                mod = graph.modalities[net.modalities[0]]
                encoders[net.name] = build_encoder(mod.net.name, mod.net.as_dict(), mod.kind, mod.shape, sizes[net.name])
            elif net.role == "joint_encoder":
                joints[net.name] = JointEncoder(graph, net.modalities, net.hidden, sizes[net.name])
        for name, mod in graph.modalities.items():
            decoders[name] = build_decoder(mod.net.name, mod.net.as_dict(), mod.kind, mod.shape,
                                           graph.decoder_input_dim(name))
            if mod.likelihood.learned:
                scales[name] = nn.Parameter(torch.zeros(()))
        self.encoders = nn.ModuleDict(encoders)
        self.joint_encoders = nn.ModuleDict(joints)
        self.decoders = nn.ModuleDict(decoders)
        self.log_scales = nn.ParameterDict(scales)
        # learned Laplace prior scales (MMVAE): logits lambda [D], b = D·softmax(lambda), initially b = 1
        self.prior_logits = nn.ParameterDict({n.owner: nn.Parameter(torch.zeros(graph.node_dim(k)))
                                              for k, n in graph.nodes.items()
                                              if isinstance(n, LaplacePrior) and n.scale is None})
        self.batched: dict[str, BatchedGroups] | None = None
        # refine(...) update networks and gradient_origin(...) heads, by declaration (mmspec/lower/refine.py)
        refiners, origins = build_refine_modules(graph, d)
        self.refiners = nn.ModuleDict(refiners)
        self.origins = nn.ModuleDict(origins)
        self.flows = nn.ModuleDict(flows.build_modules(graph))                 # flow(...) transforms
        self.prior_mixtures = nn.ModuleDict(mog.build_modules(graph))          # mog(...) priors
        self.conditionals = nn.ModuleDict(hierarchy.build_modules(graph))      # normal(given=...) networks
        self.ladders = nn.ModuleDict(ladder.build_modules(graph))              # ladder(...) networks

    def use_batched(self, enabled: bool = True) -> "SpecModule":
        """Run encoders (and decoders) of identical architecture as one vmapped call each
        (mmspec.lower.batched); the parameters stay those of the separate networks."""
        self.batched = ({"encoders": BatchedGroups(self.encoders), "decoders": BatchedGroups(self.decoders)}
                        if enabled else None)
        return self
