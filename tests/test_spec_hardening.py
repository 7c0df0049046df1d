"""Issue 15, the compiler half: no input makes check or explain end in anything but success or a
located SpecError — bytes in any encoding, numbers that are infinite, NaN, complex or divide by
zero, expressions thousands of levels deep, option values the runtime cannot use, sizes that
cannot fit in memory, `--set` values — and checking/explaining stays fast as subsets grow.

Numbers are judged against an oracle written here: an expression tree evaluated bottom-up with
Python floats, valid exactly when every sub-expression is a finite real number.
"""
from __future__ import annotations

import codecs
import math
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mmspec import SpecError, check_spec
from mmspec.cli import main
from mmspec.explain.render import Explanation, render_json, render_latex, render_text

SHIPPED = Path(__file__).resolve().parent.parent / "specs" / "crmvae_mst.mms"     # declares `param beta`
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SPEC = """model t
data mst
param dim = {dim}
latent z: dim
prior p = normal()
modality a: vector(4) ~ gaussian, net mlp(hidden=[{hidden}])
modality b: vector(4) ~ gaussian, net mlp
posterior q[m] = encoder(m)
posterior joint = poe(p, q[*])
posterior r = refine(joint, maximize=elbo(r -> *), steps={steps}, hidden={rh})
posterior j2 = encoder(*, hidden=[{jh}])
param beta = {beta}
maximize ({w}) * elbo(joint, beta={eb}) + rec(joint -> *, k={k}) + sum S in subsets(*, size={size}): rec(poe(q[S]) -> S)
infer S = poe(p, q[S])
train epochs {epochs}, batch 8, optimizer adam(lr={lr}, betas={betas}), scheduler step(step_size={ss})
evaluate nll(k={nk}), latent_probe(samples={ls})
"""
DEFAULTS = dict(dim="8", hidden="16", steps="2", rh="8", jh="8", beta="1", w="1", eb="1", k="1", size="1",
                epochs="2", lr="1e-3", betas="[0.9, 0.99]", ss="1", nk="2", ls="10")
SLOT_LINES = dict(dim=3, hidden=6, steps=10, rh=10, jh=11, beta=12, w=13, eb=13, k=13, size=13, epochs=15,
                  lr=15, betas=15, ss=15, nk=16, ls=16)


def spec(**values) -> str:
    return SPEC.format(**{**DEFAULTS, **values})


def check_and_explain(text: str, overrides=None):
    """check + every rendering of explain; returns the Program, or raises SpecError."""
    program = check_spec(text, overrides, filename="t.mms")
    ex = Explanation.of(program, with_m=False)
    render_text(ex), render_latex(ex), render_json(ex)
    return program


def error_at(text: str, overrides=None) -> tuple[int, int, str]:
    """(line, column, message) of the first diagnostic, which must be a located one."""
    with pytest.raises(SpecError) as err:
        check_and_explain(text, overrides)
    message = str(err.value)
    m = re.match(r"t\.mms:(\d+):(\d+): error: (.*)", message)
    assert m, message
    return int(m.group(1)), int(m.group(2)), message


def test_the_probe_spec_checks():
    check_and_explain(spec())


# ---- encodings ------------------------------------------------------------------------------

def write(tmp_path, data: bytes):
    path = tmp_path / "t.mms"
    path.write_bytes(data)
    return path


def test_utf8_bom_is_accepted(tmp_path):
    plain = check_spec(write(tmp_path, spec().encode()))
    with_bom = check_spec(write(tmp_path, codecs.BOM_UTF8 + spec().encode()))
    assert with_bom.spec.source == plain.spec.source
    assert with_bom.objective.linear_terms() == plain.objective.linear_terms()


def test_crlf_line_ends_are_accepted(tmp_path):
    assert check_spec(write(tmp_path, spec().replace("\n", "\r\n").encode())).spec.source == spec()


@pytest.mark.parametrize("data,line,col,words", [
    (("# café\n" + spec()).encode("latin-1"), 1, 6, ["byte 0xe9 is not UTF-8", "iconv -f latin1"]),
    (spec().encode("utf-16"), 1, 1, ["looks like UTF-16"]),
    (spec().encode("utf-16-le"), 1, 2, ["looks like UTF-16"]),           # no byte-order mark
    (spec().encode("utf-32"), 1, 1, ["looks like UTF-32"]),
    (b"model t\n\xff\xfe\x00garbage", 2, 1, ["byte 0xff is not UTF-8"]),
])
def test_spec_files_that_are_not_utf8_get_a_located_error(tmp_path, data, line, col, words):
    path = write(tmp_path, data)
    with pytest.raises(SpecError) as err:
        check_spec(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}:{col}: error: "), message
    assert "spec files must be UTF-8" in message and all(w in message for w in words), message


