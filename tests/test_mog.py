"""`prior p = mog(k=K, learn=[...], family=...)`: the density against a hand-written log-sum-exp formula,
a Monte Carlo KL against a brute-force integral, which parts train, generation from the prior, explain
and the checker's messages."""
from __future__ import annotations

import math

import pytest
import torch

from mmspec import SpecError, check_spec, compile_spec
from mmspec.explain.render import Explanation, render_json, render_latex, render_text
from spec_helpers import FixedNoise, tiny_batch


def mog_spec(prior: str = "mog(k=3)", dim: int = 2, objective: str = "rec(joint -> *) - kl(joint || p, estimator=mc, k=4)",
             extra: str = "") -> str:
    return f"""
model mog_test
data mst
latent z: {dim}
prior p = {prior}
modality a: vector(5) ~ gaussian(scale=0.5), net mlp(hidden=[8])
modality c: text(2, 4) ~ categorical, net mlp(hidden=[8])
posterior q[m] = encoder(m)
posterior joint = poe(q[*])
{extra}
maximize {objective}
infer S = poe(q[S])
"""


pytestmark = pytest.mark.usefixtures("one_thread")


def compiled(prior="mog(k=3)", seed=0, **kw):
    torch.manual_seed(seed)
    model = compile_spec(mog_spec(prior, **kw))
    model.module.double()
    params = model.module.prior_mixtures["p"]
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():          # weights and scales away from their uniform / unit start
        for name in ("log_scales", "logits"):
            getattr(params, name).copy_(0.4 * torch.randn(getattr(params, name).shape, generator=g, dtype=torch.float64))
    return model, params


def hand_log_density(z, means, log_scales, logits, family="gaussian"):
    """log Σ_c π_c p_c(z), written out: π = exp(ω)/Σ exp(ω), densities per dimension, log-sum-exp by hand."""
    log_pi = [float(w) - math.log(sum(math.exp(float(v)) for v in logits)) for w in logits]
    out = []
    for point in z.tolist():
        terms = []
        for c in range(len(log_pi)):
            s = log_pi[c]
            for d, x in enumerate(point):
                mu, sigma = float(means[c, d]), math.exp(float(log_scales[c, d]))
                if family == "gaussian":
                    s += -0.5 * math.log(2 * math.pi) - math.log(sigma) - 0.5 * ((x - mu) / sigma) ** 2
                else:
                    s += -math.log(2 * sigma) - abs(x - mu) / sigma
            terms.append(s)
        top = max(terms)
        out.append(top + math.log(sum(math.exp(t - top) for t in terms)))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("family", ["gaussian", "laplace"])
def test_log_density_is_the_log_sum_exp_formula(family):
    model, params = compiled(f"mog(k=3, family={family})")
    prior = model.prior(5)
    z = torch.randn(5, 2, dtype=torch.float64) * 2
    want = hand_log_density(z, params.means.detach(), params.log_scales.detach(), params.logits.detach(), family)
    torch.testing.assert_close(prior.log_prob(z).detach(), want, rtol=1e-12, atol=1e-12)
    # also against torch.distributions' mixture (an independent implementation)
    comp = (torch.distributions.Normal if family == "gaussian" else torch.distributions.Laplace)(
        params.means.detach(), params.log_scales.detach().exp())
    mix = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(logits=params.logits.detach()),
                                                torch.distributions.Independent(comp, 1))
    torch.testing.assert_close(prior.log_prob(z).detach(), mix.log_prob(z), rtol=1e-12, atol=1e-12)


