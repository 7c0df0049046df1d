"""Several latents of different sizes (docs/language.md, "Several latents"): decoders reading a
concatenation of latents, joints, a latent drawn from its own prior when the decoded distribution does
not describe it, the mixture-of-joints density, the whole latent vector evaluation uses, and the
located errors. Oracles: closed forms for affine-Gaussian decoders (Monte Carlo on the spec's side),
brute-force densities written here with torch.distributions, and the Laplace variance 2b²."""
from __future__ import annotations

import math

import pytest
import torch
from click.testing import CliRunner

from mmspec import check_spec, compile_spec
from mmspec.errors import SpecError
from spec_helpers import ROOT, FixedNoise, tiny_batch

TWO = """
model two_latents
data mst
latent z: 3
latent w[m]: 2
prior p = normal() on z
prior r[m] = laplace(scale=learned, eps=0.1) on w[m]
modality a: vector(4) ~ gaussian(scale=0.5), net mlp(hidden=[]), from (z, w[a])
modality b: vector(5) ~ gaussian(scale=0.7), net mlp(hidden=[]), from (w[b], z)
posterior qz[m] = encoder(m) on z
posterior qw[m] = encoder(m) on w[m]
posterior q[m] = (qz[m], qw[m])
maximize rec(q[a] -> b, k=K) - kl(qz[a] || p)
infer S = (moe(qz[S]), qw[S])
"""


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(k=1, text=TWO):
    torch.manual_seed(0)
    model = compile_spec(text.replace("k=K", f"k={k}"))
    model.module.double()
    with torch.no_grad():
        for logits in model.module.prior_logits.values():
            logits.copy_(torch.tensor([0.7, -0.4], dtype=torch.float64))
    return model


def test_networks_are_built_for_the_size_of_what_they_read_or_describe():
    model = _model()
    m = model.module
    assert m.decoders["a"][0].in_features == 5 and m.decoders["b"][0].in_features == 5   # 3 + 2
    assert m.encoders["qz[a]"](torch.zeros(1, 4, dtype=torch.float64))[0].shape == (1, 3)
    assert m.encoders["qw[b]"](torch.zeros(1, 5, dtype=torch.float64))[0].shape == (1, 2)
    assert m.prior_logits["r[a]"].shape == (2,)
    assert model.latent_dim == 3 + 2 + 2          # the whole vector: z, w[a], w[b]


def test_cross_reconstruction_draws_the_missing_latent_from_its_prior_closed_form():
    """rec(q[a] -> b) with an affine decoder x̂ = A_w w + A_z z + c and a Gaussian likelihood:
    E_{z~qz[a], w~r[b]} log N(x; x̂, s²) = -n log(s √(2π)) - (|x - A_z μ - c|² + tr(A_z Σ_z A_zᵀ)
    + tr(A_w Σ_w A_wᵀ)) / (2 s²), with Σ_w = diag(2 b²) (Laplace) and b = 2·softmax(λ) + 0.1.
    The decoder of b reads (w[b], z): w first. Monte Carlo with 40000 draws on the spec's side."""
    model = _model(k=40000)
    batch = tiny_batch(model.modalities, batch=2)
    out = model.loss(batch, FixedNoise())
    rec = out.terms[next(n for n in out.terms if n.startswith("rec"))]
    m = model.module
    mu, logvar = m.encoders["qz[a]"](batch["a"])
    lin = m.decoders["b"][0]
    A_w, A_z, c = lin.weight[:, :2], lin.weight[:, 2:], lin.bias
    b = 2 * torch.softmax(torch.tensor([0.7, -0.4], dtype=torch.float64), -1) + 0.1
    s, n = 0.7, 5
    resid = ((batch["b"] - mu @ A_z.T - c) ** 2).sum(-1)
    spread = (A_z ** 2 * logvar.exp()[:, None, :]).sum((-1, -2)) + (A_w ** 2 * (2 * b ** 2)).sum()
    expected = (-n * math.log(s * math.sqrt(2 * math.pi)) - (resid + spread) / (2 * s * s)).mean()
    assert rec.item() == pytest.approx(expected.item(), rel=5e-3)