@FAST
@given(st.binary(max_size=400))
def test_arbitrary_bytes_check_cleanly(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "t.mms"
    path.write_bytes(data)
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1, result.output          # no random bytes make a whole spec
    assert isinstance(result.exception, SystemExit), result.exception
    assert re.search(rf"{re.escape(str(path))}(:\d+:\d+)?: error: ", result.output), result.output


@FAST
@given(st.text(min_size=1, max_size=60), st.sampled_from(["latin-1", "utf-16", "utf-16-be", "utf-32", "cp1252"]))
def test_spec_text_in_other_encodings_checks_cleanly(tmp_path_factory, comment, encoding):
    data = ("# " + comment.replace("\n", " ") + "\n" + spec()).encode(encoding, errors="replace")
    path = tmp_path_factory.mktemp("enc") / "t.mms"
    path.write_bytes(data)
    try:
        check_spec(path)                                   # latin-1 of ASCII text is UTF-8 too
    except SpecError as err:
        assert re.match(rf"{re.escape(str(path))}:\d+:\d+: error: ", str(err)), str(err)


# ---- numbers: the oracle --------------------------------------------------------------------

M = 2           # modalities of the probe spec


def leaves():
    return st.one_of(st.sampled_from(["0", "1", "2", "0.5", "3", "1e400", "1e200", "1e-300", "M", "beta"]),
                     st.floats(min_value=0, max_value=1e300, allow_nan=False).map(lambda f: repr(f)))


def expressions():
    """(text, value or None when some sub-expression is not a finite real number)."""
    def leaf(text):
        value = {"M": float(M), "beta": 1.0}.get(text, None)
        return text, _finite(float(text) if value is None else value)

    def combine(children):
        return st.one_of(
            st.tuples(children, st.sampled_from("+-*/^"), children).map(_binary),
            children.map(lambda c: (f"-({c[0]})", None if c[1] is None else _finite(-c[1]))))
    return st.recursive(leaves().map(leaf), combine, max_leaves=6)


def _finite(x):
    return x if isinstance(x, float) and math.isfinite(x) else None


def _binary(parts):
    (lt, lv), op, (rt, rv) = parts
    text = f"({lt}) {op} ({rt})"
    if lv is None or rv is None:
        return text, None
    try:
        value = {"+": lambda: lv + rv, "-": lambda: lv - rv, "*": lambda: lv * rv, "/": lambda: lv / rv,
                 "^": lambda: lv ** rv}[op]()
    except (ZeroDivisionError, OverflowError):
        return text, None
    return text, _finite(value)


@FAST
@given(expressions())
def test_an_objective_weight_is_a_finite_real_number_or_a_located_error(expr):
    text, value = expr
    if value is None:
        line, _, message = error_at(spec(w=text))
        assert line == SLOT_LINES["w"] and "not a finite real number" in message, message
        return
    if value == 0:
        return                          # a zero weight drops the term: fine either way
    program = check_and_explain(spec(w=text))
    coefficients = [t.coefficient for t in program.objective.linear_terms()]
    assert all(math.isfinite(c) for c in coefficients)
    kl = [t.coefficient for t in program.objective.linear_terms() if type(t.leaf).__name__ == "KL"]
    assert kl == [pytest.approx(-value)]             # maximize w * elbo: the KL enters with -w


@FAST
@given(expressions(), st.sampled_from(["beta", "eb", "lr"]))
def test_params_and_settings_take_only_finite_real_numbers(expr, slot):
    text, value = expr
    assume(not (slot == "beta" and "beta" in text))        # `param beta = beta` names itself
    try:
        check_and_explain(spec(**{slot: text}))
    except SpecError as err:
        message = str(err)
        assert re.match(r"t\.mms:\d+:\d+: error: ", message), message
        if value is not None and (slot != "lr" or value > 0):
            raise AssertionError(f"{text} = {value} was refused: {message}")
    else:
        assert value is not None, f"{text} has a sub-expression that is not a finite real number"


@pytest.mark.parametrize("slot,text,words", [
    ("dim", "1e400", "infinite"), ("epochs", "1e400", "infinite"), ("k", "1e400", "infinite"),
    ("size", "1e400", "infinite"), ("steps", "1e400", "infinite"), ("rh", "1e400", "infinite"),
    ("jh", "1e400", "infinite"), ("beta", "(-1)^0.5", "not a real number"),
    ("w", "(-8)^(1/3)", "not a real number"), ("w", "1/(M-M)", "division by zero"),
    ("eb", "1/(M-M)", "division by zero"), ("w", "10^400", "overflows"), ("w", "1e200 * 1e200", "infinite"),
    ("size", "2.5", "must be a positive integer"), ("jh", "2.5", "must be a positive integer"),
    ("k", "0", "must be a positive integer"), ("epochs", "-1", "must be a positive integer"),
    ("steps", "3e9", "at most 2,147,483,647"),
])
def test_issue_number_probes_are_located_errors(slot, text, words):
    line, _, message = error_at(spec(**{slot: text}))
    assert words in message, message
    assert line == SLOT_LINES[slot] or (slot == "dim" and f":{SLOT_LINES['dim']}:" in message), message


@pytest.mark.parametrize("value,ok,words", [
    ("2.5", True, ""), ("2*M", True, ""), ("(-1)^0.5", False, "not a real number"),
    ("1e400", False, "infinite"), ("1/(M-M)", False, "division by zero"), ("nan", False, "unknown name 'nan'"),
    ("-" * 3000 + "1", False, "nesting limit"), ("1 latent y: 3", False, ""), ("", False, "NAME=VALUE"),
])
def test_set_overrides(value, ok, words):
    path = SHIPPED                  # the CLI also checks the modalities against the dataset
    for command in (["check"], ["explain"]):
        result = CliRunner().invoke(main, command + ["--set", f"beta={value}", str(path)])
        assert isinstance(result.exception, SystemExit) or result.exception is None, result.exception
        assert (result.exit_code == 0) == ok, result.output
        assert words in result.output, result.output
        assert "Traceback" not in result.output


@FAST
@given(st.text(alphabet="0123456789.eE+-*/^() M", min_size=1, max_size=25))
def test_set_values_from_arbitrary_arithmetic_text_never_raise(value):
    result = CliRunner().invoke(main, ["check", "--set", f"beta={value}", str(SHIPPED)])
    assert isinstance(result.exception, SystemExit) or result.exception is None, result.exception
    assert result.exit_code in (0, 1, 2), result.output        # 2: click's usage error (an empty value)
    assert ("rror" in result.output) == (result.exit_code != 0), result.output


# ---- deep and long expressions --------------------------------------------------------------

def deep(shape: str, n: int) -> str:
    obj = {"sum": " + ".join(["elbo(joint)"] * n), "sg": "sg(" * n + "elbo(joint)" + ")" * n,
           "minus": "-" * n + "elbo(joint)"}.get(shape, "elbo(joint)")
    extra = {"poe": "posterior deep = " + "poe(" * n + "p" + ")" * n,
             "pow": "param w = " + "^".join(["1"] * n), "wsum": "param w = " + " + ".join(["1"] * n),
             "parens": "param w = " + "(" * n + "1" + ")" * n}.get(shape, "")
    lines = spec().splitlines()
    if shape in ("sum", "sg", "minus"):
        lines[SLOT_LINES["w"] - 1] = "maximize " + obj        # the objective is the deep expression alone
    return "\n".join(lines[:SLOT_LINES["w"] - 1] + [extra] + lines[SLOT_LINES["w"] - 1:]) + "\n"


@pytest.mark.parametrize("shape,n", [("sum", 5000), ("sg", 500), ("poe", 500), ("minus", 3000),
                                     ("pow", 2000), ("wsum", 5000)])
def test_the_issues_deep_expressions_hit_the_nesting_limit(shape, n):
    line, col, message = error_at(deep(shape, n))
    assert "the nesting limit is 100" in message, message


# levels of nesting of each shape with n terms/calls/signs: operators, calls (elbo's too) and lists count
DEPTH = {"sum": lambda n: n, "sg": lambda n: n + 1, "minus": lambda n: n + 1, "poe": lambda n: n,
         "pow": lambda n: n - 1, "wsum": lambda n: n - 1, "parens": lambda n: 0}     # parentheses: no level


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(DEPTH)), st.integers(1, 400))
def test_expressions_check_or_hit_the_nesting_limit(shape, n):
    if DEPTH[shape](n) <= 100:
        check_and_explain(deep(shape, n))
        return
    line, col, message = error_at(deep(shape, n))
    assert f"nested {DEPTH[shape](n)} levels deep; the nesting limit is 100" in message, message


