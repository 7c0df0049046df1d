"""Posteriors computed by gradient steps: refine(...) (MIAI) and gradient_origin(...) (SMVGON).

Oracles: a linear-Gaussian model (x = W z + b + N(0, s^2 I), z ~ N(0, I)) whose exact posterior and
ELBO are closed forms written here; the update network checked against a hand computation in plain
Python floats; the gradient-origin step and the refinement recomputed with torch.autograd in the
test, from methods.md's formulas, with the spec's networks as black boxes.
"""
from __future__ import annotations

import json
import math
import re

import pytest
import torch
from click.testing import CliRunner

from mmspec import SpecError, check_spec, compile_spec
from mmspec.lower import refine
from spec_helpers import ROOT, FixedNoise

SCALE = 0.5                 # the likelihood's standard deviation s
W = torch.tensor([[1.0, 0.5], [-0.3, 0.8], [0.6, -1.2]], dtype=torch.float64)
BIAS = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)


def lg_spec(posterior: str, objective: str = "elbo(r)") -> str:
    name = posterior.split()[1]
    return f"""model lg
data toy
latent z: 2
prior p = normal()
modality x: vector(3) ~ gaussian(scale={SCALE}), net mlp(hidden=[])
posterior q = encoder(x)
{posterior}
maximize {objective}
infer * = {name}
"""


def lg_model(posterior: str, objective: str = "elbo(r)", seed: int = 0):
    torch.manual_seed(seed)
    model = compile_spec(lg_spec(posterior, objective))
    model.module.double()
    decoder = model.module.decoders["x"][0]          # mlp(hidden=[]): one Linear, x = W z + b
    with torch.no_grad():
        decoder.weight.copy_(W)
        decoder.bias.copy_(BIAS)
    return model


