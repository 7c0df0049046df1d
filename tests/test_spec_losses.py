"""Every shipped spec: the compiled loss equals an independent reference of its paper's objective.

The references below are written from ../shared/methods.md with the test's own PoE, Gaussian KL,
sampling and likelihoods (tests/spec_helpers.py); only the networks are borrowed from the compiled
model, as black boxes. Float64, fixed reparameterisation noise, tolerance 1e-5.
"""
from __future__ import annotations

from itertools import combinations

import pytest
import torch

from mmspec import compile_spec
from spec_helpers import SPECS, FixedNoise, Ref, tiny_batch

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
    total = 0
    S = subsets(r.mods)
    for s in S:
        q = r.poe([r.enc(f"q[{m}]", m) for m in s])
        total = total + r.rec(q, f"qs[{label(s)}]", r.mods) - P["beta"] * r.kl(q, r.prior())
    return total / len(S)


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


REFERENCES = {f.__name__: f for f in (independent, avg, poe, moe, mopoe, mvae, mmjsd, mmjsd_poe, mvtcae,
                                      mvtcae_rescale, crmvae, crmvae_multivae, jmvae, smvae, mmvm)}
REFERENCES["mmvae"] = moe        # the ELBO version of MMVAE is the MoE objective


def method_of(path):
    return path.stem.rsplit("_", 1)[0]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_every_spec_has_a_reference():
    missing = sorted({method_of(p) for p in SPECS} - set(REFERENCES))
    assert not missing, f"no independent reference for {missing}"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_compiled_loss_matches_reference(path):
    torch.manual_seed(0)
    model = compile_spec(path, SMALL)
    model.module.double()
    batch = tiny_batch(model.modalities)
    noise = FixedNoise()
    got = model.loss(batch, noise).loss
    with torch.no_grad():
        ref = -REFERENCES[method_of(path)](Ref(model, batch, noise), model.params).mean()
    torch.testing.assert_close(got.detach(), ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_parameter_gets_a_gradient(path):
    torch.manual_seed(0)
    model = compile_spec(path, SMALL)
    batch = tiny_batch(model.modalities, dtype=torch.float32)
    model.loss(batch).loss.backward()
    silent = [n for n, p in model.module.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not silent, f"no gradient reaches {silent}"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_spec_trains_a_few_steps_and_evaluates(path):
    """A few optimiser steps on one batch lower the loss; every subset encodes and decodes."""
    torch.manual_seed(0)
    model = compile_spec(path, SMALL)
    batch = tiny_batch(model.modalities, batch=4, dtype=torch.float32)
    opt = torch.optim.Adam(model.module.parameters(), lr=1e-3)
    noise = FixedNoise()
    losses = []
    for _ in range(3):
        opt.zero_grad()
        out = model.loss(batch, noise)
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss))
        assert all(torch.isfinite(v) for v in out.terms.values())
    assert losses[-1] < losses[0]
    with torch.no_grad():
        mods = list(model.modalities)
        for subset in [mods] + [[m] for m in mods]:
            z = model.encode(batch, subset).rsample(2)
            for m in model.modalities:
                assert model.decode(m, z).shape == (2, 4, *model.modalities[m].shape)
