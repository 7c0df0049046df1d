"""The docs are true to the code: methods.md is what the specs and `explain` say today, and the
specs shown in the language reference and the tutorial compile and behave as the text claims."""
from __future__ import annotations

import re

import pytest

from mmspec import SpecError, check_spec, compile_spec
from mmspec.explain.catalog import render_methods_doc
from spec_helpers import ROOT


def blocks(path, lang=""):
    return re.findall(rf"```{lang}\n(.*?)```", (ROOT / "docs" / path).read_text(), flags=re.DOTALL)


def test_methods_doc_is_up_to_date():
    assert (ROOT / "docs" / "methods.md").read_text() == render_methods_doc(), \
        "docs/methods.md is stale: run `mmspec list --methods-doc > docs/methods.md`"


def test_language_reference_example_compiles():
    example = blocks("language.md")[0]
    program = check_spec(example)
    assert [round(t.coefficient, 4) for t in program.objective.linear_terms()][:1] == [0.125]


def test_tutorial_variant_compiles_and_is_mixture_based():
    from mmspec.explain.analysis import model_family
    spec = blocks("tutorial.md", "mms")[0]
    program = check_spec(spec)
    assert "mixture-based" in model_family(program).labels
    compile_spec(spec)
    with pytest.raises(SpecError, match="choose an estimator"):
        check_spec(spec.replace(", estimator=jensen", ""))


def test_every_complete_spec_in_the_language_reference_compiles():
    """Each ``` block of language.md that is a whole spec (starts with `model`) compiles, small."""
    specs = [b for b in blocks("language.md") if b.lstrip().startswith("model ")]
    assert len(specs) >= 4
    for spec in specs:
        compile_spec(spec, {"dim": "4"} if "param dim" in spec else None)


def test_language_reference_refine_and_gradient_origin_examples():
    from mmspec.model.graph import GradientOrigin, Refined
    specs = [b for b in blocks("language.md") if b.lstrip().startswith("model ")]
    miai = check_spec(next(b for b in specs if "refine(" in b))
    refined = [n for n in miai.graph.nodes.values() if isinstance(n, Refined)]
    assert len(refined) == 3 and {(n.steps, n.eval_steps, n.grad, n.loss, n.hidden) for n in refined} == \
        {(8, 16, "detached", "mean", 512)}
    assert [r.name for r in miai.evaluate] == ["elbo", "refinement_curve"]
    smvgon = check_spec(next(b for b in specs if "gradient_origin(" in b))
    assert sum(isinstance(n, GradientOrigin) for n in smvgon.graph.nodes.values()) == 1


def test_language_reference_stage_example():
    """The `stage` example compiles to its two stages, and the `explain` excerpt shown under it is
    what explain prints (up to the elided end of the select line)."""
    from mmspec.explain import Explanation, render_text
    specs = [b for b in blocks("language.md") if b.lstrip().startswith("model ")]
    program = check_spec(next(b for b in specs if "stage " in b))
    assert [(s.name, s.objective, s.select and (s.select.mode, s.select.objective)) for s in program.stages] == \
        [("source", "source", None), ("align", "align", ("min", "align"))]
    shown = next(b for b in blocks("language.md") if b.startswith("Stages, in training order")).splitlines()
    printed = render_text(Explanation.of(program)).splitlines()
    start = printed.index(shown[0])
    for doc_line, line in zip(shown, printed[start:]):
        assert line.startswith(doc_line.split("(...)")[0]), (doc_line, line)


def test_language_reference_schedule_example():
    """The annealed example is a 10-epoch warm-up of beta weighting every KL by 1/(M+1)."""
    spec = next(b for b in blocks("language.md") if b.lstrip().startswith("model mvtcae_annealed"))
    program = check_spec(spec)
    beta = program.graph.schedules["beta"]
    assert (beta.kind, beta.unit, beta.start, beta.end, beta.length) == ("warmup", "epochs", 0, 2.5, 10)
    kls = [t for t in program.objective.linear_terms() if t.scheduled]
    assert len(kls) == 4 and all(t.coefficient == 0 and len(t.scheduled) == 1 for t in kls)
    assert {round(t.scheduled[0][0], 6) for t in kls} == {-0.25}


def test_language_reference_iwae_without_prior_example():
    """The importance-weighted reconstruction with its KL weighted apart (and annealed)."""
    from mmspec.model import ir
    spec = next(b for b in blocks("language.md") if b.lstrip().startswith("model iwae_rec_annealed"))
    terms = check_spec(spec).objective.linear_terms()
    iwae = [t for t in terms if isinstance(t.leaf, ir.IWAE)]
    assert len(iwae) == 1 and iwae[0].leaf.prior is None and iwae[0].leaf.k == 10 and iwae[0].coefficient == 1
    kl = [t for t in terms if isinstance(t.leaf, ir.KL)]
    assert len(kl) == 1 and kl[0].coefficient == 0 and kl[0].scheduled[0][0] == -1
