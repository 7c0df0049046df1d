"""MultiVae's multi-latent models (MMVAE+) against their specs: the same networks and initial weights,
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
    """MultiVae samples through torch.distributions.Laplace.rsample: the same pattern there."""
    pytest.importorskip("multivae")

    def rsample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        v = 2.0 * pattern(shape, self.loc) - 1.0
        return self.loc - self.scale * v.sign() * torch.log1p(-v.abs())
    monkeypatch.setattr(torch.distributions.Laplace, "rsample", rsample)


def _models(loss: str, estimator: str, tmp_path):
    """The spec at a tiny size (z: 4, w[m]: 3) in float64 (DReG's normalised weights are exponentials of
    log weights in the thousands: float32 rounding shows in them), and MultiVae's model of it."""
    from runtime.bench import multivae_side
    torch.manual_seed(0)
    text = (ROOT / "specs" / "mmvaeplus_polymnist.mms").read_text()
    spec = tmp_path / "mmvaeplus_polymnist.mms"
    spec.write_text(text.replace("estimator=dreg", f"estimator={estimator}"))
    model = compile_spec(spec, {"dim": "4", "wdim": "3"})
    model.module.double()
    with torch.no_grad():           # learned private prior scales away from their start (b = 1)
        for logits in model.module.prior_logits.values():
            logits.copy_(torch.linspace(-0.5, 0.5, logits.numel()))
    mv = multivae_side.build(model).double()
    mv.objective = loss
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
        pairs = [(mv.decoders[m].net, model.module.decoders[m]),
                 (mv.encoders[m].shared, model.module.encoders[f"qz[{m}]"]),
                 (mv.encoders[m].private, model.module.encoders[f"qw[{m}]"])]
        for theirs, ours in pairs:
            for a, b in zip(theirs.parameters(), ours.parameters()):
                assert b.grad is not None and a.grad is not None
                torch.testing.assert_close(b.grad, a.grad, rtol=1e-8, atol=1e-10)
                checked += 1
        ours_prior = model.module.prior_logits[f"r[{m}]"].grad
        torch.testing.assert_close(ours_prior, mv.logvars_priors[m].grad[0], rtol=1e-8, atol=1e-10)
        assert ours_prior.abs().sum() > 0           # the learned private prior does get a gradient
    assert checked > 0
