"""`explain --latex` is pasteable: every shipped spec's output compiles with a real TeX engine (when
one is installed), and it says what a paper needs: a relation in every definition, the estimator on
every KL, `on z[m]` shown as the latent a member is evaluated at, evaluation-only posteriors apart."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from mmspec import check_spec
from mmspec.explain.render import Explanation, render_latex
from spec_helpers import ROOT, SPECS

ENGINE = shutil.which("pdflatex")
OVERFULL_PT = 1.0           # TeX's own slack: a box this much too wide does not show


def latex_of(path_or_text) -> str:
    return render_latex(Explanation.of(check_spec(path_or_text), with_m=False))


def document(bodies: dict[str, str]) -> str:
    parts = ["\\documentclass{article}", "\\usepackage{amsmath,amssymb}", "\\allowdisplaybreaks",
             "\\begin{document}"]
    for name, body in bodies.items():
        parts += [f"\\section*{{{name.replace('_', '-')}}}", body]
    return "\n".join(parts + ["\\end{document}", ""])


def compile_tex(folder, name: str, text: str) -> subprocess.CompletedProcess:
    (folder / f"{name}.tex").write_text(text)
    return subprocess.run([ENGINE, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", f"{name}.tex"],
                          cwd=folder, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(ENGINE is None, reason="no TeX engine (pdflatex) installed: apt-get install texlive-latex-base")
def test_every_shipped_spec_latex_compiles_with_pdflatex_and_fits_the_page(tmp_path):
    """All specs in one document (one TeX run); on a failure each spec is compiled alone to name it.
    TeX itself says whether a row is wider than the text: no overfull box beyond OVERFULL_PT, each
    named by the spec whose lines it is on."""
    bodies = {path.stem: latex_of(path) for path in SPECS}
    text = document(bodies)
    done = compile_tex(tmp_path, "all", text)
    if done.returncode != 0:
        failing = [name for name, body in bodies.items()
                   if compile_tex(tmp_path, name, document({name: body})).returncode != 0]
        pytest.fail(f"LaTeX does not compile for {failing}:\n{done.stdout[-3000:]}")
    assert (tmp_path / "all.pdf").stat().st_size > 10_000
    starts = [(i + 1, line[len("\\section*{"):-1]) for i, line in enumerate(text.splitlines())
              if line.startswith("\\section*{")]
    log = (tmp_path / "all.log").read_text(errors="replace")
    wide = [(float(pt), max((s for s in starts if s[0] <= int(line)), default=(0, "?"))[1])
            for pt, line in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\).*? (?:at lines? )(\d+)", log)]
    assert len(wide) == log.count("Overfull \\hbox")              # every box located
    assert [(pt, name) for pt, name in wide if pt > OVERFULL_PT] == []


def test_every_mixture_and_product_definition_has_its_relation_symbol():
    for path in SPECS:
        for line in latex_of(path).splitlines():
            if "&" in line and not line.lstrip().startswith("&"):        # `&:` introduces an update rule
                assert re.search(r"&(=|\\propto|:) ", line), (path.stem, line)


def test_every_kl_names_its_estimator():
    mmvm = latex_of(ROOT / "specs" / "mmvm_mst.mms")
    assert mmvm.count("\\mathrm{KL}") == mmvm.count("\\;[\\text{Jensen bound}]") == 3
    crmvae = latex_of(ROOT / "specs" / "crmvae_mst.mms")
    assert crmvae.count("\\mathrm{KL}") == crmvae.count("\\;[\\text{closed form}]") > 0
    mc = latex_of((ROOT / "specs" / "mmvm_mst.mms").read_text().replace("estimator=jensen", "estimator=mc, k=20"))
    assert mc.count("\\;[\\text{Monte Carlo}, K{=}20]") == 3


def test_a_member_is_shown_on_the_latent_its_mixture_is_evaluated_on():
    """MMVM's h[m] = moe(q[*]) on z[m]: every member density is evaluated at z_m."""
    text = latex_of(ROOT / "specs" / "mmvm_mst.mms")
    lines = text.splitlines()
    first = next(i for i, l in enumerate(lines) if l.startswith("h_{\\mathrm{svhn}}"))
    rest = next(i for i in range(first + 1, len(lines)) if not lines[i].startswith("  &\\quad"))
    row = " ".join(lines[first:rest])                     # the definition and its continuation rows
    assert row.startswith("h_{\\mathrm{svhn}}(z_{\\mathrm{svhn}} \\mid x_{\\mathrm{mnist}}, x_{\\mathrm{svhn}}, x_{\\mathrm{text}}) &= ")
    for m in ("mnist", "svhn", "text"):
        assert f"\\tfrac{{1}}{{3}}\\, q_{{\\mathrm{{{m}}}}}(z_{{\\mathrm{{svhn}}}} \\mid x_{{\\mathrm{{{m}}}}})" in row