def lg_batch(n: int = 4, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return {"x": z @ W.T + BIAS + SCALE * torch.randn(n, 3, generator=g, dtype=torch.float64)}


def exact_posterior(x):
    """p(z|x) = N(m, Lambda^-1), Lambda = I + W^T W / s^2, m = Lambda^-1 W^T (x - b) / s^2; the best
    diagonal Gaussian in KL(q || p) has that mean and variances 1 / Lambda_ii."""
    prec = torch.eye(2, dtype=torch.float64) + W.T @ W / SCALE ** 2
    mean = torch.linalg.solve(prec, (W.T @ (x - BIAS).T) / SCALE ** 2).T
    return mean, torch.log(1.0 / torch.diagonal(prec)).expand_as(mean)


def closed_elbo(x, mu, logvar):
    """E_q[log N(x; W z + b, s^2 I)] - KL(q || N(0, I)) for q = N(mu, diag exp(logvar)), per item."""
    var = torch.exp(logvar)
    resid = x - mu @ W.T - BIAS
    rec = -0.5 * ((resid ** 2).sum(-1) + (var @ (W ** 2).T).sum(-1)) / SCALE ** 2 \
        - 3 * (math.log(SCALE) + 0.5 * math.log(2 * math.pi))
    return rec - 0.5 * (var + mu ** 2 - 1 - logvar).sum(-1)


def one_sample_elbo(x, mu, logvar, eps, decoder):
    """The engine's estimate written out: one reparameterised sample, Gaussian log-density, closed KL."""
    z = mu + torch.exp(0.5 * logvar) * eps
    xhat = decoder(z)
    rec = (-0.5 * ((x - xhat) / SCALE) ** 2 - math.log(SCALE) - 0.5 * math.log(2 * math.pi)).sum(-1)
    return rec - 0.5 * (torch.exp(logvar) + mu ** 2 - 1 - logvar).sum(-1)


def noise(key, batch, k=1):
    return FixedNoise().normal(key, (k, batch["x"].shape[0], 2), batch["x"])


# ---- the refinement's gradients are the ELBO's, and following them finds the exact posterior -------

def test_refinement_gradients_equal_the_hand_computed_elbo_gradients():
    model = lg_model("posterior r = refine(q, maximize=elbo(r -> *), steps=2)")
    batch = lg_batch()
    seen = []
    model.module.refiners["r"].register_forward_pre_hook(lambda mod, args: seen.append(args))
    model.loss(batch, FixedNoise())
    x, mu, log_sigma, g_mu, g_s = seen[0]
    eps = noise("rᵗ", batch)[0]
    s = torch.exp(log_sigma)
    z = mu + s * eps
    d_rec = (batch["x"] - z @ W.T - BIAS) @ W / SCALE ** 2          # d log p(x|z) / dz
    torch.testing.assert_close(g_mu, d_rec - mu)                     # - d KL / d mu = -mu
    torch.testing.assert_close(g_s, d_rec * eps * s - (s ** 2 - 1))  # d/d log sigma, KL: s^2 - 1
    torch.testing.assert_close(x, batch["x"])
    init = model.evaluation(batch).gaussian("encoder:q")
    torch.testing.assert_close(mu, init.mu)
    torch.testing.assert_close(2 * log_sigma, init.logvar)


def test_gradient_steps_move_the_posterior_to_the_exact_one_and_raise_the_elbo():
    """Plain gradient ascent driven by the refinement's gradients converges to the best diagonal
    Gaussian. The gradients are of a K = 4096 fixed-sample estimate, whose optimum differs from the
    exact one by O(1/sqrt(K)) (about 0.05 in the log-variance); the closed-form ELBO rises."""
    model = lg_model("posterior r = refine(q, maximize=elbo(r -> *, k=4096), steps=1)")
    batch = lg_batch()
    ev = model.evaluation(batch, FixedNoise())
    node = model.graph.nodes["refine:r"]
    init = ev.gaussian(node.init)
    mu, log_sigma = init.mu.detach(), 0.5 * init.logvar.detach()
    target_mu, target_lv = exact_posterior(batch["x"])
    elbos = []
    for _ in range(150):
        elbos.append(closed_elbo(batch["x"], mu, 2 * log_sigma).mean().item())
        g_mu, g_s = refine.gradients(ev, node, mu, log_sigma, through=False)
        mu, log_sigma = mu + 0.03 * g_mu, log_sigma + 0.03 * g_s
    assert (init.mu - target_mu).abs().max() > 1.0                       # the encoder starts far away
    assert (mu - target_mu).abs().max() < 0.05 and (2 * log_sigma - target_lv).abs().max() < 0.15
    best = closed_elbo(batch["x"], target_mu, target_lv).mean().item()
    assert elbos[0] < best - 5 and elbos[-1] == pytest.approx(best, abs=0.01)
    assert all(b >= a - 1e-6 for a, b in zip(elbos[:20], elbos[1:20]))   # ascent while far from the optimum


def test_an_inner_objective_with_several_sample_counts_draws_enough_of_the_iterate():
    """maximize=elbo(r -> *) + iwae(r -> *, k=3): the iterate is drawn 3 times (the ELBO reads the
    first draw); the gradients the update network receives are those of that objective, by autograd."""
    model = lg_model("posterior r = refine(q, maximize=elbo(r -> *) + iwae(r -> *, k=3), steps=1)")
    batch, seen = lg_batch(), []
    model.module.refiners["r"].register_forward_pre_hook(lambda mod, args: seen.append(args))
    model.loss(batch, FixedNoise())
    x, mu, log_sigma, g_mu, g_s = seen[0]
    eps = FixedNoise().normal("rᵗ", (3, 4, 2), x)
    m, s = mu.detach().requires_grad_(), log_sigma.detach().requires_grad_()
    z = m + torch.exp(s) * eps
    log_lik = (-0.5 * ((x - z @ W.T - BIAS) / SCALE) ** 2 - math.log(SCALE) - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_w = log_lik + (-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)).sum(-1) \
        - (-0.5 * eps ** 2 - s - 0.5 * math.log(2 * math.pi)).sum(-1)
    value = torch.log(torch.exp(log_w).mean(0)) + one_sample_elbo(x, m, 2 * s, eps[0], model.module.decoders["x"])
    want_mu, want_s = torch.autograd.grad(value.sum(), (m, s))
    torch.testing.assert_close(g_mu, want_mu)
    torch.testing.assert_close(g_s, want_s)


@pytest.mark.parametrize("grad", ["detached", "through"])
def test_a_trained_update_network_refines_towards_the_exact_posterior(grad):
    """Train only the update network on the linear-Gaussian model; then each refinement step raises
    the closed-form ELBO and the refined posterior is closer to the exact one than the encoder's."""
    model = lg_model(f"posterior r = refine(q, maximize=elbo(r -> *), steps=4, grad={grad}, hidden=32)")
    opt = torch.optim.Adam(model.module.refiners.parameters(), lr=3e-3)
    for step in range(250):
        batch = lg_batch(32, seed=100 + step)
        opt.zero_grad()
        model.loss(batch).loss.backward()
        opt.step()
    batch = lg_batch(256, seed=7)
    path = model.refinement_trajectory(batch, "r", 4)
    elbos = [closed_elbo(batch["x"], q.mu, q.logvar).mean().item() for q in path]
    target_mu, _ = exact_posterior(batch["x"])
    dists = [(q.mu - target_mu).norm(dim=-1).mean().item() for q in path]
    assert elbos[-1] > elbos[0] + 0.5, elbos
    assert elbos[1] > elbos[0] and elbos[-1] >= max(elbos[:-1]) - 0.05, elbos
    assert dists[-1] < 0.5 * dists[0], dists


# ---- the update network against a hand computation ------------------------------------------------

def _elu(v):
    return v if v > 0 else math.exp(v) - 1


def _sig(v):
    return 1 / (1 + math.exp(-v))


def _layer_norm(v):
    mean = sum(v) / len(v)
    var = sum((a - mean) ** 2 for a in v) / len(v)
    return [(a - mean) / math.sqrt(var + 1e-5) for a in v]


def _linear(weight, bias, v):
    return [sum(w * a for w, a in zip(row, v)) + b for row, b in zip(weight, bias)]


def test_update_network_outputs_gates_and_update_match_a_hand_computation():
    net = refine.UpdateNetwork(x_dim=2, latent_dim=2, hidden=2).double()
    weights = {}
    with torch.no_grad():
        for i, (name, p) in enumerate(sorted(net.named_parameters())):
            if "norm" in name:
                continue                                   # LayerNorm keeps weight 1, bias 0
            values = torch.linspace(-0.8, 0.9, p.numel(), dtype=torch.float64) * (1 + 0.1 * i)
            p.copy_(values.reshape(p.shape))
            weights[name] = p.tolist()
    x, mu, ls, gm, gs = [0.3, -0.7], [0.5, -1.0], [-0.2, 0.1], [2.0, -6.0], [0.5, 1.5]
    out = net(*(torch.tensor([v], dtype=torch.float64) for v in (x, mu, ls, gm, gs)))
    h_x = [_elu(a) for a in _linear(weights["embed_x.weight"], weights["embed_x.bias"], x)]
    state = mu + ls + _layer_norm(gm) + _layer_norm(gs)
    h_g = [_elu(a) for a in _linear(weights["embed_state.weight"], weights["embed_state.bias"], state)]
    h = h_x + h_g
    expect = [[math.tanh(a) for a in _linear(weights["candidate_mu.weight"], weights["candidate_mu.bias"], h)],
              [math.tanh(a) for a in _linear(weights["candidate_logsigma.weight"], weights["candidate_logsigma.bias"], h)],
              [_sig(a) for a in _linear(weights["gate_mu.weight"], weights["gate_mu.bias"], h)],
              [_sig(a) for a in _linear(weights["gate_logsigma.weight"], weights["gate_logsigma.bias"], h)]]
    for got, want in zip(out, expect):
        assert got.shape == (1, 2)
        torch.testing.assert_close(got[0], torch.tensor(want, dtype=torch.float64))
    new_mu, new_ls = refine.gated_update(net, *(torch.tensor([v], dtype=torch.float64) for v in (x, mu, ls, gm, gs)))
    cand_mu, cand_s, g_mu, g_s = expect
    torch.testing.assert_close(new_mu[0], torch.tensor([g * m + (1 - g) * c for g, m, c in zip(g_mu, mu, cand_mu)],
                                                        dtype=torch.float64))
    torch.testing.assert_close(new_ls[0], torch.tensor([g * m + (1 - g) * c for g, m, c in zip(g_s, ls, cand_s)],
                                                        dtype=torch.float64))


def test_update_network_shapes_and_its_inputs():
    model = compile_spec((ROOT / "specs" / "miai_mst.mms"), {"dim": "5", "T": "2"})
    net = model.module.refiners["r[svhn]"]
    assert net.embed_x.in_features == 3 * 32 * 32 and net.embed_state.in_features == 4 * 5
    assert net.embed_x.out_features == 512 and net.candidate_mu.in_features == 2 * 512
    assert model.graph.nodes["refine:r[svhn]"].inputs == ("svhn",)
    x = torch.zeros(7, 3 * 32 * 32)
    outs = net(x, *(torch.zeros(7, 5) for _ in range(4)))
    assert [o.shape for o in outs] == [(7, 5)] * 4
    assert all(((o > -1) & (o < 1)).all() for o in outs[:2]) and all(((o > 0) & (o < 1)).all() for o in outs[2:])


# ---- the refinement recomputed independently: detached vs through, mean vs final ------------------

def reference_refined_loss(model, batch, steps, through, loss):
    """-(ELBO of r) as methods.md 17 describes it, with the update network as a black box."""
    net, decoder = model.module.refiners["r"], model.module.decoders["x"]
    x = batch["x"]
    init = model.evaluation(batch).gaussian("encoder:q")
    mu, ls = init.mu, 0.5 * init.logvar
    eps_t, eps = noise("rᵗ", batch)[0], noise("r", batch)[0]
    values = []
    for _ in range(steps):
        m = mu if through else mu.detach().requires_grad_()
        s = ls if through else ls.detach().requires_grad_()
        g_m, g_s = torch.autograd.grad(one_sample_elbo(x, m, 2 * s, eps_t, decoder).sum(), (m, s), create_graph=through)
        cand_m, cand_s, gate_m, gate_s = net(x, mu, ls, g_m, g_s)
        mu, ls = gate_m * mu + (1 - gate_m) * cand_m, gate_s * ls + (1 - gate_s) * cand_s
        values.append(one_sample_elbo(x, mu, 2 * ls, eps, decoder))
    chosen = torch.stack(values).mean(0) if loss == "mean" else values[-1]
    return -chosen.mean()


@pytest.mark.parametrize("grad", ["detached", "through"])
@pytest.mark.parametrize("loss", ["mean", "final"])
def test_refined_loss_and_its_gradients_match_an_independent_refinement(grad, loss):
    spec = f"posterior r = refine(q, maximize=elbo(r -> *), steps=3, grad={grad}, loss={loss}, hidden=8)"
    model = lg_model(spec)
    batch = lg_batch()
    got = model.loss(batch, FixedNoise()).loss
    want = reference_refined_loss(model, batch, 3, grad == "through", loss)
    torch.testing.assert_close(got, want)
    params = list(model.module.parameters())
    for a, b in zip(torch.autograd.grad(got, params, allow_unused=True),
                    torch.autograd.grad(want, params, allow_unused=True)):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b)


