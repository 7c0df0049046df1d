"""Messages a new user meets first: a string where a number belongs, a misspelt `rescale`, a Monte
Carlo KL without its K, `mmspec check FOLDER`, and run errors that say `error:` once."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from mmspec import SpecError, check_spec

TINY = """\
model tiny
data mst
param beta = 1
latent z: 4
prior p = normal()
modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mlp(hidden=[16])
modality text:  text(8, 71)      ~ categorical,         net mlp(hidden=[16])
posterior q[m] = encoder(m)
posterior joint = poe(p, q[*])
maximize rec(joint -> *) - beta * kl(joint || p)
infer S = poe(p, q[S])
"""


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as err:
        check_spec(text)
    return str(err.value)


@pytest.mark.parametrize("old, new, line, hint", [
    ("param beta = 1", 'param beta = "0.5"', 3, "write 0.5 without the quotes"),
    ("beta * kl", '"2" * kl', 10, "write 2 without the quotes"),
    ("latent z: 4", 'latent z: "four"', 4, "strings only name files and labels"),
    ("maximize", 'train epochs "10"\nmaximize', 10, "write 10 without the quotes"),
])
def test_a_string_where_a_number_is_expected_says_so(old, new, line, hint):
    message = error_of(TINY.replace(old, new))
    assert re.search(rf"<spec>:{line}:\d+: error: a string \(\"[^\"]+\"\) where a number is expected", message), message
    assert f"hint: {hint}" in message


def test_a_misspelt_likelihood_weight_suggests_rescale():
    message = error_of(TINY.replace("net mlp(hidden=[16])\nmodality text", "net mlp(hidden=[16]), weight rescal\nmodality text"))
    assert "<spec>:6:" in message and "unknown likelihood weight 'rescal'" in message
    assert "or rescale" in message and "did you mean 'rescale'?" in message
    assert check_spec(TINY.replace("net mlp(hidden=[16])\nmodality text",
                                   "net mlp(hidden=[16]), weight rescale\nmodality text")).graph.modalities["mnist"].weight == 1.0


def test_a_monte_carlo_kl_needs_its_number_of_samples():
    message = error_of(TINY.replace("kl(joint || p)", "kl(joint || p, estimator=mc)"))
    assert "<spec>:10:" in message and "estimator=mc needs its number of samples" in message
    assert "k=K, e.g. kl(q || p, estimator=mc, k=1)" in message
    program = check_spec(TINY.replace("kl(joint || p)", "kl(joint || p, estimator=mc, k=1)"))
    assert program.objective.leaves()[-1].k == 1


def test_check_a_folder_checks_every_spec_and_experiment_under_it(tmp_path):
    from mmspec.cli import main
    (tmp_path / "good.mms").write_text(TINY)
    (tmp_path / "deeper" / "still").mkdir(parents=True)
    (tmp_path / "deeper" / "still" / "bad.mms").write_text(TINY.replace("beta * kl", "betta * kl"))
    (tmp_path / "plan.mmx").write_text('experiment plan\nspecs good\nseeds 1\n')
    (tmp_path / "deeper" / "broken.mmx").write_text('experiment broken\nspecs nowhere\n')
    (tmp_path / "notes.txt").write_text("not a spec")
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    lines = result.output.splitlines()
    assert result.exit_code == 1
    assert f"{tmp_path / 'good.mms'}: ok" in lines and f"{tmp_path / 'plan.mmx'}: ok" in lines
    assert f"{tmp_path / 'deeper' / 'still' / 'bad.mms'}:10:" in result.output and "did you mean 'beta'?" in result.output
    assert f"{tmp_path / 'deeper' / 'broken.mmx'}:2:" in result.output
    assert "2 of 4 spec(s) have errors" in result.output and "notes.txt" not in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["check", str(empty)])
    assert result.exit_code == 2 and "is a folder with no .mms or .mmx file in it" in result.output


def test_a_run_error_says_error_once(tmp_path):
    from runtime.cli import run
    spec = tmp_path / "bad.mms"
    spec.write_text(TINY.replace("beta * kl", "betta * kl"))
    result = CliRunner().invoke(run, [str(spec), "--device", "cpu"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.count("error:") == 1, result.output
    assert result.output.lstrip().startswith(f"{spec}:10:")
    (tmp_path / "empty").mkdir()
    spec.write_text(TINY)
    other = CliRunner().invoke(run, [str(spec), "--device", "cpu", "--resume", str(tmp_path / "empty")])
    assert other.exit_code == 1 and other.output.count("error:") == 1, other.output
    assert other.output.lstrip().startswith("error: ")
