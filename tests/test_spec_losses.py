"""Every shipped spec: the compiled loss equals an independent reference of its paper's objective.

The references below are written from ../shared/methods.md with the test's own PoE, Gaussian KL,
sampling and likelihoods (tests/spec_helpers.py); only the networks are borrowed from the compiled
model, as black boxes. Float64, fixed reparameterisation noise, tolerance 1e-5.
"""
from __future__ import annotations

import math
from itertools import combinations

import pytest
import torch

from mmspec import compile_spec
from spec_helpers import SPECS, FixedNoise, Ref, spec_batch, tiny_batch

SMALL = {"dim": "6"}          # small latents keep the ResNet heads cheap; the maths is unchanged


def subsets(mods):
    return [c for k in range(1, len(mods) + 1) for c in combinations(mods, k)]


def label(subset):
    return "{" + ",".join(subset) + "}"


def independent(r, P):
    return sum(r.rec(q := r.enc(f"q[{m}]", m), f"q[{m}]", [m]) - P["beta"] * r.kl(q, r.prior()) for m in r.mods)


def avg(r, P):
    qs = [r.enc(f"q[{m}]", m) for m in r.mods]
    mu = sum(q[0] for q in qs) / r.M
    std = sum(torch.exp(0.5 * q[1]) for q in qs) / r.M
    joint = (mu, 2 * torch.log(std))
    return r.rec(joint, "joint", r.mods) - P["beta"] * r.kl(joint, r.prior())


def poe(r, P):
    joint = r.poe([r.prior()] + [r.enc(f"q[{m}]", m) for m in r.mods])
    return r.rec(joint, "joint", r.mods) - P["beta"] * r.kl(joint, r.prior())


def moe(r, P):
    return sum(r.rec(q := r.enc(f"q[{m}]", m), f"q[{m}]", r.mods) - P["beta"] * r.kl(q, r.prior())
               for m in r.mods) / r.M


def mopoe(r, P):
    """Sutter et al. 2021 with the official code's reconstruction estimator: the batch split among the
    subset posteriors (one per item, the shipped specs' `rec(mix -> *, sampling=stratified)`), whose
    expectation over the split is (1/|P|) sum_S rec(q_S -> all); minus beta times the mean subset KL."""
    S = subsets(r.mods)
    qs = [(r.poe([r.enc(f"q[{m}]", m) for m in s]), f"qs[{label(s)}]") for s in S]
    kl = sum(r.kl(q, r.prior()) for q, _ in qs) / len(S)
    return r.stratified_rec(qs, "mix", r.mods) - P["beta"] * kl


def mvae(r, P):
    total = poe(r, P)
    for m in r.mods:
        uni = r.poe([r.prior(), r.enc(f"q[{m}]", m)])
        total = total + r.rec(uni, f"uni[{m}]", [m]) - P["beta"] * r.kl(uni, r.prior())
    return total


def _mmjsd(r, P, rec):
    qs = [r.enc(f"q[{m}]", m) for m in r.mods]
    pi = 1 / (r.M + 1)
    f = r.poe([r.prior()] + qs, [pi] * (r.M + 1))
    return rec - P["beta"] * pi * (r.kl(r.prior(), f) + sum(r.kl(q, f) for q in qs))


def mmjsd(r, P):
    rec = sum(r.rec(r.enc(f"q[{m}]", m), f"q[{m}]", r.mods) for m in r.mods) / r.M
    return _mmjsd(r, P, rec)


def mmjsd_poe(r, P):
    joint = r.poe([r.enc(f"q[{m}]", m) for m in r.mods])
    return _mmjsd(r, P, r.rec(joint, "joint", r.mods))


def _mvtcae(r, P, rec_weight):
    qs = [r.enc(f"q[{m}]", m) for m in r.mods]
    joint = r.poe(qs)
    pi = 1 / (r.M + 1)
    kls = r.kl(joint, r.prior()) + sum(r.kl(joint, q) for q in qs)
    return rec_weight(pi) * r.rec(joint, "joint", r.mods) - P["beta"] * pi * kls