def test_evaluation_only_posteriors_are_listed_apart():
    text = latex_of(ROOT / "specs" / "mmvm_mst.mms")
    objective, _, evaluation = text.partition("% evaluation only")
    pair = "\\operatorname{moe}(q_{\\mathrm{mnist}}, q_{\\mathrm{svhn}})"
    assert pair not in objective and pair in evaluation
    assert evaluation.count("\\begin{align*}") >= 1 and "\\mathcal{L}" not in evaluation
    assert "Evaluation only" in evaluation.splitlines()[1]              # said in the text, not only a comment
    crmvae = latex_of(ROOT / "specs" / "crmvae_mst.mms")      # the joint is trained; poe(p, q[S]) of pairs is not
    objective, _, evaluation = crmvae.partition("% evaluation only")
    assert "q_{\\mathrm{joint}}(z" in objective and "q_{\\mathrm{joint}}(z" not in evaluation
    assert "\\operatorname{poe}(p, q_{\\mathrm{mnist}}, q_{\\mathrm{svhn}})(z \\mid" in evaluation


def test_long_mixtures_break_over_rows():
    """MoPoE's 31-member mixture is too wide to align after its left side: the left side on a row of
    its own, the members indented below it, in the order written."""
    text = latex_of(ROOT / "specs" / "mopoe_polymnist.mms")
    block = text[text.index("& q_{\\mathrm{mix}}"):].split("\\end{align*}")[0]
    head, *rows = [r for r in block.splitlines() if r.strip()]
    assert head.endswith("&= \\\\") is False and head.rstrip().endswith("= \\\\")
    assert len(rows) > 8 and all(r.startswith("  &\\qquad ") for r in rows)
    assert all(r.startswith("  &\\qquad + ") for r in rows[1:])
    assert sum(r.count("\\tfrac{1}{31}") for r in rows) == 31          # every member, once
    assert rows[0].startswith("  &\\qquad \\tfrac{1}{31}\\, \\mathrm{qs}_{\\mathrm{m0}}(z")
    assert "\\mathrm{qs}_{\\mathrm{m0,m1,m2,m3,m4}}" in rows[-1]


def test_the_objective_is_its_own_block_so_long_definitions_do_not_push_it_off_the_page():
    text = latex_of(ROOT / "specs" / "mopoe_polymnist.mms")
    blocks = text.split("\\begin{align*}")
    (objective,) = [b for b in blocks if "\\mathcal{L} &= " in b]
    assert objective.lstrip().startswith("\\mathcal{L} &= ") and "\\propto" not in objective


def test_priors_print_as_p_whatever_defines_them():
    """CMVAE: pz = mog(...) on z and p = (pz, pw[*]) are priors, p_{pz} and p, never a q."""
    text = latex_of(ROOT / "specs" / "cmvae_polymnist.mms")
    assert "q_{\\mathrm{pz}}" not in text and "q_{\\mathrm{p}}" not in text
    assert "p_{\\mathrm{pz}}(z) &= \\sum_{c=1}^{10} \\pi_c" in text
    assert "p(z, w_{\\mathrm{m0}}, w_{\\mathrm{m1}}, w_{\\mathrm{m2}}, w_{\\mathrm{m3}}, w_{\\mathrm{m4}}) &= p_{\\mathrm{pz}}(z) \\, p(w_{\\mathrm{m0}})" in text
    assert "\\frac{p(z_{jk}, w_{j,jk}) \\, \\prod_{m" in text              # the bound's prior is p


def test_several_latents_are_written_as_the_decoders_read_them():
    """DMVAE: the latent-free prior in poe(p, qz[*]) is p(z), a joint is the product of its factors
    broken over rows; MMVAE+'s bound decodes each x_m from (z, w_m) of draw jk, written as one
    product over the five modalities."""
    dmvae = latex_of(ROOT / "specs" / "dmvae_polymnist.mms")
    assert "\\cdot)" not in dmvae and "&\\propto p(z) \\, \\mathrm{qz}_{\\mathrm{m0}}(z \\mid x_{\\mathrm{m0}})" in dmvae
    lines = dmvae.splitlines()
    first = next(i for i, l in enumerate(lines) if l.startswith("u_{\\mathrm{m2}}(z, w_{\\mathrm{m0}}"))
    row = " ".join(lines[first:first + 6])
    assert "&= \\mathrm{qz}_{\\mathrm{m2}}(z \\mid x_{\\mathrm{m2}})" in lines[first]
    assert all(f"\\cdot \\mathrm{{qw}}_{{\\mathrm{{{m}}}}}(w_{{\\mathrm{{{m}}}}} \\mid x_{{\\mathrm{{{m}}}}})" in row
               for m in ("m0", "m1", "m2", "m3", "m4"))
    mmvaeplus = latex_of(ROOT / "specs" / "mmvaeplus_polymnist.mms")
    assert ("\\frac{p(z_{jk}, w_{j,jk}) \\, \\prod_{m \\in \\{\\mathrm{m0}, \\ldots, \\mathrm{m4}\\}} "
            "p(x_m \\mid z_{jk}, w_{m,jk})}{q_{\\mathrm{mix}}(z_{jk}, w_{j,jk} \\mid X)}") in mmvaeplus
    two = latex_of((ROOT / "specs" / "mmvaeplus_polymnist.mms").read_text().replace("iwae(mix -> *", "iwae(mix -> (m0, m3)"))
    assert "p(x_{\\mathrm{m0}} \\mid z_{jk}, w_{\\mathrm{m0},jk}) \\, p(x_{\\mathrm{m3}} \\mid z_{jk}, w_{\\mathrm{m3},jk})" in two


