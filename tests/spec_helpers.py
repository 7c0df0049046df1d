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
        if info.kind == "text" or info.likelihood == "categorical":
            length, vocab = info.shape if len(info.shape) == 2 else (1, info.shape[0])
            idx = torch.randint(0, vocab, (batch, length), generator=g)
            x = F.one_hot(idx, vocab).to(dtype)
            out[name] = x if len(info.shape) == 2 else x[:, 0]
        else:
            out[name] = torch.rand((batch, *info.shape), generator=g, dtype=dtype)
    return out


# ---- the reference maths -------------------------------------------------------------------

class Ref:
    """Gaussians as (mu, logvar) pairs; every formula written out from methods.md."""

    LINKS = {"mst_mnist": "sigmoid"}     # the authors' nets that end in a sigmoid

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
