"""Hierarchical latents (docs/language.md, "Hierarchical latents"): normal(given=...) and rec(top -> sg(q[m])).
Oracles: the conditional prior's log-density written here with torch.distributions at the top's draws,
the closed-form KL against a Monte Carlo estimate, the stop-gradient checked on the encoders' gradients,
the ancestral evaluation mean recomputed by hand, and the located errors."""
from __future__ import annotations

import pytest
import torch

from mmspec import check_spec, compile_spec
from mmspec.errors import SpecError
from mmspec.model import ir
from spec_helpers import FixedNoise, tiny_batch

HIER = """
model hier
data mst
latent z[m]: 3
latent s: 2
prior p = normal()
prior pz[m] = normal(given=s, hidden=[4], scale=0.5) on z[m]
modality a: vector(4) ~ gaussian(scale=0.5), net mlp(hidden=[]), from z[a]
modality b: vector(5) ~ gaussian(scale=0.7), net mlp(hidden=[]), from z[b]
posterior q[m] = encoder(m) on z[m]
posterior top[S in subsets(*)] = normal(given=mean m in S: sg(q[m]), message=3, hidden=[4]) on s
maximize sum m: rec(top[(a, b)] -> sg(q[m]), k=K) - kl(top[(a, b)] || p) + sum m: rec(q[m] -> m)
infer S = (q[S], top[S])
"""

pytestmark = pytest.mark.usefixtures("one_thread")


def _model(k=1, text=HIER):
    torch.manual_seed(0)
    model = compile_spec(text.replace("k=K", f"k={k}"))
    model.module.double()
    return model, tiny_batch(model.modalities, batch=4)


def _leaf(model, kind, target=None):
    return next(l for l in model.leaves if isinstance(l, kind) and (target is None or model.graph.label(
        getattr(l, "target", "")) == target))


def test_conditional_prior_log_density_at_the_top_draws_is_the_normal_density(one_thread):
    model, batch = _model(k=3)
    noise = FixedNoise()
    ev = model.evaluation(batch, noise)
    leaf = _leaf(model, ir.LatentRec, "sg(q[b])")
    got = ev.leaf_values([leaf])[leaf]
    s = ev.samples(leaf.dist, 3)                                    # [3, B, 2]: top's draws
    v = ev.samples("encoder:q[b]", 1)[0]                            # q[b]'s one draw of the step
    net = model.module.conditionals["pz[b]"]
    loc = net.mean(torch.relu(net.body[0](s)))                      # hidden=[4], identity link
    want = torch.distributions.Normal(loc, 0.5).log_prob(v).sum(-1).mean(0)
    torch.testing.assert_close(got, want)


def test_top_kl_closed_form_agrees_with_monte_carlo(one_thread):
    model, batch = _model()
    ev = model.evaluation(batch, FixedNoise())
    leaf = _leaf(model, ir.KL)
    closed = ev.leaf_values([leaf])[leaf]
    q = ev.gaussian(leaf.q)
    dist = torch.distributions.Normal(q.mu, q.std)
    s = dist.sample((200_000,))
    mc = (dist.log_prob(s) - torch.distributions.Normal(0.0, 1.0).log_prob(s)).sum(-1).mean(0)
    torch.testing.assert_close(closed, mc, rtol=0.02, atol=0.02)


def test_stop_gradient_keeps_the_top_level_from_training_the_encoders(one_thread):
    model, batch = _model()
    values = model.evaluation(batch, FixedNoise()).leaf_values(model.leaves)
    top_terms = sum(v.sum() for l, v in values.items() if isinstance(l, (ir.LatentRec, ir.KL)))
    top_terms.backward()
    assert all(p.grad is None for p in model.module.encoders.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.module.conditionals.parameters())


