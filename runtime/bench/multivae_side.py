"""The same model built in MultiVae, for `mmspec bench --against multivae`.

"The same" means: mmspec's own encoder and decoder networks (deep copies of the compiled spec's
modules, so equal architectures, parameter counts and initial weights), the spec's latent size,
likelihoods and likelihood weights, the same batch and optimizer; MultiVae's own loss code.
The objectives agree exactly for crmvae_multivae (it is written to MultiVae's weights); for the
others MultiVae's implementation choices differ from the spec and are listed in NOTES, so the
timing compares each library's way of computing its version of the method.

MultiVae is an optional dependency (`pip install mmspec[bench]`); importing this module without
it raises RunError with the install command.
"""
from __future__ import annotations

import copy
import functools

import torch
from torch import Tensor, nn

from mmspec.model.graph import Conditional, Flow, JointExpert, LadderPosterior, MixturePrior

from ..errors import RunError

# spec model name prefix -> (MultiVae class, config class, config overrides)
SUPPORTED = {
    "crmvae_multivae": ("CRMVAE", "CRMVAEConfig", {}),
    "mopoe": ("MoPoE", "MoPoEConfig", {}),
    "mvtcae": ("MVTCAE", "MVTCAEConfig", {}),
    "jmvae": ("JMVAE", "JMVAEConfig", {"warmup": 0}),
    "mvae": ("MVAE", "MVAEConfig", {"use_subsampling": True, "k": 0, "warmup": 0}),
    "mmvae": ("MMVAE", "MMVAEConfig", {"K": 1, "prior_and_posterior_dist": "normal", "learn_prior": False,
                                        "loss": "iwae_looser"}),
    # shared z + private w[m] (`latent w[m]`); the config's sizes come from the spec's latents
    "mmvaeplus": ("MMVAEPlus", "MMVAEPlusConfig", {"K": 10, "prior_and_posterior_dist": "laplace_with_softmax",
                                                  "learn_shared_prior": False, "learn_modality_prior": True,
                                                  "loss": "dreg_looser"}),
    # two-phase joint models (their warm-up is the specs' first stage; `loss` times that phase, as mmspec
    # bench times a staged spec's first stage)
    # MMVAE+ with a clustered prior on z (`prior pz = mog(...) on z`); its cluster count comes from the spec
    "cmvae": ("CMVAE", "CMVAEConfig", {"K": 10, "prior_and_posterior_dist": "laplace_with_softmax",
                                        "learn_modality_prior": True, "loss": "dreg_looser"}),
    "jnf": ("JNF", "JNFConfig", {"warmup": 10}),
    "telbo": ("TELBO", "TELBOConfig", {"warmup": 10}),
    "dmvae": ("DMVAE", "DMVAEConfig", {}),
    # a conditional spec (`given m1: ...`): main modality and conditioning modalities come from the spec
    "cvae": ("CVAE", "CVAEConfig", {}),
    # a latent z[m] per modality and a top latent (`normal(given=...)`, hierarchical latents)
    "nexus": ("Nexus", "NexusConfig", {"aggregator": "mean", "warmup": 20}),
    # a top-down hierarchy of latents (`ladder(...)`): runtime/bench/multivae_ladder.py
    "mhvae": ("MHVAE", "MHVAEConfig", {}),
}
# spec params MultiVae's configs take under the same name
SHARED_PARAMS = ("beta", "alpha")