def mvtcae(r, P):
    return _mvtcae(r, P, lambda pi: 1.0)


def mvtcae_rescale(r, P):
    return _mvtcae(r, P, lambda pi: pi / 2)


def crmvae(r, P):
    qs = {m: r.enc(f"q[{m}]", m) for m in r.mods}
    pi = 1 / (r.M + 1)
    joint = r.poe([r.prior()] + list(qs.values()))
    rec = pi / 2 * r.rec(joint, "joint", r.mods)
    rec = rec + pi / 2 * sum(r.rec(r.poe([r.prior(), qs[m]]), f"uni[{m}]", [m]) for m in r.mods)
    kls = r.kl(joint, r.prior()) + sum(r.kl(joint, q) for q in qs.values())
    return rec - P["beta"] * pi * kls


def crmvae_multivae(r, P):
    qs = {m: r.enc(f"q[{m}]", m) for m in r.mods}
    joint = r.poe(list(qs.values()))
    c = 2 * (r.M + 1)
    rec = r.rec(joint, "joint", r.mods) / c + sum(r.rec(qs[m], f"q[{m}]", [m]) for m in r.mods) / c
    kls = r.kl(joint, r.prior()) + sum(r.kl(joint, q) for q in qs.values())
    return rec - P["beta"] / (r.M + 1) * kls


def jmvae(r, P):
    qj = r.joint_enc("qj")
    kls = sum(r.kl(qj, r.enc(f"q[{m}]", m)) for m in r.mods)
    return r.rec(qj, "qj", r.mods) - r.kl(qj, r.prior()) - P["alpha"] * kls


def smvae(r, P):
    ql = r.joint_enc("ql")
    elbo = r.rec(ql, "ql", r.mods, r.rescale) - r.kl(ql, r.prior())
    S = subsets(r.mods)
    return elbo - P["beta"] / 2 ** r.M * sum(r.kl(r.poe([r.enc(f"q[{m}]", m) for m in s]), ql) for s in S)


def mmvm(r, P):
    qs = {m: r.enc(f"q[{m}]", m) for m in r.mods}
    rec = sum(r.rec(qs[m], f"q[{m}]", [m]) for m in r.mods)
    jensen = sum(sum(r.kl(qs[m], qs[n]) for n in r.mods) / r.M for m in r.mods)
    return rec - P["beta"] * jensen


def mmvae_dreg(r, P):
    """The value of MMVAE's m_dreg_looser: (1/M) sum_m log 1/K sum_k w(z_mk), z_mk ~ q_m (Laplace),
    w(z) = p(z) prod_t p(x_t|z)^{w_t} / ((1/M) sum_m' q_m'(z)), p = Laplace(0, D·softmax(lambda))."""
    K = int(P["k"])
    qs = {m: r.laplace_enc(f"q[{m}]", m) for m in r.mods}
    prior = r.learned_laplace_prior("p")
    total = 0
    for m in r.mods:
        z = r.laplace_sample(qs[m], f"q[{m}]", K)
        log_q = torch.logsumexp(torch.stack([r.laplace_logpdf(z, q) for q in qs.values()]), 0) - math.log(r.M)
        log_w = sum(r.rescale[t] * r.loglik(t, z) for t in r.mods) + r.laplace_logpdf(z, prior) - log_q
        total = total + torch.logsumexp(log_w, 0) - math.log(K)
    return total / r.M


def laplace_loglik(r, t, latent):
    """log p(x_t | latent) for a Laplace(0.75) decoder reading `latent` [K, B, D_in] -> [K, B]."""
    K, mod = latent.shape[0], r.model.module
    raw = mod.decoders[t](latent.reshape(K * r.B, -1)).reshape(K, r.B, *r.model.modalities[t].shape)
    loc = torch.sigmoid(raw) if Ref.LINKS.get(r.model.graph.modalities[t].net.name) == "sigmoid" else raw
    return (-torch.abs(r.batch[t] - loc) / 0.75 - math.log(1.5)).flatten(2).sum(-1)


