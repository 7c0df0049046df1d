"""Importance-weighted objectives (iwae, DReG) and the Laplace family, against oracles written here:
brute-force log-mean-exp over the same noise, torch.distributions densities and KLs, and Monte Carlo
agreement of gradient estimators within a stated number of standard errors."""
from __future__ import annotations

import math

import pytest
import torch
import torch.distributions as td

from mmspec import SpecError, check_spec, compile_spec
from mmspec.lower.distributions import DiagLaplace, kl_laplace, laplace_from_head
from spec_helpers import ROOT, FixedNoise, tiny_batch

BASE = """
model t
data toy
param dim = 3
latent z: dim
prior p = normal()
modality a: vector(4) ~ gaussian(scale=0.5), net mlp(hidden=[8])
modality b: vector(3) ~ laplace(scale=2), net mlp(hidden=[8]), weight 2
posterior q[m] = encoder(m)
posterior j = poe(p, q[*])
posterior mix = moe(q[a], q[b], weights=[0.3, 0.7])
infer S = poe(p, q[S])
"""
F64 = torch.float64
LIK_SCALE = {"a": torch.tensor(0.5, dtype=F64), "b": torch.tensor(2.0, dtype=F64)}
STANDARD = td.Normal(torch.tensor(0.0, dtype=F64), torch.tensor(1.0, dtype=F64))
LIK = {"a": td.Normal, "b": td.Laplace}
WEIGHT = {"a": 1.0, "b": 2.0}


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def model_of(objective: str, base: str = BASE, dtype=torch.float64):
    model = compile_spec(base + "maximize " + objective + "\n")
    model.module.to(dtype)
    return model


# ---- the oracle: densities from torch.distributions, decoders as black boxes ---------------------

def log_joint(model, batch, z):
    """sum_t w_t log p(x_t|z) + log N(z; 0, I) for z [N, B, D]."""
    out = STANDARD.log_prob(z).sum(-1)
    for t in model.modalities:
        loc = model.module.decoders[t](z.reshape(-1, z.shape[-1])).reshape(*z.shape[:-1], -1)
        out = out + WEIGHT[t] * LIK[t](loc, LIK_SCALE[t]).log_prob(batch[t]).sum(-1)
    return out


def gaussian_expert(model, batch, m):
    mu, logvar = model.module.encoders[f"q[{m}]"](batch[m])
    return mu, torch.exp(0.5 * logvar)


def brute_log_mean_exp(log_w, dim=0):
    """log (1/N) sum exp, written the naive way (float64, moderate values)."""
    return torch.log(torch.exp(log_w).mean(dim))


def test_iwae_single_posterior_equals_brute_force_log_mean_exp():
    K = 7
    for estimator in ("iwae", "dreg"):
        model = model_of(f"iwae(j -> *, k={K}, estimator={estimator})")
        batch, noise = tiny_batch(model.modalities), FixedNoise()
        got = model.loss(batch, noise).loss
        with torch.no_grad():
            experts = [(torch.zeros(3, 3, dtype=torch.float64), torch.ones(3, 3, dtype=torch.float64))]
            experts += [gaussian_expert(model, batch, m) for m in ("a", "b")]
            precision = sum(1 / (s ** 2 + 1e-8) for _, s in experts)
            mu = sum(m / (s ** 2 + 1e-8) for m, s in experts) / precision
            std = precision ** -0.5
            z = mu + std * noise.normal("j", (K, 3, 3), mu)
            log_w = log_joint(model, batch, z) - td.Normal(mu, std).log_prob(z).sum(-1)
            expected = -brute_log_mean_exp(log_w).mean()
        torch.testing.assert_close(got.detach(), expected, rtol=0, atol=1e-8)


@pytest.mark.parametrize("form", ["looser", "standard"])
def test_iwae_mixture_forms_equal_brute_force(form):
    K = 5
    model = model_of(f"iwae(mix -> *, k={K}, form={form})")
    batch, noise = tiny_batch(model.modalities), FixedNoise()
    got = model.loss(batch, noise).loss
    with torch.no_grad():
        comps = {m: gaussian_expert(model, batch, m) for m in ("a", "b")}
        a = {"a": 0.3, "b": 0.7}

        def log_mixture(z):
            return torch.log(sum(a[m] * td.Normal(mu, s).log_prob(z).sum(-1).exp() for m, (mu, s) in comps.items()))
        per = {}
        for m, (mu, s) in comps.items():
            z = mu + s * noise.normal(f"q[{m}]", (K, 3, 3), mu)
            per[m] = torch.exp(log_joint(model, batch, z) - log_mixture(z))          # w_jk [K, B]
        if form == "looser":
            value = sum(a[m] * torch.log(per[m].mean(0)) for m in per)
        else:
            value = torch.log(sum(a[m] * per[m].mean(0) for m in per))
    torch.testing.assert_close(got.detach(), -value.mean(), rtol=0, atol=1e-8)