def test_mixture_of_joints_density_is_the_product_of_per_latent_mixtures():
    """iwae over moe((qz[m], qw[m])): at K = 1 each component's term is log w with
    log q = log(½ qz_a(z) + ½ qz_b(z)) + log qw_j(w_j) (brute force with torch.distributions)."""
    text = TWO.replace("maximize rec(q[a] -> b, k=K) - kl(qz[a] || p)",
                       "posterior mix = moe(q[*])\nmaximize iwae(mix -> *, k=1, form=looser)")
    text = text.replace("prior p = normal() on z", "prior p = normal()")       # p(z)·p(w_j)
    model = _model(text=text)
    batch = tiny_batch(model.modalities, batch=3)
    noise = FixedNoise()
    got = model.loss(batch, noise).terms
    value = next(v for n, v in got.items() if n.startswith("iwae"))
    m, N = model.module, torch.distributions.Normal
    q = {(kind, x): m.encoders[f"{kind}[{x}]"](batch[x]) for kind in ("qz", "qw") for x in "ab"}
    dist = {key: N(mu, (0.5 * lv).exp()) for key, (mu, lv) in q.items()}
    total = 0.0
    for j in "ab":
        z = dist[("qz", j)].mean + dist[("qz", j)].stddev * noise.normal(f"qz[{j}]", (1, 3, 3), batch["a"])
        w = dist[("qw", j)].mean + dist[("qw", j)].stddev * noise.normal(f"qw[{j}]", (1, 3, 2), batch["a"])
        log_q = (torch.logsumexp(torch.stack([dist[("qz", i)].log_prob(z).sum(-1) for i in "ab"]), 0)
                 - math.log(2) + dist[("qw", j)].log_prob(w).sum(-1))
        log_p = N(0.0, 1.0).log_prob(z).sum(-1) + N(0.0, 1.0).log_prob(w).sum(-1)
        lik = 0.0
        for t, s in (("a", 0.5), ("b", 0.7)):
            if t == j:
                own = w
            else:
                scale = 2 * torch.softmax(m.prior_logits[f"r[{t}]"], -1) + 0.1
                u = noise.uniform(f"r[{t}] on w[{t}] for {t} from q[{j}]", (1, 3, 2), batch["a"])
                own = torch.distributions.Laplace(torch.zeros(2, dtype=torch.float64), scale).icdf(u)
            inp = torch.cat([z, own], -1) if t == "a" else torch.cat([own, z], -1)
            lik = lik + N(m.decoders[t](inp[0]), s).log_prob(batch[t]).sum(-1)
        total = total + 0.5 * (lik + log_p - log_q)[0]
    assert value.item() == pytest.approx(total.mean().item(), rel=1e-10)


def test_evaluation_fills_latents_not_given_from_their_priors():
    """encode({a}) describes z and w[a]; w[b] comes from r[b] = Laplace(0, b): variance 2b² per dimension."""
    model = _model()
    batch = tiny_batch(model.modalities, batch=2)
    post = model.encode(batch, ["a"])
    draws = post.rsample(20000)                         # [K, B, 3 + 2 + 2]
    assert draws.shape == (20000, 2, 7)
    b = 2 * torch.softmax(torch.tensor([0.7, -0.4], dtype=torch.float64), -1) + 0.1
    torch.testing.assert_close(draws[..., 5:].var(0).mean(0), 2 * b ** 2, rtol=0.05, atol=0)
    mu, _ = model.module.encoders["qw[a]"](batch["a"])
    torch.testing.assert_close(post.mean[:, 3:5], mu)
    # decoding reads its own latents out of the whole vector
    x = model.decode("b", draws[:1])
    lin = model.module.decoders["b"][0]
    torch.testing.assert_close(x, torch.cat([draws[:1, :, 5:], draws[:1, :, :3]], -1) @ lin.weight.T + lin.bias)
    assert model.sample_prior(4).shape == (4, 7)


def _error(text: str) -> str:
    with pytest.raises(SpecError) as err:
        check_spec(text.replace("k=K", "k=1"))
    return str(err.value)


@pytest.mark.parametrize("edit, message, line", [
    ((", from (z, w[a])", ""), "does not say which latents it reads", 8),
    (("from (w[b], z)", "from (w[b], z, z)"), "a latent appears twice", 9),
    (("from (z, w[a])", "from (z, v[a])"), "expected a declared latent after 'from'", 8),
    (("from (z, w[a])", "from (z, b)"), "'b' is a modality: a decoder reads latents", 8),
    (("prior r[m] = laplace(scale=learned, eps=0.1) on w[m]\n", ""), "has no data-free prior", 12),
    (("posterior q[m] = (qz[m], qw[m])", "posterior q[m] = (qz[m], qz[m])"), "two members of this joint", 12),
    (("- kl(qz[a] || p)", "- kl(q[a] || p)"), "describes several latents", 13),
    (("- kl(qz[a] || p)", "- kl(qz[a] || qw[a])"), "describe different latents", 13),
    (("posterior qz[m] = encoder(m) on z", "posterior qz[m] = encoder(m)"), "several latents are declared", 10),
])
def test_mistakes_with_several_latents_are_located(edit, message, line):
    text = _error(TWO.replace(*edit))
    assert message in text and f":{line}:" in text, text