def dmvae(r, P):
    """DMVAE (Lee & Pavlovic 2021) as MultiVae computes it: M + 1 ELBOs, the shared z from
    PoE(N(0, I), qz_1..qz_M) and from each qz_m; each decodes every t from (z, w_t), w_t ~ qw_t, minus
    beta·KL(shared || N(0, I)) and private_beta·sum_t KL(qw_t || N(0, I)) (so the private KLs count M + 1
    times). One draw of each distribution, shared by the ELBOs (noise keyed by its name)."""
    g, mod = r.model.graph, r.model.module
    Dz, Dw = g.latent_size("z"), g.latent_size(f"w[{r.mods[0]}]")
    heads = {m: mod.encoders[f"q[{m}]"](r.batch[m]) for m in r.mods}      # one network: z's outputs, then w[m]'s
    qz = {m: (mu[:, :Dz], lv[:, :Dz]) for m, (mu, lv) in heads.items()}
    qw = {m: (mu[:, Dz:], lv[:, Dz:]) for m, (mu, lv) in heads.items()}
    zeros = torch.zeros(r.B, Dz, dtype=r.like.dtype)
    std_z, std_w = (zeros, zeros), (torch.zeros(r.B, Dw, dtype=r.like.dtype),) * 2

    def draw(q, key, size):
        return q[0] + torch.exp(0.5 * q[1]) * r.noise.normal(key, (1, r.B, size), r.like)

    w = {t: draw(qw[t], f"qw[{t}]", Dw) for t in r.mods}          # the factors' own draws
    private = sum(Ref.kl(qw[t], std_w) for t in r.mods)

    def elbo(q, key):
        z = draw(q, key, Dz)
        rec = sum(laplace_loglik(r, t, torch.cat([z, w[t]], -1))[0] for t in r.mods)
        return rec - P["beta"] * Ref.kl(q, std_z) - P["private_beta"] * private

    joint = Ref.poe([std_z] + list(qz.values()))
    return elbo(joint, "joint") + sum(elbo(qz[m], f"qz[{m}]") for m in r.mods)


def mmvaeplus(r, P, log_prior_z=None):
    """MMVAE+ (Palumbo et al. 2023) as MultiVae computes it, at the value of its iwae_looser bound:
    (1/M) sum_m log 1/K sum_k w_mk, (z, w_m) ~ qz_m·qw_m (Laplace, scale D·softmax(head) + 1e-6),
    log w = sum_t log p(x_t | z, w_t) + log p(z) + log p(w_m) - log (1/M) sum_j qz_j(z) - log qw_m(w_m),
    with w_t = w_m for t = m and else a draw from the learned prior r_t = Laplace(0, D_w·softmax(l_t) + 1e-6)
    (one per (m, t)), and p = Laplace(0, 1 + 1e-6) on every latent (on z: `log_prior_z` when given).
    K = 10 as in the spec."""
    K, g, mod = 10, r.model.graph, r.model.module
    Dz, Dw = g.latent_size("z"), g.latent_size(f"w[{r.mods[0]}]")

    def heads(m):
        """q[m]'s one network: the first Dz outputs are z's, the rest w[m]'s; softmax per latent."""
        loc, raw = mod.encoders[f"q[{m}]"](r.batch[m])
        return [torch.distributions.Laplace(l, torch.softmax(b, -1) * b.shape[-1] + 1e-6)
                for l, b in ((loc[:, :Dz], raw[:, :Dz]), (loc[:, Dz:], raw[:, Dz:]))]

    def draw(dist, key, size):
        return dist.icdf(r.noise.uniform(key, (K, r.B, size), r.like))

    qz, qw = {}, {}
    for m in r.mods:
        qz[m], qw[m] = heads(m)
    prior = torch.distributions.Laplace(0.0, 1.000001)
    total = 0
    for m in r.mods:
        z, w = draw(qz[m], f"q[{m}] on z", Dz), draw(qw[m], f"q[{m}] on w[{m}]", Dw)
        log_q = (torch.logsumexp(torch.stack([q.log_prob(z).sum(-1) for q in qz.values()]), 0) - math.log(r.M)
                 + qw[m].log_prob(w).sum(-1))
        log_pz = log_prior_z(z) if log_prior_z else prior.log_prob(z).sum(-1)
        log_w = log_pz + prior.log_prob(w).sum(-1) - log_q
        for t in r.mods:
            scale = torch.softmax(mod.prior_logits[f"r[{t}]"], -1) * Dw + 1e-6
            own = w if t == m else draw(torch.distributions.Laplace(torch.zeros(r.B, Dw, dtype=r.like.dtype), scale),
                                        f"r[{t}] on w[{t}] for {t} from q[{m}]", Dw)
            log_w = log_w + laplace_loglik(r, t, torch.cat([z, own], -1))
        total = total + torch.logsumexp(log_w, 0) - math.log(K)
    return total / r.M