def test_detached_and_through_agree_in_value_and_differ_in_the_decoder_gradient():
    batch, grads, losses, seen = lg_batch(), {}, {}, {}
    for grad in ("detached", "through"):
        model = lg_model(f"posterior r = refine(q, maximize=elbo(r -> *), steps=3, grad={grad}, hidden=8)")
        seen[grad] = []
        model.module.refiners["r"].register_forward_pre_hook(lambda mod, args, out=seen[grad]: out.append(args))
        out = model.loss(batch, FixedNoise())
        out.loss.backward()
        losses[grad] = out.loss.item()
        grads[grad] = model.module.decoders["x"][0].weight.grad.clone()
    assert losses["detached"] == pytest.approx(losses["through"], rel=1e-12)
    assert not any(a[3].requires_grad or a[4].requires_grad for a in seen["detached"])
    assert all(a[3].requires_grad and a[4].requires_grad for a in seen["through"])
    assert (grads["detached"] - grads["through"]).abs().max() > 1e-4


def test_evaluation_uses_eval_steps_and_returns_detached_values():
    model = lg_model("posterior r = refine(q, maximize=elbo(r -> *), steps=2, eval_steps=5)")
    batch = lg_batch()
    calls = []
    model.module.refiners["r"].register_forward_hook(lambda *a: calls.append(1))
    model.module.eval()
    with torch.no_grad():
        q = model.encode(batch, ["x"])
    assert len(calls) == 5 and not q.mu.requires_grad
    model.module.train()
    calls.clear()
    model.loss(batch)
    assert len(calls) == 2