def test_evaluation_draws_a_missing_latent_from_its_conditional_prior(one_thread):
    model, batch = _model()
    whole = model.encode(batch, ["a"])                               # layout: z[a], z[b], s
    mean = whole.mean
    s_mean = mean[:, 6:]
    net = model.module.conditionals["pz[b]"]
    torch.testing.assert_close(mean[:, 3:6], net.mean(torch.relu(net.body[0](s_mean))))
    top = model.module.conditionals["top"]                           # top[{a}]: the message of a alone
    enc_mu = model.module.encoders["q[a]"](batch["a"])[0]
    torch.testing.assert_close(mean[:, :3], enc_mu)
    draws = whole.rsample(5)
    assert draws.shape == (5, 4, 8) and torch.isfinite(whole.log_prob(draws)).all()
    assert model.sample_prior(4).shape == (4, 8)
    assert set(top.messages) == {"a", "b"}


def _error(text: str) -> str:
    with pytest.raises(SpecError) as err:
        check_spec(text.replace("k=K", "k=1"))
    return str(err.value)


@pytest.mark.parametrize("edit, message, line", [
    (("prior p = normal()\n", "prior p = normal()\nprior ps = normal(given=z[a]) on s\n"), "a cycle between latents", 8),
    (("normal(given=s, hidden=[4], scale=0.5) on z[m]", "normal(given=z[m]) on z[m]"), "reads a draw of z[a] itself", 7),
    (("normal(given=s, hidden=[4], scale=0.5)", "normal(given=t, hidden=[4], scale=0.5)"), "unknown latent or distribution 't'", 7),
    (("normal(given=s, hidden=[4], scale=0.5) on z[m]", "normal(given=s)"), "say which with `on`", 7),
    ((", message=3, hidden=[4]", ""), "averages messages: say their size", 11),
    (("normal(given=s, hidden=[4], scale=0.5)", "normal(given=s, hidden=[4], scale=-1)"), "must be positive", 7),
    (("normal(given=s, hidden=[4], scale=0.5)", "normal(given=s, link=tanh)"), "unknown link", 7),
    (("prior pz[m] = normal(given=s, hidden=[4], scale=0.5) on z[m]\n", ""), "no prior over z[a] given s", 11),
    (("normal(given=s, hidden=[4], scale=0.5)", "normal(s, hidden=[4], scale=0.5)"), "normal takes no positional", 7),
    (("normal(given=s, hidden=[4], scale=0.5)", "normal(hidden=[4])"), "hidden= configures the network of normal(given", 7),
    (("normal(given=s, hidden=[4], scale=0.5)", "normal(given=s, hiden=[4])"), "unknown option 'hiden' for normal(given", 7),
])
def test_mistakes_with_hierarchical_latents_are_located(edit, message, line):
    text = _error(HIER.replace(*edit))
    assert message in text and f":{line}:" in text, text


def test_the_function_form_given_of_a_latent_points_to_normal_given():
    text = _error(HIER.replace("normal(given=s, hidden=[4], scale=0.5)", "given(s, hidden=[4], scale=0.5)"))
    assert "unknown distribution constructor 'given'" in text and ":7:15:" in text, text
    assert "normal(given=X, ...)" in text, text


def test_decoding_a_latent_whose_conditional_prior_has_no_draw_to_read_is_located():
    text = _error(HIER.replace("from z[b]", "from (z[a], z[b])").replace("+ sum m: rec(q[m] -> m)", "+ rec(q[a] -> b)"))
    assert "draws z[b] from pz[b], which is conditioned on s, which q[a] does not describe" in text
    assert ":12:" in text


def test_graph_draws_the_hierarchy_between_latents(one_thread):
    from mmspec.explain.draw import model_graph
    g = model_graph(check_spec(HIER.replace("k=K", "k=1")))
    assert g.has_edge("z:s", "z:z[a]") and g.has_edge("z:s", "z:z[b]")            # p(z_m | s)
    term = "t:rec(top[{a,b}]->sg(q[a]))"
    assert g.has_edge("z:s", term) and g.has_edge("z:z[a]", term) and g.has_edge("d:cond:pz[a]", term)
    assert g.has_edge("d:sg(encoder:q[a])", "d:cond:top[{a,b}]")                 # q(s | msg(sg z_a, sg z_b))
    assert "pz[a](· | s)" in g.nodes["z:z[a]"]["label"]