def test_an_importance_weight_is_written_at_every_latent_of_the_draw():
    """MMVAE+: component j draws (z, w_j), so the weight is p(z, w_j) ∏ p(x_m | z, w_m) / q_mix(z, w_j | X),
    in LaTeX and in the plain text; one distribution over (z, w_m0) is evaluated at both of its latents."""
    from mmspec.explain.leaves import leaf_text
    path = ROOT / "specs" / "mmvaeplus_polymnist.mms"
    program = check_spec(path)
    text = leaf_text(program, program.objective.leaves()[0])
    assert "w(z, w[j]) = p(z, w[j])·p(x_m0|z, w[m0])·" in text
    assert "/ mix(z, w[j] | x_m0, x_m1, x_m2, x_m3, x_m4)" in text and "(z, w[j])_jk ~ component j of mix" in text
    single = path.read_text().replace("iwae(mix -> *, k=10, estimator=dreg, form=looser)", "iwae(q[m0] -> *, k=10)")
    assert ("\\frac{p(z_{k}, w_{\\mathrm{m0},k}) \\, \\prod_{m \\in \\{\\mathrm{m0}, \\ldots, \\mathrm{m4}\\}} "
            "p(x_m \\mid z_{k}, w_{m,k})}{q_{\\mathrm{m0}}(z_{k}, w_{\\mathrm{m0},k} \\mid X)}") in latex_of(single)
    program = check_spec(single)
    assert "w(z, w[m0]) = p(z, w[m0])·" in leaf_text(program, program.objective.leaves()[0])
    note = next(l for l in latex_of(path).splitlines() if "drawn from its prior" in l)
    assert "$w_{\\mathrm{m3}} \\sim r_{\\mathrm{m3}}$" in note and "$z \\sim p$" in note     # r[m], not p


def test_a_bound_too_wide_for_a_row_names_its_weight_and_defines_it_below():
    """MMVAE's DReG bound with three weighted likelihoods: the objective row holds the bound over ω_jk,
    the next row the fraction; narrower than the fraction, the weight breaks into p/q and the
    likelihoods, each once, in the order written."""
    from mmspec.explain import latex as latex_parts
    text = latex_of(ROOT / "specs" / "mmvae_dreg_mst.mms")
    rows = text.splitlines()
    bound = next(i for i, r in enumerate(rows) if r.startswith("\\mathcal{L} &= "))
    assert rows[bound].endswith("\\sum_{k=1}^{30} \\omega_{jk}\\;[\\text{DReG}] \\\\")
    assert rows[bound + 1].startswith("\\omega_{jk} &= \\frac{p(z_{jk}) \\, p(x_{\\mathrm{mnist}} \\mid z_{jk})^{3.918}")
    program = check_spec(ROOT / "specs" / "mmvae_dreg_mst.mms")
    narrow = latex_parts.weight_rows(program, program.objective.leaves()[0], "\\omega_{jk}", 25)
    assert narrow[0].startswith("\\omega_{jk} &= \\frac{p(z_{jk})}{q_{\\mathrm{mix}}(z_{jk} \\mid X)}")
    assert len(narrow) > 1 and all(r.startswith("  &\\quad \\cdot ") for r in narrow[1:])
    joined = " ".join(narrow)
    order = [joined.index(f"p(x_{{\\mathrm{{{m}}}}} \\mid z_{{jk}})") for m in ("mnist", "svhn", "text")]
    assert order == sorted(order) and joined.count("p(x_") == 3


def test_refinement_rules_start_at_the_margin_in_a_block_after_the_definitions():
    """MIAI's update rule and inner objective: the refined posterior's name on its own row, the rule's
    three parts and the objective's terms indented below it, without `1 \\cdot`."""
    text = latex_of(ROOT / "specs" / "miai_mst.mms")
    block = text[text.index("& r_{\\mathrm{mnist}}(z"):].split("\\end{align*}")[0].splitlines()
    assert block[0].endswith("\\colon \\\\") and text[:text.index(block[0])].rstrip().endswith("\\begin{align*}")
    assert block[1].startswith("  &\\qquad \\mu_{t+1} = ") and block[2].startswith("  &\\qquad \\log\\sigma_{t+1} = ")
    assert block[4] == "& \\mathcal{L}\\left(r_{\\mathrm{mnist}}^{(t)}\\right) = \\\\"
    terms = block[5:next(i for i in range(5, len(block)) if block[i].startswith("& "))]
    assert len(terms) > 1 and all(r.startswith("  &\\qquad ") for r in terms) and "1 \\cdot" not in " ".join(block)
    assert "& r_{\\mathrm{svhn}}(z" in " ".join(block)        # the refinements share one block, after the rest