def test_iwae_with_laplace_posterior_and_prior_equals_brute_force():
    K = 6
    base = BASE.replace("prior p = normal()", "prior p = laplace(scale=1.5)").replace(
        "posterior q[m] = encoder(m)", "posterior q[m] = encoder(m, family=laplace)")
    base = base.replace("posterior j = poe(p, q[*])\n", "").replace("infer S = poe(p, q[S])", "infer S = moe(q[S])")
    model = model_of(f"iwae(q[a] -> (a, b), k={K})", base)
    batch, noise = tiny_batch(model.modalities), FixedNoise()
    got = model.loss(batch, noise).loss
    with torch.no_grad():
        loc, raw = model.module.encoders["q[a]"](batch["a"])
        scale = 3 * torch.softmax(raw, -1) + 1e-6                        # MMVAE: D·softmax + eta
        q = td.Laplace(loc, scale)
        z = q.icdf(noise.uniform("q[a]", (K, 3, 3), loc))
        prior = td.Laplace(torch.tensor(0.0, dtype=F64), torch.tensor(1.5, dtype=F64))
        log_w = log_joint(model, batch, z) - STANDARD.log_prob(z).sum(-1) \
            + prior.log_prob(z).sum(-1) - q.log_prob(z).sum(-1)
        expected = -brute_log_mean_exp(log_w).mean()
    torch.testing.assert_close(got.detach(), expected, rtol=0, atol=1e-8)


# ---- prior=none: the importance-weighted reconstruction alone, divergences weighted apart --------

def log_likelihood(model, batch, z):
    """sum_t w_t log p(x_t|z) for z [N, B, D] (no prior)."""
    return log_joint(model, batch, z) - STANDARD.log_prob(z).sum(-1)


