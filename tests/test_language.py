"""Each construct of the language, checked against an independent oracle (closed forms written in
the test, torch.distributions, Monte Carlo)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.distributions as td

from mmspec import check_spec, compile_spec
from spec_helpers import FixedNoise, tiny_batch

BASE = """
model t
data toy
param dim = 4
latent z: dim
prior p = normal()
modality a: vector(5) ~ gaussian(scale=0.5), net mlp(hidden=[8])
modality b: vector(3) ~ laplace(scale=2), net mlp(hidden=[8])
modality c: text(2, 4) ~ categorical, net mlp(hidden=[8])
posterior q[m] = encoder(m)
"""


def spec(body: str, infer: str = "infer S = poe(p, q[S])") -> str:
    return BASE + body + "\n" + infer + "\n"


def coefficients(text: str, overrides=None) -> dict[str, float]:
    from mmspec.lower.model import leaf_name
    program = check_spec(text, overrides)
    return {leaf_name(program.graph, t.leaf): round(t.coefficient, 10) for t in program.objective.linear_terms()}


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)
    torch.set_num_threads(1)


# ---- modalities ----------------------------------------------------------------------------

def test_kinds_shapes_and_rescale_weights():
    text = spec("maximize elbo(poe(p, q[*]))").replace("net mlp(hidden=[8])\n", "net mlp(hidden=[8]), weight rescale\n", 1)
    model = compile_spec(text)
    assert model.modalities["a"].shape == (5,) and model.modalities["c"].shape == (2, 4)
    assert model.modalities["a"].weight == pytest.approx(8 / 5)     # largest dim (text 2x4) / 5
    assert model.modalities["b"].weight == 1.0


def test_likelihoods_match_torch_distributions():
    text = spec("maximize elbo(poe(p, q[*]))").replace("gaussian(scale=0.5)", "gaussian(scale=learned)")
    text = text.replace("laplace(scale=2)", "bernoulli")
    model = compile_spec(text)
    with torch.no_grad():
        model.module.log_scales["a"].fill_(math.log(0.3))
    z = torch.randn(2, 3, 4)
    xa, xb = torch.randn(3, 5), torch.randint(0, 2, (3, 3)).float()
    xc = torch.nn.functional.one_hot(torch.randint(0, 4, (3, 2)), 4).float()
    raw_a = model.module.decoders["a"](z.reshape(-1, 4)).reshape(2, 3, 5)
    raw_b = model.module.decoders["b"](z.reshape(-1, 4)).reshape(2, 3, 3)
    raw_c = model.module.decoders["c"](z.reshape(-1, 4)).reshape(2, 3, 2, 4)
    ref_a = td.Normal(raw_a, 0.3).log_prob(xa).sum(-1)
    ref_b = td.Bernoulli(logits=raw_b).log_prob(xb).sum(-1)
    ref_c = td.Categorical(logits=raw_c).log_prob(xc.argmax(-1)).sum(-1)
    torch.testing.assert_close(model.log_likelihood("a", z, xa), ref_a)
    torch.testing.assert_close(model.log_likelihood("b", z, xb), ref_b)
    torch.testing.assert_close(model.log_likelihood("c", z, xc), ref_c)
    lap = compile_spec(spec("maximize elbo(poe(p, q[*]))"))
    raw = lap.module.decoders["b"](z.reshape(-1, 4)).reshape(2, 3, 3)
    torch.testing.assert_close(lap.log_likelihood("b", z, xb), td.Laplace(raw, 2.0).log_prob(xb).sum(-1))


def test_networks_by_name_with_parameters():
    model = compile_spec(spec("maximize elbo(poe(p, q[*]))").replace("mlp(hidden=[8])", "mlp(hidden=[16, 7])", 1))
    linears = [m for m in model.module.encoders["q[a]"].modules() if isinstance(m, torch.nn.Linear)]
    assert [l.out_features for l in linears[:2]] == [16, 7]


# ---- latents, posteriors, aggregators --------------------------------------------------------

def gaussians(model, batch):
    return {m: model.module.encoders[f"q[{m}]"](batch[m]) for m in model.modalities}


def closed_poe(experts):
    prec = sum(1 / (torch.exp(lv) + 1e-8) for _, lv in experts)
    return sum(mu / (torch.exp(lv) + 1e-8) for mu, lv in experts) / prec, -torch.log(prec)


def test_poe_with_and_without_prior_expert():
    body = "posterior j1 = poe(p, q[*])\nposterior j0 = poe(q[*])\nmaximize elbo(j1) - kl(j0 || p)"
    model = compile_spec(spec(body, "infer * = j0\ninfer S = poe(p, q[S])"))
    batch = tiny_batch(model.modalities, dtype=torch.float32)
    g = gaussians(model, batch)
    prior = (torch.zeros(3, 4), torch.zeros(3, 4))
    with torch.no_grad():
        mu0, lv0 = closed_poe(list(g.values()))
        mu1, lv1 = closed_poe([prior, *g.values()])
        torch.testing.assert_close(model.encode(batch, ["a", "b", "c"]).mean, mu0)
        torch.testing.assert_close(model.encode(batch, ["a", "b"]).mean, closed_poe([prior, g["a"], g["b"]])[0])
        got = model.evaluation(batch).gaussian(model.program.ir.infer[frozenset("abc")])
        torch.testing.assert_close(got.logvar, lv0)


def test_avg_weighted_poe_and_mixture():
    body = """posterior m1 = avg(q[*])