def cmvae(r, P):
    """CMVAE (Palumbo et al. 2024) as MultiVae writes its bound: MMVAE+'s, with log p(z) replaced by the
    explicit expectation over the clusters' posterior q_c = p(c | z) = softmax_c(log π_c + log p(z | c)):
    sum_c q_c [log π_c + log p(z | c) - log q_c], p(z | c) = Laplace(μ_c, 1 + 1e-6), π = softmax(ω)."""
    params = r.model.module.prior_mixtures["pz"]

    def expected_over_clusters(z):
        log_joint = torch.stack([torch.log_softmax(params.logits, 0)[c]
                                 + torch.distributions.Laplace(params.means[c], 1.000001).log_prob(z).sum(-1)
                                 for c in range(params.logits.numel())])
        q = torch.softmax(log_joint, 0)
        return (q * (log_joint - torch.log(q))).sum(0)
    return mmvaeplus(r, P, expected_over_clusters)


def smvgon(r, P):
    """SMVAE with q_L from one gradient step at the origin of q_L's own (rescaled) ELBO, times the
    spec's `step` where it has one (z0' = grad of step * ELBO; smvgon_celeba)."""
    def own_elbo(q, key):
        return r.rec(q, key, r.mods, r.rescale) - r.kl(q, r.prior())
    step = P.get("step", 1.0)
    ql = r.gradient_origin("ql", lambda q0: step * own_elbo(q0, "ql(z0)"))
    S = subsets(r.mods)
    return own_elbo(ql, "ql") - P["beta"] / 2 ** r.M * sum(r.kl(r.poe([r.enc(f"q[{m}]", m) for m in s]), ql) for s in S)


def miai_refinement(r, P):
    """MIAI's stage 2 (methods.md 17): r[m] refines poe(p, q_m) for T steps with the gradient of the
    multimodal ELBO; loss=mean: the ELBO of r[m] is averaged over the iterates 1..T; a[m] aligned to r[m]^T."""
    total = 0
    for m in r.mods:
        def elbo(q, key):
            return r.rec(q, key, r.mods) - r.kl(q, r.prior())
        init = r.poe([r.prior(), r.enc(f"q[{m}]", m)])
        path = r.refine(f"r[{m}]", init, lambda q: elbo(q, f"r[{m}]ᵗ"), int(P["T"]), [m])
        total = total + sum(elbo(q, f"r[{m}]") for q in path[1:]) / (len(path) - 1)
        total = total - r.kl(path[-1], r.enc(f"a[{m}]", m))
    return total


def alignment_kl(r, P):
    """The alignment-based VAE's stage 2 (methods.md 16): minimise sum_m KL(q_J || r_m), q_J = PoE(p, q_1..q_M).
    Returned negated, like every reference here (the value a maximised objective would have)."""
    joint = r.poe([r.prior()] + [r.enc(f"q[{m}]", m) for m in r.mods])
    return -sum(r.kl(joint, r.enc(f"r[{m}]", m)) for m in r.mods)


def joint_elbo(r, P):
    """JNF's and TELBO's first stage: the joint encoder's ELBO, rec(qj -> *) - beta KL(qj || p)."""
    qj = r.joint_enc("qj")
    return r.rec(qj, "qj", r.mods) - P.get("beta", 1.0) * r.kl(qj, r.prior())


