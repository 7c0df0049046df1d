"""The trainable networks of a spec, gathered in one nn.Module.

Encoders are keyed by the posterior declaration that owns them ("q[mnist]"), decoders by modality;
a joint encoder concatenates a fresh body per modality and maps the features through an MLP to
Gaussian heads (JMVAE's and SMVAE's joint networks).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..graph import ModelGraph
from ..networks import GaussianHeads, build_decoder, build_encoder, build_encoder_body

DEFAULT_JOINT_HIDDEN = (512,)


class JointEncoder(nn.Module):
    def __init__(self, graph: ModelGraph, modalities: tuple[str, ...], hidden: tuple[int, ...], latent_dim: int):
        super().__init__()
        self.modalities = modalities
        bodies, width = {}, 0
        for m in modalities:
            mod = graph.modalities[m]
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
        d = graph.latent_dim()
        encoders, joints, decoders, scales = {}, {}, {}, {}
        for net in graph.networks.values():
            if net.role == "encoder":
                mod = graph.modalities[net.modalities[0]]
                encoders[net.name] = build_encoder(mod.net.name, mod.net.as_dict(), mod.kind, mod.shape, d)
            elif net.role == "joint_encoder":
                joints[net.name] = JointEncoder(graph, net.modalities, net.hidden, d)
        for name, mod in graph.modalities.items():
            decoders[name] = build_decoder(mod.net.name, mod.net.as_dict(), mod.kind, mod.shape, d)
            if mod.likelihood.learned:
                scales[name] = nn.Parameter(torch.zeros(()))
        self.encoders = nn.ModuleDict(encoders)
        self.joint_encoders = nn.ModuleDict(joints)
        self.decoders = nn.ModuleDict(decoders)
        self.log_scales = nn.ParameterDict(scales)
