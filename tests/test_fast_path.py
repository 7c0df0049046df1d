"""The fast paths compute what the plain path does.

- identical networks as one vmapped call (mmspec.lower.batched): same loss and gradients, float64;
- sharing: each network runs once per distinct input, each distribution is sampled once, the
  PoEs of one depth are one batched operation, each decoder runs once on all its latents
  (counted with forward hooks on the real modules, not asserted from the code);
- the loss traces as one graph, and torch.compile of it equals the eager loss to 1e-5 in float32 on a
  fixed batch and noise (the inductor-compiled comparisons are marked slow: minutes of C++ builds);
- bf16 autocast and the compiled step of the training loop run and stay close to float32.
"""
from __future__ import annotations

import collections
import math

import pytest
import torch

from mmspec import compile_spec
from mmspec.lower import engine
from mmspec.lower.batched import BatchedGroups
from spec_helpers import ROOT, FixedNoise, tiny_batch

IDENTICAL = """
model twins
data polymnist
latent z: 4
prior p = normal()
modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality v: vector(6) ~ gaussian(scale=0.5), net mlp(hidden=[8])
posterior q[m] = encoder(m)
posterior qs[S in subsets(*)] = poe(q[S])
maximize mean S in subsets(*): (rec(qs[S] -> *) - kl(qs[S] || p))
infer S = poe(q[S])
"""

TINY = """
model tiny
data mst
latent z: 4
prior p = normal()
modality a: vector(6) ~ gaussian(scale=0.5), net mlp(hidden=[8])
modality b: vector(6) ~ laplace(scale=0.75), net mlp(hidden=[8])
modality c: text(2, 5) ~ categorical, net mlp(hidden=[8])
posterior q[m] = encoder(m)
posterior joint = poe(p, q[*])
posterior uni[m] = poe(p, q[m])
maximize elbo(joint) + sum m: elbo(uni[m] -> m)
infer S = poe(p, q[S])
train epochs 1, batch 8, optimizer adam(lr=1e-3)
"""


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)
    torch.set_num_threads(1)


class StoredNoise:
    """Noise drawn once per (name, shape) outside any compiled graph, then replayed."""

    def __init__(self):
        self.store: dict = {}
        self.fixed = FixedNoise()

    def normal(self, key, shape, like):
        if (key, tuple(shape)) not in self.store:
            self.store[(key, tuple(shape))] = self.fixed.normal(key, shape, like)
        return self.store[(key, tuple(shape))]

    def uniform(self, key, shape, like):
        return self.fixed.uniform(key, shape, like)


def _loss_and_grads(model, batch, noise):
    loss = model.loss(batch, noise).loss
    params = [p for p in model.module.parameters() if p.requires_grad]
    return loss, torch.autograd.grad(loss, params)


# ---- identical networks as one vmapped call ----------------------------------------------------

def test_identical_networks_are_grouped_by_architecture():
    model = compile_spec(IDENTICAL)
    model.module.use_batched(True)
    enc, dec = model.module.batched["encoders"], model.module.batched["decoders"]
    assert [sorted(g) for g in enc.groups] == [["q[m0]", "q[m1]", "q[m2]"]]
    assert [sorted(g) for g in dec.groups] == [["m0", "m1", "m2"]]
    assert not enc.covers("q[v]") and not dec.covers("v")
    # the batched path adds no parameters: checkpoints and optimizers are the plain path's
    assert len(list(model.module.parameters())) == len(list(compile_spec(IDENTICAL).module.parameters()))


def test_networks_with_running_statistics_are_not_batched():
    conv = lambda: torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    linear = lambda: torch.nn.Linear(3, 2)
    groups = BatchedGroups(torch.nn.ModuleDict({"a": conv(), "b": conv(), "c": linear(), "d": linear()}))
    assert groups.groups == [["c", "d"]]


def test_batched_identical_networks_compute_the_plain_loss_and_gradients():
    model = compile_spec(IDENTICAL)
    model.module.double()
    batch = tiny_batch(model.modalities, batch=3)
    plain_loss, plain_grads = _loss_and_grads(model, batch, FixedNoise())
    model.module.use_batched(True)
    calls = collections.Counter()
    original = BatchedGroups.run

    def counted(self, modules, names, inputs):
        calls[tuple(sorted(names))] += 1
        return original(self, modules, names, inputs)

    BatchedGroups.run = counted
    try:
        fast_loss, fast_grads = _loss_and_grads(model, batch, FixedNoise())
    finally:
        BatchedGroups.run = original
    # one vmapped call for the three conv encoders and one for the three conv decoders
    assert calls == {("q[m0]", "q[m1]", "q[m2]"): 1, ("m0", "m1", "m2"): 1}
    assert fast_loss.item() == pytest.approx(plain_loss.item(), rel=1e-12)
    for p, f in zip(plain_grads, fast_grads):
        torch.testing.assert_close(f, p, rtol=1e-9, atol=1e-9)