def flow_log_density(r, name, base, z):
    """log base(T(z)) + log|det dT/dz| item by item: the Jacobian of the flow's map T by autograd, its
    log-determinant by slogdet (tests/test_flows.py checks the same formula more closely)."""
    transform = r.model.module.flows[name]
    (mu, lv), out = base, []
    for i in range(z.shape[0]):
        f = lambda v: transform(v[None])[0][0]
        logdet = torch.linalg.slogdet(torch.autograd.functional.jacobian(f, z[i]))[1]
        out.append(torch.distributions.Normal(mu[i], torch.exp(0.5 * lv[i])).log_prob(f(z[i])).sum() + logdet)
    return torch.stack(out)


def jnf_unimodal(r, P):
    """JNF's second stage: minimise sum_m KL(qj || qf_m) by one draw z ~ qj (returned negated)."""
    mu, lv = qj = r.joint_enc("qj")
    z = r.sample(qj, "qj")[0]
    log_qj = torch.distributions.Normal(mu, torch.exp(0.5 * lv)).log_prob(z).sum(-1)
    return -sum(log_qj - flow_log_density(r, f"qf[{m}]", r.enc(f"q[{m}]", m), z) for m in r.mods)


def telbo_unimodal(r, P):
    """TELBO's second stage: the unimodal ELBOs sum_m rec(q_m -> m) - KL(q_m || p)."""
    return sum(r.rec(r.enc(f"q[{m}]", m), f"q[{m}]", [m]) - r.kl(r.enc(f"q[{m}]", m), r.prior()) for m in r.mods)


def cvae(r, P):
    """CVAE (Sohn et al. 2015), written from the paper's conditional ELBO: q(z | x_m0, x_m1) from the joint
    encoder, E_q[log N(x_m0; dec(z ⊕ flat(x_m1)), 1)] - beta KL(q || N(0, I)); the decoder reads z, then
    x_m1's pixels flattened (MultiVae's ConditionalDecoderMLP), and polymnist_conv's link is the identity."""
    q = r.joint_enc("q")
    z = r.sample(q, "q")[0]
    decoded = r.model.module.decoders["m0"](torch.cat([z, r.batch["m1"].reshape(r.B, -1)], -1))
    lik = (-0.5 * (r.batch["m0"] - decoded) ** 2 - 0.5 * math.log(2 * math.pi)).flatten(1).sum(-1)
    return lik - P["beta"] * r.kl(q, r.prior())
def nexus(r, P):
    """Nexus (Vasco et al. 2022) as MultiVae computes it, late in training (warm-up weight 1): the bottom
    ELBOs sum_m [log p(x_m | z_m) - bottom_beta KL(q_m || N(0, I))], z_m ~ q_m, plus the top ELBO on the
    detached draws: gamma sum_m log N(z_m; sigmoid(f_m(s)), I) - top_beta KL(q(s | .) || N(0, I)), with
    s ~ q(s | .) = N(mu, diag exp(lv)), (mu, lv) the heads of the top network on the mean of the messages
    msg_m(z_m). The networks are the compiled model's; the formulas are written out here."""
    mod, total, draws = r.model.module, 0.0, {}
    for m in r.mods:
        mu, lv = mod.encoders[f"q[{m}]"](r.batch[m])
        z = mu + torch.exp(0.5 * lv) * r.noise.normal(f"q[{m}]", (1, r.B, mu.shape[-1]), r.like)
        draws[m] = z[0].detach()
        std = (torch.zeros_like(mu), torch.zeros_like(mu))
        total = total + laplace_loglik(r, m, z)[0] - P["bottom_beta"] * Ref.kl((mu, lv), std)
    top = mod.conditionals["top"]
    h = top.body(torch.stack([top.messages[m](draws[m]) for m in r.mods]).mean(0))
    mu, lv = top.mean(h), top.log_var(h)
    key = "top[{" + ",".join(r.mods) + "}]"
    s = mu + torch.exp(0.5 * lv) * r.noise.normal(key, (1, r.B, mu.shape[-1]), r.like)[0]
    for m in r.mods:
        pz = mod.conditionals[f"pz[{m}]"]
        loc = torch.sigmoid(pz.mean(pz.body(s)))
        total = total + P["gamma"] * (-0.5 * (draws[m] - loc) ** 2 - 0.5 * math.log(2 * math.pi)).sum(-1)
    return total - P["top_beta"] * Ref.kl((mu, lv), (torch.zeros_like(mu), torch.zeros_like(mu)))


