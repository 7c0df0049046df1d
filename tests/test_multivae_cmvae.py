"""specs/cmvae_polymnist.mms against MultiVae's CMVAE: the same networks, cluster means and weights and
private priors, the same noise; the same IWAE bound (loss=iwae_looser) and the same DReG gradients
(loss=dreg_looser), cluster parameters included.

MultiVae writes the bound with an explicit expectation over the cluster posterior q(c | z, X) = p(c | z):
Σ_c q_c [log π_c + log p(z | c) - log q_c], which is log Σ_c π_c p(z | c), the mixture prior's exact
density that the spec evaluates (MultiVae adds 1e-20 to q_c; its effect is below float64 rounding
here). K = 2 draws instead of the spec's 10 on both sides, to keep the default suite fast (nothing in
the comparison depends on K). The noise is the fixed pattern of tests/test_multivae_latents.py (a function of the draw's shape
only, so both libraries' draws agree whatever order they are made in)."""
from __future__ import annotations

import pytest
import torch

from mmspec import compile_spec
from spec_helpers import ROOT, tiny_batch
from test_multivae_latents import PatternNoise, multivae_noise  # noqa: F401  (the fixture)


def _models(loss: str, estimator: str, tmp_path):
    from runtime.bench import multivae_side
    torch.manual_seed(0)
    spec = tmp_path / "cmvae_polymnist.mms"
    text = (ROOT / "specs" / "cmvae_polymnist.mms").read_text()
    assert "iwae(mix -> *, k=10, estimator=dreg" in text
    spec.write_text(text.replace("k=10, estimator=dreg", f"k=2, estimator={estimator}"))
    model = compile_spec(spec, {"dim": "4", "wdim": "3"})
    model.module.double()
    with torch.no_grad():           # weights and private priors away from their uniform start
        for logits in model.module.prior_logits.values():
            logits.copy_(torch.linspace(-0.5, 0.5, logits.numel()))
        model.module.prior_mixtures["pz"].logits.copy_(torch.linspace(-1.0, 1.0, 10))
    mv = multivae_side.build(model).double()
    assert mv.model_config.K == 10             # MultiVae's default, the spec's k; both 2 from here on
    mv.model_config.loss, mv.model_config.K = loss, 2
    return model, mv


def test_cmvae_spec_and_multivae_compute_the_same_iwae_bound(multivae_noise, tmp_path):
    """The same bound, on MultiVae's defaults and the spec's clusters (copied into MultiVae's model)."""
    from runtime.bench import multivae_side
    model, mv = _models("iwae_looser", "iwae", tmp_path)
    cfg = mv.model_config
    assert (cfg.number_of_clusters, cfg.beta, cfg.prior_and_posterior_dist, cfg.learn_modality_prior) == \
        (10, 1.0, "laplace_with_softmax", True)
    params = model.module.prior_mixtures["pz"]
    for c in range(10):
        assert torch.equal(mv.mean_clusters[c][0], params.means[c])
        scale = torch.softmax(mv.logvar_clusters[c], -1) * 4 + 1e-6        # MultiVae's _log_var_to_std
        torch.testing.assert_close(scale[0], params.log_scales[c].exp(), rtol=1e-12, atol=0)
    assert not any(p.requires_grad for p in mv.logvar_clusters) and "log_scales" not in dict(params.named_parameters())
    batch = tiny_batch(model.modalities, batch=3)
    ours = model.loss(batch, PatternNoise()).loss
    theirs = multivae_side.loss(mv, batch) / 3          # MultiVae sums over the batch
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-10)


def test_cmvae_spec_and_multivae_have_the_same_dreg_gradients(multivae_noise, tmp_path):
    """Encoders, decoders, private priors and the cluster means and weights: the same gradients."""
    from runtime.bench import multivae_side
    model, mv = _models("dreg_looser", "dreg", tmp_path)
    batch = tiny_batch(model.modalities, batch=3)
    model.loss(batch, PatternNoise()).loss.backward()
    (multivae_side.loss(mv, batch) / 3).backward()
    checked = 0
    for m in model.graph.modalities:
        pairs = [(mv.decoders[m].net, model.module.decoders[m]), (mv.encoders[m].net, model.module.encoders[f"q[{m}]"])]
        for theirs, ours in pairs:
            for a, b in zip(theirs.parameters(), ours.parameters()):
                torch.testing.assert_close(b.grad, a.grad, rtol=1e-8, atol=1e-10)
                checked += 1
        torch.testing.assert_close(model.module.prior_logits[f"r[{m}]"].grad, mv.r_logvars_priors[m].grad[0],
                                   rtol=1e-8, atol=1e-10)
    params = model.module.prior_mixtures["pz"]
    theirs_means = torch.cat([p.grad for p in mv.mean_clusters])
    torch.testing.assert_close(params.means.grad, theirs_means, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(params.logits.grad, mv._pc_params.grad, rtol=1e-8, atol=1e-10)
    assert params.means.grad.abs().sum() > 0 and params.logits.grad.abs().sum() > 0 and checked > 0