NOTES = {
    "crmvae_multivae": "same objective (the spec is written to MultiVae's weights; MultiVae sums the loss over "
                       "the batch, the spec averages)",
    "mopoe": "both decode one latent per item from the batch split among the 2^M-1 subset posteriors (M "
             "decoder passes); MultiVae splits by batch position (the MoPoE code's split), the spec a random "
             "permutation (rec(mix -> *, sampling=stratified))",
    "mvtcae": "MultiVae uses the official code's weights (alpha, beta); the spec seed 001's form",
    "jmvae": "same terms; MultiVae's KL(q_joint || q_m) are per-modality calls",
    "mvae": "MultiVae re-encodes each modality for every subset ELBO (2M encoder passes for M modalities)",
    "mmvae": "MultiVae: IWAE-looser bound with K=1 and an MC KL; the spec: ELBO with the Jensen KL",
    "mmvaeplus": "same objective and gradient (tests/test_multivae_latents.py); MultiVae's DReG loss reports the "
                 "surrogate sum_k w~_k log w_k, the spec the bound",
    "dmvae": "same objective (tests/test_multivae_latents.py); MultiVae draws the private latents afresh in each "
             "of its M + 1 ELBOs, the spec once per step; MultiVae's PoE has no 1e-8 on the variances",
    "cmvae": "same objective and gradient (tests/test_multivae_cmvae.py): MultiVae's expectation over q(c | z, X) is "
             "the mixture prior's exact log density; DReG values differ as for mmvaeplus",
    "jnf": "same objectives; MultiVae's second phase is -sum_m log qf_m(z), the spec's sum_m KL(qj || qf_m) (the "
           "same gradient: qj is frozen)",
    "nexus": "same objective (tests/test_multivae_nexus.py) late in training; MultiVae's KL warm-up is "
             "min(epoch/20, 1) with epochs from 1, the spec's warmup(0 -> 1, epochs=20) rises from 0 at every step",
    "telbo": "same objectives, except that MultiVae's unimodal KL reads the joint encoder's log-variance",
    "cvae": "same objective (tests/test_multivae_cvae.py): MultiVae's own ConditionalDecoderMLP concatenation "
            "around the spec's decoder; both average the loss over the batch",
    "mhvae": "same objective and gradients (tests/test_multivae_mhvae.py); MultiVae sums the loss over the batch, "
             "the spec averages",
}


def method_of(model_name: str) -> str:
    """The MultiVae method a spec's model name stands for, or RunError naming the supported ones."""
    for prefix in sorted(SUPPORTED, key=len, reverse=True):
        if model_name == prefix or model_name.startswith(prefix + "_"):
            return prefix
    hint = ""
    if model_name.startswith("crmvae"):
        hint = (" MultiVae's CRMVAE has other loss weights than the paper's: compare "
                "specs/crmvae_multivae_mst.mms, which is written to them.")
    raise RunError(f"MultiVae has no counterpart of {model_name!r}; --against multivae supports the specs "
                   f"of {', '.join(sorted(SUPPORTED))} (model names starting with one of them).{hint}")


@functools.lru_cache(maxsize=None)        # imported once, not in every timed step (`loss`)
def _multivae():
    try:
        import multivae.models as models
        from multivae.data.datasets.base import MultimodalBaseDataset
        from multivae.models.nn.base_architectures import BaseJointEncoder
        from pythae.models.base.base_utils import ModelOutput
        from pythae.models.nn.base_architectures import BaseDecoder, BaseEncoder
    except ImportError as exc:
        raise RunError(f"--against multivae needs the multivae package ({exc}); install it with "
                       "`pip install 'mmspec[bench]'` (or `pip install multivae`)") from None
    return models, MultimodalBaseDataset, BaseEncoder, BaseDecoder, BaseJointEncoder, ModelOutput


def _wrappers():
    """MultiVae-facing wrappers of mmspec networks (classes made once MultiVae is importable)."""
    _, _, BaseEncoder, BaseDecoder, BaseJointEncoder, ModelOutput = _multivae()

    class Encoder(BaseEncoder):
        def __init__(self, net: nn.Module, latent_dim: int):
            super().__init__()
            self.net, self.latent_dim = net, latent_dim

        def forward(self, x):
            mu, logvar = self.net(x)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class JointEncoder(Encoder, BaseJointEncoder):
        """The same, on the dict of all modalities (BaseJointEncoder is a BaseEncoder)."""

    class Decoder(BaseDecoder):
        """mmspec decoders return raw outputs; MultiVae wants the location (logits for text)."""

        def __init__(self, net: nn.Module, sigmoid: bool):
            BaseDecoder.__init__(self)
            self.net, self.sigmoid = net, sigmoid

        def forward(self, z):
            raw = self.net(z)
            return ModelOutput(reconstruction=torch.sigmoid(raw) if self.sigmoid else raw)

    class MultiLatentEncoder(BaseEncoder):
        """A modality's encoder over (shared, private) latents as MultiVae's multi-latent encoder: the
        heads' first `shared` outputs are the shared latent's, the rest the private latent's."""

        def __init__(self, net: nn.Module, shared: int):
            super().__init__()
            self.net, self.shared = net, shared

        def forward(self, x):
            mu, raw = self.net(x)
            d = self.shared
            return ModelOutput(embedding=mu[..., :d], log_covariance=raw[..., :d], style_embedding=mu[..., d:],
                               style_log_covariance=raw[..., d:])

    return Encoder, JointEncoder, Decoder, MultiLatentEncoder


