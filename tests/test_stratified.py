"""`rec(mix -> *, sampling=stratified)`: one mixture component per item, against independent oracles.

(1) with fixed noise and a known split, item i's value is the rec of its own component, computed
    here from the encoders and decoders (black boxes) with the test's own PoE, sampling and likelihoods;
(2) averaged over many random splits it matches the exact weighted sum over the components
    (Monte Carlo; the bound is 4 standard errors of the mean, per item);
(3) each decoder runs once per step on the N items' latents;
(4) a stratified rec that cannot be stratified is a located SpecError.
"""
from __future__ import annotations

import collections
import re

import pytest
import torch

from mmspec import SpecError, check_spec, compile_spec
from mmspec.lower import stratified
from spec_helpers import FixedNoise, Ref

BASE = """model t
data toy
param dim = 3
latent z: dim
prior p = normal()
modality a: vector(5) ~ laplace(scale=0.75), net mlp(hidden=[8])
modality b: vector(3) ~ laplace(scale=0.75), net mlp(hidden=[8])
modality c: text(2, 4) ~ categorical, net mlp(hidden=[8])
posterior q[m] = encoder(m)
"""
# the components, in the order written, and how the test's reference builds each from the experts
MIX = "posterior mix = moe(q[a], poe(q[a], q[b]), q[c], poe(q[*]){weights})\n"
PARTS = [("a",), ("a", "b"), ("c",), ("a", "b", "c")]


def model_with(objective: str, weights: str = "", k_decl: str = ""):
    torch.manual_seed(0)
    model = compile_spec(BASE + MIX.format(weights=weights) + k_decl + f"maximize {objective}\ninfer S = poe(q[S])\n")
    model.module.double()
    return model


def batch_of(n: int, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    text = torch.nn.functional.one_hot(torch.randint(0, 4, (n, 2), generator=g), 4).double()
    return {"a": torch.rand(n, 5, generator=g, dtype=torch.float64),
            "b": torch.rand(n, 3, generator=g, dtype=torch.float64), "c": text}


def component_keys(model) -> list[str]:
    """The noise key (display name) of each component of `mix`, in the order written."""
    g = model.graph
    mix = next(k for k in g.nodes if g.label(k) == "mix")
    return [g.label(m) for m in g.nodes[mix].members]


def per_item(model, batch, noise) -> dict[str, torch.Tensor]:
    """The engine's per-item value [B] of each term, by target modality."""
    with torch.no_grad():
        values = model.evaluation(batch, noise).leaf_values(model.leaves)
    return {leaf.target: v for leaf, v in values.items()}


class KnownSplit(FixedNoise):
    """FixedNoise, but the split's uniforms are chosen: items sorted as `order`, offset v."""

    def __init__(self, order: list[int], v: float = 0.0):
        self.rank = {item: p for p, item in enumerate(order)}
        self.v = v

    def uniform(self, key, shape, like):
        if key.endswith("/order"):
            return torch.tensor([self.rank[i] / len(self.rank) for i in range(shape[0])], dtype=like.dtype)
        if key.endswith("/offset"):
            return torch.full(tuple(shape), self.v, dtype=like.dtype)
        return super().uniform(key, shape, like)


@pytest.mark.parametrize("k", [1, 2])
def test_each_item_gets_the_rec_of_its_own_component(k):
    """8 items, 4 equal components: items at positions 2j, 2j+1 of the shuffled order get component j."""
    model = model_with(f"rec(mix -> *, sampling=stratified, k={k})")
    batch = batch_of(8)
    order = torch.randperm(8, generator=torch.Generator().manual_seed(3)).tolist()
    noise = KnownSplit(order)
    got = per_item(model, batch, noise)
    r = Ref(model, batch, noise)
    experts = {m: r.enc(f"q[{m}]", m) for m in "abc"}
    comps = [experts[s[0]] if len(s) == 1 else r.poe([experts[m] for m in s]) for s in PARTS]
    keys = component_keys(model)
    with torch.no_grad():
        for position, item in enumerate(order):
            j = position // 2
            z = r.sample(comps[j], keys[j], k)                       # [k, B, D]: component j's own draws
            for t in "abc":
                want = r.loglik(t, z).mean(0)[item]
                torch.testing.assert_close(got[t][item], want, rtol=0, atol=1e-10,
                                           msg=f"item {item} (component {keys[j]}), target {t}")


class RandomSplit(FixedNoise):
    """Fixed latent noise; the split's uniforms drawn afresh from a seeded generator at every call."""

    def __init__(self, seed: int):
        self.g = torch.Generator().manual_seed(seed)

    def uniform(self, key, shape, like):
        return torch.rand(tuple(shape), generator=self.g, dtype=torch.float64).to(like.dtype)


def test_monte_carlo_over_splits_matches_the_exact_weighted_sum():
    """Weights 0.5/0.3/0.15/0.05 on 7 items (N·w_j not integers, one component rarer than one item per
    batch): with the latent noise fixed, the mean over R splits of each item's stratified value
    approaches sum_j w_j rec_j(item), which the exact estimator computes; |error| < 4 standard errors."""
    weights = ", weights=[0.5, 0.3, 0.15, 0.05]"
    exact = model_with("rec(mix -> *)", weights)
    strat = model_with("rec(mix -> *, sampling=stratified)", weights)
    strat.module.load_state_dict(exact.module.state_dict())
    batch = batch_of(7)
    want = sum(per_item(exact, batch, FixedNoise()).values())
    noise, R = RandomSplit(0), 1500
    with torch.no_grad():
        ev_values = []
        for _ in range(R):
            ev_values.append(sum(per_item(strat, batch, noise).values()))
    draws = torch.stack(ev_values)                                    # [R, B]
    error = (draws.mean(0) - want).abs()
    standard_error = draws.std(0) / R ** 0.5
    assert torch.all(error < 4 * standard_error + 1e-9), (error, standard_error)
    assert torch.all(draws.std(0) > 0)          # the splits did vary


def test_every_item_gets_each_component_with_its_weight():
    """P(a(i) = j) = w_j for every item (4 standard errors of a binomial frequency over R splits), and
    every split's slices have floor(N w_j) or ceil(N w_j) items."""
    weights, n, R = [0.5, 0.3, 0.15, 0.05], 7, 4000
    noise, like = RandomSplit(1), torch.zeros(1, dtype=torch.float64)
    counts = torch.zeros(n, len(weights))
    for _ in range(R):
        a = stratified.assignment(weights, n, noise, "mix", like)
        sizes = torch.bincount(a, minlength=len(weights))
        for j, w in enumerate(weights):
            assert int(n * w) <= sizes[j] <= int(n * w) + 1
        counts[torch.arange(n), a] += 1
    w = torch.tensor(weights)
    bound = 4 * (w * (1 - w) / R).sqrt()
    assert torch.all((counts / R - w).abs() < bound), counts / R


def _decoder_rows(model) -> tuple[collections.Counter, collections.Counter]:
    calls, rows = collections.Counter(), collections.Counter()
    for name, net in model.module.decoders.items():
        def hook(module, args, out, name=name):
            calls[name] += 1
            rows[name] += args[0].shape[0]
        net.register_forward_hook(hook)
    return calls, rows


def test_each_decoder_runs_once_on_one_latent_per_item():
    """Stratified: N rows per decoder (the exact estimator decodes J·N), shared with other terms' latents."""
    strat = model_with("rec(mix -> *, sampling=stratified) + rec(q[a] -> a)")
    exact = model_with("rec(mix -> *) + rec(q[a] -> a)")
    batch = batch_of(8)
    for model, mix_rows in ((strat, 8), (exact, 4 * 8)):
        calls, rows = _decoder_rows(model)
        model.loss(batch, FixedNoise())
        assert dict(calls) == {"a": 1, "b": 1, "c": 1}
        # q[a] is itself a component: the exact estimator decodes its sample for both terms once
        extra = 8 if model is strat else 0
        assert dict(rows) == {"a": mix_rows + extra, "b": mix_rows, "c": mix_rows}


class Replayed(FixedNoise):
    """Every draw made once (outside any compiled graph), then replayed."""

    def __init__(self):
        self.store: dict = {}

    def normal(self, key, shape, like):
        if ("n", key, tuple(shape)) not in self.store:
            self.store[("n", key, tuple(shape))] = super().normal(key, shape, like)
        return self.store[("n", key, tuple(shape))]

    def uniform(self, key, shape, like):
        if ("u", key, tuple(shape)) not in self.store:
            self.store[("u", key, tuple(shape))] = super().uniform(key, shape, like)
        return self.store[("u", key, tuple(shape))]


def test_stratified_loss_traces_as_one_graph():
    """No graph break (so no host synchronisation) from the split: argsort, searchsorted and the gather
    trace; the traced loss and gradients equal eager."""
    model = model_with("rec(mix -> *, sampling=stratified) - kl(mix || p, estimator=jensen)")
    model.module.float()
    batch = {k: v.float() for k, v in batch_of(8).items()}
    noise = Replayed()
    params = [p for p in model.module.parameters() if p.requires_grad]
    eager = model.loss(batch, noise).loss
    eager_grads = torch.autograd.grad(eager, params)
    traced = torch.compile(lambda b: model.loss(b, noise).loss, backend="aot_eager", fullgraph=True)(batch)
    torch.testing.assert_close(traced, eager, rtol=1e-5, atol=1e-5)
    for g, e in zip(torch.autograd.grad(traced, params), eager_grads):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)


