"""specs/cvae_polymnist.mms against MultiVae's CVAE (Sohn et al. 2015): the spec's conditional encoder
(copied into MultiVae as its joint encoder), MultiVae's own ConditionalDecoderMLP — its concatenation
[z, x_m1.view(B, -1)] — around a copy of the spec's decoder network, the same noise (the fixed pattern of
tests/test_multivae_latents.py). The loss, its two terms and every gradient agree.

MultiVae's CVAE averages its loss over the batch, as the spec does; its reconstruction is
-log N(x_m0; decoded, 1) summed over pixels and its KL the closed form to N(0, I)."""
from __future__ import annotations

import pytest
import torch

from mmspec import compile_spec
from spec_helpers import ROOT, spec_batch
from test_multivae_latents import PatternNoise, multivae_noise  # noqa: F401  (the fixture)


PRIOR_NETWORK = ("prior p = normal()", "prior p = encoder(given=m1, hidden=[512, 512])")   # p(z | x_m1), learned


def _models(beta: str = "1", tmp_path=None):
    """The shipped spec; with `tmp_path`, its variant with MultiVae's optional prior network."""
    from runtime.bench import multivae_side
    torch.manual_seed(0)
    spec = ROOT / "specs" / "cvae_polymnist.mms"
    if tmp_path is not None:
        text = spec.read_text()
        assert PRIOR_NETWORK[0] in text
        spec = tmp_path / "cvae_prior.mms"
        spec.write_text(text.replace(*PRIOR_NETWORK))
    model = compile_spec(spec, {"dim": "4", "beta": beta})
    model.module.double()
    mv = multivae_side.build(model).double()
    return model, mv


@pytest.mark.parametrize("beta", ["1", "2.5"])
def test_cvae_spec_and_multivae_compute_the_same_loss(multivae_noise, beta):
    from runtime.bench import multivae_side
    model, mv = _models(beta)
    cfg = mv.model_config
    assert (cfg.main_modality, cfg.conditioning_modalities, cfg.latent_dim, cfg.decoder_dist, cfg.beta) == \
        ("m0", ["m1"], 4, "normal", float(beta))
    assert mv.prior_network is None                       # MultiVae's default prior: N(0, I)
    assert multivae_side.network_count(mv) == multivae_side.spec_network_count(model)
    batch = spec_batch(model, batch=3)
    ours = model.loss(batch, PatternNoise())
    out = mv(multivae_side._multivae()[1](data=batch))
    assert ours.loss.item() == pytest.approx(out.loss.item(), rel=1e-12)
    assert -ours.terms["rec(q->m0)"].item() == pytest.approx(out.metrics["recon_loss"].item(), rel=1e-12)
    assert ours.terms["kl(q||p)"].item() == pytest.approx(out.metrics["kl"].item(), rel=1e-12)


def test_cvae_spec_and_multivae_have_the_same_gradients(multivae_noise):
    from runtime.bench import multivae_side
    model, mv = _models()
    batch = spec_batch(model, batch=3)
    model.loss(batch, PatternNoise()).loss.backward()
    multivae_side.loss(mv, batch).backward()
    pairs = [(mv.encoder.net, model.module.joint_encoders["q"]), (mv.decoder.network.net, model.module.decoders["m0"])]
    checked = 0
    for theirs, ours in pairs:
        for a, b in zip(theirs.parameters(), ours.parameters(), strict=True):
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-9, atol=1e-12)
            checked += 1
    # the decoder's first layer reads z then x_m1: its columns for x_m1 get gradients too
    first = next(p for p in model.module.decoders["m0"].parameters() if p.dim() == 2)
    assert first.shape[1] == 4 + 3 * 28 * 28 and first.grad[:, 4:].abs().sum() > 0 and checked > 4


def test_cvae_with_a_prior_network_equals_multivae_with_its_prior_network(multivae_noise, tmp_path):
    """`prior p = encoder(given=m1)`: MultiVae's prior_network (a joint encoder of the conditioning
    modalities), KL(q(z | x_m0, x_m1) || p(z | x_m1)) in closed form; loss and the prior's gradients agree."""
    from runtime.bench import multivae_side
    model, mv = _models("1", tmp_path)
    assert mv.prior_network is not None
    assert multivae_side.network_count(mv) == multivae_side.spec_network_count(model)
    batch = spec_batch(model, batch=3)
    ours = model.loss(batch, PatternNoise())
    out = mv(multivae_side._multivae()[1](data=batch))
    assert ours.loss.item() == pytest.approx(out.loss.item(), rel=1e-12)
    assert ours.terms["kl(q||p)"].item() == pytest.approx(out.metrics["kl"].item(), rel=1e-12)
    ours.loss.backward()
    out.loss.backward()
    for a, b in zip(mv.prior_network.net.parameters(), model.module.joint_encoders["p"].parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-9, atol=1e-12)
