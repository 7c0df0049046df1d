"""MultiVae's multi-latent models (MMVAE+, DMVAE) against their specs: the same networks and initial weights,
the same noise, the same loss and the same gradients (skipped where multivae is not installed).

Both sides draw their Laplace noise from one fixed pattern that depends only on the shape of the draw,
so the draws agree whatever order each library makes them in; the shared and private latents have
different sizes (4 and 3), so a latent given the other's noise would show."""
from __future__ import annotations

import pytest
import torch

from mmspec import compile_spec
from spec_helpers import ROOT, tiny_batch


def pattern(shape, like) -> torch.Tensor:
    """u in (0, 1), a fixed function of the position in a tensor of this shape."""
    n = 1
    for s in shape:
        n *= s
    i = torch.arange(n, dtype=torch.float64).reshape(tuple(shape))
    return torch.frac(0.5 + 0.6180339887 * i + 0.1 * shape[-1]).clamp(0.01, 0.99).to(like.dtype).to(like.device)


class PatternNoise:
    def normal(self, key, shape, like):
        return torch.special.ndtri(pattern(shape, like))

    def uniform(self, key, shape, like):
        return pattern(shape, like)


@pytest.fixture
def multivae_noise(monkeypatch):
    """MultiVae samples through torch.distributions' rsample: the same pattern there."""
    pytest.importorskip("multivae")

    def laplace(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        v = 2.0 * pattern(shape, self.loc) - 1.0
        return self.loc - self.scale * v.sign() * torch.log1p(-v.abs())

    def normal(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        return self.loc + self.scale * torch.special.ndtri(pattern(shape, self.loc))
    monkeypatch.setattr(torch.distributions.Laplace, "rsample", laplace)
    monkeypatch.setattr(torch.distributions.Normal, "rsample", normal)


def _spec(name: str, tmp_path, edit=lambda text: text):
    """The shipped spec on its first two modalities (the maths per modality is the same; 5 conv nets
    per latent would make these tests slow)."""
    lines = [l for l in (ROOT / "specs" / f"{name}.mms").read_text().splitlines()
             if not l.startswith(("modality m2", "modality m3", "modality m4"))]
    spec = tmp_path / f"{name}.mms"
    spec.write_text(edit("\n".join(lines) + "\n"))
    return spec


def _models(loss: str, estimator: str, tmp_path):
    """The spec at a tiny size (z: 4, w[m]: 3) in float64 (DReG's normalised weights are exponentials of
    log weights in the thousands: float32 rounding shows in them), and MultiVae's model of it."""
    from runtime.bench import multivae_side
    torch.manual_seed(0)
    spec = _spec("mmvaeplus_polymnist", tmp_path, lambda t: t.replace("estimator=dreg", f"estimator={estimator}")
                 .replace("k=10", "k=3"))
    model = compile_spec(spec, {"dim": "4", "wdim": "3"})
    model.module.double()
    with torch.no_grad():           # learned private prior scales away from their start (b = 1)
        for logits in model.module.prior_logits.values():
            logits.copy_(torch.linspace(-0.5, 0.5, logits.numel()))
    mv = multivae_side.build(model).double()
    mv.objective = loss
    mv.model_config.K = 3           # K = 3 importance samples on both sides (the spec says 10): faster
    return model, mv


def test_mmvaeplus_spec_and_multivae_compute_the_same_iwae_bound(multivae_noise, tmp_path):
    from runtime.bench import multivae_side
    model, mv = _models("iwae_looser", "iwae", tmp_path)
    batch = tiny_batch(model.modalities, batch=3)
    ours = model.loss(batch, PatternNoise()).loss
    theirs = multivae_side.loss(mv, batch) / 3          # MultiVae sums over the batch
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-10)


def test_mmvaeplus_spec_and_multivae_have_the_same_dreg_gradients(multivae_noise, tmp_path):
    """MultiVae's DReG loss is the surrogate sum_k w~_k log w_k (the spec reports the bound), so the
    values differ by design; the gradients, which training uses, are the same."""
    from runtime.bench import multivae_side
    model, mv = _models("dreg_looser", "dreg", tmp_path)
    batch = tiny_batch(model.modalities, batch=3)
    model.loss(batch, PatternNoise()).loss.backward()
    (multivae_side.loss(mv, batch) / 3).backward()
    g = model.graph
    checked = 0
    for m in g.modalities:
        pairs = [(mv.decoders[m].net, model.module.decoders[m]), (mv.encoders[m].net, model.module.encoders[f"q[{m}]"])]
        for theirs, ours in pairs:
            for a, b in zip(theirs.parameters(), ours.parameters()):
                assert b.grad is not None and a.grad is not None
                torch.testing.assert_close(b.grad, a.grad, rtol=1e-8, atol=1e-10)
                checked += 1
        ours_prior = model.module.prior_logits[f"r[{m}]"].grad
        torch.testing.assert_close(ours_prior, mv.logvars_priors[m].grad[0], rtol=1e-8, atol=1e-10)
        assert ours_prior.abs().sum() > 0           # the learned private prior does get a gradient
    assert checked > 0


def test_dmvae_spec_and_multivae_compute_the_same_loss(multivae_noise, tmp_path):
    """DMVAE: the M + 1 ELBOs of MultiVae's DMVAE (its loss is their sum, averaged over the batch) equal
    the spec's loss on the same weights and noise. The pattern noise gives every draw of one shape the
    same values, so MultiVae's fresh private draws per ELBO equal the spec's one draw per step; the rest
    of the tolerance is mmspec's 1e-8 on the PoE variances (MultiVae's stable_poe has none)."""
    from runtime.bench import multivae_side
    torch.manual_seed(0)
    model = compile_spec(_spec("dmvae_polymnist", tmp_path), {"dim": "4", "wdim": "3", "beta": "1.5",
                                                               "private_beta": "0.5"})
    model.module.double()
    mv = multivae_side.build(model).double()
    assert mv.beta == 1.5 and set(mv.private_betas.values()) == {0.5}
    batch = tiny_batch(model.modalities, batch=3)
    ours = model.loss(batch, PatternNoise()).loss
    theirs = multivae_side.loss(mv, batch)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-7)
    ours.backward()
    theirs.backward()
    for m in model.modalities:
        for a, b in zip(mv.decoders[m].net.parameters(), model.module.decoders[m].parameters()):
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["mmvaeplus_polymnist", "dmvae_polymnist"])
def test_multivae_model_has_the_same_networks_and_trainable_parameters(name, tmp_path):
    """Deep copies of the spec's networks; MMVAE+'s learned private prior scales (D_w each) on both
    sides, its fixed shared prior not trained on either."""
    pytest.importorskip("multivae")
    from runtime.bench import multivae_side
    torch.manual_seed(0)
    model = compile_spec(_spec(name, tmp_path), {"dim": "4", "wdim": "3"})
    mv = multivae_side.build(model)
    assert multivae_side.network_count(mv) == multivae_side.spec_network_count(model)
    trainable = lambda module: sum(p.numel() for p in module.parameters() if p.requires_grad)
    assert trainable(mv) == trainable(model.module)
    for m, enc in mv.encoders.items():
        for p, q in zip(enc.net.parameters(), model.module.encoders[f"q[{m}]"].parameters()):
            assert torch.equal(p, q) and p.data_ptr() != q.data_ptr()