def test_explain_writes_the_hierarchy(one_thread):
    from mmspec.explain.render import Explanation, render_latex, render_text
    program = check_spec(HIER.replace("k=K", "k=1"))
    text = render_text(Explanation.of(program))
    assert "pz[a](z[a] | s) = N(μ, 0.5²·I)" in text
    assert "top[{a,b}](s | msg(sg(z[a]), sg(z[b])))" in text
    assert "E_top[{a,b}][log pz[b](sg(z[b]) | s)], z[b] = the step's draw of q[b]" in text
    assert "Model family: " in text and "hierarchical" in text.split("Model family: ")[1].splitlines()[0]
    assert "p(z[a] | s), p(z[b] | s)" in text
    latex = render_latex(Explanation.of(program))
    assert "\\mathrm{pz}_{\\mathrm{a}}" in latex
    assert "(s \\mid \\mathrm{msg}[\\mathrm{sg}[z_{\\mathrm{a}}], \\mathrm{sg}[z_{\\mathrm{b}}]]) &= \\mathcal{N}" in latex
    assert "\\mathrm{pz}_{\\mathrm{a}}(z_{\\mathrm{a}} \\mid s) &= \\mathcal{N}\\big(f_{\\mathrm{pz}_{\\mathrm{a}}}(s),\\, 0.5^2 I\\big)" in latex


DROP = HIER.replace("message=3, hidden=[4])", "message=3, hidden=[4], dropout=1)")


def _top_mean_candidates(model, ev):
    """The top's mean from the message of a alone, of b alone, and from their average."""
    top = model.module.conditionals["top"]
    msgs = {m: top.messages[m](ev.samples(f"encoder:q[{m}]", 1)[0].detach()) for m in ("a", "b")}
    head = lambda msg: top.mean(top.body(msg))
    return head(msgs["a"]), head(msgs["b"]), head((msgs["a"] + msgs["b"]) / 2)


def test_forced_perceptual_dropout_keeps_one_modality_of_two_in_training_only(one_thread):
    model, _ = _model(text=DROP)
    batch = tiny_batch(model.modalities, batch=200)
    key = "cond:top[{a,b}]"
    model.module.train()
    ev = model.evaluation(batch)
    mu = ev.gaussian(key).mu
    only_a, only_b, both = _top_mean_candidates(model, ev)
    is_a = torch.isclose(mu, only_a).all(-1)
    is_b = torch.isclose(mu, only_b).all(-1)
    assert (is_a ^ is_b).all()                         # dropout=1, two modalities: one message, never both
    assert 60 < int(is_a.sum()) < 140                  # a uniformly random one (200 items; p < 1e-8 outside)
    model.module.eval()                                # evaluation averages every message given
    ev = model.evaluation(batch)
    torch.testing.assert_close(ev.gaussian(key).mu, _top_mean_candidates(model, ev)[2])


def test_dropout_zero_averages_every_message_and_dropout_needs_messages(one_thread):
    model, batch = _model(text=HIER.replace("message=3, hidden=[4])", "message=3, hidden=[4], dropout=0)"))
    model.module.train()
    ev = model.evaluation(batch)
    torch.testing.assert_close(ev.gaussian("cond:top[{a,b}]").mu, _top_mean_candidates(model, ev)[2])
    assert "needs averaged messages" in _error(HIER.replace("hidden=[4], scale=0.5)", "hidden=[4], scale=0.5, dropout=0.5)"))
    assert "not in [0, 1]" in _error(DROP.replace("dropout=1", "dropout=1.5"))


def test_explain_names_the_forced_dropout(one_thread):
    from mmspec.explain.render import Explanation, render_latex, render_text
    ex = Explanation.of(check_spec(DROP.replace("k=K", "k=1")))
    assert "forced perceptual dropout 1: in training an item keeps" in render_text(ex)
    assert "[\\text{forced dropout 1}]" in render_latex(ex)