def _likelihoods(model) -> tuple[dict, dict, dict | None]:
    dists, params, rescale = {}, {}, {}
    for name, mod in model.graph.modalities.items():
        lik = mod.likelihood
        if lik.learned:
            raise RunError(f"modality {name}: MultiVae has no learned likelihood scale")
        dists[name] = {"laplace": "laplace", "gaussian": "normal"}.get(lik.name, lik.name)
        if lik.name in ("laplace", "gaussian"):
            params[name] = {"scale": float(lik.scale)}
        rescale[name] = float(model.modalities[name].weight)
    return dists, params, (rescale if any(w != 1.0 for w in rescale.values()) else None)


def build(model) -> nn.Module:
    """The MultiVae model of a compiled spec, with deep copies of the spec's networks."""
    method = method_of(model.name)
    models, *_ = _multivae()
    cls_name, cfg_name, extra = SUPPORTED[method]
    Encoder, JointEncoder, _, _ = _wrappers()
    g, module, d = model.graph, model.module, model.latent_dim
    encoders, joint = {}, None
    if g.givens:
        return _build_conditional(model, cls_name, cfg_name)
    if any(isinstance(n, Conditional) for n in g.nodes.values()):
        return _build_hierarchical(model, cls_name, cfg_name, extra)
    if any(isinstance(n, LadderPosterior) for n in g.nodes.values()):
        from . import multivae_ladder
        models, _, BaseEncoder, _, _, ModelOutput = _multivae()
        return multivae_ladder.build(model, models, BaseEncoder, ModelOutput, _decoders(model),
                                     _config(model, extra, d))
    if g.has_layout:
        clusters = [n for n in g.nodes.values() if isinstance(n, MixturePrior)]
        extra = dict(extra, number_of_clusters=clusters[0].components) if clusters else extra
        mv = _build_multilatent(model, cls_name, cfg_name, extra)
        _copy_clusters(model, mv, clusters)
        return mv
    for net in g.networks.values():
        if net.role == "encoder":
            if net.modalities[0] in encoders:
                raise RunError(f"modality {net.modalities[0]} has two encoders; MultiVae has one per modality")
            encoders[net.modalities[0]] = Encoder(copy.deepcopy(module.encoders[net.name]), d)
        elif net.role == "joint_encoder":
            joint = JointEncoder(copy.deepcopy(module.joint_encoders[net.name]), d)
    cfg = getattr(models, cfg_name)(**_config(model, extra, d))
    kwargs = {"joint_encoder": joint} if joint is not None else {}
    if any(n.role == "flow" for n in g.networks.values()):
        kwargs["flows"] = _flows(model)
    return getattr(models, cls_name)(cfg, encoders=encoders, decoders=_decoders(model), **kwargs)


def _decoders(model) -> dict:
    Decoder = _wrappers()[2]
    g = model.graph
    return {m: Decoder(copy.deepcopy(model.module.decoders[m]),
                       model.links[m] == "sigmoid" and g.modalities[m].likelihood.name in ("laplace", "gaussian"))
            for m in g.modalities}


