"""Conditional networks (docs/language.md, "Conditional networks"): given data the model reads and never
generates, decoders and encoders that also read it, infer rules on the given data alone, and the located
errors. Oracles: the affine decoder's Gaussian log-likelihood written out by hand, with the decoder's
input [z, c, d] assembled here; the KL in closed form; the explain and graph text of the spec."""
from __future__ import annotations

import math

import pytest
import torch

from mmspec import check_spec, compile_spec
from mmspec.errors import SpecError
from spec_helpers import FixedNoise, spec_batch

COND = """
model cond_sketch
data polymnist
latent z: 2
prior p = normal()
given c: vector(3), net mlp(hidden=[4])
given d: vector(2)
modality x: vector(4) ~ gaussian(scale=0.5), net mlp(hidden=[]), given (c, d)
posterior q = encoder(x, given=c, hidden=[5])
maximize rec(q -> x) - kl(q || p)
infer (x) = q
infer (c, d) = p
"""

pytestmark = pytest.mark.usefixtures("one_thread")


def _gauss_loglik(x, mean, scale):
    return (-0.5 * ((x - mean) / scale) ** 2 - math.log(scale) - 0.5 * math.log(2 * math.pi)).sum(-1)


def _model(text=COND):
    torch.manual_seed(0)
    model = compile_spec(text)
    model.module.double()
    return model


def test_a_conditional_decoder_reads_its_latent_then_the_given_data_in_order():
    """log p(x | z, c, d) = log N(x; W [z; c; d] + b, 0.5² I) for the affine decoder mlp(hidden=[])."""
    model = _model()
    batch = spec_batch(model, batch=3)
    lin = model.module.decoders["x"][0]
    assert lin.weight.shape == (4, 2 + 3 + 2)
    z = torch.randn(5, 3, 2, dtype=torch.float64)                         # [K, B, D]
    inputs = torch.cat([z, batch["c"].expand(5, 3, 3), batch["d"].expand(5, 3, 2)], -1)
    want = _gauss_loglik(batch["x"], inputs @ lin.weight.T + lin.bias, 0.5)
    got = model.log_likelihood("x", z, batch["x"], given=batch)
    torch.testing.assert_close(got, want)
    # sample-major flattened draws ([K * B, D], as evaluation decodes them) read the same data
    flat = model.decode("x", z.flatten(0, 1), given=batch)
    torch.testing.assert_close(flat, (inputs @ lin.weight.T + lin.bias).flatten(0, 1))


def test_the_loss_is_the_conditional_elbo_by_hand():
    """E_q[log p(x | z, c, d)] - KL(q(z | x, c) || N(0, I)) with one draw z = mu + sigma·eps."""
    model = _model()
    batch = spec_batch(model, batch=3)
    noise = FixedNoise()
    mu, logvar = model.module.joint_encoders["q"](batch)                 # reads x and c
    z = mu + torch.exp(0.5 * logvar) * noise.normal("q", (1, 3, 2), mu)[0]
    lin = model.module.decoders["x"][0]
    rec = _gauss_loglik(batch["x"], torch.cat([z, batch["c"], batch["d"]], -1) @ lin.weight.T + lin.bias, 0.5)
    kl = 0.5 * (torch.exp(logvar) + mu ** 2 - 1 - logvar).sum(-1)
    got = model.loss(batch, noise)
    torch.testing.assert_close(got.loss, -(rec - kl).mean())


def test_the_conditional_encoder_reads_the_given_data():
    model = _model()
    batch = spec_batch(model, batch=3)
    before = model.encode(batch, ["x"]).mean
    changed = dict(batch, c=batch["c"] + 1.0)
    assert not torch.allclose(model.encode(changed, ["x"]).mean, before)
    changed = dict(batch, d=batch["d"] + 1.0)                             # the encoder is not given d
    torch.testing.assert_close(model.encode(changed, ["x"]).mean, before)
    prior = model.encode(batch, ["c", "d"])                               # infer (c, d) = p
    torch.testing.assert_close(prior.mean, torch.zeros(3, 2, dtype=torch.float64))


