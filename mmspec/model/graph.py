"""The model graph: modalities, latents, networks and distributions, after checking.

Distribution nodes are hash-consed by structure: `poe(p, q[*])` written twice is one node, so the
lowering samples it once per step. Each node keeps the display name the user gave it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Union

from ..errors import Span


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
    reads: tuple[str, ...] = ()     # latent ids its decoder reads, concatenated (`from (z, w[m])`); () = the one latent
    given: tuple[str, ...] = ()     # conditioning data its decoder also reads after the latents (`given m1`, CVAE)

    @property
    def dim(self) -> int:
        """Number of data dimensions; text counts positions x vocabulary, as the one-hot input does."""
        return math.prod(self.shape)


@dataclass(frozen=True)
class Given:
    """Data the model reads and never generates (`given m1: image(3, 28, 28), net NET`): a CVAE's
    conditioning input. A decoder reads it flattened after its latents; a conditional encoder reads it
    through the network's encoder body. It is not one of the M modalities (`*`, `sum m`, M exclude it)."""
    name: str
    kind: str
    shape: tuple[int, ...]
    net: NetRef | None
    span: Span

    @property
    def dim(self) -> int:
        """Number of data dimensions, as a flattened input counts them."""
        return math.prod(self.shape)


@dataclass(frozen=True)
class Latent:
    name: str
    dim: int
    indexed: bool


# ---- distribution nodes --------------------------------------------------------------------
# Every node answers for itself what it reads and what it owns, so that no phase dispatches on its type.

class Node:
    """What every distribution node answers (frozen dataclasses below override what applies)."""

    def view(self) -> frozenset[str] | None:
        """The modalities this node itself reads; None when it only combines its members."""
        return None

    def parameter_group(self) -> str | None:
        """The parameter group (module path) of the weights this node owns, if any."""
        return None

# `latent` is the id of the latent variable the node describes ("z", "z[mnist]"), or None for the
# standard normal, which is the same distribution on every latent of its dimension.

@dataclass(frozen=True)
class NormalPrior(Node):
    key: str
    latent: str | None = None
    family: str = "gaussian"


@dataclass(frozen=True)
class LaplacePrior(Node):
    """Laplace(0, b) in every dimension: b fixed, or learned as MMVAE's code does it,
    b = D·softmax(lambda) with lambda trainable (initially 0, so b = 1)."""
    key: str
    scale: float | None = 1.0           # None when learned
    owner: str = ""                     # the declaration that owns a learned scale
    eps: float = 0.0                    # added to a learned scale (MultiVae's MMVAE+: 1e-6)
    latent: str | None = None
    family: str = "laplace"


@dataclass(frozen=True)
class Expert(Node):
    key: str
    modality: str
    network: str                    # instance name, e.g. "q.mnist"
    latent: str | None = None
    family: str = "gaussian"
    latents: tuple[str, ...] = ()   # `encoder(m) on (z, w[m])`: one network, heads for each latent in turn

    def view(self) -> frozenset[str]:
        return frozenset([self.modality])

    def parameter_group(self) -> str:
        return f"encoders.{self.network}"


@dataclass(frozen=True)
class JointExpert(Node):
    key: str
    modalities: tuple[str, ...]
    network: str
    hidden: tuple[int, ...]
    latent: str | None = None
    family: str = "gaussian"
    given: tuple[str, ...] = ()     # conditioning data it also reads (`encoder(m0, given=m1)`); not in its view

    def view(self) -> frozenset[str]:
        return frozenset(self.modalities)

    def parameter_group(self) -> str:
        return f"joint_encoders.{self.network}"


@dataclass(frozen=True)
class PoE(Node):
    key: str
    members: tuple[str, ...]
    latent: str | None = None
    family: str = "gaussian"


@dataclass(frozen=True)
class WeightedPoE(Node):
    key: str
    members: tuple[str, ...]
    weights: tuple[float, ...]
    latent: str | None = None
    family: str = "gaussian"


@dataclass(frozen=True)
class Average(Node):
    key: str
    members: tuple[str, ...]
    latent: str | None = None
    family: str = "gaussian"


@dataclass(frozen=True)
class Mixture(Node):
    key: str
    members: tuple[str, ...]
    weights: tuple[float, ...]
    latent: str | None = None
    family: str = "mixture"


@dataclass(frozen=True)
class Detached(Node):
    """stop-gradient: the same distribution with its parameters cut from the graph."""
    key: str
    member: str
    latent: str | None = None
    family: str = "gaussian"


@dataclass(frozen=True)
class Iterate(Node):
    """Inside the objective of refine(...)/gradient_origin(...): the declared posterior at the current
    iterate t (its mean and log-variance are what the gradient is taken with respect to)."""
    key: str
    owner: str                      # the declaration, e.g. "r[mnist]"
    members: tuple[str, ...] = ()   # the refined posterior's initial distribution (none for gradient origin)
    latent: str | None = None
    family: str = "gaussian"


