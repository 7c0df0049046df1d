"""Property tests over the command-line values of `mmspec run` and `mmspec eval` (issue 15): any value
(inf, NaN, huge, negative, garbage text) ends in a clean usage error that names the flag, or in a
call of the session with exactly the value given - never a traceback. The session is replaced by a
recorder, so each example costs milliseconds: validation happens before any data loads."""
from __future__ import annotations

import math

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from runtime import session
from runtime.cli import eval_cmd, run as run_cmd

INT_FLAGS = {"--epochs": 1, "--log-every": 1, "--eval-samples": 1, "--probe-samples": 1, "--iw-samples": 1,
             "--classifier-steps": 1, "--standin-size": 1, "--seed": 0}        # flag: smallest valid value
OTHER_FLAGS = ["--metrics", "--source", "--device", "--amp", "--out", "--fid-weights", "--cache-dir", "--set"]

values = st.one_of(
    st.integers(min_value=-2**70, max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["inf", "-inf", "nan", "NaN", "1e400", "-0", "0x10", "1_000", " 3", "", "٣", "1.0", "2**8", "\x00", "a\x00b"]),
    st.text(min_size=0, max_size=12),
)


class Recorder:
    def __init__(self):
        self.calls = []

    def run(self, opts, log=print, console=None):
        self.calls.append(opts)
        return session.RunResult("finished", opts.out or opts.resume)

    def evaluate_run(self, opts, log=print):
        self.calls.append(opts)
        return None


@pytest.fixture
def recorder(monkeypatch):
    rec = Recorder()
    monkeypatch.setattr(session, "run", rec.run)
    monkeypatch.setattr(session, "evaluate_run", rec.evaluate_run)
    return rec


def _check(result, flag: str) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code == 2:
        assert f"'{flag}'" in result.output or "Error" in result.output, result.output


def _as_int(text: str):
    try:
        return int(text.strip())
    except ValueError:
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(sorted(INT_FLAGS)), value=values)
def test_run_integer_flags_accept_exactly_the_valid_integers(tmp_path, recorder, flag, value):
    spec = tmp_path / "s.mms"
    spec.write_text("model s\n")
    recorder.calls.clear()
    result = CliRunner().invoke(run_cmd, [str(spec), "--out", str(tmp_path / "run"), f"{flag}={value}"])
    _check(result, flag)
    number = _as_int(value)
    valid = number is not None and number >= INT_FLAGS[flag] and (flag != "--seed" or number < 2**31)
    assert (result.exit_code == 0) == valid, (flag, value, result.output)
    assert bool(recorder.calls) == valid


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(OTHER_FLAGS), value=values)
def test_run_other_flags_never_end_in_a_traceback(tmp_path, recorder, flag, value):
    spec = tmp_path / "s.mms"
    spec.write_text("model s\n")
    out = [] if flag == "--out" else ["--out", str(tmp_path / "run")]
    result = CliRunner().invoke(run_cmd, [str(spec), *out, f"{flag}={value}"])
    _check(result, flag)
    if result.exit_code == 0:
        assert recorder.calls


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(["--eval-samples", "--iw-samples", "--probe-samples", "--seed", "--metrics",
                             "--fid-weights", "--standin-size", "--source"]), value=values)
def test_eval_flags_never_end_in_a_traceback(tmp_path, recorder, flag, value):
    result = CliRunner().invoke(eval_cmd, [str(tmp_path), f"{flag}={value}"])
    _check(result, flag)
    if flag in INT_FLAGS and result.exit_code == 0:
        number = _as_int(value)
        assert number is not None and number >= INT_FLAGS[flag] and math.isfinite(number)
