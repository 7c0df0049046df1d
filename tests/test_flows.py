"""`flow(BASE, transforms=T, hidden=[...])`: the density against the change-of-variables formula computed
independently (the Jacobian by autograd, its log-determinant by slogdet, the base by torch.distributions),
the samples against the base's noise, the density's normalisation and a Monte Carlo KL against a
brute-force integral on a grid, and the checker's messages."""
from __future__ import annotations

import math

import pytest
import torch

from mmspec import SpecError, check_spec, compile_spec
from mmspec.explain.render import Explanation, render_json, render_latex, render_text
from spec_helpers import FixedNoise, tiny_batch


def flow_spec(dim: int = 3, objective: str = "rec(qj -> *) - kl(qj || p) - sum m: kl(qj || qf[m], estimator=mc, k=4)",
              flow: str = "flow(q[m], transforms=2, hidden=[16, 16])") -> str:
    return f"""
model flow_test
data mst
latent z: {dim}
prior p = normal()
modality a: vector(5) ~ gaussian(scale=0.5), net mlp(hidden=[8])
modality c: text(2, 4) ~ categorical, net mlp(hidden=[8])
posterior q[m] = encoder(m)
posterior qf[m] = {flow}
posterior qj = encoder(*, hidden=[8])
maximize {objective}
infer * = qj
infer (a) = qf[a]
infer (c) = qf[c]
"""


pytestmark = pytest.mark.usefixtures("one_thread")


def model_and_batch(dim: int = 3, seed: int = 0, **kw):
    torch.manual_seed(seed)
    model = compile_spec(flow_spec(dim, **kw))
    model.module.double()
    _scramble(model.module.flows)
    return model, tiny_batch(model.modalities, batch=4)


def _scramble(flows) -> None:
    """Random weights well away from the initial near-identity, so T is a genuinely nonlinear map."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in flows.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))


def reference_log_density(transform, mu, logvar, z):
    """log N(T(z); mu, diag exp(logvar)) + log|det dT/dz|, item by item: T evaluated as a plain function,
    its Jacobian by autograd and the log-determinant by slogdet (nothing of mmspec's density code)."""
    out = []
    for i in range(z.shape[0]):
        f = lambda v: transform(v[None])[0][0]
        jac = torch.autograd.functional.jacobian(f, z[i])
        _, logdet = torch.linalg.slogdet(jac)
        base = torch.distributions.Normal(mu[i], torch.exp(0.5 * logvar[i]))
        out.append(base.log_prob(f(z[i])).sum() + logdet)
    return torch.stack(out)


def test_log_density_is_the_change_of_variables_formula():
    model, batch = model_and_batch()
    posterior = model.encode(batch, ["a"])
    mu, logvar = model.module.encoders["q[a]"](batch["a"])
    z = torch.randn(4, 3, dtype=torch.float64)
    got = posterior.log_prob(z)
    want = reference_log_density(model.module.flows["qf[a]"], mu, logvar, z)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    # the flow is not the base: the transform changes the density
    assert not torch.allclose(got, torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1))


def test_a_sample_is_the_inverse_transform_of_the_base_sample():
    model, batch = model_and_batch()
    ev = model.evaluation(batch, FixedNoise())
    key = next(k for k in model.graph.nodes if model.graph.label(k) == "qf[c]")
    z = ev.samples(key, 2)                                                    # [2, B, D]
    mu, logvar = model.module.encoders["q[c]"](batch["c"])
    eps = FixedNoise().normal("qf[c]", (2, 4, 3), mu)
    back, _ = model.module.flows["qf[c]"](z)
    torch.testing.assert_close(back, mu + torch.exp(0.5 * logvar) * eps, rtol=1e-9, atol=1e-9)


def _grid(lo=-12.0, hi=12.0, n=600):
    axis = torch.linspace(lo, hi, n, dtype=torch.float64)
    zz = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    return zz, (axis[1] - axis[0]) ** 2