def test_batched_path_encodes_subsets_like_the_plain_path():
    model = compile_spec(IDENTICAL)
    model.module.double()
    batch = tiny_batch(model.modalities, batch=2)
    given = {m: batch[m] for m in ("m0", "m2", "v")}
    plain = model.encode(given, ["m0", "m2", "v"])
    model.module.use_batched(True)
    fast = model.encode(given, ["m0", "m2", "v"])
    torch.testing.assert_close(fast.mu, plain.mu)
    torch.testing.assert_close(fast.logvar, plain.logvar)


# ---- sharing, counted with forward hooks ---------------------------------------------------------

def _count_calls(model):
    """Forward calls per encoder/decoder and the rows each decoder saw."""
    calls, rows = collections.Counter(), collections.Counter()
    for kind in ("encoders", "joint_encoders", "decoders"):
        for name, net in getattr(model.module, kind).items():
            def hook(mod, args, out, key=f"{kind}.{name}"):
                calls[key] += 1
                x = args[0]
                rows[key] += next(iter(x.values())).shape[0] if isinstance(x, dict) else x.shape[0]
            net.register_forward_hook(hook)
    return calls, rows


class CountingNoise(FixedNoise):
    def __init__(self):
        self.draws = collections.Counter()

    def normal(self, key, shape, like):
        self.draws[key] += 1
        return super().normal(key, shape, like)


@pytest.mark.parametrize("name", ["mopoe_mst", "crmvae_mst", "mvae_mst", "mmvae_mst", "jmvae_mst"])
def test_each_network_runs_once_and_each_distribution_is_sampled_once(name, monkeypatch):
    model = compile_spec(ROOT / "specs" / f"{name}.mms", {"dim": "4"})
    batch = tiny_batch(model.modalities, batch=2, dtype=torch.float32)
    calls, rows = _count_calls(model)
    poe_calls = []
    original = engine.product_of_experts
    monkeypatch.setattr(engine, "product_of_experts",
                        lambda mus, logvars, w: poe_calls.append(w.shape) or original(mus, logvars, w))
    noise = CountingNoise()
    model.loss(batch, noise)
    mods = list(model.modalities)
    # every encoder and every decoder exactly once
    assert all(calls[f"encoders.{n}"] == 1 for n in model.module.encoders)
    assert all(calls[f"joint_encoders.{n}"] == 1 for n in model.module.joint_encoders)
    assert all(calls[f"decoders.{m}"] == 1 for m in mods)
    # each distribution sampled once (one noise draw per distribution name)
    assert noise.draws and max(noise.draws.values()) == 1
    # each decoder decodes every latent that any term decodes with it, in that one call
    wanted = collections.defaultdict(set)
    for leaf in model.leaves:
        if getattr(leaf, "sampling", "") == "stratified":      # one latent per item, whatever its component
            wanted[leaf.target].add(("stratified", leaf.dist))
        elif hasattr(leaf, "target"):
            for comp, _ in engine.mixture_parts(model.graph, leaf.dist):
                wanted[leaf.target].add(comp)
    for m in mods:
        assert rows[f"decoders.{m}"] == 2 * len(wanted[m])
    # the products of experts the objective uses (infer rules add others, which the loss must not
    # compute): one batched call (all these specs have products of one depth)
    n_products = sum(1 for k in _reachable(model) if type(model.graph.nodes[k]).__name__ in ("PoE", "WeightedPoE"))
    assert len(poe_calls) == (1 if n_products else 0)
    if n_products:
        assert poe_calls[0][0] == n_products


def _reachable(model) -> set[str]:
    """Distribution nodes the objective uses (infer rules may add others, not computed in the loss)."""
    from mmspec.model.graph import members_of
    stack = [k for leaf in model.leaves for k in ((leaf.dist,) if hasattr(leaf, "dist") else (leaf.q, leaf.p))]
    seen: set[str] = set()
    while stack:
        k = stack.pop()
        if k not in seen:
            seen.add(k)
            stack.extend(members_of(model.graph.nodes[k]))
    return seen


def test_mopoe_decoders_see_one_latent_per_item_in_one_call():
    """The shipped MoPoE specs reconstruct the subset mixture stratified: each decoder runs once on
    the batch's 5 latents (the exact mixture expectation would decode (2^M - 1)·5)."""
    model = compile_spec(ROOT / "specs" / "mopoe_mst.mms", {"dim": "4"})
    calls, rows = _count_calls(model)
    model.loss(tiny_batch(model.modalities, batch=5, dtype=torch.float32), FixedNoise())
    assert all(calls[f"decoders.{m}"] == 1 and rows[f"decoders.{m}"] == 5 for m in model.modalities)


