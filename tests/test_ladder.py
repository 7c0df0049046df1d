"""Ladders (`prior p = ladder(z3, z2, z1)`, `posterior q[S] = ladder(p, S)`, constructs/ladder.py)
against hand computations from the networks' own outputs: the top product of experts with N(0, I),
each lower level's product with the prior given the draw above, the KL level by level, the
evaluation's ancestral means and densities, and generation from the prior; and the located errors."""
from __future__ import annotations

import math

import pytest
import torch

from mmspec import compile_spec
from mmspec.errors import SpecError
from spec_helpers import ROOT, tiny_batch

BASE = (ROOT / "specs" / "mhvae_polymnist.mms").read_text()
TWO = ("modality m2", "modality m3", "modality m4")


def _spec(tmp_path, edit=lambda t: t, name="ladder.mms"):
    text = BASE.replace("latent z2: dim", "latent z2: 3").replace("latent z1: dim", "latent z1: 2")
    lines = [l for l in edit(text).splitlines() if not l.startswith(TWO)]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _model(tmp_path, edit=lambda t: t):
    torch.manual_seed(0)
    model = compile_spec(_spec(tmp_path, edit), {"dim": "4", "width": "5"})
    model.module.double()
    return model


class FixedNoise:
    """Standard normal noise from a seeded generator, recorded by key, so the test can redo the draws."""

    def __init__(self):
        self.gen, self.drawn = torch.Generator().manual_seed(1), {}

    def normal(self, key, shape, like):
        self.drawn[key] = torch.randn(tuple(shape), generator=self.gen, dtype=like.dtype)
        return self.drawn[key]

    def uniform(self, key, shape, like):
        return torch.rand(tuple(shape), generator=self.gen, dtype=like.dtype)


def _poe(pairs):
    """Precision-weighted product of Gaussians (mu, logvar), written out."""
    precision = sum(1.0 / (torch.exp(lv) + 1e-8) for _, lv in pairs)
    mu = sum(m / (torch.exp(lv) + 1e-8) for m, lv in pairs) / precision
    return mu, -torch.log(precision)


def _kl(q, p):
    (mq, lq), (mp, lp) = q, p
    return 0.5 * (lp - lq + (torch.exp(lq) + (mq - mp) ** 2) / torch.exp(lp) - 1).sum(-1)


def _hand_chain(model, batch, subset, eps):
    """The posterior of `subset` level by level from the networks, at the noise `eps` per latent."""
    up = model.module.ladders["q"]
    down = model.module.ladders["p"]
    skips, tops = {}, []
    for m in subset:
        d1 = up.bodies[m](batch[m])
        d2 = up.bottom_up[m][0](d1)
        skips[m] = [d1, d2]
        tops.append(up.top[m](d2))
    zero = torch.zeros_like(tops[0][0])
    q3 = _poe([(zero, zero)] + tops)
    z3 = q3[0] + torch.exp(0.5 * q3[1]) * eps["z3"]
    levels, kls = {"z3": z3}, [_kl(q3, (zero, zero))]
    for z, upper, skip in (("z2", "z3", 1), ("z1", "z2", 0)):
        h = down.top_down[z](levels[upper])
        p = down.heads[z](h)
        experts = [up.blocks["shared"][z](torch.cat([h, skips[m][skip].expand(*h.shape[:-1], -1)], -1)) for m in subset]
        q = _poe([p] + experts)
        levels[z] = q[0] + torch.exp(0.5 * q[1]) * eps[z]
        kls.append(_kl(q, p))
    return levels, kls


def test_training_draws_and_kl_follow_the_hand_computed_chain(tmp_path):
    model = _model(tmp_path)
    batch = tiny_batch(model.modalities, 4)
    noise = FixedNoise()
    ev = model.evaluation(batch, noise)
    key = model.program.ir.infer[frozenset({"m0", "m1"})]
    draws = ev.samples(key, 1)[0]
    eps = {l: noise.drawn[f"q[{{m0,m1}}] on {l}"][0] for l in ("z3", "z2", "z1")}
    levels, kls = _hand_chain(model, batch, ["m0", "m1"], eps)
    torch.testing.assert_close(draws, torch.cat([levels["z3"], levels["z2"], levels["z1"]], -1), rtol=1e-12, atol=1e-12)
    from mmspec.lower import ladder
    torch.testing.assert_close(ladder.kl(ev, key), sum(kls), rtol=1e-12, atol=1e-12)