def test_density_integrates_to_one_and_mc_kl_agrees_with_a_brute_force_integral():
    """D = 2: KL(qj || qf[a]) = ∫ qj (log qj - log qf) dz by a Riemann sum on a 600 x 600 grid, the flow's
    density from the independent reference above; mmspec's estimator=mc with K = 4000 within 4 standard
    errors of it, and the flow's density sums to 1 on the grid."""
    model, batch = model_and_batch(dim=2, objective="rec(qj -> *) - sum m: kl(qj || qf[m], estimator=mc, k=4000)")
    with torch.no_grad():
        model.module.flows["qf[a]"].double()
    mu_a, lv_a = model.module.encoders["q[a]"](batch["a"])
    mu_j, lv_j = model.module.joint_encoders["qj"](batch)
    zz, cell = _grid()
    item = 1
    flow = model.module.flows["qf[a]"]
    with torch.no_grad():
        z0, _ = flow(zz)
    # the log-determinant on the grid by finite Jacobians would be slow; use autograd in one batched call
    zz_req = zz.clone().requires_grad_(True)
    y, _ = flow(zz_req)
    rows = [torch.autograd.grad(y[:, i].sum(), zz_req, retain_graph=True)[0] for i in range(2)]
    jac = torch.stack(rows, 1)                                         # [N, 2, 2]: d y_i / d z_j
    logdet = torch.linalg.slogdet(jac)[1].detach()
    log_qf = torch.distributions.Normal(mu_a[item], torch.exp(0.5 * lv_a[item])).log_prob(z0).sum(-1) + logdet
    log_qj = torch.distributions.Normal(mu_j[item], torch.exp(0.5 * lv_j[item])).log_prob(zz).sum(-1)
    assert float((log_qf.exp() * cell).sum().detach()) == pytest.approx(1.0, abs=1e-3)
    kl_grid = float((log_qj.exp() * (log_qj - log_qf) * cell).sum().detach())

    torch.manual_seed(3)
    ev = model.evaluation(batch)
    leaf = next(l for l in model.leaves if getattr(l, "p", "") and model.graph.label(l.p) == "qf[a]")
    qj = next(k for k in model.graph.nodes if model.graph.label(k) == "qj")
    with torch.no_grad():
        mc = ev.kl_value(leaf)[item]
        z = ev.samples(qj, 4000)[:, item]
        per_sample = (torch.distributions.Normal(mu_j[item], torch.exp(0.5 * lv_j[item])).log_prob(z).sum(-1)
                      - ev.log_prob(leaf.p, ev.samples(qj, 4000))[:, item])
    stderr = float(per_sample.std()) / math.sqrt(4000)
    assert float(mc) == pytest.approx(float(per_sample.mean()), abs=1e-9)
    assert abs(float(mc) - kl_grid) < 4 * stderr + 1e-3, (float(mc), kl_grid, stderr)


def test_flow_parameters_train_and_sg_detaches_them():
    model, batch = model_and_batch()
    loss = model.loss(batch, FixedNoise()).loss
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.module.flows.parameters())
    torch.manual_seed(0)
    detached = compile_spec(flow_spec(objective="rec(qj -> *) - sum m: kl(qj || sg(qf[m]), estimator=mc, k=2)"))
    detached.loss(tiny_batch(detached.modalities, 4, dtype=torch.float32), FixedNoise()).loss.backward()
    assert all(p.grad is None for p in detached.module.flows.parameters())
    assert all(p.grad is None for p in detached.module.encoders.parameters())
    assert any(p.grad is not None for p in detached.module.joint_encoders.parameters())


def test_stages_select_the_flow_with_its_declaration():
    text = flow_spec(objective="joint: elbo(qj)").replace("maximize joint: elbo(qj)", """
maximize joint: elbo(qj)
minimize align: sum m: kl(qj || qf[m], estimator=mc, k=1)
stage joint { objective joint train qj, decoders epochs 1 }
stage align { objective align train qf[*] freeze qj, decoders epochs 1 }
""")
    program = check_spec(text)
    align = program.stages[1]
    assert set(align.trains) == {"flows.qf[a]", "flows.qf[c]", "encoders.q[a]", "encoders.q[c]"}
    assert set(align.frozen) >= {"joint_encoders.qj", "decoders.a", "decoders.c"}
    assert "flows.qf[a]" in program.stages[0].frozen
    out = render_text(Explanation.of(program))
    assert "trains   q[*], qf[*]" in out


def test_explain_shows_the_flow_and_the_estimator():
    program = check_spec(flow_spec())
    ex = Explanation.of(program)
    text = render_text(ex)
    assert "qf[a](z | x_a) = flow: z = T⁻¹(z0), z0 ~ q[a](z | x_a), T = 2 masked autoregressive" in text
    assert "KL(qj ‖ qf[a])  [Monte Carlo, K=4]" in text
    latex = render_latex(ex)
    assert "\\log\\Big|\\det" in latex and "[\\text{Monte Carlo}, K{=}4]" in latex
    assert '"type": "Flow"' in render_json(ex)