def test_exact_mixture_decoder_sees_all_component_latents_in_one_call():
    text = (ROOT / "specs" / "mopoe_mst.mms").read_text().replace("sampling=stratified", "sampling=exact")
    model = compile_spec(text, {"dim": "4"})
    calls, rows = _count_calls(model)
    model.loss(tiny_batch(model.modalities, batch=5, dtype=torch.float32), FixedNoise())
    M = len(model.modalities)
    assert all(calls[f"decoders.{m}"] == 1 and rows[f"decoders.{m}"] == (2 ** M - 1) * 5 for m in model.modalities)


# ---- torch.compile, bf16 ---------------------------------------------------------------------

def _inductor_unavailable() -> str | None:
    """Why torch.compile's default backend cannot run here (it generates and compiles C++ on CPU)."""
    import shutil
    if not hasattr(torch, "compile"):
        return "this torch has no torch.compile"
    if not torch.cuda.is_available() and not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
        return "no C++ compiler for inductor's CPU kernels"
    return None


def test_loss_traces_as_one_graph_and_equals_the_eager_loss():
    """The whole loss is one graph (fullgraph: no break, so no host synchronisation inside it) and
    the traced forward and AOT-autograd backward equal eager in float32. This backend skips code
    generation, so it is fast; the inductor-compiled comparison below is slow (minutes cold)."""
    model = compile_spec(TINY)
    batch = tiny_batch(model.modalities, batch=4, dtype=torch.float32)
    noise = StoredNoise()
    eager, eager_grads = _loss_and_grads(model, batch, noise)
    traced = torch.compile(lambda b: model.loss(b, noise).loss, backend="aot_eager", fullgraph=True)(batch)
    params = [p for p in model.module.parameters() if p.requires_grad]
    torch.testing.assert_close(traced, eager, rtol=1e-5, atol=1e-5)
    for g, e in zip(torch.autograd.grad(traced, params), eager_grads):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(_inductor_unavailable() is not None, reason=str(_inductor_unavailable()))
def test_compiled_loss_equals_eager_loss_in_float32():
    model = compile_spec(TINY)
    batch = tiny_batch(model.modalities, batch=4, dtype=torch.float32)
    noise = StoredNoise()
    eager = model.loss(batch, noise).loss
    compiled = torch.compile(lambda b: model.loss(b, noise).loss)(batch)
    assert math.isfinite(eager.item())
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)


def _trainer(model, amp=None, compile=False):
    from runtime.bench.synthetic import SyntheticData
    from runtime.train.loop import LoopConfig, Trainer
    data = SyntheticData(model.modalities, 16, torch.device("cpu"))
    return Trainer(model, data, LoopConfig(epochs=1, batch=8, amp=amp, compile=compile), run_dir=None, meta={}), data


@pytest.mark.slow
@pytest.mark.skipif(_inductor_unavailable() is not None, reason=str(_inductor_unavailable()))
def test_training_loop_compiled_step_trains_like_the_eager_step():
    torch.manual_seed(0)
    eager_model = compile_spec(TINY)
    torch.manual_seed(0)
    compiled_model = compile_spec(TINY)
    noise = StoredNoise()
    for m in (eager_model, compiled_model):       # replay the same noise in both
        m.loss = (lambda f: (lambda batch, n=None: f(batch, noise)))(m.loss)
    eager, data = _trainer(eager_model)
    compiled, _ = _trainer(compiled_model, compile=True)
    batch = data.batch("train", torch.arange(8))
    for _ in range(2):
        torch.testing.assert_close(compiled._step(batch), eager._step(batch), rtol=1e-4, atol=1e-4)


def test_bf16_autocast_step_is_close_to_float32():
    model = compile_spec(TINY)
    trainer, data = _trainer(model, amp="bf16")
    batch = data.batch("train", torch.arange(8))
    noise = StoredNoise()
    full = model.loss(batch, noise).loss.item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = model.loss(batch, noise).loss.float().item()
    assert half == pytest.approx(full, rel=3e-2)
    vec = trainer._step(batch)
    assert torch.isfinite(vec).all()


def test_fused_adam_only_for_cuda_parameters():
    from mmspec.compiled import OptimizerSettings
    from runtime.train.optim import _fusable, build_optimizer
    params = [torch.nn.Parameter(torch.zeros(3))]
    opt = build_optimizer(OptimizerSettings("adam", {"lr": 1e-3}), params)
    assert not opt.defaults.get("fused")
    assert not _fusable(torch.optim.SGD, params)
    if torch.cuda.is_available():
        cuda = [torch.nn.Parameter(torch.zeros(3, device="cuda"))]
        assert build_optimizer(OptimizerSettings("adam", {"lr": 1e-3}), cuda).defaults["fused"]