def mhvae(r, P):
    """MHVAE (Dorent et al. 2023) as MultiVae computes it: for every subset S, the top posterior
    PoE(N(0, I), e_m(d_m^2)) and each lower level PoE(p(z_l | z_l+1), f_l([h_l, d_m^l])) at the draw above,
    h_l the prior's top-down state; every modality decoded from z1; minus beta times the sum of the
    levels' closed-form KLs; the mean over subsets. The networks are the compiled model's."""
    up, down = r.model.module.ladders["q"], r.model.module.ladders["p"]
    skips, tops = {}, {}
    for m in r.mods:
        d = [up.bodies[m](r.batch[m])]
        d.append(up.bottom_up[m][0](d[0]))
        skips[m], tops[m] = d, up.top[m](d[1])
    total, S = 0.0, subsets(r.mods)
    for s in S:
        key = f"q[{label(s)}]"
        zero = torch.zeros_like(tops[s[0]][0])
        q = Ref.poe([(zero, zero)] + [tops[m] for m in s])
        z = q[0] + torch.exp(0.5 * q[1]) * r.noise.normal(f"{key} on z3", (1, r.B, q[0].shape[-1]), r.like)[0]
        kl = Ref.kl(q, (zero, zero))
        for level, skip in (("z2", 1), ("z1", 0)):
            h = down.top_down[level](z)
            prior = down.heads[level](h)
            q = Ref.poe([prior] + [up.blocks["shared"][level](torch.cat([h, skips[m][skip]], -1)) for m in s])
            z = q[0] + torch.exp(0.5 * q[1]) * r.noise.normal(f"{key} on {level}", (1, r.B, q[0].shape[-1]), r.like)[0]
            kl = kl + Ref.kl(q, prior)
        total = total + sum(laplace_loglik(r, m, z[None])[0] for m in r.mods) - P["beta"] * kl
    return total / len(S)


REFERENCES = {f.__name__: f for f in (independent, avg, poe, moe, mopoe, mvae, mmjsd, mmjsd_poe, mvtcae,
                                      mvtcae_rescale, crmvae, crmvae_multivae, jmvae, smvae, mmvm,
                                      mmvae_dreg, smvgon, mmvaeplus, dmvae, cmvae, cvae, nexus, mhvae)}
REFERENCES["mmvae"] = moe        # the ELBO version of MMVAE is the MoE objective
REFERENCES["mopoe5"] = mopoe      # MoPoE on all five Translated-PolyMNIST views (seed 001 Figure 2)
REFERENCES["miai"] = poe         # its first objective (stage 1) is the PoE source model
REFERENCES["alignment"] = poe    # likewise
REFERENCES["jnf"] = joint_elbo    # the first stage of both (the joint VAE's warm-up)
REFERENCES["telbo"] = joint_elbo
# specs with several objectives (training stages): every objective against its own reference
OBJECTIVE_REFERENCES = {"miai": {"source": poe, "refinement": miai_refinement},
                        "alignment": {"source": poe, "align": alignment_kl},
                        "jnf": {"joint": joint_elbo, "unimodal": jnf_unimodal},
                        "telbo": {"joint": joint_elbo, "unimodal": telbo_unimodal}}