def _build_multilatent(model, cls_name: str, cfg_name: str, extra: dict) -> nn.Module:
    """A spec with a shared latent and one private latent per modality (MMVAE+): each modality's two
    encoders as one multi-latent encoder; the learned private priors copied into MultiVae's."""
    models, *_ = _multivae()
    MultiLatentEncoder = _wrappers()[3]
    g, module = model.graph, model.module
    shared = [l for l in g.latents.values() if not l.indexed]
    private = [l for l in g.latents.values() if l.indexed]
    if len(shared) != 1 or len(private) != 1:
        raise RunError("MultiVae's multi-latent models have one shared latent and one private latent per modality")
    encoders = {}
    for node in g.nodes.values():
        if type(node).__name__ == "Expert":
            if node.latents != (shared[0].name, f"{private[0].name}[{node.modality}]") or node.modality in encoders:
                raise RunError(f"MultiVae's {cls_name} has one encoder per modality over (shared, private) latents: "
                               f"write `encoder(m) on ({shared[0].name}, {private[0].name}[m])`")
            encoders[node.modality] = MultiLatentEncoder(copy.deepcopy(module.encoders[node.network]), shared[0].dim)
    config = _config(model, extra, shared[0].dim)
    if cls_name == "DMVAE":          # per-modality sizes and private KL weights
        config["modalities_specific_dim"] = {m: private[0].dim for m in g.modalities}
        config["modalities_specific_betas"] = {m: float(model.params.get("private_beta", 1.0)) for m in g.modalities}
    else:
        config["modalities_specific_dim"] = private[0].dim
    mv = getattr(models, cls_name)(getattr(models, cfg_name)(**config), encoders=encoders, decoders=_decoders(model))
    with torch.no_grad():                # learned private priors: the spec's initial scales
        for m in g.modalities:
            key = g.latent_priors.get(f"{private[0].name}[{m}]")
            owner = getattr(g.nodes.get(key), "owner", None)
            if owner in module.prior_logits and m in getattr(mv, "logvars_priors", {}):
                mv.logvars_priors[m].copy_(module.prior_logits[owner][None])
    return mv


def _build_conditional(model, cls_name: str, cfg_name: str) -> nn.Module:
    """CVAE: one generated modality whose decoder reads the given data; the spec's conditional encoder as
    MultiVae's joint encoder; MultiVae's own ConditionalDecoderMLP (its concatenation [z, x_c.view(B, -1)])
    around a copy of the spec's decoder network."""
    models, *_ = _multivae()
    from multivae.models.nn.default_architectures import ConditionalDecoderMLP
    _, JointEncoder, Decoder, _ = _wrappers()
    g, module = model.graph, model.module
    (main,) = g.modalities.values() if len(g.modalities) == 1 else (None,)
    encoders = [n for n in g.nodes.values() if isinstance(n, JointExpert) and n.modalities]
    priors = [n for n in g.nodes.values() if isinstance(n, JointExpert) and not n.modalities]   # p(z | x_c)
    wanted = {n.network for n in encoders + priors} | {f"decoder.{main.name}" if main else ""}
    if main is None or len(encoders) != 1 or len(priors) > 1 or set(g.networks) != wanted:
        raise RunError("MultiVae's CVAE has one generated modality, one encoder (`encoder(m, given=c)`), one "
                       "conditional decoder and at most one prior network (`prior pc = encoder(given=c)`)")
    lik = main.likelihood
    config = dict(input_dims={m: tuple(i.shape) for m, i in {**model.modalities, **model.givens}.items()},
                  latent_dim=model.latent_dim, conditioning_modalities=list(main.given), main_modality=main.name,
                  decoder_dist={"laplace": "laplace", "gaussian": "normal"}.get(lik.name, lik.name),
                  decoder_dist_params={"scale": float(lik.scale)} if lik.scale else {})
    if "beta" in model.params:
        config["beta"] = float(model.params["beta"])
    decoder = ConditionalDecoderMLP(model.latent_dim, {c: tuple(model.givens[c].shape) for c in main.given},
                                    tuple(main.shape))
    decoder.network = Decoder(copy.deepcopy(module.decoders[main.name]),
                              model.links[main.name] == "sigmoid" and lik.name in ("laplace", "gaussian"))
    encoder = JointEncoder(copy.deepcopy(module.joint_encoders[encoders[0].network]), model.latent_dim)
    prior = JointEncoder(copy.deepcopy(module.joint_encoders[priors[0].network]), model.latent_dim) if priors else None
    return getattr(models, cls_name)(getattr(models, cfg_name)(**config), encoder=encoder, decoder=decoder,
                                     prior_network=prior)