def test_iwae_without_prior_is_the_log_mean_likelihood_and_the_kl_is_weighted_apart():
    """`iwae(j -> *, k=K, prior=none) - 0.3 * kl(j || p)`: log 1/K sum_k p(X|z_k), z_k ~ j, plus the
    closed-form KL with its own weight, each against a brute-force oracle on the same noise."""
    K = 7
    model = model_of(f"iwae(j -> *, k={K}, prior=none) - 0.3 * kl(j || p)")
    batch, noise = tiny_batch(model.modalities), FixedNoise()
    out = model.loss(batch, noise)
    with torch.no_grad():
        experts = [(torch.zeros(3, 3, dtype=F64), torch.ones(3, 3, dtype=F64))]
        experts += [gaussian_expert(model, batch, m) for m in ("a", "b")]
        precision = sum(1 / (s ** 2 + 1e-8) for _, s in experts)
        mu = sum(m / (s ** 2 + 1e-8) for m, s in experts) / precision
        std = precision ** -0.5
        z = mu + std * noise.normal("j", (K, 3, 3), mu)
        rec = brute_log_mean_exp(log_likelihood(model, batch, z))
        kl = td.kl_divergence(td.Normal(mu, std), td.Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(out.terms["iwae(j->*, k=7, iwae, prior=none)"], rec.mean(), rtol=0, atol=1e-8)
    torch.testing.assert_close(out.loss.detach(), -(rec - 0.3 * kl).mean(), rtol=0, atol=1e-8)


@pytest.mark.parametrize("form", ["looser", "standard"])
def test_iwae_without_prior_of_a_mixture_equals_brute_force(form):
    K = 4
    model = model_of(f"iwae(mix -> *, k={K}, form={form}, prior=none)")
    batch, noise = tiny_batch(model.modalities), FixedNoise()
    got = model.loss(batch, noise).loss
    with torch.no_grad():
        a = {"a": 0.3, "b": 0.7}
        per = {}
        for m in a:
            mu, s = gaussian_expert(model, batch, m)
            per[m] = torch.exp(log_likelihood(model, batch, mu + s * noise.normal(f"q[{m}]", (K, 3, 3), mu)))
        if form == "looser":
            value = sum(a[m] * torch.log(per[m].mean(0)) for m in per)
        else:
            value = torch.log(sum(a[m] * per[m].mean(0) for m in per))
    torch.testing.assert_close(got.detach(), -value.mean(), rtol=0, atol=1e-8)


def test_iwae_without_prior_is_explained_and_refuses_dreg():
    from mmspec.explain.render import Explanation, render_latex, render_text
    program = check_spec(BASE + "param beta = 2\nmaximize iwae(j -> *, k=5, prior=none) - beta * kl(j || p)\n")
    text = render_text(Explanation.of(program, with_m=False))
    assert "w(z) = p(x_a|z)·p(x_b|z)^2, the reconstruction alone (prior=none)" in text
    assert "-         2 · KL(j ‖ p)  [closed form]" in text
    latex = render_latex(Explanation.of(program, with_m=False)).split("mathcal{L}")[1]
    latex = latex.replace(" \\\\\n  &\\quad", "")          # terms as one row, whatever rows the page width gives
    assert "p(x_{\\mathrm{a}} \\mid z_{k}) \\, p(x_{\\mathrm{b}} \\mid z_{k})^{2}\\;[\\text{IWAE}] - 2" in latex
    assert "\\mid X)" not in latex
    with pytest.raises(SpecError, match="DReG is the gradient of the full bound"):
        check_spec(BASE + "maximize iwae(j -> *, k=5, prior=none, estimator=dreg)\n")


# ---- DReG: same expected gradient as IWAE -----------------------------------------------------

def _group_gradients(objective: str, groups: int, per_group: int, base: str = BASE):
    """Per-group mean gradients [G, P] of the IWAE and of the other estimator, on the same noise."""
    ref = model_of(objective.replace("estimator=dreg", "estimator=iwae"), base)
    other = model_of(objective, base)
    other.module.load_state_dict(ref.module.state_dict())
    x = tiny_batch(ref.modalities, batch=1, seed=3)
    batch = {m: v.expand(per_group, *v.shape[1:]).contiguous() for m, v in x.items()}
    names = [n for n, _ in ref.module.named_parameters()]
    out = {"iwae": [], "other": []}
    for g in range(groups):
        for key, model in (("iwae", ref), ("other", other)):
            torch.manual_seed(1000 + g)
            params = list(model.module.parameters())
            grads = torch.autograd.grad(model.loss(batch).loss, params, allow_unused=True)
            out[key].append(torch.cat([(gr if gr is not None else torch.zeros_like(p)).flatten()
                                       for gr, p in zip(grads, params)]))
    sizes = [p.numel() for p in ref.module.parameters()]
    return torch.stack(out["iwae"]), torch.stack(out["other"]), names, sizes


def _z_scores(diff: torch.Tensor) -> torch.Tensor:
    """|mean| / standard error of the per-group differences, per coordinate (0 where they never vary)."""
    se = diff.std(0) / math.sqrt(diff.shape[0])
    return torch.where(se > 1e-12, diff.mean(0).abs() / se, torch.zeros_like(se))


def test_dreg_gradient_has_the_iwae_gradient_expectation():
    """Single Gaussian posterior, K = 5: DReG's decoder gradient equals IWAE's draw by draw; its
    encoder gradient agrees in expectation. 40 groups of 200 draws; every coordinate's paired
    difference is within 4.5 standard errors (two-sided Bonferroni over ~150 coordinates ~ 1e-3)."""
    iw, dreg, names, sizes = _group_gradients("iwae(q[a] -> *, k=5, estimator=dreg)", 40, 200)
    owner = [n for n, s in zip(names, sizes) for _ in range(s)]
    decoder = torch.tensor([n.startswith("decoders.") for n in owner])
    encoder = torch.tensor([n.startswith("encoders.q[a]") for n in owner])
    torch.testing.assert_close(dreg[:, decoder], iw[:, decoder], rtol=1e-9, atol=1e-12)
    z = _z_scores(dreg[:, encoder] - iw[:, encoder])
    assert z.max() < 4.5, f"DReG and IWAE encoder gradients disagree: max z = {z.max():.2f}"
    # the test can fail: DReG's estimator really differs from IWAE's draw by draw (lower variance)
    assert (dreg[:, encoder] - iw[:, encoder]).abs().max() > 1e-3
    assert dreg[:, encoder].var(0).sum() < iw[:, encoder].var(0).sum()


def test_dreg_test_detects_a_biased_estimator():
    """The same statistic flags a wrong estimator: 'sticking the landing' without squaring the
    weights (detached log q, weights w~) is biased for K > 1 (Tucker et al. 2018)."""
    iw, _, names, sizes = _group_gradients("iwae(q[a] -> *, k=5, estimator=dreg)", 40, 200)
    model = model_of("iwae(q[a] -> *, k=5)")
    ref = model_of("iwae(q[a] -> *, k=5)")
    model.module.load_state_dict(ref.module.state_dict())
    x = tiny_batch(model.modalities, batch=1, seed=3)
    batch = {m: v.expand(200, *v.shape[1:]).contiguous() for m, v in x.items()}
    enc = model.module.encoders["q[a]"]
    stl = []
    for g in range(40):
        torch.manual_seed(1000 + g)
        mu, logvar = enc(batch["a"])
        std = torch.exp(0.5 * logvar)
        z = mu + std * torch.randn(5, *mu.shape, dtype=mu.dtype)
        log_w = log_joint(model, batch, z) - td.Normal(mu.detach(), std.detach()).log_prob(z).sum(-1)
        surrogate = (torch.softmax(log_w, 0).detach() * log_w).sum(0).mean()
        grads = torch.autograd.grad(-surrogate, list(enc.parameters()))
        stl.append(torch.cat([gr.flatten() for gr in grads]))
    owner = [n for n, s in zip(names, sizes) for _ in range(s)]
    encoder = torch.tensor([n.startswith("encoders.q[a]") for n in owner])
    z = _z_scores(torch.stack(stl) - iw[:, encoder])
    assert z.max() > 4.5, f"a biased estimator went unnoticed: max z = {z.max():.2f}"


@pytest.mark.parametrize("form", ["looser", "standard"])
def test_mixture_dreg_decoder_gradient_is_iwae_draw_by_draw(form):
    """For mixtures the authors' DReG changes only the encoder gradient: decoders (and the prior)
    receive exactly the IWAE gradient on the same draws."""
    iw, dreg, names, sizes = _group_gradients(f"iwae(mix -> *, k=4, estimator=dreg, form={form})", 3, 16)
    owner = [n for n, s in zip(names, sizes) for _ in range(s)]
    decoder = torch.tensor([n.startswith("decoders.") for n in owner])
    torch.testing.assert_close(dreg[:, decoder], iw[:, decoder], rtol=1e-9, atol=1e-12)
    assert not torch.allclose(dreg[:, ~decoder], iw[:, ~decoder])


def test_mixture_dreg_with_one_sample_is_unbiased():
    """K = 1: the normalised weight is 1, DReG is the path-only gradient, whose dropped score term
    has expectation zero under the mixture; agreement within 4.5 standard errors."""
    iw, dreg, names, sizes = _group_gradients("iwae(mix -> *, k=1, estimator=dreg, form=looser)", 40, 200)
    z = _z_scores(dreg - iw)
    assert z.max() < 4.5, f"max z = {z.max():.2f}"


@pytest.mark.parametrize("form", ["looser", "standard"])
def test_mixture_dreg_gradient_is_the_authors_recipe(form):
    """Every parameter's gradient equals the recipe of MMVAE's m_dreg_looser / m_dreg, written here:
    components' parameters detached in the mixture density, a hook multiplying dz by the normalised
    weights, surrogate sum of w~ log w (mean over components for looser)."""
    K, B = 4, 3
    base = BASE.replace("moe(q[a], q[b], weights=[0.3, 0.7])", "moe(q[*])")
    model = model_of(f"iwae(mix -> *, k={K}, estimator=dreg, form={form})", base)
    batch, noise = tiny_batch(model.modalities, batch=B), FixedNoise()
    params = list(model.module.parameters())
    got = torch.autograd.grad(model.loss(batch, noise).loss, params)
    comps = {m: gaussian_expert(model, batch, m) for m in ("a", "b")}
    zs = torch.stack([mu + s * noise.normal(f"q[{m}]", (K, B, 3), mu) for m, (mu, s) in comps.items()])
    detached = [td.Normal(mu.detach(), s.detach()) for mu, s in comps.values()]
    log_q = torch.logsumexp(torch.stack([d.log_prob(zs).sum(-1) for d in detached]), 0) - math.log(2)
    lw = log_joint(model, batch, zs.reshape(2 * K, B, 3)).reshape(2, K, B) - log_q
    with torch.no_grad():
        if form == "looser":
            grad_wt = (lw - torch.logsumexp(lw, 1, keepdim=True)).exp()
        else:
            flat = lw.reshape(2 * K, B)
            grad_wt = (flat - torch.logsumexp(flat, 0, keepdim=True)).exp().reshape(2, K, B)
    zs.register_hook(lambda grad: grad_wt.unsqueeze(-1) * grad)
    objective = (grad_wt * lw).sum(1).mean(0).sum() if form == "looser" else (grad_wt * lw).sum()
    expected = torch.autograd.grad(-objective / B, params)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_mixture_dreg_with_several_samples_is_slightly_biased():
    """What docs/language.md says of the authors' mixture DReG (form=standard, K = 5): its encoder
    gradient differs from the IWAE gradient in expectation (some coordinate beyond 6 standard errors
    over 60 groups of 400 draws), while the decoder's is exact (see the test above)."""
    iw, dreg, _, _ = _group_gradients("iwae(mix -> *, k=5, estimator=dreg, form=standard)", 60, 400)
    assert _z_scores(dreg - iw).max() > 6


# ---- the Laplace family ---------------------------------------------------------------------------

def test_laplace_log_density_and_sampling_match_torch():
    loc, raw = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    q = laplace_from_head(loc, raw)
    torch.testing.assert_close(q.scale, 5 * torch.softmax(raw, -1) + 1e-6)
    ref = td.Laplace(loc, q.scale)
    z = torch.randn(3, 4, 5, dtype=torch.float64) * 2
    torch.testing.assert_close(q.log_prob(z), ref.log_prob(z).sum(-1))
    u = torch.rand(3, 4, 5, dtype=torch.float64)
    torch.testing.assert_close(q.sample_with(u), ref.icdf(u))
    draws = q.rsample(20000)                                          # E|z - loc| = b, sd b
    mad = (draws - loc).abs().mean(0)
    assert ((mad - q.scale).abs() < 5 * q.scale / math.sqrt(20000)).all()


def test_laplace_kl_closed_form_matches_torch_and_monte_carlo():
    g = torch.Generator().manual_seed(1)
    q = DiagLaplace(torch.randn(6, 3, generator=g, dtype=torch.float64), torch.rand(6, 3, generator=g, dtype=torch.float64) + 0.2)
    p = DiagLaplace(torch.randn(6, 3, generator=g, dtype=torch.float64), torch.rand(6, 3, generator=g, dtype=torch.float64) + 0.2)
    closed = kl_laplace(q, p)
    torch.testing.assert_close(closed, td.kl_divergence(td.Laplace(q.loc, q.scale), td.Laplace(p.loc, p.scale)).sum(-1))
    z = q.rsample(200000)
    samples = q.log_prob(z) - p.log_prob(z)
    se = samples.std(0) / math.sqrt(z.shape[0])
    assert ((samples.mean(0) - closed).abs() < 5 * se).all()


def test_laplace_kl_in_a_spec_closed_and_mc_agree():
    base = BASE.replace("prior p = normal()", "prior p = laplace(scale=learned)").replace(
        "posterior q[m] = encoder(m)", "posterior q[m] = encoder(m, family=laplace)")
    base = base.replace("posterior j = poe(p, q[*])\n", "").replace("infer S = poe(p, q[S])", "infer S = moe(q[S])")
    closed = model_of("rec(q[a] -> a) - kl(q[a] || p)", base)
    mc = model_of("rec(q[a] -> a) - kl(q[a] || p, estimator=mc, k=40000)", base)
    with torch.no_grad():
        closed.module.prior_logits["p"].copy_(torch.tensor([0.5, -0.3, 0.1]))
        mc.module.load_state_dict(closed.module.state_dict())
        batch = tiny_batch(closed.modalities)
        kl_closed = [v for l, v in closed.evaluation(batch).leaf_values(closed.leaves).items() if hasattr(l, "q")][0]
        kl_mc = [v for l, v in mc.evaluation(batch).leaf_values(mc.leaves).items() if hasattr(l, "q")][0]
        loc, raw = closed.module.encoders["q[a]"](batch["a"])
        b_p = 3 * torch.softmax(closed.module.prior_logits["p"], -1)
        oracle = td.kl_divergence(td.Laplace(loc, 3 * torch.softmax(raw, -1) + 1e-6), td.Laplace(0.0, b_p)).sum(-1)
    torch.testing.assert_close(kl_closed, oracle)
    assert ((kl_mc - oracle).abs() < 0.05 * oracle.abs() + 0.02).all()     # ~5 SE at K = 40000


def test_learned_laplace_prior_gets_gradient_and_is_the_models_prior():
    text = open(ROOT / "specs" / "mmvae_dreg_mst.mms").read()
    model = compile_spec(text, {"dim": "4", "k": "3"})
    prior = model.prior(2)
    assert isinstance(prior, DiagLaplace) and torch.allclose(prior.scale, torch.ones(2, 4))
    batch = tiny_batch(model.modalities, batch=2, dtype=torch.float32)
    model.loss(batch).loss.backward()
    assert model.module.prior_logits["p"].grad.abs().sum() > 0
    assert model.sample_prior(5).shape == (5, 4) and model.can_generate


# ---- the language: explain and located errors -----------------------------------------------------

def test_explain_prints_the_bound_as_math():
    from mmspec.explain import Explanation, render_json, render_latex, render_text
    import json
    program = check_spec(ROOT / "specs" / "mmvae_dreg_mst.mms")
    ex = Explanation.of(program, with_m=False)
    text = render_text(ex)
    assert "IWAE[looser, K=30]: Σ_j a_j log 1/K Σ_k w(z_jk)" in text and "[DReG gradient]" in text
    assert "p(x_mnist|z)^3.918" in text and "Laplace(0, b)" in text and "mixture-based" in text
    assert "\\sum_{j=1}^{3} a_j \\log \\frac{1}{30}" in render_latex(ex)
    term = json.loads(render_json(ex))["objectives"][0]["terms"][0]
    assert (term["kind"], term["k"], term["estimator"], term["form"]) == ("iwae", 30, "dreg", "looser")
    assert term["coefficient"] == 1.0 and [c["weight"] for c in term["components"]] == pytest.approx([1 / 3] * 3)


def test_language_doc_iwae_example_compiles():
    import re
    blocks = re.findall(r"```\n(.*?)```", (ROOT / "docs" / "language.md").read_text(), flags=re.DOTALL)
    example = next(b for b in blocks if "iwae(" in b and "model " in b)
    model = compile_spec(example, {"dim": "4"})
    assert any(type(l).__name__ == "IWAE" for l in model.leaves)


def _error(text: str) -> str:
    with pytest.raises(SpecError) as err:
        check_spec(text, filename="bad.mms")
    return str(err.value)


LAPLACE = BASE.replace("posterior q[m] = encoder(m)", "posterior q[m] = encoder(m, family=laplace)")


@pytest.mark.parametrize("text, line, message", [
    (LAPLACE + "maximize elbo(j)", 10, "poe(...) needs Gaussian members; q[a] is a Laplace distribution"),
    (LAPLACE.replace("posterior j = poe(p, q[*])\n", "").replace("poe(p, q[S])", "moe(q[S])")
     + "maximize rec(q[a] -> a) - kl(q[a] || p)", 12, "KL between a laplace and a gaussian distribution has no closed form"),
    (BASE + "maximize iwae(j -> *, k=5, form=looser)", 13, "form=... is for mixture posteriors"),
    (BASE + "maximize iwae(mix -> *, k=5)", 13, "choose how the samples combine"),
    (BASE + "maximize iwae(mix -> *, form=looser)", 13, "iwae needs its number of importance samples"),
    (BASE + "maximize iwae(j, k=5, estimator=dreeg)", 13, "did you mean 'dreg'"),
    (BASE + "maximize iwae(j, k=0)", 13, "k must be a positive integer"),
    (BASE.replace("prior p = normal()", "prior p = normal()\nposterior r = moe(laplace(scale=learned), p)")
     + "maximize elbo(j)", 7, "laplace(scale=learned) creates a trainable scale"),
    (BASE.replace("encoder(m)", "encoder(m, family=cauchy)") + "maximize elbo(j)", 9, "unknown posterior family"),
])
def test_located_errors(text, line, message):
    out = _error(text)
    assert out.startswith(f"bad.mms:{line}:") and message in out, out