@dataclass(frozen=True)
class Refined(Node):
    """Iterative amortized inference (MIAI): T gated updates of (mu, log sigma) from `init` by an
    update network driven by the gradients of `objective` (an ir.Term over `iterate`); see
    mmspec/constructs/refine.py and mmspec/lower/refine.py."""
    key: str
    init: str
    iterate: str
    objective: object               # ir.Term; its leaves read `iterate`
    direction: str                  # maximize | minimize
    steps: int                      # T while training
    eval_steps: int                 # T at evaluation
    grad: str                       # detached (first order) | through (differentiate through the gradient)
    loss: str                       # mean (terms of this posterior averaged over iterates) | final
    network: str                    # the update network, e.g. "r[mnist]"
    inputs: tuple[str, ...]         # modalities the update network reads as x
    hidden: int
    members: tuple[str, ...]        # init, then every other distribution the objective reads
    reads: frozenset[str]           # modalities the result depends on (init's and the objective's)
    latent: str | None = None
    family: str = "gaussian"

    def view(self) -> frozenset[str]:
        return self.reads

    def parameter_group(self) -> str:
        return f"refiners.{self.network}"          # the update network


@dataclass(frozen=True)
class GradientOrigin(Node):
    """A variational gradient-origin posterior (SMVGON): z0 = 0, z0' = z0 + grad_z0 L(N(mu(z0), sigma(z0))),
    q = N(mu(z0'), sigma(z0')) with trainable linear heads mu, sigma."""
    key: str
    iterate: str
    objective: object
    direction: str
    network: str
    members: tuple[str, ...]
    reads: frozenset[str]
    latent: str | None = None
    family: str = "gaussian"

    def view(self) -> frozenset[str]:
        return self.reads

    def parameter_group(self) -> str:
        return f"origins.{self.network}"           # the gradient-origin heads


@dataclass(frozen=True)
class Joint(Node):
    """Independent distributions over different latents as one distribution over all of them,
    q(z, w_m | x_m) = q(z | x_m)·q(w_m | x_m), written `(qz[m], qw[m])`. Its members are single
    latents' distributions (or joints); `latents` lists what it describes, in member order."""
    key: str
    members: tuple[str, ...]
    latents: tuple[str, ...]
    latent: str | None = None
    family: str = "joint"


@dataclass(frozen=True)
class Marginal(Node):
    """One latent's factor of a distribution over several latents (`posterior qw[m] = q[m] on w[m]`)."""
    key: str
    members: tuple[str, ...]        # the distribution over several latents
    latent: str | None = None
    family: str = "gaussian"


DistNode = Union["Conditional", Marginal, Joint, NormalPrior, LaplacePrior, Expert, JointExpert, PoE, WeightedPoE, Average, Mixture, Detached,
                 Iterate, Refined, GradientOrigin]


def members_of(node: DistNode) -> tuple[str, ...]:
    if isinstance(node, Detached):
        return (node.member,)
    return getattr(node, "members", ())


def closure(g: "ModelGraph", keys, expand=lambda node: True) -> set[str]:
    """`keys` and every distribution they are built from, transitively: the one graph walk.
    `expand(node)` False keeps a node but not what it is built from (e.g. stop at sg(...))."""
    seen, stack = set(), list(keys)
    while stack:
        k = stack.pop()
        if k not in seen:
            seen.add(k)
            node = g.nodes[k]
            if expand(node):
                stack.extend(members_of(node))
    return seen


def given_read(g: "ModelGraph", key: str) -> tuple[str, ...]:
    """The given (conditioning) data a distribution reads through its encoders (`encoder(m0, given=m1)`)."""
    found = {c for k in closure(g, [key]) if isinstance(g.nodes[k], JointExpert) for c in g.nodes[k].given}
    return tuple(c for c in g.givens if c in found)


def dependents(g: "ModelGraph", keys) -> set[str]:
    """Every node whose value depends on one of `keys` (the keys included): closure reversed."""
    keys = set(keys)
    return {k for k in g.nodes if not keys.isdisjoint(closure(g, [k]))}


def mixture_parts(g: "ModelGraph", key: str, weight: float = 1.0) -> list[tuple[str, float]]:
    """A distribution as weighted non-mixture components (nested mixtures flattened).

    Memoised in the graph for weight 1 (a node's key fixes its structure): explain and the cost
    analysis ask for a MoPoE mixture's 2^M - 1 parts once per term."""
    if weight == 1.0:
        if key not in g.parts_cache:
            g.parts_cache[key] = _mixture_parts(g, key, weight)
        return list(g.parts_cache[key])
    return _mixture_parts(g, key, weight)


