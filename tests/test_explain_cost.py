"""The cost table of `explain` counts what a step of the new constructs costs, derived from the
objective IR and the graph: latents drawn from their prior to decode (MMVAE+'s cross-generation),
flow transforms (a density: T passes a point; a draw: the autoregressive inverse, D·T), and the
points at which a learned mixture prior's density is evaluated. Every expected number below is
counted by hand from the spec's text."""
from __future__ import annotations

import pytest
import torch

from mmspec import check_spec, compile_spec
from mmspec.explain.analysis import step_cost
from spec_helpers import ROOT, FixedNoise, tiny_batch

SPECS = ROOT / "specs"


def cost(text_or_path, objective=None) -> dict:
    return step_cost(check_spec(text_or_path), objective).as_dict()


def test_mmvaeplus_draws_each_missing_private_latent_from_its_prior():
    """iwae(mix -> *, k=10), mix = moe(q[m0..m4]), q[j] on (z, w[j]), decoder m reads (z, w[m]): each of
    the 5·4 pairs (component j, target m != j) draws w[m] ~ r[m] ten times -> 200; j = m draws none."""
    c = cost(SPECS / "mmvaeplus_polymnist.mms")
    assert c["prior_draws"] == 5 * 4 * 10
    assert c["decoded_samples"] == 5 * 5 * 10 and c["latent_draws"] == 5 * 10
    assert c["flow_passes"] == 0 and c["mog_evaluations"] == 0


def test_prior_draws_follow_the_targets_written():
    """iwae(mix -> (m0, m3)): target m0 from q[m1..m4] (4 pairs), m3 from q[m0,m1,m2,m4] (4) -> 8 · 10."""
    text = (SPECS / "mmvaeplus_polymnist.mms").read_text().replace("iwae(mix -> *", "iwae(mix -> (m0, m3)")
    assert cost(text)["prior_draws"] == 8 * 10
    rec = (SPECS / "mmvaeplus_polymnist.mms").read_text().replace(
        "maximize iwae(mix -> *, k=10, estimator=dreg, form=looser)", "maximize rec(q[m1] -> m0) + rec(q[m0] -> m0, k=3)")
    assert cost(rec)["prior_draws"] == 1          # w[m0] for q[m1] -> m0, once; q[m0] describes w[m0]


def test_dmvae_decodes_from_joints_that_describe_every_latent():
    """c = (joint, qw[*]) and u[m] = (qz[m], qw[*]) describe z and every w[m]: no prior draw. The joints
    are drawn factor by factor, each factor once: joint, qz[m0..m4], qw[m0..m4]."""
    c = cost(SPECS / "dmvae_polymnist.mms")
    assert c["prior_draws"] == 0 and c["decoded_samples"] == 5 + 5 * 5
    assert c["sampled_distributions"] == c["latent_draws"] == 1 + 5 + 5


def test_jnf_counts_flow_transforms_per_density_point_and_per_draw():
    """Stage unimodal: sum_m kl(qj || qf[m], mc, k=1): log qf[m] at one draw of qj, 2 transforms each,
    5 flows -> 10; the joint stage has no flow. A rec from qf[m0] draws once: D = 512 passes of each of
    the 2 transforms (the autoregressive inverse) -> 1024 more."""
    path = SPECS / "jnf_polymnist.mms"
    assert cost(path, "unimodal")["flow_passes"] == 5 * 1 * 2
    assert cost(path, "joint")["flow_passes"] == 0
    text = path.read_text().replace("minimize unimodal: sum m: kl(qj || qf[m], estimator=mc, k=1)",
                                    "minimize unimodal: sum m: kl(qj || qf[m], estimator=mc, k=3) - rec(qf[m0] -> m0)")
    c = cost(text, "unimodal")
    assert c["flow_passes"] == 5 * 3 * 2 + 1 * 2 * 512