def _build_hierarchical(model, cls_name: str, cfg_name: str, extra: dict) -> nn.Module:
    """Nexus: each modality's encoder over its own latent z[m], the top posterior's message networks
    (MultiVae's top encoders), its body and heads (the joint encoder) and each conditional prior p(z_m | s)
    (the top decoders), all deep copies of the spec's networks."""
    models, _, BaseEncoder, BaseDecoder, _, ModelOutput = _multivae()
    Encoder = _wrappers()[0]
    g, module = model.graph, model.module
    tops = {n.network: n for n in g.nodes.values() if isinstance(n, Conditional) and n.message}
    if len(tops) != 1:
        raise RunError("MultiVae's Nexus has one top posterior over averaged messages: "
                       "`posterior top[S in subsets(*)] = normal(given=mean m in S: sg(q[m]), message=K) on s`")
    (name, node), = tops.items()
    top = copy.deepcopy(module.conditionals[name])

    class Message(BaseEncoder):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, z):
            return ModelOutput(embedding=self.net(z))

    class Joint(BaseEncoder):
        def __init__(self, body, mean, log_var):
            super().__init__()
            self.body, self.mean, self.log_var = body, mean, log_var

        def forward(self, msg):
            h = self.body(msg)
            return ModelOutput(embedding=self.mean(h), log_covariance=self.log_var(h))

    class TopDecoder(BaseDecoder):
        def __init__(self, net, sigmoid: bool):
            BaseDecoder.__init__(self)
            self.net, self.sigmoid = net, sigmoid

        def forward(self, s):
            mean = self.net.mean(self.net.body(s))
            return ModelOutput(reconstruction=torch.sigmoid(mean) if self.sigmoid else mean)

    encoders, top_decoders, dims = {}, {}, {}
    for n in g.nodes.values():
        if type(n).__name__ == "Expert":
            encoders[n.modality] = Encoder(copy.deepcopy(module.encoders[n.network]), g.latent_size(n.latent))
            dims[n.modality] = g.latent_size(n.latent)
        elif isinstance(n, Conditional) and n.reads_latents:
            (m,) = [x for x in g.modalities if n.latent.endswith(f"[{x}]")]
            if n.scale != 1.0:
                raise RunError("MultiVae's Nexus top decoders are N(mean, 1): write normal(given=s, ..., scale=1)")
            top_decoders[m] = TopDecoder(copy.deepcopy(module.conditionals[n.network]), n.link == "sigmoid")
    config = _config(model, extra, g.latent_size(node.latent))
    params = model.params
    config.update(modalities_specific_dim=dims, msg_dim=node.message, dropout_rate=node.dropout, top_beta=float(params.get("top_beta", 1.0)),
                  bottom_betas={m: float(params.get("bottom_beta", 1.0)) for m in g.modalities},
                  gammas={m: float(params.get("gamma", 1.0)) for m in g.modalities})
    return getattr(models, cls_name)(getattr(models, cfg_name)(**config), encoders=encoders, decoders=_decoders(model),
                                     top_encoders={m: Message(top.messages[m]) for m in g.modalities},
                                     joint_encoder=Joint(top.body, top.mean, top.log_var), top_decoders=top_decoders)


