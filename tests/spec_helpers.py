"""Shared test helpers: fixed noise, tiny batches, and an independent reference of the maths.

Nothing here imports mmspec's distributions or likelihoods: the reference formulas follow
../shared/methods.md directly, so a test comparing the compiled loss against them is a check of
the compiler against the papers, not of the code against itself.
"""
from __future__ import annotations

import math
import zlib
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.mms"))


class FixedNoise:
    """Reparameterisation noise that depends only on the distribution's name and the shape."""

    def normal(self, key, shape, like):
        g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
        return torch.randn(tuple(shape), generator=g, dtype=torch.float64).to(like.device, like.dtype)

    def uniform(self, key, shape, like):
        g = torch.Generator().manual_seed(zlib.crc32(key.encode()) + 1)
        return torch.rand(tuple(shape), generator=g, dtype=torch.float64).to(like.device, like.dtype)


def tiny_batch(modalities: dict, batch: int = 3, seed: int = 0, dtype=torch.float64) -> dict:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, info in modalities.items():
        if info.kind == "text" or getattr(info, "likelihood", None) == "categorical":
            length, vocab = info.shape if len(info.shape) == 2 else (1, info.shape[0])
            idx = torch.randint(0, vocab, (batch, length), generator=g)
            x = F.one_hot(idx, vocab).to(dtype)
            out[name] = x if len(info.shape) == 2 else x[:, 0]
        else:
            out[name] = torch.rand((batch, *info.shape), generator=g, dtype=dtype)
    return out


def spec_batch(model, batch: int = 3, seed: int = 0, dtype=torch.float64) -> dict:
    """tiny_batch of a compiled spec's modalities and of the given data a conditional spec reads."""
    return tiny_batch({**model.modalities, **getattr(model, "givens", {})}, batch, seed, dtype)


# ---- the reference maths -------------------------------------------------------------------