def test_explain_names_the_estimator():
    from mmspec.explain import Explanation, render_text
    text = render_text(Explanation.of(check_spec(BASE + MIX.format(weights="") +
                                                 "maximize rec(mix -> *, sampling=stratified)\ninfer S = poe(q[S])\n"),
                                    with_m=False))
    assert "E_mix[log p(x_a | z)]  [stratified: one component per item (4 components, equal slices" in text
    assert "latent samples decoded                         3" in text


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as err:
        check_spec(text + "infer S = poe(q[S])\n", filename="bad.mms")
    return str(err.value)


@pytest.mark.parametrize("body,line,words", [
    (MIX.format(weights="") + "maximize rec(q[a] -> *, sampling=stratified)\n", 11,
     ["q[a] is a single distribution", "hint: drop `sampling=`"]),
    (MIX.format(weights="") + "maximize rec(mix -> *, sampling=stratifed)\n", 11,
     ["unknown sampling for rec", "did you mean 'stratified'"]),
    (MIX.format(weights="") + "maximize rec(mix -> *, sampling=2)\n", 11, ["expected one of: exact, stratified"]),
])
def test_bad_use_is_located(body, line, words):
    message = error_of(BASE + body)
    assert re.match(rf"bad\.mms:{line}:\d+: error: ", message), message
    assert "^" in message
    for w in words:
        assert w in message, message


def test_components_over_different_latents_cannot_be_stratified():
    text = BASE.replace("latent z: dim", "latent z[m]: dim") + (
        "prior h[m] = moe(q[*]) on z[m]\n"
        "maximize sum m: rec(h[m] -> m, sampling=stratified)\n")
    message = error_of(text)
    assert re.match(r"bad\.mms:11:\d+: error: sampling=stratified gives each item one sample", message), message
    assert "over different latents (z[a], z[b], z[c])" in message and "hint:" in message