prior f = wpoe(p, q[*], weights=[0.1, 0.2, 0.3, 0.4])
posterior mix = moe(q[a], q[b], weights=[0.25, 0.75])
maximize elbo(m1) - kl(m1 || f) - kl(mix || p, estimator=jensen)"""
    model = compile_spec(spec(body, "infer S = avg(q[S])"))
    batch = tiny_batch(model.modalities, dtype=torch.float32)
    g = gaussians(model, batch)
    ev = model.evaluation(batch)
    graph = model.graph
    key = {graph.label(k): k for k in graph.nodes}
    with torch.no_grad():
        avg = ev.gaussian(key["m1"])
        torch.testing.assert_close(avg.mu, sum(x[0] for x in g.values()) / 3)
        torch.testing.assert_close(avg.std, sum(torch.exp(0.5 * x[1]) for x in g.values()) / 3)
        w = [0.1, 0.2, 0.3, 0.4]
        experts = [(torch.zeros(3, 4), torch.zeros(3, 4)), *g.values()]
        prec = sum(wk / (torch.exp(lv) + 1e-8) for wk, (_, lv) in zip(w, experts))
        mu = sum(wk * m / (torch.exp(lv) + 1e-8) for wk, (m, lv) in zip(w, experts)) / prec
        torch.testing.assert_close(ev.gaussian(key["f"]).mu, mu)
        mix = ev.posterior(key["mix"])
        torch.testing.assert_close(mix.mean, 0.25 * g["a"][0] + 0.75 * g["b"][0])


class KeyBlindNoise(FixedNoise):
    def normal(self, key, shape, like):
        return super().normal("same", shape, like)


def test_mopoe_sugar_equals_explicit_subsets():
    """mopoe(q[*]) (one mixture leaf) and the mean over subsets of poe(q[S]) (28 leaves) are the
    same objective: equal losses on one batch with the same noise."""
    sugar = compile_spec(spec("posterior mp = mopoe(q[*])\nmaximize rec(mp -> *) - kl(mp || p, estimator=jensen)"))
    explicit = compile_spec(spec("posterior qs[S in subsets(*)] = poe(q[S])\n"
                                 "maximize mean S in subsets(*): (rec(qs[S] -> *) - kl(qs[S] || p))"))
    assert len(explicit.terms) == 7 * 3 + 7
    explicit.module.load_state_dict(sugar.module.state_dict())
    batch = tiny_batch(sugar.modalities, dtype=torch.float32)
    torch.testing.assert_close(sugar.loss(batch, KeyBlindNoise()).loss, explicit.loss(batch, KeyBlindNoise()).loss)


def test_joint_encoder_and_per_modality_latents():
    joint = compile_spec(spec("posterior qj = encoder(*, hidden=[6])\nmaximize elbo(qj)", "infer * = qj\ninfer S = poe(q[S])"))
    assert set(joint.module.joint_encoders["qj"].bodies) == {"a", "b", "c"}
    per = BASE.replace("latent z: dim", "latent z[m]: dim")
    per += "prior h[m] = moe(q[*]) on z[m]\nmaximize sum m: (rec(q[m] -> m) - kl(q[m] || h[m], estimator=jensen))\ninfer S = moe(q[S])\n"
    model = compile_spec(per)
    assert {model.graph.nodes[k].latent for k in model.graph.nodes if model.graph.label(k).startswith("q[")} == \
        {"z[a]", "z[b]", "z[c]"}
    assert not model.can_generate


# ---- terms and estimators --------------------------------------------------------------------

def test_mc_kl_converges_to_closed_form():
    text = spec("posterior j = poe(p, q[*])\nmaximize rec(j -> a) - kl(j || q[a], estimator=mc, k=20000)")
    model = compile_spec(text)
    batch = tiny_batch(model.modalities, dtype=torch.float32)
    ev = model.evaluation(batch)
    leaf = next(l for l in model.leaves if type(l).__name__ == "KL")
    with torch.no_grad():
        mc = ev.kl_value(leaf)
        q, p = ev.gaussian(leaf.q), ev.gaussian(leaf.p)
        exact = td.kl_divergence(td.Normal(q.mu, q.std), td.Normal(p.mu, p.std)).sum(-1)
    # standard error of a 20000-sample mean of log-ratios: a few hundredths here
    torch.testing.assert_close(mc, exact, atol=0.1, rtol=0.02)


def test_jensen_bound_and_mc_for_a_mixture_prior():
    text = spec("""posterior mix = moe(q[a], q[b])