class Ref:
    """Gaussians as (mu, logvar) pairs; every formula written out from methods.md."""

    LINKS = {"mst_mnist": "sigmoid", "conv64": "sigmoid"}     # the authors' nets that end in a sigmoid

    def __init__(self, model, batch, noise):
        self.model, self.batch, self.noise = model, batch, noise
        self.mods = list(model.modalities)
        self.M = len(self.mods)
        x = next(iter(batch.values()))
        self.B, self.D, self.like = x.shape[0], model.latent_dim, x
        dims = {m: math.prod(model.modalities[m].shape) for m in self.mods}
        self.rescale = {m: max(dims.values()) / dims[m] for m in self.mods}

    def prior(self):
        z = torch.zeros(self.B, self.D, dtype=self.like.dtype)
        return (z, z)

    def enc(self, name, modality):
        return self.model.module.encoders[name](self.batch[modality])

    def joint_enc(self, name):
        return self.model.module.joint_encoders[name](self.batch)

    @staticmethod
    def poe(experts, weights=None):
        weights = weights or [1.0] * len(experts)
        prec = sum(w / (torch.exp(lv) + 1e-8) for w, (mu, lv) in zip(weights, experts))
        mu = sum(w * mu / (torch.exp(lv) + 1e-8) for w, (mu, lv) in zip(weights, experts)) / prec
        return (mu, -torch.log(prec))

    @staticmethod
    def kl(q, p):
        (mq, lq), (mp, lp) = q, p
        return 0.5 * (lp - lq + (torch.exp(lq) + (mq - mp) ** 2) / torch.exp(lp) - 1).sum(-1)

    def sample(self, q, key, k=1):
        mu, lv = q
        eps = self.noise.normal(key, (k, self.B, self.D), self.like)
        return mu + torch.exp(0.5 * lv) * eps

    def loglik(self, m, z):
        info = self.model.modalities[m]
        spec_net = self.model.graph.modalities[m].net.name
        raw = self.model.module.decoders[m](z.reshape(-1, self.D)).reshape(z.shape[0], self.B, *info.shape)
        x = self.batch[m]
        if info.likelihood == "laplace":
            loc = torch.sigmoid(raw) if self.LINKS.get(spec_net) == "sigmoid" else raw
            out = -torch.abs(x - loc) / 0.75 - math.log(1.5)
        elif info.likelihood == "categorical":
            out = x * torch.log_softmax(raw, -1)
        else:
            raise NotImplementedError(info.likelihood)
        return out.flatten(2).sum(-1)

    def rec(self, q, key, targets, weights=None):
        z = self.sample(q, key)
        return sum((weights or {}).get(t, 1.0) * self.loglik(t, z).mean(0) for t in targets)

    def stratified_assignment(self, key, weights):
        """rec(mix -> ..., sampling=stratified), written from docs/language.md: the items sorted by
        u ~ U[0, 1) (noise `key/order`) fill positions 0..B-1; with v ~ U[0, 1) (`key/offset`) the item
        at position p gets the first component j with (p + v)/B < w_1 + ... + w_j. -> [component of item i]."""
        u = self.noise.uniform(f"{key}/order", (self.B,), self.like).tolist()
        v = float(self.noise.uniform(f"{key}/offset", (1,), self.like))
        bounds = [sum(weights[: j + 1]) / sum(weights) for j in range(len(weights))]
        out = [len(weights) - 1] * self.B
        for p, item in enumerate(sorted(range(self.B), key=lambda i: u[i])):
            out[item] = next((j for j, c in enumerate(bounds) if (p + v) / self.B < c), len(weights) - 1)
        return out

    def stratified_rec(self, components, mixture_key, targets, weights=None):
        """Item i decodes the sample of its own component (components: [(q, noise key)], uniform weights
        unless given): sum_t log p(x_t,i | z_i), z_i the i-th reparameterised sample of component a(i)."""
        a = self.stratified_assignment(mixture_key, weights or [1.0] * len(components))
        z = torch.stack([self.sample(q, key)[0, i] for i, (q, key) in
                         ((i, components[a[i]]) for i in range(self.B))])[None]
        return sum(self.loglik(t, z)[0] for t in targets)

    # ---- Laplace distributions as (loc, scale) pairs, densities from torch.distributions (MMVAE) ----
    def laplace_enc(self, name, modality):
        """MMVAE's posterior head: scale = D·softmax(raw) + 1e-6."""
        loc, raw = self.model.module.encoders[name](self.batch[modality])
        return (loc, torch.softmax(raw, -1) * self.D + 1e-6)

    def learned_laplace_prior(self, name):
        """Laplace(0, D·softmax(lambda)) with the spec's learned lambda."""
        scale = torch.softmax(self.model.module.prior_logits[name], -1) * self.D
        return (torch.zeros(self.B, self.D, dtype=self.like.dtype), scale.expand(self.B, self.D))

    def laplace_sample(self, q, key, k):
        u = self.noise.uniform(key, (k, self.B, self.D), self.like)
        return torch.distributions.Laplace(*q).icdf(u)

    @staticmethod
    def laplace_logpdf(z, q):
        return torch.distributions.Laplace(*q).log_prob(z).sum(-1)

    # ---- posteriors computed by gradient steps (methods.md 15 and 17), written from the formulas ----
    def gradient_origin(self, name, objective):
        """SMVGON: z0 = 0, z0' = z0 + grad_z0 L(N(mu(z0), lv(z0))), q = N(mu(z0'), lv(z0')); the heads
        are the spec's linear maps (black boxes), the gradient is torch.autograd's."""
        heads = self.model.module.origins[name]
        with torch.enable_grad():
            z0 = torch.zeros(self.B, self.D, dtype=self.like.dtype, requires_grad=True)
            (step,) = torch.autograd.grad(objective(heads(z0)).sum(), z0, create_graph=torch.is_grad_enabled())
        return heads(z0.detach() + step)

    def refine(self, name, init, objective, steps, inputs, through=False):
        """MIAI: [q^0, ..., q^T] with mu_{t+1} = g_mu mu_t + (1 - g_mu) mu~ (log sigma likewise), where the
        update network (a black box: (x, mu, log sigma, grad mu, grad log sigma) -> mu~, log sigma~,
        g_mu, g_sigma) reads the gradients of `objective` at the iterate; detached unless `through`."""
        net = self.model.module.refiners[name]
        x = torch.cat([self.batch[m].reshape(self.B, -1) for m in inputs], -1)
        mu, log_sigma = init[0], 0.5 * init[1]
        out = [init]
        for _ in range(steps):
            with torch.enable_grad():
                if through:
                    m = mu if mu.requires_grad else mu.detach().requires_grad_()
                    s = log_sigma if log_sigma.requires_grad else log_sigma.detach().requires_grad_()
                else:
                    m, s = mu.detach().requires_grad_(), log_sigma.detach().requires_grad_()
                g_mu, g_s = torch.autograd.grad(objective((m, 2 * s)).sum(), (m, s), create_graph=through)
            cand_mu, cand_s, gate_mu, gate_s = net(x, mu, log_sigma, g_mu, g_s)
            mu = gate_mu * mu + (1 - gate_mu) * cand_mu
            log_sigma = gate_s * log_sigma + (1 - gate_s) * cand_s
            out.append((mu, 2 * log_sigma))
        return out