# ---- gradient origin ------------------------------------------------------------------------------

GON = "posterior g = gradient_origin(maximize=elbo(g -> *))"


def test_gradient_origin_step_equals_torch_autograd():
    model = lg_model(GON, "elbo(g)")
    batch = lg_batch()
    heads, decoder = model.module.origins["g"], model.module.decoders["x"]
    z0 = torch.zeros(4, 2, dtype=torch.float64, requires_grad=True)
    mu0, lv0 = heads(z0)
    inner = one_sample_elbo(batch["x"], mu0, lv0, noise("g(z0)", batch)[0], decoder)
    (step,) = torch.autograd.grad(inner.sum(), z0)
    want_mu, want_lv = heads(step)
    got = model.evaluation(batch, FixedNoise()).gaussian("origin:g")
    torch.testing.assert_close(got.mu, want_mu)
    torch.testing.assert_close(got.logvar, want_lv)
    # the step is the gradient of a linear-Gaussian ELBO through linear heads: check it in closed form too
    eps = noise("g(z0)", batch)[0]
    z = mu0 + torch.exp(0.5 * lv0) * eps
    d_rec = (batch["x"] - z @ W.T - BIAS) @ W / SCALE ** 2
    d_mu, d_lv = d_rec - mu0, d_rec * eps * 0.5 * torch.exp(0.5 * lv0) - 0.5 * (torch.exp(lv0) - 1)
    torch.testing.assert_close(step, d_mu @ heads.mu.weight + d_lv @ heads.logvar.weight)