maximize rec(q[c] -> c) - kl(q[c] || mix, estimator=jensen) - kl(q[c] || mix, estimator=mc, k=4000)""")
    model = compile_spec(text)
    batch = tiny_batch(model.modalities, dtype=torch.float32)
    ev = model.evaluation(batch, FixedNoise())
    jensen, mc = [l for l in model.leaves if type(l).__name__ == "KL"]
    g = gaussians(model, batch)
    N = lambda x: td.Independent(td.Normal(x[0], torch.exp(0.5 * x[1])), 1)
    with torch.no_grad():
        bound = 0.5 * td.kl_divergence(N(g["c"]), N(g["a"])) + 0.5 * td.kl_divergence(N(g["c"]), N(g["b"]))
        torch.testing.assert_close(ev.kl_value(jensen), bound)
        z = N(g["c"]).sample((4000,))
        log_mix = torch.logsumexp(torch.stack([N(g["a"]).log_prob(z), N(g["b"]).log_prob(z)]), 0) - math.log(2)
        brute = (N(g["c"]).log_prob(z) - log_mix).mean(0)
        torch.testing.assert_close(ev.kl_value(mc), brute, atol=0.15, rtol=0.05)
        assert torch.all(ev.kl_value(mc) <= bound + 0.15)     # Jensen is an upper bound


def test_elbo_shorthand_expands_to_rec_minus_kl():
    a = coefficients(spec("posterior j = poe(p, q[*])\nmaximize elbo(j, beta=2.5)"))
    b = coefficients(spec("posterior j = poe(p, q[*])\nmaximize rec(j -> *) - 2.5 * kl(j || p)"))
    assert a == b and a["kl(j||p)"] == -2.5


def test_sums_means_and_weights_in_m_and_params():
    c = coefficients(spec("""param beta = 3
param pi = 1 / (M + 1)
maximize pi / 2 * sum m: rec(q[m] -> m) - beta * mean S in subsets(*, size=2): size(S) * kl(poe(q[S]) || p) / 2^M"""))
    assert c["rec(q[a]->a)"] == 0.125
    assert c["kl(poe(q[a], q[b])||p)"] == round(-3 * (1 / 3) * 2 / 8, 10)
    assert len([k for k in c if k.startswith("kl")]) == 3


def test_set_overrides_change_weights_and_sizes():
    text = spec("param beta = 1\nmaximize elbo(poe(p, q[*]), beta=beta)")
    assert coefficients(text, {"beta": "2.5"})["kl(poe(p, q[a], q[b], q[c])||p)"] == -2.5
    assert compile_spec(text, {"dim": "7", "beta": "1/M"}).latent_dim == 7


def test_rec_with_k_samples_uses_k_draws():
    model = compile_spec(spec("posterior j = poe(p, q[*])\nmaximize rec(j -> a, k=5) - kl(j || p)"))
    batch = tiny_batch(model.modalities, dtype=torch.float32)
    ev = model.evaluation(batch)
    ev.leaf_values(model.leaves)
    assert next(iter(ev._samples.values())).shape[0] == 5


def test_stop_gradient_on_a_distribution_and_on_a_term():
    text = spec("posterior j = poe(q[*])\nmaximize rec(q[a] -> a) - kl(q[a] || sg(q[b])) - sg(kl(q[c] || p))")
    model = compile_spec(text)
    batch = tiny_batch(model.modalities, dtype=torch.float32)
    model.loss(batch).loss.backward()
    grads = {n.split(".")[1]: p.grad for n, p in model.module.named_parameters() if n.startswith("encoders")}
    assert grads["q[a]"] is not None
    assert grads["q[b]"] is None and grads["q[c]"] is None


def test_maximize_and_minimize_have_opposite_losses():
    up = compile_spec(spec("posterior j = poe(p, q[*])\nmaximize elbo(j)"))
    down = compile_spec(spec("posterior j = poe(p, q[*])\nminimize kl(j || p) - rec(j -> *)"))
    down.module.load_state_dict(up.module.state_dict())
    batch = tiny_batch(up.modalities, dtype=torch.float32)
    noise = FixedNoise()
    torch.testing.assert_close(up.loss(batch, noise).loss, down.loss(batch, noise).loss)


def test_train_and_evaluate_settings():
    text = spec("maximize elbo(poe(p, q[*]))") + \
        "train epochs 7, batch 32, optimizer adamw(lr=2e-4, weight_decay=0.01), scheduler exponential(gamma=0.98)\n" \
        "evaluate coherence, latent_probe(samples=500), nll(k=12)\n"
    model = compile_spec(text)
    t = model.train
    assert (t.epochs, t.batch, t.optimizer.name, t.optimizer.params["lr"]) == (7, 32, "adamw", 2e-4)
    assert t.scheduler.name == "exponential" and t.scheduler.params == {"gamma": 0.98}
    assert [(m.name, m.params) for m in model.evaluate] == \
        [("coherence", {}), ("latent_probe", {"samples": 500}), ("nll", {"k": 12})]


def test_shared_subexpressions_are_one_node():
    program = check_spec(spec("posterior j = poe(p, q[*])\nmaximize rec(poe(p, q[*]) -> a) - kl(j || p)"))
    poes = [k for k, n in program.graph.nodes.items() if type(n).__name__ == "PoE" and len(n.members) == 4]
    assert len(poes) == 1