# ---- option values and sizes ----------------------------------------------------------------

@pytest.mark.parametrize("slot,text,words", [
    ("lr", "0", "lr of adam must be a positive number"), ("lr", "-1e-3", "lr of adam must be a positive number"),
    ("betas", "[0.9]", "betas of adam must be a list of two numbers"),
    ("betas", "[0.9, 0.99, 0.5]", "betas of adam must be a list of two numbers"),
    ("betas", "[0.9, 1]", "betas of adam"), ("betas", "0.9", "betas of adam"),
    ("ss", "0", "step_size of step must be a positive integer"),
    ("nk", "0", "k of nll must be a positive integer"),
    ("ls", "0", "samples of latent_probe must be a positive integer"),
])
def test_option_values_that_break_run_are_refused_in_check(slot, text, words):
    line, col, message = error_at(spec(**{slot: text}))
    assert line == SLOT_LINES[slot] and words in message, message


@pytest.mark.parametrize("slot,text,words", [
    ("dim", "1e9", "encoders.q[b]"), ("hidden", "1e9", "encoders.q[a]"),
    ("jh", "3e8", "joint_encoders.j2"),
])
def test_sizes_that_cannot_fit_in_memory_are_refused_with_the_memory_needed(slot, text, words):
    line, col, message = error_at(spec(**{slot: text}))
    m = re.search(r"the networks would have ([\d,]+) parameters: training them needs ([\d.,]+) (TiB|GiB)", message)
    assert m, message
    parameters = int(m.group(1).replace(",", ""))
    needed = float(m.group(2).replace(",", "")) * {"TiB": 2**40, "GiB": 2**30}[m.group(3)]
    assert needed == pytest.approx(16 * parameters, rel=0.03)        # printed to 0.1 TiB/GiB       # 4 float32 copies of every parameter
    assert words in message