def test_cmvae_evaluates_its_mixture_prior_at_every_draw():
    """iwae(mix -> *, k=10, prior=p), p = (pz, pw[*]), pz = mog(k=10) on z: log pz(z) at the 10 draws of
    each of the 5 components -> 50 points; w[m] ~ r[m] for the 20 cross pairs as in MMVAE+."""
    c = cost(SPECS / "cmvae_polymnist.mms")
    assert c["mog_evaluations"] == 5 * 10
    assert c["prior_draws"] == 5 * 4 * 10 and c["flow_passes"] == 0


def test_a_monte_carlo_kl_to_a_mixture_prior_counts_its_draws():
    """kl(mix || pz, mc, k=4) on z alone evaluates pz at 4 draws of each of the 5 components -> 20."""
    text = (SPECS / "cmvae_polymnist.mms").read_text().replace(
        "maximize iwae(mix -> *, k=10, estimator=dreg, form=looser, prior=p)",
        "posterior mz = moe(qz[*])\nmaximize rec(mix -> m0) - kl(mz || pz, estimator=mc, k=4)")
    c = cost(text)
    assert c["mog_evaluations"] == 5 * 4


def test_specs_without_these_constructs_cost_nothing_more():
    for name in ("crmvae_mst", "mopoe_polymnist", "mmvae_dreg_mst"):
        c = cost(SPECS / f"{name}.mms")
        assert c["prior_draws"] == c["flow_passes"] == c["mog_evaluations"] == 0, name


# ---- the lowering as a second oracle: what one loss evaluation actually draws and evaluates ----------

class CountingNoise(FixedNoise):
    """FixedNoise that counts, per data item, the latent draws made for a decoder from a prior (the
    lowering names them `PRIOR on LATENT for TARGET from SOURCE`)."""

    def __init__(self):
        self.prior_draws = 0
        self.sampled: dict[str, int] = {}       # distribution -> draws (an encoder over several latents
                                                # draws each latent's noise under `NAME on LATENT`)

    def _count(self, key, shape):
        if " for " in key and " from " in key:
            self.prior_draws += shape[0]
        else:
            name = key.split(" on ")[0]
            self.sampled[name] = max(self.sampled.get(name, 0), shape[0])

    def normal(self, key, shape, like):
        self._count(key, shape)
        return super().normal(key, shape, like)

    def uniform(self, key, shape, like):
        self._count(key, shape)
        return super().uniform(key, shape, like)


def lowered_counts(text_or_path, monkeypatch, objective=None, batch=2) -> dict:
    """One loss evaluation of the compiled spec on a tiny batch, counting per data item the prior draws,
    the flow transform passes (a density: T per point; an inverse: D·T per point) and the points at
    which a learned mixture prior's density is evaluated."""
    from mmspec.lower import flows, mog
    counts = {"flow": 0, "mog": 0}
    forward, log_prob = flows.FlowTransform.forward, mog.LearnedMixture.log_prob

    def counted_forward(self, x, inverse=False):
        points = x[..., 0].numel() // batch
        transforms = len(self.transform().transforms)
        counts["flow"] += points * transforms * (x.shape[-1] if inverse else 1)
        return forward(self, x, inverse)

    def counted_log_prob(self, z):
        counts["mog"] += z[..., 0].numel() // batch
        return log_prob(self, z)

    monkeypatch.setattr(flows.FlowTransform, "forward", counted_forward)
    monkeypatch.setattr(mog.LearnedMixture, "log_prob", counted_log_prob)
    torch.manual_seed(0)
    model = compile_spec(text_or_path)
    noise = CountingNoise()
    model.loss(tiny_batch(model.modalities, batch=batch, dtype=torch.float32), noise, objective)
    return {"prior_draws": noise.prior_draws, "flow_passes": counts["flow"], "mog_evaluations": counts["mog"],
            "sampled_distributions": len(noise.sampled), "latent_draws": sum(noise.sampled.values())}


def table(text_or_path, objective=None) -> dict:
    c = cost(text_or_path, objective)
    return {k: c[k] for k in ("prior_draws", "flow_passes", "mog_evaluations", "sampled_distributions", "latent_draws")}