def test_second_order_gradients_reach_the_decoder():
    """The loss's gradient w.r.t. the decoder includes the path through the gradient step at z0."""
    model = lg_model(GON, "elbo(g)")
    batch = lg_batch()
    heads, decoder = model.module.origins["g"], model.module.decoders["x"]
    weight = decoder[0].weight

    def loss(second_order: bool):
        z0 = torch.zeros(4, 2, dtype=torch.float64, requires_grad=True)
        inner = one_sample_elbo(batch["x"], *heads(z0), noise("g(z0)", batch)[0], decoder)
        (step,) = torch.autograd.grad(inner.sum(), z0, create_graph=second_order)
        return -one_sample_elbo(batch["x"], *heads(step), noise("g", batch)[0], decoder).mean()

    (got,) = torch.autograd.grad(model.loss(batch, FixedNoise()).loss, weight)
    (second,) = torch.autograd.grad(loss(True), weight)
    (first,) = torch.autograd.grad(loss(False), weight)
    torch.testing.assert_close(got, second)
    assert (second - first).abs().max() > 1e-3


# ---- the language: errors and explain -------------------------------------------------------------

@pytest.mark.parametrize("posterior, message", [
    ("posterior r = refine(q, maximize=elbo(q -> *), steps=2)", "never reads r"),
    ("posterior r = refine(q, maximize=elbo(r -> *))", "number of steps"),
    ("posterior r = refine(q, maximize=elbo(r -> *), steps=2, grad=twice)", "unknown grad mode"),
    ("posterior r = refine(q, maximize=elbo(r -> *), steps=0)", "positive integer"),
    ("posterior r = refine(q, steps=2)", "needs the objective"),
    ("posterior r = refine(q, maximize=elbo(r -> *), steps=2, los=mean)", "did you mean 'loss'"),
    ("posterior r = gradient_origin(q, maximize=elbo(r -> *))", "no positional argument"),
])
def test_refine_mistakes_are_located_errors(posterior, message):
    with pytest.raises(SpecError, match=message):
        check_spec(lg_spec(posterior))


