"""specs/mhvae_polymnist.mms against MultiVae's MHVAE: the same networks and initial weights (the spec's
encoder bodies, bottom-up blocks, top experts, top-down MLPs, prior and posterior blocks deep-copied into
MultiVae's encoders, bottom_up_blocks, top_down_blocks, prior_blocks and posterior_blocks), the same
noise, the same loss and the same gradients (skipped where multivae is not installed).

MultiVae sums its loss over the batch, the spec averages: the spec's loss times B is MultiVae's. The
levels are of different sizes (z3: 4, z2: 3, z1: 2), so a level given another's noise or network would
show; the noise is the fixed pattern of tests/test_multivae_latents.py."""
from __future__ import annotations

import pytest
import torch

from mmspec import compile_spec
from spec_helpers import ROOT, tiny_batch
from test_multivae_latents import multivae_noise  # noqa: F401  (the fixture)

TWO = [f"modality m{i}" for i in (2, 3, 4)]


def _models(tmp_path, text_edit=lambda t: t, overrides=None):
    """The spec on its first two modalities, at a tiny size, in float64, and MultiVae's model of it."""
    from runtime.bench import multivae_side
    torch.manual_seed(0)
    text = (ROOT / "specs" / "mhvae_polymnist.mms").read_text()
    text = text.replace("latent z2: dim", "latent z2: 3").replace("latent z1: dim", "latent z1: 2")
    lines = [l for l in text_edit(text).splitlines() if not l.startswith(tuple(TWO))]
    spec = tmp_path / "mhvae_polymnist.mms"
    spec.write_text("\n".join(lines) + "\n")
    model = compile_spec(spec, {"dim": "4", "width": "5", **(overrides or {})})
    model.module.double()
    mv = multivae_side.build(model).double()
    return model, mv, multivae_side


def _compare(model, mv, side, batch):
    from test_multivae_latents import PatternNoise
    spec_loss = model.loss(batch, noise=PatternNoise()).loss
    mv_loss = side.loss(mv, batch)
    torch.testing.assert_close(spec_loss * len(next(iter(batch.values()))), mv_loss, rtol=1e-10, atol=0)
    ours, theirs = list(model.module.parameters()), list(mv.parameters())
    assert len(ours) == len(theirs)                       # the same networks, none left out on either side
    spec_grads = torch.autograd.grad(spec_loss, ours)
    mv_grads = dict(zip(map(id, theirs), torch.autograd.grad(mv_loss, theirs)))
    B = len(next(iter(batch.values())))
    for p, g in zip(ours, spec_grads):                    # each parameter paired with its deep copy, by value
        (twin,) = [q for q in theirs if q.shape == p.shape and torch.equal(q, p)]
        torch.testing.assert_close(g * B, mv_grads[id(twin)], rtol=1e-8, atol=1e-12)
    return spec_loss, mv_loss


@pytest.mark.parametrize("beta", ["1", "0.25"])
def test_mhvae_spec_and_multivae_compute_the_same_loss_and_gradients(multivae_noise, tmp_path, beta):
    model, mv, side = _models(tmp_path, overrides={"beta": beta})
    assert mv.n_latent == 3 and mv.share_posterior_weights and mv.beta == float(beta)
    batch = {k: v.double() for k, v in tiny_batch(model.modalities, 6).items()}
    spec_loss, mv_loss = _compare(model, mv, side, batch)
    assert torch.isfinite(spec_loss)


def test_per_modality_posterior_blocks_and_two_levels_match_multivae(multivae_noise, tmp_path):
    edit = lambda t: (t.replace("ladder(p, S, width=width)", "ladder(p, S, width=width, experts=per_modality)")
                      .replace("ladder(z3, z2, z1, hidden=[width])", "ladder(z3, z1, hidden=[width, 3])")
                      .replace("latent z2: 3\n", ""))
    model, mv, side = _models(tmp_path, edit)
    assert mv.n_latent == 2 and not mv.share_posterior_weights
    batch = {k: v.double() for k, v in tiny_batch(model.modalities, 5).items()}
    _compare(model, mv, side, batch)