def _copy_clusters(model, mv: nn.Module, clusters: list) -> None:
    """CMVAE: the spec's mixture prior (`mog(...) on z`) and learned private priors into MultiVae's."""
    if not clusters:
        return
    node = clusters[0]
    if "scales" in node.learn or abs(node.scale - 1.000001) > 1e-12 or node.component_family != "laplace":
        raise RunError("MultiVae's CMVAE clusters are Laplace with the fixed scale softmax(0)·D + 1e-6 = 1 + 1e-6: "
                       "write mog(..., family=laplace, scale=1.000001) without learning scales")
    params, g = model.module.prior_mixtures[node.owner], model.graph
    private = next(l.name for l in g.latents.values() if l.indexed)
    with torch.no_grad():
        for c, mean in enumerate(mv.mean_clusters):
            mean.copy_(params.means[c:c + 1])
        mv._pc_params.copy_(params.logits)
        for m in g.modalities:
            owner = getattr(g.nodes.get(g.latent_priors.get(f"{private}[{m}]")), "owner", None)
            if owner in model.module.prior_logits:
                mv.r_logvars_priors[m].copy_(model.module.prior_logits[owner][None])


def _config(model, extra: dict, latent_dim: int) -> dict:
    g = model.graph
    dists, dist_params, rescale = _likelihoods(model)
    config = dict(extra, n_modalities=len(g.modalities), latent_dim=latent_dim,
                  input_dims={m: tuple(i.shape) for m, i in model.modalities.items()},
                  decoders_dist=dists, decoder_dist_params=dist_params,
                  uses_likelihood_rescaling=rescale is not None, rescale_factors=rescale)
    config.update({k: float(model.params[k]) for k in SHARED_PARAMS if k in model.params})
    return config


def _flows(model) -> dict:
    """JNF's per-modality flows: deep copies of the spec's flow(...) transforms behind pythae's BaseNF
    interface (forward: the latent to the base's space with log|det J|; inverse: back)."""
    from pythae.models.normalizing_flows.base import BaseNF, BaseNFConfig
    *_, ModelOutput = _multivae()

    class PythaeFlow(BaseNF):
        def __init__(self, transform: nn.Module, dim: int):
            super().__init__(BaseNFConfig(input_dim=(dim,)))
            self.transform = transform

        def forward(self, x, **kwargs):
            out, ladj = self.transform(x)
            return ModelOutput(out=out, log_abs_det_jac=ladj)

        def inverse(self, y, **kwargs):
            return ModelOutput(out=self.transform(y, inverse=True)[0])

    g, out = model.graph, {}
    for node in g.nodes.values():
        if isinstance(node, Flow):
            (modality,) = g.sees(node.key)
            if modality in out:
                raise RunError(f"modality {modality} has two flows; MultiVae's JNF has one per modality")
            out[modality] = PythaeFlow(copy.deepcopy(model.module.flows[node.network]), model.latent_dim)
    return out


TWO_PHASES = ("JNF", "TELBO")        # epoch <= warmup: the joint VAE; after: the unimodal posteriors


def loss(mv_model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    """MultiVae's training loss on one batch, as its trainer back-propagates it (late in training; the
    two-phase models in their first phase, which is what mmspec's step of a staged spec times)."""
    _, MultimodalBaseDataset, *_ = _multivae()
    epoch = 1 if type(mv_model).__name__ in TWO_PHASES else 1000
    return mv_model(MultimodalBaseDataset(data=batch), epoch=epoch).loss


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def spec_network_count(model) -> int:
    """Parameters of the spec's networks (learned likelihood scales excluded: MultiVae has none)."""
    m = model.module
    return sum(parameter_count(x) for x in (m.encoders, m.joint_encoders, m.decoders, m.flows, m.conditionals,
                                            m.ladders))


def network_count(mv_model: nn.Module) -> int:
    """Parameters of MultiVae's encoders and decoders (and joint encoder): the networks only."""
    names = ("encoders", "decoders", "joint_encoder", "flows",     # flows: JNF
             "encoder", "decoder", "prior_network",                 # CVAE's single networks
             "top_encoders", "top_decoders",                        # Nexus
             "bottom_up_blocks", "top_down_blocks", "prior_blocks", "posterior_blocks")    # MHVAE
    return sum(parameter_count(x) for n in names if (x := getattr(mv_model, n, None)) is not None)