def test_decoding_without_the_given_data_says_what_is_missing():
    model = _model()
    with pytest.raises(ValueError, match="conditioned on the given data c"):
        model.decode("x", torch.zeros(1, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="encoding needs the given data c, d"):
        model.encode({"x": torch.zeros(2, 4, dtype=torch.float64)}, ["x"])
    assert not model.can_generate and "given data" in model.generation_note
    assert set(model.givens) == {"c", "d"} and list(model.modalities) == ["x"]


def test_explain_shows_the_conditioning():
    from mmspec.explain import Explanation, render_latex, render_text
    ex = Explanation.of(check_spec(COND))
    text = render_text(ex)
    assert "\\log p(x_{\\mathrm{x}} \\mid z, x_{\\mathrm{c}}, x_{\\mathrm{d}})" in render_latex(ex)
    assert "q(z | x_x, x_c) = N(μ, diag σ²) from a joint encoder q over x, given c" in text
    assert "E_q[log p(x_x | z, x_c, x_d)]" in text
    assert "decoder also given (c, d)" in text and "Given data" in text
    assert "{c,d}" in text and "Model family: conditional" in text


def _error(text: str) -> str:
    with pytest.raises(SpecError) as err:
        check_spec(text)
    return str(err.value)


@pytest.mark.parametrize("edit, message, line", [
    (("given (c, d)", "given (c, e)"), "unknown given data 'e'", 8),
    (("given (c, d)", "given (c, x)"), "cannot be given 'x' itself", 8),
    (("given (c, d)", "given (c, c)"), "'c' is given twice", 8),
    (("given=c", "given=x"), "'x' is a modality the model generates", 9),
    (("given=c", "given=d"), "'d' has none", 9),
    (("given d: vector(2)", "given d: vector(2)\ngiven c: vector(3)"), "declared twice", 8),
    (("given d: vector(2)", "given d: vector(2)\ngiven x: vector(4)"), "both as a modality and as given data", 8),
    (("infer (c, d) = p", "infer (x, c) = q"), "names modalities (x) and given data together", 12),
    (("infer (c, d) = p", "infer (c, d) = q"), "which is not observed", 12),
    (("given d: vector(2)", "given d: vectr(2)"), "unknown modality kind", 7),
    (("latent z: 2", "param c = 2\nlatent z: 2"), "'c' is already a name: given data", 4),
])
def test_mistakes_with_given_data_are_located(edit, message, line):
    text = _error(COND.replace(*edit))
    assert message in text and f":{line}:" in text, text


def test_a_normal_given_data_points_to_an_encoder_of_it():
    """normal(given=...) is a network of latents' draws; a network of given data is encoder(given=...)."""
    text = _error(COND.replace("prior p = normal()\n", "prior p = normal()\nprior pc = normal(given=c)\n"))
    assert "'c' is given data" in text and ":6:25:" in text and "encoder(given=c)" in text, text


def test_a_decoder_cannot_read_a_modality_through_from():
    text = _error(COND.replace("given (c, d)", "from (z, c)"))
    assert "'c' is given data" in text and ", given c" in text and ":8:" in text


def test_graph_draws_an_edge_from_the_given_data(tmp_path):
    from mmspec.explain.draw import model_graph
    g = model_graph(check_spec(COND))
    assert g.has_edge("x:c", "dec:x") and g.has_edge("x:d", "dec:x") and g.has_edge("x:c", "enc:q")
    assert not g.has_edge("x:d", "enc:q")


def test_a_learned_conditional_prior_and_the_evaluation_elbo_it_gives():
    """`prior p = encoder(given=c)`: p(z | x_c) in the KL, in the infer rule for the given data alone, and in
    evaluation's importance weights log p(x | z, c, d) + log p(z | x_c) - log q(z | x, c), written out here."""
    from runtime.evaluate.likelihood import log_weights
    model = _model(COND.replace("prior p = normal()", "prior p = encoder(given=c, hidden=[3])"))
    batch = spec_batch(model, batch=3)
    noise = FixedNoise()
    mu, logvar = model.module.joint_encoders["q"](batch)
    pmu, plogvar = model.module.joint_encoders["p"](batch)
    torch.testing.assert_close(model.encode(batch, ["c", "d"]).mean, pmu)
    kl = 0.5 * (plogvar - logvar + (torch.exp(logvar) + (mu - pmu) ** 2) / torch.exp(plogvar) - 1).sum(-1)
    assert model.loss(batch, noise).terms["kl(q||p)"].item() == pytest.approx(kl.mean().item(), rel=1e-12)
    posterior = model.encode(batch, ["x"])
    torch.manual_seed(1)
    got = log_weights(model, batch, posterior, 4)
    torch.manual_seed(1)
    z = posterior.rsample(4)
    lin = model.module.decoders["x"][0]
    inputs = torch.cat([z, batch["c"].expand(4, 3, 3), batch["d"].expand(4, 3, 2)], -1)
    normal = torch.distributions.Normal
    want = (_gauss_loglik(batch["x"], inputs @ lin.weight.T + lin.bias, 0.5)
            + normal(pmu, torch.exp(0.5 * plogvar)).log_prob(z).sum(-1)
            - normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1))
    torch.testing.assert_close(got, want.double())


def test_an_encoder_of_given_data_alone_is_a_prior():
    text = _error(COND.replace("posterior q = encoder(x, given=c, hidden=[5])",
                               "posterior q = encoder(given=c, hidden=[5])"))
    assert "declare it with `prior`" in text and ":9:" in text