@pytest.mark.parametrize("objective, flow, message", [
    ("rec(qj -> *) - sum m: kl(qj || qf[m])", None, "no closed form here: choose an estimator"),
    ("rec(qj -> *) - sum m: kl(qj || qf[m], estimator=closed)", None,
     "no closed form for a KL between a gaussian and a normalizing-flow distribution"),
    ("rec(qj -> *) - sum m: kl(qj || qf[m], estimator=jensen)", None, "the Jensen bound is for mixtures"),
    ("elbo(qf[a])", None, "elbo(...) uses a closed-form KL"),
    ("rec(qj -> *) - kl(moe(qf[*]) || qf[a], estimator=jensen)", None,
     "the Jensen bound needs closed-form KLs between the components, but they are of a family without one"),
    ("elbo(qj)", "flow(q[m], layers=2)", "unknown option 'layers' for flow"),
    ("elbo(qj)", "flow(moe(q[*]))", "the base of a flow must be a Gaussian or Laplace distribution"),
    ("elbo(qj)", "flow(q[m], transforms=0)", "number of transforms"),
    ("elbo(qj)", "poe(flow(q[m]))", "flow(...) creates trainable transforms"),
])
def test_checker_messages(objective, flow, message):
    text = flow_spec(objective=objective, flow=flow or "flow(q[m], transforms=2, hidden=[16, 16])")
    with pytest.raises(SpecError) as err:
        check_spec(text)
    assert message in str(err.value)
    assert "<spec>:" in str(err.value)          # located


def test_a_product_with_a_flow_is_refused():
    text = flow_spec(objective="elbo(qj)") + "posterior bad = poe(q[a], qf[a])\n"
    with pytest.raises(SpecError, match="poe\\(...\\) needs Gaussian members; qf\\[a\\] is a Flow"):
        check_spec(text)


def test_a_flow_over_an_inline_joint_encoder_and_a_flow_prior():
    """`qj = flow(encoder(*))` owns a joint encoder and transforms under one name; `p = flow(normal())` is a
    learned prior. Every part gets a gradient, the prior generates, and explain names the base apart."""
    text = flow_spec(objective="rec(qj -> *) - kl(qj || p, estimator=mc, k=2)") \
        .replace("prior p = normal()", "prior p = flow(normal(), transforms=1, hidden=[8])") \
        .replace("posterior qj = encoder(*, hidden=[8])", "posterior qj = flow(encoder(*, hidden=[8]), transforms=2)")
    torch.manual_seed(0)
    model = compile_spec(text)
    model.loss(tiny_batch(model.modalities, 4, dtype=torch.float32), FixedNoise()).loss.backward()
    reached = {n.split(".")[0] + "." + n.split(".")[1] for n, p in model.module.named_parameters() if p.grad is not None}
    assert {"flows.p", "flows.qj", "joint_encoders.qj"} <= reached
    assert model.can_generate and model.sample_prior(5).shape == (5, 3)
    assert type(model.prior(5)).__name__ == "FlowDistribution"          # generation and the NLL use the flow
    text_out = render_text(Explanation.of(model.program))
    assert "qj_base(z | x_a, x_c) = N(μ, diag σ²) from a joint encoder qj" in text_out
    assert "qj(z | x_a, x_c) = flow: z = T⁻¹(z0), z0 ~ qj_base(z | x_a, x_c)" in text_out


def test_the_explain_lines_quoted_in_the_language_reference_are_what_explain_prints():
    from spec_helpers import ROOT
    doc = (ROOT / "docs" / "language.md").read_text()
    printed = render_text(Explanation.of(check_spec(ROOT / "specs" / "jnf_polymnist.mms")))
    quoted = [line.strip() for line in doc.splitlines() if line.startswith("    qf[m0](z | x_m0) = flow:")
              or line.startswith("    + 1 · KL(qj ‖ qf[m0])")]
    assert len(quoted) == 2
    assert quoted[0] in printed
    assert "1 · KL(qj ‖ qf[m0])  [Monte Carlo, K=1]" in printed


@pytest.mark.parametrize("objective", [
    "iwae(qf[a] -> *, k=3)",
    "iwae(qf[a] -> *, k=3, estimator=dreg)",
    "rec(moe(qf[*]) -> *, sampling=stratified) - kl(moe(qf[*]) || p, estimator=mc, k=2)",
    "iwae(moe(qf[*]) -> *, k=2, form=looser)",
    "elbo(qj) + sum m: (rec(qf[m] -> m) - kl(qf[m] || p, estimator=mc, k=2))",
])
def test_flows_combine_with_the_other_constructs(objective):
    """A flow posterior inside IWAE/DReG, a stratified mixture and a Monte Carlo KL: the loss is finite
    and every flow the objective reads gets a gradient."""
    torch.manual_seed(0)
    model = compile_spec(flow_spec(objective=objective))
    out = model.loss(tiny_batch(model.modalities, 4, dtype=torch.float32), FixedNoise())
    assert torch.isfinite(out.loss)
    out.loss.backward()
    flows = model.module.flows["qf[a]"].parameters()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in flows)