@pytest.mark.usefixtures("one_thread")
def test_the_table_counts_what_the_lowering_does(monkeypatch):
    small = ("param dim = 32", "param dim = 4"), ("param wdim = 32", "param wdim = 3")
    cmvae = (SPECS / "cmvae_polymnist.mms").read_text()
    jnf = (SPECS / "jnf_polymnist.mms").read_text().replace("param dim = 512", "param dim = 6").replace(
        "minimize unimodal: sum m: kl(qj || qf[m], estimator=mc, k=1)",
        "minimize unimodal: sum m: kl(qj || qf[m], estimator=mc, k=3) - rec(qf[m0] -> m0, k=2)")
    dmvae = (SPECS / "dmvae_polymnist.mms").read_text()
    for old, new in small:
        cmvae, dmvae = cmvae.replace(old, new), dmvae.replace(old, new)
    assert lowered_counts(cmvae, monkeypatch) == table(cmvae) == {
        "prior_draws": 200, "flow_passes": 0, "mog_evaluations": 50, "sampled_distributions": 5, "latent_draws": 50}
    assert lowered_counts(jnf, monkeypatch, "unimodal") == table(jnf, "unimodal") == {
        "prior_draws": 0, "flow_passes": 5 * 3 * 2 + 2 * 2 * 6, "mog_evaluations": 0,
        "sampled_distributions": 2, "latent_draws": 3 + 2}               # qj (k=3), qf[m0] (k=2)
    assert lowered_counts(dmvae, monkeypatch) == table(dmvae) == {      # the joints c and u[m] factor by factor:
        "prior_draws": 0, "flow_passes": 0, "mog_evaluations": 0,       # the PoE, qz[m0..m4], qw[m0..m4]
        "sampled_distributions": 11, "latent_draws": 11}


IWAE_BESIDE_REC = """model cost_iwae
data mst
latent z: 4
prior p = normal()
modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist
modality text: text(8, 71) ~ categorical, net mst_text
posterior q[m] = encoder(m)
posterior j = poe(q[*])
maximize rec(j -> *) - kl(j || p) + iwae(j -> *, k=5)
infer S = poe(q[S])
"""


def decoded_rows(text_or_path, monkeypatch, batch=2) -> int:
    """Latent samples the decoders read in one loss evaluation, per data item."""
    from mmspec.lower.engine import Evaluation
    rows, original = [0], Evaluation.decode_logliks

    def counted(self, zs):
        rows[0] += sum(z[..., 0].numel() for z in zs.values()) // batch
        return original(self, zs)

    monkeypatch.setattr(Evaluation, "decode_logliks", counted)
    torch.manual_seed(0)
    model = compile_spec(text_or_path)
    model.loss(tiny_batch(model.modalities, batch=batch, dtype=torch.float32), FixedNoise())
    return rows[0]


@pytest.mark.usefixtures("one_thread")
def test_an_iwae_term_decodes_its_own_draws_beside_a_rec_of_the_same_pair(monkeypatch):
    """rec(j -> *) decodes one draw per target, iwae(j -> *, k=5) five more of its own: 2 + 10."""
    assert cost(IWAE_BESIDE_REC)["decoded_samples"] == decoded_rows(IWAE_BESIDE_REC, monkeypatch) == 2 * 1 + 2 * 5


@pytest.mark.usefixtures("one_thread")
def test_a_ladder_counts_its_encoder_bodies_and_a_product_per_level(monkeypatch):
    text = (SPECS / "mhvae_polymnist.mms").read_text().replace("param dim = 32", "param dim = 4").replace(
        "param width = 256", "param width = 5")
    text = "\n".join(l for l in text.splitlines() if not l.startswith(("modality m2", "modality m3", "modality m4")))
    c = cost(text)
    assert c["encoder_passes"] == 2 and c["products"] == 3 * 3 and c["kl_terms"] == 3     # 3 subsets x 3 levels
    assert lowered_counts(text, monkeypatch) == table(text) == {
        "prior_draws": 0, "flow_passes": 0, "mog_evaluations": 0, "sampled_distributions": 3, "latent_draws": 3}
    assert c["decoded_samples"] == decoded_rows(text, monkeypatch) == 3 * 2
