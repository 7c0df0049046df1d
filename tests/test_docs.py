"""The docs are true to the code: methods.md is what the specs and `explain` say today, and the
specs shown in the language reference and the tutorial compile and behave as the text claims."""
from __future__ import annotations

import re

import pytest

from mmspec import SpecError, check_spec, compile_spec
from mmspec.catalog import render_methods_doc
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
    from mmspec.analysis import model_family
    spec = blocks("tutorial.md", "mms")[0]
    program = check_spec(spec)
    assert "mixture-based" in model_family(program).labels
    compile_spec(spec)
    with pytest.raises(SpecError, match="choose an estimator"):
        check_spec(spec.replace(", estimator=jensen", ""))