def test_the_loss_is_the_mean_over_subsets_of_their_elbos(tmp_path):
    """Each subset's terms are its reconstructions of both modalities from its z1 and its KL, each
    weighted 1/3 (three subsets), against the hand chain at the same noise."""
    model = _model(tmp_path)
    batch = tiny_batch(model.modalities, 3)
    noise = FixedNoise()
    total, values = model.per_item_objective(batch, noise)
    expected = 0.0
    for subset in (["m0"], ["m1"], ["m0", "m1"]):
        label = "q[{" + ",".join(subset) + "}]"
        eps = {l: noise.drawn[f"{label} on {l}"][0] for l in ("z3", "z2", "z1")}
        levels, kls = _hand_chain(model, batch, subset, eps)
        rec = sum(model.log_likelihood(m, levels["z1"], batch[m]) for m in ("m0", "m1"))
        expected = expected + (rec - sum(kls)) / 3
    torch.testing.assert_close(total, expected, rtol=1e-10, atol=1e-10)


def test_evaluation_takes_means_all_the_way_down_and_the_density_is_the_product_of_levels(tmp_path):
    model = _model(tmp_path)
    batch = tiny_batch(model.modalities, 3)
    q = model.encode(batch, ["m1"])
    zero = {l: torch.zeros(3, model.graph.latent_size(l), dtype=torch.float64) for l in ("z3", "z2", "z1")}
    means, _ = _hand_chain(model, {"m1": batch["m1"]}, ["m1"], zero)
    # the whole latent vector is in declaration order: z1, z2, z3
    torch.testing.assert_close(q.mean, torch.cat([means["z1"], means["z2"], means["z3"]], -1), rtol=1e-12, atol=1e-12)
    z = q.rsample(5)
    assert z.shape == (5, 3, 9)
    z1, z2, z3 = z.split([2, 3, 4], -1)
    up, down = model.module.ladders["q"], model.module.ladders["p"]
    d1 = up.bodies["m1"](batch["m1"])
    d2 = up.bottom_up["m1"][0](d1)
    zero3 = torch.zeros(3, 4, dtype=torch.float64)
    log_density = 0.0
    for value, (mu, lv) in ((z3, _poe([(zero3, zero3), up.top["m1"](d2)])),):
        log_density = log_density + _normal_log_prob(value, mu, lv)
    for z_, upper, skip in ((z2, z3, d2), (z1, z2, d1)):
        name = "z2" if z_ is z2 else "z1"
        h = down.top_down[name](upper)
        p = down.heads[name](h)
        mu, lv = _poe([p, up.blocks["shared"][name](torch.cat([h, skip.expand(5, -1, -1)], -1))])
        log_density = log_density + _normal_log_prob(z_, mu, lv)
    torch.testing.assert_close(q.log_prob(z), log_density, rtol=1e-10, atol=1e-10)


def _normal_log_prob(x, mu, logvar):
    return (-0.5 * (math.log(2 * math.pi) + logvar + (x - mu) ** 2 / torch.exp(logvar))).sum(-1)


def test_generation_draws_the_top_from_n01_and_each_level_from_its_top_down_prior(tmp_path):
    model = _model(tmp_path)
    assert model.can_generate
    prior = model.prior(20000)
    torch.manual_seed(3)
    z = prior.rsample(1)[0]
    z1, z2, z3 = z.split([2, 3, 4], -1)
    assert abs(z3.mean()) < 0.03 and abs(z3.var() - 1) < 0.03        # N(0, I): 80,000 numbers
    down = model.module.ladders["p"]
    mu, lv = down.heads["z2"](down.top_down["z2"](z3))
    standardised = (z2 - mu) / torch.exp(0.5 * lv)                   # z2 | z3 from p(z2 | z3)
    assert abs(standardised.mean()) < 0.03 and abs(standardised.var() - 1) < 0.03
    torch.testing.assert_close(prior.mean[..., 2:5], down.heads["z2"](down.top_down["z2"](prior.mean[..., 5:]))[0])


