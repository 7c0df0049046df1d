"""Every construct through every phase: check, explain and the loss handle each kind of leaf and
node, alone and combined (stages x iwae x refine x mixtures), and a staged spec with an iwae term
(which once crashed in the stage checker, issue 13) reports which parameter groups its objectives
reach exactly as autograd finds them."""
from __future__ import annotations

import json

import torch

from mmspec import check_spec, compile_spec
from mmspec.explain import Explanation, render_json, render_latex, render_text
from mmspec.explain.leaves import leaf_name

HEAD = """\
model combo
data mst
latent z: 4
prior p = normal()
modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mlp(hidden=[8])
modality text:  text(8, 71)      ~ categorical,         net mlp(hidden=[8])
posterior q[m] = encoder(m)
posterior joint = poe(p, q[*])
posterior r[m] = encoder(m)
infer S = poe(p, q[S])
"""

STAGED_IWAE = HEAD + """\
maximize source: iwae(joint -> *, k=3)
minimize align: sum m: kl(joint || r[m])
stage source { objective source  train q[*], r[*], decoders  epochs 1 }
stage align { objective align  train r[*]  epochs 1 }
"""


def batch(n: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    text = torch.nn.functional.one_hot(torch.randint(0, 71, (n, 8), generator=gen), 71).float()
    return {"mnist": torch.rand(n, 1, 28, 28, generator=gen), "text": text}


def groups_with_gradient(model, objective: str) -> set[str]:
    """The parameter groups (module paths as in stage settings) that `objective`'s loss reaches."""
    model.module.zero_grad()
    model.loss(batch(), objective=objective).loss.backward()
    groups = set()
    for name, param in model.module.named_parameters():
        if param.grad is not None and param.grad.abs().sum() > 0:
            groups.add(".".join(name.split(".")[:2]))
    return groups


def test_staged_spec_with_an_iwae_term_checks_and_notes_what_it_cannot_reach():
    program = check_spec(STAGED_IWAE)
    assert [s.name for s in program.stages] == ["source", "align"]
    # r[*] trains in stage source, whose iwae objective reads only q and the decoders
    assert program.notes == ["stage source: r[*] would train, but objective source never reaches them "
                             "(they get no gradient)"]
    text = render_text(Explanation.of(program))
    assert "IWAE[single, K=3]" in text and "Stages, in training order" in text


def test_the_groups_a_stage_objective_reaches_are_those_autograd_reaches():
    torch.manual_seed(0)
    model = compile_spec(STAGED_IWAE)
    stage = model.stages[0]
    reached = groups_with_gradient(model, stage.objective)
    assert reached == {"encoders.q[mnist]", "encoders.q[text]", "decoders.mnist", "decoders.text"}
    idle = {p for p in stage.trains if p not in reached}
    assert idle == {"encoders.r[mnist]", "encoders.r[text]"}      # what the note above names r[*]


# ---- every combination of the constructs the grammar allows ---------------------------------

import itertools  # noqa: E402

import pytest  # noqa: E402


def combination_spec(staged: bool, iwae: bool, refine: bool, mixtures: bool) -> str:
    """One spec using the chosen constructs together, every term in one objective (`main`), plus a
    second objective and two training stages when `staged`."""
    decls = ["posterior mix = moe(q[*])"] if mixtures else []
    terms = ["elbo(joint)"]
    if mixtures:
        terms += ["rec(mix -> *, sampling=stratified)", "kl(mix || p, estimator=jensen)",
                  "kl(mix || p, estimator=mc, k=2)"]
    if iwae:
        terms += ["iwae(joint -> *, k=2)"] + (["iwae(mix -> *, k=2, form=standard)"] if mixtures else [])
    if refine:
        decls += ["posterior rf = refine(joint, maximize=elbo(rf -> *), steps=2)"]
        terms += ["elbo(rf)"]
        if mixtures:
            decls += ["posterior rmix = moe(rf, q[mnist])"]
            terms += ["rec(rmix -> text)"]
    signs = " ".join(("+ " if i else "") + t for i, t in enumerate(terms)).replace("+ kl(", "- kl(")
    lines = [HEAD.rstrip(), *decls, f"maximize main: {signs}"]
    if staged:
        lines += ["minimize align: sum m: kl(joint || r[m])",
                  "stage main { objective main  freeze r[*]  epochs 1 }",
                  "stage align { objective align  train r[*]  epochs 1  select min align }"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("staged, iwae, refine, mixtures", list(itertools.product([False, True], repeat=4)))
def test_every_combination_checks_explains_and_lowers(staged, iwae, refine, mixtures):
    spec = combination_spec(staged, iwae, refine, mixtures)
    program = check_spec(spec)
    explanation = Explanation.of(program, with_m=False)
    text, latex, as_json = render_text(explanation), render_latex(explanation), json.loads(render_json(explanation))
    assert ("IWAE[" in text) == iwae and ("refined by T = 2" in text) == refine
    assert ("stratified" in text) == mixtures and ("Stages, in training order" in text) == staged
    assert "\\begin{align*}" in latex and len(as_json["objectives"]) == (2 if staged else 1)

    torch.manual_seed(0)
    model = compile_spec(spec)
    for objective in as_json["objectives"]:
        out = model.loss(batch(), objective=objective["name"])
        assert torch.isfinite(out.loss)
        # the loss evaluates exactly the terms explain prints, and their weighted sum is the objective
        assert len(out.terms) - 1 == len(objective["terms"])
        terms = program.ir.objectives[objective["name"]].linear_terms()
        total = sum(t.coefficient * out.terms[leaf_name(program.graph, t.leaf)].item() for t in terms)
        assert total == pytest.approx(out.terms["objective"].item(), rel=1e-4, abs=1e-4)
        out.loss.backward()
