"""The model graph: modalities, latents, networks and distributions, after checking.

Distribution nodes are hash-consed by structure: `poe(p, q[*])` written twice is one node, so the
lowering samples it once per step. Each node keeps the display name the user gave it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import networkx as nx

from .errors import Span


@dataclass(frozen=True)
class Likelihood:
    name: str                       # laplace | gaussian | bernoulli | categorical
    scale: float | None = None      # fixed scale for laplace/gaussian
    learned: bool = False           # gaussian(scale=learned)


@dataclass(frozen=True)
class NetRef:
    name: str
    params: tuple[tuple[str, object], ...] = ()

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.params}


@dataclass(frozen=True)
class Modality:
    name: str
    kind: str
    shape: tuple[int, ...]
    likelihood: Likelihood
    net: NetRef
    weight: float
    weight_text: str
    span: Span

    @property
    def dim(self) -> int:
        """Number of data dimensions; text counts positions x vocabulary, as the one-hot input does."""
        n = 1
        for s in self.shape:
            n *= s
        return n


@dataclass(frozen=True)
class Latent:
    name: str
    dim: int
    indexed: bool


# ---- distribution nodes --------------------------------------------------------------------
# `latent` is the id of the latent variable the node describes ("z", "z[mnist]"), or None for the
# standard normal, which is the same distribution on every latent of its dimension.

@dataclass(frozen=True)
class NormalPrior:
    key: str
    latent: str | None = None
    family: str = "gaussian"


@dataclass(frozen=True)
class Expert:
    key: str
    modality: str
    network: str                    # instance name, e.g. "q.mnist"
    latent: str | None = None
    family: str = "gaussian"


@dataclass(frozen=True)
class JointExpert:
    key: str
    modalities: tuple[str, ...]
    network: str
    hidden: tuple[int, ...]
    latent: str | None = None
    family: str = "gaussian"


@dataclass(frozen=True)
class PoE:
    key: str
    members: tuple[str, ...]
    latent: str | None = None
    family: str = "gaussian"


@dataclass(frozen=True)
class WeightedPoE:
    key: str
    members: tuple[str, ...]
    weights: tuple[float, ...]
    latent: str | None = None
    family: str = "gaussian"


@dataclass(frozen=True)
class Average:
    key: str
    members: tuple[str, ...]
    latent: str | None = None
    family: str = "gaussian"


@dataclass(frozen=True)
class Mixture:
    key: str
    members: tuple[str, ...]
    weights: tuple[float, ...]
    latent: str | None = None
    family: str = "mixture"


@dataclass(frozen=True)
class Detached:
    """stop-gradient: the same distribution with its parameters cut from the graph."""
    key: str
    member: str
    latent: str | None = None
    family: str = "gaussian"


DistNode = Union[NormalPrior, Expert, JointExpert, PoE, WeightedPoE, Average, Mixture, Detached]


def members_of(node: DistNode) -> tuple[str, ...]:
    if isinstance(node, Detached):
        return (node.member,)
    return getattr(node, "members", ())


@dataclass(frozen=True)
class NetworkInstance:
    """One set of trainable weights: an encoder of a posterior declaration, or a decoder."""
    name: str                       # "q.mnist", "qj", "decoder.mnist"
    role: str                       # encoder | joint_encoder | decoder
    modalities: tuple[str, ...]
    hidden: tuple[int, ...] = ()


@dataclass
class ModelGraph:
    name: str
    dataset: str
    modalities: dict[str, Modality]
    latents: dict[str, Latent]
    nodes: dict[str, DistNode] = field(default_factory=dict)
    display: dict[str, str] = field(default_factory=dict)     # node key -> name shown to users
    networks: dict[str, NetworkInstance] = field(default_factory=dict)
    params: dict[str, float] = field(default_factory=dict)
    prior_keys: set[str] = field(default_factory=set)          # nodes declared with `prior`

    @property
    def M(self) -> int:
        return len(self.modalities)

    def latent_dim(self) -> int:
        return next(iter(self.latents.values())).dim

    def label(self, key: str) -> str:
        return self.display.get(key, key)

    def sees(self, key: str) -> frozenset[str]:
        """The modalities a distribution is conditioned on (a mixture: the union of its parts)."""
        node = self.nodes[key]
        if isinstance(node, Expert):
            return frozenset([node.modality])
        if isinstance(node, JointExpert):
            return frozenset(node.modalities)
        out: frozenset[str] = frozenset()
        for member in members_of(node):
            out |= self.sees(member)
        return out

    def component_views(self, key: str) -> list[frozenset[str]]:
        """What each mixture component sees; a non-mixture is its own single component."""
        node = self.nodes[key]
        if isinstance(node, Mixture):
            return [v for m in node.members for v in self.component_views(m)]
        return [self.sees(key)]

    def is_gaussian(self, key: str) -> bool:
        return self.nodes[key].family == "gaussian"

    def to_networkx(self) -> nx.DiGraph:
        """Data -> networks -> distributions; objective terms are added by the IR."""
        g = nx.DiGraph()
        for m in self.modalities.values():
            g.add_node(f"x:{m.name}", kind="data", label=f"x_{m.name}\n{m.kind}{m.shape}")
            g.add_node(f"dec:{m.name}", kind="decoder", label=f"decoder {m.name}\n{m.net.name}")
            g.add_edge(f"dec:{m.name}", f"x:{m.name}")
        for key, node in self.nodes.items():
            g.add_node(f"d:{key}", kind="distribution", label=self.label(key),
                       family=node.family, type=type(node).__name__)
            if isinstance(node, (Expert, JointExpert)):
                net = f"enc:{node.network}"
                g.add_node(net, kind="encoder", label=f"encoder {node.network}")
                for m in (node.modalities if isinstance(node, JointExpert) else (node.modality,)):
                    g.add_edge(f"x:{m}", net)
                g.add_edge(net, f"d:{key}")
            for member in members_of(node):
                g.add_edge(f"d:{member}", f"d:{key}")
        return g