def test_the_refinement_curve_needs_a_refined_posterior():
    with pytest.raises(SpecError, match=r"lg.mms:10:\d+: .*refines no posterior"):
        check_spec(lg_spec(GON, "elbo(g)") + "evaluate elbo, refinement_curve(steps=4)\n", filename="lg.mms")
    check_spec(lg_spec("posterior r = refine(q, maximize=elbo(r -> *), steps=2)") + "evaluate refinement_curve\n")


def test_an_infer_rule_cannot_use_a_refinement_that_reads_missing_modalities():
    source = (ROOT / "specs" / "miai_mst.mms").read_text().replace("infer S = poe(p, a[S])", "infer S = r[mnist]")
    with pytest.raises(SpecError, match="reads svhn, text, which is not given"):
        check_spec(source)


def test_explain_prints_the_refinement_and_the_gradient_origin_as_math():
    runner = CliRunner()
    from mmspec.cli import main
    miai = runner.invoke(main, ["explain", str(ROOT / "specs" / "miai_mst.mms")]).output
    assert "r[mnist](z | x_mnist, x_svhn, x_text) = poe(p, q[mnist]) refined by T = 8 gated steps" in miai
    assert "L(r[mnist]ᵗ) = 1·E_r[mnist]ᵗ[log p(x_mnist | z)]" in miai and "iterative amortized inference" in miai
    assert re.search(r"objective gradients inside inference\s+24\n", miai)          # 3 posteriors x T = 8
    data = json.loads(runner.invoke(main, ["explain", "--json", str(ROOT / "specs" / "miai_mst.mms")]).output)
    spec = next(d for d in data["distributions"] if d["name"] == "r[text]")["refinement"]
    assert spec["steps"] == 8 and spec["eval_steps"] == 16 and spec["grad"] == "detached" and spec["loss"] == "mean"
    latex = runner.invoke(main, ["explain", "--latex", str(ROOT / "specs" / "smvgon_mst.mms")]).output
    assert "z_0' = z_0 + \\nabla_{z_0} \\mathcal{L}\\left(q_{\\mathrm{ql}}^{(z_0)}\\right)" in latex
    miai_latex = runner.invoke(main, ["explain", "--latex", str(ROOT / "specs" / "miai_mst.mms")]).output
    assert "\\mathrm{KL}\\left(r_{\\mathrm{mnist}}^{(t)} \\,\\|\\, p\\right)" in miai_latex
    for line in (latex + miai_latex).splitlines():          # every line's braces balance
        depth = 0
        for c in line:
            depth += (c == "{") - (c == "}")
            assert depth >= 0, line
        assert depth == 0, line
    smvgon = runner.invoke(main, ["explain", str(ROOT / "specs" / "smvgon_mst.mms")]).output
    assert "z0' = z0 + ∇_z0 L(ql(z0))" in smvgon and "gradient-origin inference" in smvgon
