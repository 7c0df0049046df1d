"""`explain` against golden files checked by hand against the papers' equations, and the CLI's
explain/graph/list commands.

The golden files (tests/golden/*.explain.txt) were reviewed term by term:
- crmvae_mst: pi = 1/4; pi/2 = 0.125 on rec(joint -> m) and rec(uni[m] -> m); -beta*pi = -0.25 on
  KL(joint || p) and KL(joint || q[m]) (seed 001, Eq. 8);
- mopoe_mst: +1 on rec(mix -> m) for each m, mix the uniform mixture of the 7 subset PoEs (weights 1/7), stratified
  (one component per item: the official code's estimator of the mean over subsets of rec(q_S -> m)), 3 latents
  decoded per item, linear in M; -1/7 on KL(q_S || p) over the 7 subsets (Sutter et al. 2021);
- mmvm_tpolymnist: rec(q[m] -> m) with weight 1 and -beta on KL(q[m] || h[m]), h the mixture (seed 004);
- jmvae_mst: rec(qj -> m), -KL(qj || p), -alpha = -0.1 on KL(qj || q[m]) (Suzuki et al. 2016);
- smvgon_mst: ql = N(mu(z0'), exp lv(z0')), z0' = 0 + grad_z0 of ql's own ELBO over all modalities at z0 = 0
  (rescaled likelihood weights 3.918, 1, 5.408), second order; outer objective ELBO(ql) and -beta/2^M =
  -0.125 on KL(qs[S] || ql) over the 7 subsets, qs[S] = PoE without prior expert (seed 002, methods.md 15);
- mmvae_dreg_mst: one IWAE term, coefficient 1, looser form sum_j a_j log 1/K sum_k w(z_jk), a_j = 1/3,
  K = 30, w = p(z) prod_t p(x_t|z)^w_t / mix(z|X) with the learned Laplace prior, DReG gradient (Shi et al.
  2019; their m_dreg_looser); 3 components x 30 draws x 3 targets = 270 decoded samples per item.
- alignment_mst (two stages, methods.md 16): objective source = ELBO of joint = PoE(p, q[*]) (rec weight 1,
  -beta = -1 on KL(joint || p)); objective align = +1 on each closed-form KL(joint || r[m]), minimised; stage 1
  trains q[*] and the decoders, stage 2 trains r[*] with q[*] and the decoders frozen and keeps the epoch with
  the lowest validation value of align; Adam 2e-4, ExponentialLR 0.98, batch 256, 100 epochs each (seed 000);
- miai_mst (two stages, methods.md 17): stage 1 the PoE source as above; stage 2 trains the update networks
  r[m] (refining poe(p, q[m]) for T = 8 steps, 16 at evaluation, along the detached gradients of the
  multimodal ELBO rec(r[m]ᵗ -> all) - KL(r[m]ᵗ || p)) on +1 rec(r[m] -> t) for every target t and -1 KL(r[m] || p),
  each averaged over the iterates, and a[m] on -1 KL(sg(r[m]) || a[m]); q[*] and the decoders frozen.
Regenerate with MMSPEC_UPDATE_GOLDEN=1 only after re-reviewing the diff by hand.
"""
from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from mmspec.cli import main
from spec_helpers import ROOT, SPECS

GOLDEN = ["crmvae_mst", "mopoe_mst", "mmvm_tpolymnist", "jmvae_mst", "smvgon_mst", "mmvae_dreg_mst",
          "alignment_mst", "miai_mst"]


@pytest.mark.parametrize("name", GOLDEN)
def test_explain_matches_golden(name):
    result = CliRunner().invoke(main, ["explain", str(ROOT / "specs" / f"{name}.mms")])
    assert result.exit_code == 0, result.output
    golden = ROOT / "tests" / "golden" / f"{name}.explain.txt"
    if os.environ.get("MMSPEC_UPDATE_GOLDEN"):
        golden.write_text(result.output)
    assert result.output == golden.read_text()


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_spec_explains_in_all_formats(path):
    runner = CliRunner()
    text = runner.invoke(main, ["explain", str(path)])
    assert text.exit_code == 0, text.output
    assert ", expanded over the" in text.output and "Model family" in text.output   # "Objective NAME, ..." with stages
    data = json.loads(runner.invoke(main, ["explain", "--json", str(path)]).output)
    assert data["objectives"][0]["terms"] and data["family"]["labels"]
    latex = runner.invoke(main, ["explain", "--latex", str(path)]).output
    assert "\\begin{align*}" in latex and "\\end{align*}" in latex


def test_explain_json_numbers_and_family():
    data = json.loads(CliRunner().invoke(main, ["explain", "--json", str(ROOT / "specs" / "crmvae_mst.mms")]).output)
    terms = {t["text"]: t["coefficient"] for t in data["objectives"][0]["terms"]}
    assert terms["KL(joint ‖ q[svhn])  [closed form]"] == pytest.approx(-0.25)
    assert data["family"]["labels"] == ["coordination-based"]
    mmvae = json.loads(CliRunner().invoke(main, ["explain", "--json", str(ROOT / "specs" / "mmvae_mst.mms")]).output)
    assert "mixture-based" in mmvae["family"]["labels"]
    mopoe = json.loads(CliRunner().invoke(main, ["explain", "--json", str(ROOT / "specs" / "mopoe_mst.mms")]).output)
    assert mopoe["cost_in_M"]["growth"]["products"] == "exponential (~2^M)"
    indep = json.loads(CliRunner().invoke(main, ["explain", "--json", str(ROOT / "specs" / "independent_mst.mms")]).output)
    assert indep["family"]["labels"] == ["independent"]


def test_explain_set_override_shows_new_weight():
    out = CliRunner().invoke(main, ["explain", str(ROOT / "specs" / "crmvae_mst.mms"), "--set", "beta=2"]).output
    assert "0.5 · KL(joint ‖ p)" in out


@pytest.mark.parametrize("suffix", [".dot", ".svg", ".png"])
def test_graph_outputs(tmp_path, suffix):
    out = tmp_path / f"g{suffix}"
    result = CliRunner().invoke(main, ["graph", str(ROOT / "specs" / "mopoe_mst.mms"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 100
    if suffix == ".dot":
        text = out.read_text()
        assert text.startswith('digraph "mopoe_mst"') and '"x:mnist" -> "enc:q[mnist]"' in text


def test_graph_rejects_unknown_format(tmp_path):
    result = CliRunner().invoke(main, ["graph", str(ROOT / "specs" / "mopoe_mst.mms"), "-o", str(tmp_path / "g.jpg")])
    assert result.exit_code == 1 and ".dot, .svg or .png" in result.output


def test_list_names_every_shipped_spec():
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert len(lines) == len(SPECS)
    assert any(l.startswith("crmvae_multivae") and " mst " in l and "MultiVae" in l for l in lines)