def test_a_training_step_reaches_every_network_and_explain_shows_the_ladder(tmp_path, capsys):
    model = _model(tmp_path)
    batch = tiny_batch(model.modalities, 4)
    model.loss(batch).loss.backward()
    unreached = [n for n, p in model.module.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert unreached == []
    from mmspec.cli import main
    main(["explain", str(_spec(tmp_path))], standalone_mode=False)
    out = capsys.readouterr().out
    assert "p(z2 | z3) = N(g_z2(h_z2)), h_z2 = t_z2(z3)" in out
    assert "KL(q[{m0,m1}](z3) || p(z3)) + KL(q[{m0,m1}](z2 | z3) || p(z2 | z3))" in out


@pytest.mark.parametrize("edit, message, line", [
    (lambda t: t.replace("ladder(z3, z2, z1, hidden=[width])", "ladder(z3)"), "at least two levels", "prior p"),
    (lambda t: t.replace("ladder(z3, z2, z1, hidden=[width])", "ladder(z3, z3)"), "appears twice", "prior p"),
    (lambda t: t.replace("ladder(z3, z2, z1, hidden=[width])", "ladder(z3, z2, z1, widht=3)"),
     "unknown option 'widht'", "prior p"),
    (lambda t: t.replace("ladder(p, S, width=width)", "ladder(z3, S)"), "built on a ladder prior", "posterior q"),
    (lambda t: t.replace("ladder(p, S, width=width)", "ladder(p, S, experts=all)"), "unknown experts", "posterior q"),
    (lambda t: t.replace("prior p = ladder", "prior r = normal()\nprior p = ladder")
     .replace("kl(q[S] || p)", "kl(q[S] || r)"), "the ladder prior it is built on", "maximize"),
    (lambda t: t.replace("kl(q[S] || p)", "kl(q[S] || p, estimator=mc, k=3)"), "closed form level by level", "maximize"),
    (lambda t: t.replace("infer S = q[S]", "infer S = poe(q[S])"), "used whole", "infer"),
    (lambda t: t.replace("rec(q[S] -> *)", "rec(sg(q[S]) -> *)"), "used whole", "maximize"),
    (lambda t: t.replace(", from z1", "").replace("latent z2: 3", "latent z2: dim").replace("latent z1: 2", "latent z1: dim"),
     "each decoder says which it reads", "prior p"),
])
def test_ladder_errors_are_located(tmp_path, edit, message, line):
    path = _spec(tmp_path, edit)
    with pytest.raises(SpecError) as info:
        compile_spec(path, {"dim": "4", "width": "5"})
    text = str(info.value)
    assert message in text, text
    number = next(i for i, l in enumerate(path.read_text().splitlines(), 1) if l.startswith(line))
    assert f":{number}:" in text, text


def test_graph_draws_the_levels_top_down_into_the_decoded_latent(tmp_path):
    from mmspec.check import check_file
    from mmspec.explain.draw import model_graph, ranks
    g = model_graph(check_file(_spec(tmp_path), {"dim": "4", "width": "5"}))
    assert {("z:z3", "z:z2"), ("z:z2", "z:z1")} <= set(g.edges())
    assert not any(g.has_edge(f"z:{l}", t) for l in ("z3", "z2") for t in g if t.startswith("t:"))
    order = {n: i for i, rank in enumerate(ranks(g)) for n in rank}
    assert order["z:z3"] < order["z:z2"] < order["z:z1"]


def test_encoding_every_subset_at_once_equals_encoding_each(tmp_path):
    """Evaluation over all subsets shares each modality's skip features (one encoder pass per batch)."""
    model = _model(tmp_path)
    batch = tiny_batch(model.modalities, 3)
    subsets = [["m0"], ["m1"], ["m0", "m1"]]
    together = model.encode_subsets(batch, subsets)
    for subset, q in zip(subsets, together):
        torch.testing.assert_close(q.mean, model.encode(batch, subset).mean, rtol=0, atol=0)
    ev = model.evaluation(batch)
    for key in (model.program.ir.infer[frozenset(s)] for s in subsets):
        ev.samples(key, 1)
    assert sorted(k for k in ev.ladders if k[0] == "features") == [("features", "q", "m0"), ("features", "q", "m1")]