def _mixture_parts(g: "ModelGraph", key: str, weight: float) -> list[tuple[str, float]]:
    node = g.nodes[key]
    if isinstance(node, Mixture):
        return [p for m, w in zip(node.members, node.weights) for p in mixture_parts(g, m, weight * w)]
    return [(key, weight)]


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
    schedules: dict[str, object] = field(default_factory=dict)   # param -> constructs.schedules.Schedule
    prior_keys: set[str] = field(default_factory=set)          # nodes declared with `prior`
    latent_priors: dict[str, str] = field(default_factory=dict)   # latent id -> the data-free prior a missing one is drawn from
    givens: dict[str, Given] = field(default_factory=dict)        # conditioning data (`given m1: ...`), not modalities
    parts_cache: dict[str, list] = field(default_factory=dict, repr=False, compare=False)   # mixture_parts'

    @property
    def M(self) -> int:
        return len(self.modalities)

    def latent_dim(self) -> int:
        """The size of the one latent vector of a spec whose decoders read one latent; a spec whose
        decoders read several (`from (z, w[m])`) has the size of all its latents concatenated."""
        if self.has_layout:
            return sum(self.latent_size(l) for l in self.layout())
        return next(iter(self.latents.values())).dim

    @property
    def has_layout(self) -> bool:
        """True when decoders say which latents they read (`from ...`): several latents, any sizes."""
        return any(m.reads for m in self.modalities.values())

    def latent_size(self, latent: str) -> int:
        """The size of a latent id (`z`, `w[m0]`)."""
        return self.latents[latent.split("[")[0]].dim

    def layout(self) -> list[str]:
        """Every latent id in declaration order, per-modality latents expanded: the order of the
        concatenated vector that evaluation encodes and decodes."""
        out: list[str] = []
        for l in self.latents.values():
            out += [f"{l.name}[{m}]" for m in self.modalities] if l.indexed else [l.name]
        return out

    def node_latents(self, key: str) -> tuple[str, ...]:
        """The latents a distribution describes: one, several (a joint, a mixture of joints) or
        none (N(0, I) and fixed priors, valid on every latent)."""
        node = self.nodes[key]
        if getattr(node, "latents", ()):            # a joint, or an encoder over several latents
            return node.latents
        if node.latent is not None:
            return (node.latent,)
        out: list[str] = []
        for m in members_of(node):
            out += [l for l in self.node_latents(m) if l not in out]
        return tuple(out)

    def node_dim(self, key: str) -> int:
        """The size of the vector a distribution describes; a latent-free distribution (N(0, I)) has
        the spec's one size, or 1 (broadcast over any latent) when sizes differ."""
        latents = self.node_latents(key)
        if latents:
            return sum(self.latent_size(l) for l in latents)
        sizes = {l.dim for l in self.latents.values()}
        return sizes.pop() if len(sizes) == 1 else 1

    def latent_slice(self, key: str, latent: str) -> slice:
        """Where `latent` sits in the vector a distribution over several latents describes."""
        start = 0
        for l in self.node_latents(key):
            if l == latent:
                return slice(start, start + self.latent_size(l))
            start += self.latent_size(l)
        raise KeyError(latent)

    def decoder_reads(self, modality: str) -> tuple[str, ...]:
        return self.modalities[modality].reads

    def decoder_input_dim(self, modality: str) -> int:
        """The latents the decoder reads, then the flattened conditioning data it is given."""
        mod = self.modalities[modality]
        latents = sum(self.latent_size(l) for l in mod.reads) if mod.reads else next(iter(self.latents.values())).dim
        return latents + sum(self.givens[c].dim for c in mod.given)

    def label(self, key: str) -> str:
        return self.display.get(key, key)

    def sees(self, key: str) -> frozenset[str]:
        """The modalities a distribution is conditioned on (a mixture: the union of its parts).

        Memoised: a node never changes once added, and a MoPoE mixture shares its 2^M - 1 parts."""
        cache = self.__dict__.setdefault("_sees_cache", {})
        if key not in cache:
            cache[key] = self._sees(key)
        return cache[key]

    def _sees(self, key: str) -> frozenset[str]:
        node = self.nodes[key]
        if node.view() is not None:
            return node.view()
        out: frozenset[str] = frozenset()
        for member in members_of(node):
            out |= self.sees(member)
        return out


# ---- normalizing flows and learned mixture priors (mmspec/constructs/flows.py, constructs/mog.py) ----