@pytest.mark.parametrize("kind", ["vector(99999999999999999999)", "vector(2147483648)", "image(3, 99999999999, 28)"])
def test_modality_sizes_beyond_the_largest_count_are_located_errors(kind):
    line, col, message = error_at(spec().replace("vector(4) ~ gaussian, net mlp(hidden", f"{kind} ~ gaussian, net mlp(hidden"))
    assert (line, col) == (6, 13) and "sizes must be at most 2,147,483,647" in message, message


def test_a_large_but_feasible_model_still_checks():
    program = check_and_explain(spec(dim="4096", hidden="4096"))
    assert program.graph.latent_dim() == 4096


# ---- scale of the compiler ------------------------------------------------------------------

def mopoe(m: int) -> str:
    mods = "\n".join(f"modality m{i}: vector(4) ~ gaussian, net mlp" for i in range(m))
    return f"""model mopoe{m}
data mst
latent z: 8
prior p = normal()
{mods}
posterior q[m] = encoder(m)
posterior qs[S in subsets(*)] = poe(q[S])
posterior mix = mopoe(q[*])
param beta = 1
maximize rec(mix -> *, sampling=stratified) - beta * mean S in subsets(*): kl(qs[S] || p)
infer S = poe(q[S])
"""


def test_explain_folds_subset_families_and_expand_prints_them_all(tmp_path):
    path = write(tmp_path, mopoe(8).encode())
    folded = CliRunner().invoke(main, ["explain", str(path)]).output
    full = CliRunner().invoke(main, ["explain", "--expand", str(path)]).output
    subsets = 2 ** 8 - 1
    kl_full = [line for line in full.splitlines() if "KL(qs[" in line]
    assert len(kl_full) == subsets
    kl_shown = [line for line in folded.splitlines() if "KL(qs[" in line]
    hidden = [int(n.replace(",", "")) for n in re.findall(r"⋮ ([\d,]+) more lines of this form", folded)]
    assert len(kl_shown) + hidden[1] == subsets                # distributions, objective, infer
    assert kl_shown[0] == kl_full[0] and kl_shown[-1] == kl_full[-1]
    assert len(folded.splitlines()) < 120 < len(full.splitlines())
    assert "--expand" in folded


def test_checking_grows_with_the_subsets_not_faster():
    """M = 12: 4095 subset posteriors. Was 17-38 s (quadratic in the subsets); now well under a few s."""
    start = time.perf_counter()
    program = check_spec(mopoe(12))
    render_text(Explanation.of(program, with_m=False))
    assert len(program.ir.infer) == 2 ** 12 - 1
    assert time.perf_counter() - start < 20


@pytest.mark.slow
def test_sixteen_modalities_check_in_seconds():
    start = time.perf_counter()
    program = check_spec(mopoe(16))
    text = render_text(Explanation.of(program))
    assert len(program.ir.infer) == 2 ** 16 - 1 and len(text.splitlines()) < 150
    assert time.perf_counter() - start < 60


def test_the_compiler_benchmark_times_check_and_explain():
    from runtime.bench.compiler import compiler_times, table
    rows = [compiler_times(m) for m in (2, 7)]
    assert [(r["modalities"], r["subsets"]) for r in rows] == [(2, 3), (7, 127)]
    assert all(r["check_s"] > 0 and r["explain_s"] > 0 and r["check_cpu_s"] >= 0 for r in rows)
    assert rows[1]["explain_lines"] < 3 * 127                   # folded: 127 subsets x 3 families
    lines = table(rows).splitlines()
    assert len(lines) == 4 and lines[3].startswith("| 7 | 127 | ")
