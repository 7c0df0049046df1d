"""Spec mistakes give located messages (file:line:col, the line, a caret, what was expected, a
suggestion) and never a traceback, including for random mutations of the shipped specs."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmspec import SpecError, check_spec
from mmspec.cli import main
from spec_helpers import SPECS

GOOD = """model t
data toy
latent z: 4
prior p = normal()
modality a: vector(5) ~ gaussian(scale=0.5), net mlp(hidden=[8])
modality b: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist
posterior q[m] = encoder(m)
posterior j = poe(p, q[*])
param beta = 1
maximize rec(j -> *) - beta * kl(j || p)
infer S = poe(p, q[S])
"""


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as err:
        check_spec(text, filename="bad.mms")
    return str(err.value)


def located(message: str, line: int, col: int | None = None) -> None:
    m = re.match(r"bad\.mms:(\d+):(\d+): error: ", message)
    assert m, message
    assert int(m.group(1)) == line, message
    if col is not None:
        assert int(m.group(2)) == col, message
    assert "^" in message, message


def test_good_spec_checks():
    check_spec(GOOD)


@pytest.mark.parametrize("old,new,line,words", [
    # syntax
    ("posterior j = poe(p, q[*])", "posterior j = poe(p, q[*]", 9, ["unexpected", "')'"]),
    ("latent z: 4", "latnt z: 4", 3, ["did you mean 'latent'"]),
    ("beta * kl", "beta kl", 10, ["unexpected 'kl'"]),
    # unknown names
    ("encoder(m)", "encoder(mm)", 7, ["unknown modality 'mm'"]),
    ("net mst_mnist", "net mst_mnsit", 6, ["unknown network", "did you mean 'mst_mnist'"]),
    ("gaussian(scale=0.5)", "gausian(scale=0.5)", 5, ["unknown likelihood", "did you mean 'gaussian'"]),
    ("rec(j -> *)", "rec(jj -> *)", 10, ["unknown distribution 'jj'", "did you mean 'j'"]),
    ("- beta * kl", "- betta * kl", 10, ["unknown name 'betta'", "did you mean 'beta'"]),
    ("poe(p, q[*])\nparam", "pooe(p, q[*])\nparam", 8, ["unknown distribution constructor", "did you mean 'poe'"]),
    # duplicates
    ("param beta = 1", "param beta = 1\nparam beta = 2", 10, ["declared twice"]),
    ("modality b:", "modality a:", 6, ["modality 'a' is declared twice"]),
    # shapes
    ("image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist", "image(3, 32, 32) ~ laplace(scale=0.75), net mst_mnist",
     6, ["mst_mnist expects image(1, 28, 28)"]),
    ("vector(5) ~ gaussian(scale=0.5)", "text(2, 5) ~ bernoulli", 5, ["a bernoulli likelihood does not fit"]),
    ("image(1, 28, 28) ~ laplace", "image(1, 28) ~ laplace", 6, ["image takes 3 sizes"]),
    ("vector(5) ~ gaussian(scale=0.5)", "text(2, 5) ~ gaussian(scale=0.5)", 5, ["does not fit a text modality"]),
    # semantics
    ("maximize rec(j -> *) - beta * kl(j || p)", "maximize rec(j -> *) - beta * kl(j || q[a]) * kl(j || p)", 10,
     ["not linear"]),
    ("- beta * kl(j || p)", "- q[a] * kl(j || p)", 10, ["weight must be a number"]),
    ("- beta * kl(j || p)", "- beta * kl(j || p) + sum S in subsets(a, size=2): kl(j || p)", 10, ["gives no subsets"]),
    ("maximize rec(j -> *)", "maximize rec(j -> *, k=0)", 10, ["k must be a positive integer"]),
    ("beta * kl(j || p)", "beta * kl(j || moe(q[*]))", 10, ["choose an estimator"]),
])
def test_located_errors(old, new, line, words):
    assert old in GOOD
    message = error_of(GOOD.replace(old, new, 1))
    located(message, line)
    for w in words:
        assert w in message, message


def test_kl_between_different_latents_and_empty_subset():
    per = GOOD.replace("latent z: 4", "latent z[m]: 4").replace("posterior j = poe(p, q[*])", "posterior j = poe(p, q[*]) on z[a]")
    per = per.replace("maximize rec(j -> *) - beta * kl(j || p)", "maximize rec(q[a] -> a) - kl(q[a] || q[b])")
    message = error_of(per)
    located(message, 10)
    assert "different latents" in message and "z[a]" in message and "z[b]" in message
    empty = GOOD.replace("- beta * kl(j || p)", "- beta * sum m in (): kl(j || p)")
    assert "bad.mms:" in error_of(empty)


def test_every_error_of_a_file_is_reported():
    text = GOOD.replace("gaussian(scale", "gausian(scale").replace("net mst_mnist", "net nope")
    assert error_of(text).count("error:") == 2
    text = GOOD.replace("rec(j -> *)", "rec(jj -> *)").replace("beta * kl", "betta * kl")
    assert error_of(text).count("error:") == 2


def test_set_override_errors():
    with pytest.raises(SpecError) as err:
        check_spec(GOOD, {"bta": "2"})
    assert "did you mean 'beta'" in str(err.value)
    with pytest.raises(SpecError):
        check_spec(GOOD, {"beta": "two"})


def test_cli_check_exit_codes(tmp_path):
    import numpy as np
    # `mmspec check` also checks the data: GOOD's made-up `data toy` becomes files (one line, same numbering)
    np.savez(tmp_path / "d.npz", a=np.zeros((4, 5)), b=np.zeros((4, 1, 28, 28), np.uint8))
    text = GOOD.replace("data toy", 'data toy { modality a from "d.npz"["a"] modality b from "d.npz"["b"] '
                                    'split train 0.5, test 0.5 }')
    good, bad = tmp_path / "good.mms", tmp_path / "bad.mms"
    good.write_text(text)
    bad.write_text(text.replace("encoder(m)", "encoder(mm)"))
    runner = CliRunner()
    assert runner.invoke(main, ["check", str(good)]).exit_code == 0
    result = runner.invoke(main, ["check", str(good), str(bad)])
    assert result.exit_code == 1
    assert "bad.mms:7:" in result.output and "Traceback" not in result.output
    missing = runner.invoke(main, ["check", str(tmp_path / "nope.mms")])
    assert missing.exit_code == 1 and "cannot read" in missing.output


# ---- mutations of the shipped specs ----------------------------------------------------------

TOKENS = ["(", ")", "[", "]", "*", "->", "||", ",", ":", "=", "~", "sum", "mean", "poe", "moe", "kl", "rec",
          "q", "m", "S", "0", "-1", "1e9", "zz", "mnist", "encoder", "subsets", "+", "/", "^", "on", "#"]


@st.composite
def mutated_spec(draw):
    path = draw(st.sampled_from(SPECS))
    text = path.read_text()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, max(0, len(text) - 1)))
        action = draw(st.sampled_from(["delete", "insert", "replace_word"]))
        if action == "delete":
            j = min(len(text), i + draw(st.integers(1, 6)))
            text = text[:i] + text[j:]
        elif action == "insert":
            text = text[:i] + " " + draw(st.sampled_from(TOKENS)) + " " + text[i:]
        else:
            words = list(re.finditer(r"[A-Za-z_]+", text))
            if words:
                w = draw(st.sampled_from(words))
                text = text[:w.start()] + draw(st.sampled_from(TOKENS)) + text[w.end():]
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_spec())
def test_mutated_specs_fail_with_located_errors_only(text):
    try:
        check_spec(text, filename="mut.mms")
    except SpecError as err:
        message = str(err)
        assert re.match(r"mut\.mms:\d+:\d+: error: ", message), message
        assert "Traceback" not in message