@dataclass(frozen=True)
class Flow(Node):
    """A normalizing-flow distribution: z = T^{-1}(z0), z0 ~ base, with T a stack of masked
    autoregressive transforms (zuko's MAF) owned by the declaration. Its density is exact:
    log q(z) = log base(T(z)) + log |det dT/dz|. The base is any Gaussian or Laplace node."""
    key: str
    base: str
    network: str                    # the declaration that owns the transforms, e.g. "qf[m0]"
    transforms: int
    hidden: tuple[int, ...]
    latent: str | None = None
    family: str = "flow"

    @property
    def members(self) -> tuple[str, ...]:
        return (self.base,)

    def parameter_group(self) -> str:
        return f"flows.{self.network}"


@dataclass(frozen=True)
class MixturePrior(Node):
    """A mixture of k diagonal Gaussians (or Laplace distributions) with trainable means, scales and
    weights: p(z) = sum_c softmax(logits)_c N(z; mu_c, diag sigma_c^2) (CMVAE's clusters)."""
    key: str
    owner: str                      # the declaration that owns the parameters, e.g. "p"
    components: int
    learn: tuple[str, ...]          # which of means, scales, weights are trained
    component_family: str = "gaussian"
    scale: float = 1.0              # the components' initial scale sigma_c (fixed unless learned)
    latent: str | None = None
    family: str = "mog"

    def parameter_group(self) -> str:
        return f"prior_mixtures.{self.owner}"


# ---- hierarchical latents (mmspec/constructs/hierarchy.py) --------------------------------------

@dataclass(frozen=True)
class Conditional(Node):
    """`normal(given=...)`: a Gaussian over `latent` whose mean (and log-variance, unless `scale` fixes
    the standard deviation) is a network of a draw of other latents: the draws of `inputs` (distribution
    keys; a stop-gradient input reads its member's draw, detached), each first mapped to a `message`
    of that size when `message` is set and the messages averaged (Nexus), else concatenated; or the
    free latents `reads_latents` (p(z_m | s): their value comes from the draw it is evaluated at).
    Not to be confused with `JointExpert.given`, the given DATA (CVAE) an encoder reads."""
    key: str
    network: str                    # the declaration that owns the networks, e.g. "pz[m0]", "top"
    inputs: tuple[str, ...] = ()    # distributions whose draws the network reads
    senders: tuple[str, ...] = ()   # per input, the name of its message network (its modality)
    reads_latents: tuple[str, ...] = ()   # free latents the network reads (p(z_m | s): s)
    message: int | None = None      # message size (messages averaged), or None (draws concatenated)
    hidden: tuple[int, ...] = ()
    scale: float | None = None      # a fixed standard deviation, or None: a log-variance head
    link: str = "identity"          # identity | sigmoid, on the mean
    dropout: float = 0.0            # forced perceptual dropout of messages in training (Nexus)
    latent: str | None = None
    family: str = "gaussian"

    @property
    def members(self) -> tuple[str, ...]:
        return self.inputs

    def parameter_group(self) -> str:
        return f"conditionals.{self.network}"


# ---- ladders: top-down hierarchies of latents (mmspec/constructs/ladder.py) ----------------------

@dataclass(frozen=True)
class LadderPrior(Node):
    """`ladder(z3, z2, z1, hidden=[...])` as a prior: N(0, I) on the first (top) latent, then each
    latent Gaussian given a draw of the one above through a top-down network, p(z_l | z_{l+1}). Every
    ladder posterior built on it reads the same top-down networks (MHVAE shares them)."""
    key: str
    owner: str                      # the declaration that owns the top-down networks
    latents: tuple[str, ...]        # top first
    hidden: tuple[int, ...]         # each top-down MLP's layers
    latent: str | None = None
    family: str = "ladder"

    def parameter_group(self) -> str:
        return f"ladders.{self.owner}"


@dataclass(frozen=True)
class LadderPosterior(Node):
    """`ladder(p, S, ...)`: the posterior of a ladder prior given the modalities S. Each modality's
    encoder body and a bottom-up chain give one skip feature per lower latent and an expert on the top
    one; q(z_L | X) = p(z_L)·Π experts, q(z_l | X, z_{l+1}) = p(z_l | z_{l+1})·Π_m N(f_l[h_l, d_m^l]),
    h_l the prior's top-down state at the draw of z_{l+1} (MHVAE, Dorent et al. 2023)."""
    key: str
    network: str                    # the declaration (its subsets share the networks)
    prior: str                      # the LadderPrior it is the posterior of
    modalities: tuple[str, ...]
    latents: tuple[str, ...]        # top first, the prior's
    width: int                      # the bottom-up blocks' width (skip features above the first)
    hidden: tuple[int, ...]         # each posterior block's layers before its Gaussian heads
    shared: bool                    # one posterior block per level for every modality (else one each)
    latent: str | None = None
    family: str = "ladder"

    @property
    def members(self) -> tuple[str, ...]:
        return (self.prior,)

    def view(self) -> frozenset[str]:
        return frozenset(self.modalities)

    def parameter_group(self) -> str:
        return f"ladders.{self.network}"