def test_constructs_that_need_one_latent_say_so():
    mix = TWO.replace("maximize rec(q[a] -> b, k=K)", "posterior mix = moe(q[*])\nmaximize rec(mix -> *, sampling=stratified)")
    assert "describe several latents" in _error(mix)
    refined = TWO.replace("posterior q[m] = (qz[m], qw[m])",
                          "posterior q[m] = (qz[m], qw[m])\nposterior r2 = refine(qz[a], maximize=elbo(r2 -> a), steps=2)")
    assert "needs a spec whose decoders read one latent" in _error(refined)


def test_one_encoder_over_several_latents_and_its_factors():
    """`encoder(m) on (z, w[m])`: one network whose heads give z's then w[m]'s parameters; `q[m] on w[m]`
    is its factor (the same numbers as the heads' slice)."""
    text = TWO.replace("posterior qz[m] = encoder(m) on z\nposterior qw[m] = encoder(m) on w[m]\n"
                       "posterior q[m] = (qz[m], qw[m])",
                       "posterior q[m] = encoder(m) on (z, w[m])\nposterior qz[m] = q[m] on z\n"
                       "posterior qw[m] = q[m] on w[m]")
    model = _model(text=text)
    assert set(model.module.encoders) == {"q[a]", "q[b]"}
    batch = tiny_batch(model.modalities, batch=2)
    mu, logvar = model.module.encoders["q[b]"](batch["b"])
    assert mu.shape == (2, 5)
    post = model.encode(batch, ["a", "b"])                  # (moe(qz[a], qz[b]), qw[a], qw[b])
    torch.testing.assert_close(post.mean[:, 5:], mu[:, 3:])  # w[b] is the last block of the whole vector
    assert model.loss(batch, FixedNoise()).loss.isfinite()
    bad = text.replace("posterior qw[m] = q[m] on w[m]", "posterior qw[m] = q[m] on w[a]")
    assert "describes z, w[b], not w[a]" in _error(bad)
    bad = text.replace("posterior q[m] = encoder(m) on (z, w[m])", "posterior q[m] = moe(qz[a]) on (z, w[m])")
    assert "only an encoder(m) can be declared on several latents" in _error(bad)


def test_latents_of_different_sizes_need_the_decoders_inputs():
    text = _error(TWO.replace(", from (z, w[a])", "").replace(", from (w[b], z)", ""))
    assert "latents of different sizes" in text and ":8:" in text


def test_mmvaeplus_explain_shows_the_latents_each_decoder_reads():
    from mmspec.explain import Explanation, render_latex, render_text
    program = check_spec(ROOT / "specs" / "mmvaeplus_polymnist.mms")
    shown = render_text(Explanation.of(program))
    assert "decoder reads (z, w[m3])" in shown and "w[m3] ~ r[m3]" in shown
    assert "q[m0](z, w[m0] | x_m0) = Laplace(μ, b)" in shown and "heads for z (32) then w[m0] (32)" in shown
    assert "qw[m0](w[m0] | x_m0) = the factor on w[m0] of q[m0](z, w[m0] | x_m0)" in shown
    assert "p(x_m2|z, w[m2])" in shown
    assert "q_{\\mathrm{m0}}(z, w_{\\mathrm{m0}} \\mid x_{\\mathrm{m0}})" in render_latex(Explanation.of(program))
    dmvae = render_text(Explanation.of(check_spec(ROOT / "specs" / "dmvae_polymnist.mms")))
    assert "E_u[m1][log p(x_m4 | z, w[m4])]" in dmvae and "-         6 · KL(qw[m0] ‖ p)" in dmvae


@pytest.mark.slow          # ~1 min each (31 subsets evaluated); test_spec_losses runs every spec briefly by default
@pytest.mark.parametrize("name", ["mmvaeplus_polymnist", "dmvae_polymnist"])
def test_spec_with_several_latents_trains_and_evaluates_briefly(name, tmp_path):
    from runtime.cli import run
    out = tmp_path / "run"
    result = CliRunner().invoke(run, [str(ROOT / "specs" / f"{name}.mms"), "--out", str(out),
                                      "--set", "dim=4", "--set", "wdim=3", "--device", "cpu", "--source", "standin",
                                      "--standin-size", "32", "--epochs", "1", "--eval-samples", "16",
                                      "--probe-samples", "32", "--iw-samples", "2", "--classifier-steps", "5"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert (out / "results.json").exists()
