"""specs/nexus_polymnist.mms against MultiVae's Nexus: the same networks and initial weights (the spec's
encoders, decoders, message networks, top posterior and conditional priors p(z_m | s), deep-copied into
MultiVae's encoders, decoders, top encoders, joint encoder and top decoders), the same noise, the same
loss and the same gradients (skipped where multivae is not installed).

Late in training (epoch 1000: MultiVae's KL warm-up min(epoch/20, 1) is 1, as the spec's warmup is
outside training). The bottom latents (size 3) and the top latent (size 4) differ in size, so a latent
given the other's noise would show; the noise is the fixed pattern of tests/test_multivae_latents.py."""
from __future__ import annotations

import pytest
import torch

from mmspec import compile_spec
from spec_helpers import ROOT, tiny_batch
from test_multivae_latents import PatternNoise, multivae_noise  # noqa: F401  (the fixture)

TWO = "(m0, m1)"


def _models(tmp_path, overrides=None):
    """The spec on its first two modalities, at a tiny size, in float64, and MultiVae's model of it."""
    from runtime.bench import multivae_side
    torch.manual_seed(0)
    text = (ROOT / "specs" / "nexus_polymnist.mms").read_text()
    assert "top[(m0, m1, m2, m3, m4)]" in text
    lines = [l for l in text.replace("(m0, m1, m2, m3, m4)", TWO).splitlines()
             if not l.startswith(("modality m2", "modality m3", "modality m4"))]
    spec = tmp_path / "nexus_polymnist.mms"
    spec.write_text("\n".join(lines) + "\n")
    model = compile_spec(spec, {"dim": "4", "zdim": "3", "msg": "5", **(overrides or {})})
    model.module.double()
    mv = multivae_side.build(model).double()
    return model, mv, multivae_side


@pytest.mark.parametrize("weights", [{}, {"top_beta": "0.5", "bottom_beta": "2", "gamma": "1.5"}])
def test_nexus_spec_and_multivae_compute_the_same_loss_and_gradients(multivae_noise, tmp_path, weights):
    model, mv, side = _models(tmp_path, weights)
    assert mv.model_config.msg_dim == 5 and mv.model_config.aggregator == "mean"
    assert mv.model_config.dropout_rate == 0
    batch = tiny_batch(model.modalities, batch=3)
    ours = model.loss(batch, PatternNoise()).loss
    theirs = side.loss(mv, batch)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-10)
    ours.backward()
    theirs.backward()
    pairs = [(mv.joint_encoder.body, model.module.conditionals["top"].body)]
    for m in model.modalities:
        pairs += [(mv.encoders[m].net, model.module.encoders[f"q[{m}]"]), (mv.decoders[m].net, model.module.decoders[m]),
                  (mv.top_encoders[m].net, model.module.conditionals["top"].messages[m]),
                  (mv.top_decoders[m].net, model.module.conditionals[f"pz[{m}]"])]
    checked = 0
    for theirs_net, ours_net in pairs:
        for a, b in zip(theirs_net.parameters(), ours_net.parameters()):
            assert a.grad is not None and b.grad is not None
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-8, atol=1e-10)
            checked += 1
    assert checked > 20


def test_nexus_multivae_model_has_the_same_networks(tmp_path):
    pytest.importorskip("multivae")
    model, mv, side = _models(tmp_path)
    assert side.network_count(mv) == side.spec_network_count(model)
    trainable = lambda module: sum(p.numel() for p in module.parameters() if p.requires_grad)
    assert trainable(mv) == trainable(model.module)