def test_mc_kl_agrees_with_a_brute_force_integral_and_its_samples():
    """KL(joint || p) for item 0: a Riemann sum of q (log q - log p) on a 600 x 600 grid against the
    spec's estimator=mc with K = 4000 (within 4 standard errors), and exactly the mean of
    log q(z_k) - log p(z_k) over the spec's own draws z_k."""
    model, params = compiled(objective="rec(joint -> *) - kl(joint || p, estimator=mc, k=4000)")
    batch = tiny_batch(model.modalities, batch=3)
    ev = model.evaluation(batch, FixedNoise())
    leaf = next(l for l in model.leaves if hasattr(l, "p"))
    with torch.no_grad():
        q = ev.gaussian(leaf.q)
        mc = ev.kl_value(leaf)[0]
        z = ev.samples(leaf.q, 4000)[:, 0]
    mu, sd = q.mu[0].detach(), q.std[0].detach()
    log_q = lambda x: torch.distributions.Normal(mu, sd).log_prob(x).sum(-1)
    log_p = lambda x: hand_log_density(x, params.means.detach(), params.log_scales.detach(), params.logits.detach())
    per_sample = log_q(z) - log_p(z)
    assert float(mc) == pytest.approx(float(per_sample.mean()), abs=1e-9)
    axis = torch.linspace(-10, 10, 600, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    cell = float(axis[1] - axis[0]) ** 2
    log_p_grid = torch.logsumexp(torch.log_softmax(params.logits.detach(), 0)
                                 + torch.distributions.Normal(params.means.detach(), params.log_scales.detach().exp())
                                 .log_prob(grid[:, None, :]).sum(-1), -1)
    assert float(log_p_grid.exp().sum() * cell) == pytest.approx(1.0, abs=1e-3)
    kl_grid = float((log_q(grid).exp() * (log_q(grid) - log_p_grid)).sum() * cell)
    stderr = float(per_sample.std()) / math.sqrt(4000)
    assert abs(float(mc) - kl_grid) < 4 * stderr, (float(mc), kl_grid, stderr)


def test_only_the_learned_parts_train():
    torch.manual_seed(0)
    model = compile_spec(mog_spec("mog(k=4, learn=[means, weights])"))
    params = model.module.prior_mixtures["p"]
    assert {n for n, _ in params.named_parameters()} == {"means", "logits"}
    assert {n for n, _ in params.named_buffers()} == {"log_scales"}
    assert params.means.shape == (4, 2) and float(params.means.detach().abs().max()) <= 1.0      # CMVAE: U(-1, 1)
    before = {n: t.clone() for n, t in params.state_dict().items()}
    opt = torch.optim.Adam(model.module.parameters(), lr=0.1)
    batch = tiny_batch(model.modalities, batch=4, dtype=torch.float32)
    model.loss(batch, FixedNoise()).loss.backward()
    opt.step()
    after = params.state_dict()
    assert not torch.equal(after["means"], before["means"]) and not torch.equal(after["logits"], before["logits"])
    assert torch.equal(after["log_scales"], before["log_scales"])


def test_generation_draws_from_the_mixture():
    model, params = compiled("mog(k=2)")
    with torch.no_grad():
        params.means.copy_(torch.tensor([[-3.0, 0.0], [3.0, 1.0]], dtype=torch.float64))
        params.log_scales.zero_()
        params.logits.copy_(torch.tensor([0.0, math.log(3.0)], dtype=torch.float64))
    torch.manual_seed(1)
    z = model.sample_prior(20000).detach()
    right = (z[:, 0] > 0).double().mean()
    assert float(right) == pytest.approx(0.75, abs=0.015)            # π = (1/4, 3/4)
    assert float(z[:, 1].mean()) == pytest.approx(0.75, abs=0.03)     # 1/4·0 + 3/4·1
    assert model.can_generate


def test_explain_shows_the_prior_and_the_estimator():
    ex = Explanation.of(check_spec(mog_spec("mog(k=10, learn=[means, weights])")))
    text = render_text(ex)
    assert "p(z) = Σ_c π_c N(z; μ_c, diag σ_c²), c = 1..10, π = softmax(ω); learned: means, weights; fixed: scales" in text
    assert "KL(joint ‖ p)  [Monte Carlo, K=4]" in text
    assert "\\sum_{c=1}^{10} \\pi_c" in render_latex(ex)
    assert '"type": "MixturePrior"' in render_json(ex)


@pytest.mark.parametrize("prior, objective, extra, message", [
    ("mog()", None, "", "mog(...) needs its number of components"),
    ("mog(k=0)", None, "", "number of components"),
    ("mog(k=3, learn=[mean])", None, "", "unknown part of a mixture to learn"),
    ("mog(k=3, family=cauchy)", None, "", "unknown family"),
    ("mog(k=3, width=2)", None, "", "unknown option 'width' for mog"),
    ("normal()", None, "posterior bad = poe(mog(k=2), q[a])", "must be the whole right-hand side"),
    (None, "rec(joint -> *) - kl(joint || p)", "", "no closed form here: choose an estimator"),
    (None, "rec(joint -> *) - kl(joint || p, estimator=closed)", "", "no closed form for a KL"),
    (None, "rec(p -> *) - kl(joint || p, estimator=mc, k=1)", "", "p is a learned mixture prior: a term cannot draw"),
    (None, "rec(joint -> *) - kl(p || joint, estimator=mc, k=1)", "", "a term cannot draw samples"),
    (None, "elbo(joint)", "", "elbo(...) uses a closed-form KL"),
])
def test_checker_messages(prior, objective, extra, message):
    kw = {"objective": objective} if objective else {}
    with pytest.raises(SpecError) as err:
        check_spec(mog_spec(prior or "mog(k=3)", extra=extra, **kw))
    assert message in str(err.value) and "<spec>:" in str(err.value)


def test_iwae_weights_use_the_mixture_density():
    """iwae(joint -> *, k=K) with a mog prior: log w = log p(X|z) + log p_mog(z) - log q(z); with K = 1 and
    the same draw this is the one-sample ELBO with the MC KL, term for term."""
    model, _ = compiled(objective="iwae(joint -> *, k=1)")
    batch = tiny_batch(model.modalities, batch=3)
    iw = model.loss(batch, FixedNoise()).loss
    torch.manual_seed(0)
    elbo = compile_spec(mog_spec(objective="rec(joint -> *) - kl(joint || p, estimator=mc, k=1)"))
    elbo.module.double()
    elbo.module.load_state_dict(model.module.state_dict())
    torch.testing.assert_close(iw, elbo.loss(batch, FixedNoise()).loss, rtol=1e-10, atol=1e-10)


def test_scale_option_and_the_cmvae_spec_explain():
    """`scale=s` sets the components' (fixed) scale: CMVAE's clusters are Laplace(μ_c, 1 + 1e-6)."""
    from spec_helpers import ROOT
    params = compile_spec(mog_spec("mog(k=3, learn=[means], scale=2.5)")).module.prior_mixtures["p"]
    torch.testing.assert_close(params.log_scales.exp(), torch.full((3, 2), 2.5))
    with pytest.raises(SpecError, match="a scale must be positive"):
        check_spec(mog_spec("mog(k=3, scale=0)"))
    text = render_text(Explanation.of(check_spec(ROOT / "specs" / "cmvae_polymnist.mms")))
    assert ("pz(z) = Σ_c π_c Laplace(z; μ_c, σ_c), c = 1..10, π = softmax(ω); learned: means, weights; "
            "fixed: scales (σ_c = 1.000001)") in text
    assert "p(z, w[m0], w[m1], w[m2], w[m3], w[m4]) = pz(z) · pw[m0](w[m0])" in text