def method_of(path):
    return path.stem.rsplit("_", 1)[0]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_every_spec_has_a_reference():
    missing = sorted({method_of(p) for p in SPECS} - set(REFERENCES))
    assert not missing, f"no independent reference for {missing}"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_compiled_loss_matches_reference(path):
    torch.manual_seed(0)
    model = compile_spec(path, SMALL)
    model.module.double()
    batch = spec_batch(model)
    noise = FixedNoise()
    got = model.loss(batch, noise).loss
    with torch.no_grad():
        ref = -REFERENCES[method_of(path)](Ref(model, batch, noise), model.params).mean()
    torch.testing.assert_close(got.detach(), ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_parameter_gets_a_gradient(path):
    torch.manual_seed(0)
    model = compile_spec(path, SMALL)
    batch = spec_batch(model, dtype=torch.float32)
    sum(model.loss(batch, objective=name).loss for name in model.lowered).backward()   # every stage's objective
    silent = [n for n, p in model.module.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not silent, f"no gradient reaches {silent}"


STAGED = [p for p in SPECS if method_of(p) in OBJECTIVE_REFERENCES]


@pytest.mark.parametrize("path", STAGED, ids=lambda p: p.stem)
def test_every_objective_matches_its_reference(path):
    """Specs with training stages: each named objective against its own reference (training mode).
    Refinement specs run T = 3 steps here (the maths per step is the same; CUB's nets are slow)."""
    torch.manual_seed(0)
    model = compile_spec(path, dict(SMALL, T="3") if "param T " in path.read_text() else SMALL)
    model.module.double()
    for layer in model.module.modules():
        # batch statistics couple the samples one decoder call sees (the engine decodes several
        # posteriors' samples in one call, the reference one at a time): use the running statistics
        if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
            layer.eval()
    batch = tiny_batch(model.modalities)
    refs = OBJECTIVE_REFERENCES[method_of(path)]
    assert set(refs) == set(model.lowered)
    for name, reference in refs.items():
        got = model.loss(batch, FixedNoise(), objective=name).loss
        with torch.no_grad():
            ref = -reference(Ref(model, batch, FixedNoise()), model.params).mean()
        torch.testing.assert_close(got.detach(), ref, rtol=0, atol=1e-5, msg=f"objective {name}")


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_spec_trains_a_few_steps_and_evaluates(path):
    """A few optimiser steps on one batch lower the loss; every subset encodes and decodes."""
    torch.manual_seed(0)
    model = compile_spec(path, SMALL)
    batch = spec_batch(model, batch=4, dtype=torch.float32)
    opt = torch.optim.Adam(model.module.parameters(), lr=1e-3)
    noise = FixedNoise()
    losses = []
    for _ in range(3):
        opt.zero_grad()
        out = model.loss(batch, noise)
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
        assert all(torch.isfinite(v) for v in out.terms.values())
    assert losses[-1] < losses[0]
    with torch.no_grad():
        mods = list(model.modalities)
        for subset in [mods] + [[m] for m in mods]:
            z = model.encode(batch, subset).rsample(2)
            for m in model.modalities:
                assert model.decode(m, z, given=batch).shape == (2, 4, *model.modalities[m].shape)



@pytest.mark.parametrize("name", ["mopoe_polymnist", "mmvm_tpolymnist", "jmvae_mst", "mmvae_mst"])
def test_encoding_all_subsets_at_once_equals_encoding_each(name):
    """`encode_subsets` (encoders shared across subsets, what evaluation uses) gives every subset
    the posterior `encode` gives it alone, mixtures included."""
    torch.manual_seed(0)
    model = compile_spec(next(s for s in SPECS if s.stem == name), overrides={"dim": "6"})
    names = list(model.modalities)
    batch = tiny_batch(model.modalities, 3, dtype=torch.float32)
    subsets = [list(c) for r in range(1, len(names) + 1) for c in combinations(names, r)]
    with torch.no_grad():
        together = model.encode_subsets(batch, subsets)
        for subset, posterior in zip(subsets, together):
            alone = model.encode({m: batch[m] for m in subset}, subset)
            torch.testing.assert_close(posterior.mean, alone.mean, rtol=1e-6, atol=1e-6)
            parts = getattr(alone, "components", None)
            if parts is not None:
                for a, b in zip(posterior.components, parts):
                    torch.testing.assert_close(a.logvar, b.logvar, rtol=1e-6, atol=1e-6)
            else:
                torch.testing.assert_close(posterior.logvar, alone.logvar, rtol=1e-6, atol=1e-6)
