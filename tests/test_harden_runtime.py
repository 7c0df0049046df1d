"""Issue 15, runtime half: every bad command-line value, data file and run folder ends in a clear,
located message (never a traceback), and no result is lost or silently wrong."""
from __future__ import annotations

import json
import shlex
import signal
import os
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from runtime import session
from runtime.cli import eval_cmd, report, run as run_cmd
from runtime.errors import RunError
from runtime.train import checkpoint
from runtime_fakes import FakeDataset, FakeModel, install_fake_session


# ---------------------------------------------------------------- command-line values
@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "fake.mms"
    path.write_text("model fake\n")
    return path


@pytest.fixture
def reached(monkeypatch):
    """Stands in for the session: records that validation let the command through."""
    calls = []

    def fake_run(opts, log=print, console=None):
        calls.append(opts)
        return session.RunResult("finished", opts.out or opts.resume)

    monkeypatch.setattr(session, "run", fake_run)
    monkeypatch.setattr(session, "evaluate_run", lambda opts, log=print: calls.append(opts) or None)
    return calls


def _invoke(command, args):
    result = CliRunner().invoke(command, [str(a) for a in args])
    assert "Traceback" not in result.output and not (result.exception and not isinstance(result.exception, SystemExit)), \
        result.output
    return result


@pytest.mark.parametrize("args, flag", [
    (["--epochs", "0"], "--epochs"), (["--epochs", "-1"], "--epochs"), (["--log-every", "0"], "--log-every"),
    (["--seed", str(2**64)], "--seed"), (["--seed", "-1"], "--seed"), (["--eval-samples", "0"], "--eval-samples"),
    (["--eval-samples", "-3"], "--eval-samples"), (["--iw-samples", "0"], "--iw-samples"),
    (["--probe-samples", "0"], "--probe-samples"), (["--probe-samples", "-1"], "--probe-samples"),
    (["--metrics", "bogus"], "--metrics"), (["--metrics", ""], "--metrics"), (["--metrics", "elbo,,fid"], "--metrics"),
    (["--standin-size", "0"], "--standin-size"), (["--source", "somewhere"], "--source"),
    (["--classifier-steps", "-5"], "--classifier-steps"), (["--epochs", "nan"], "--epochs"),
])
def test_run_refuses_bad_values_naming_the_flag_before_anything_runs(spec, reached, args, flag):
    result = _invoke(run_cmd, [spec, *args])
    assert result.exit_code == 2 and f"'{flag}'" in result.output
    assert not reached


def test_run_refuses_an_out_that_is_a_file_under_a_file_or_unwritable(spec, tmp_path, reached):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for out, words in ((a_file, "is a file, not a folder"), (a_file / "run", "is a file, so"),
                       ("/proc/mmspec-run", "cannot write in")):
        result = _invoke(run_cmd, [spec, "--out", out])
        assert result.exit_code == 2 and "'--out'" in result.output and words in result.output
    assert not reached


@pytest.mark.parametrize("flag", ["--out", "--resume", "--fid-weights", "--cache-dir", "--data-root"])
def test_a_path_with_a_nul_byte_is_a_usage_error_not_a_traceback(spec, reached, flag):
    result = _invoke(run_cmd, [spec, f"{flag}=a\x00b"])
    assert result.exit_code == 2 and f"'{flag}'" in result.output and "NUL byte" in result.output
    assert not reached


def test_run_refuses_missing_and_garbage_fid_weights_before_training(spec, tmp_path, reached):
    garbage = tmp_path / "inception.pth"
    garbage.write_bytes(os.urandom(300))
    for path, words in ((tmp_path / "missing.pth", "does not exist"), (garbage, "is not a PyTorch weights file")):
        result = _invoke(run_cmd, [spec, "--fid-weights", path])
        assert result.exit_code == 2 and "'--fid-weights'" in result.output and words in result.output
    good = tmp_path / "weights.pth"
    torch.save({"w": torch.zeros(2)}, good)
    assert _invoke(run_cmd, [spec, "--fid-weights", good, "--out", tmp_path / "r"]).exit_code == 0
    assert len(reached) == 1


def test_eval_report_bench_and_data_refuse_bad_values(tmp_path, reached):
    from runtime.bench.cli import bench
    from runtime.data.cli import data
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    spec = tmp_path / "s.mms"
    spec.write_text("x")
    cases = [(eval_cmd, [tmp_path, "--iw-samples", "0"], "--iw-samples"),
             (eval_cmd, [tmp_path, "--metrics", "fid,nope"], "--metrics"),
             (report, [tmp_path, "--digits", "-1"], "--digits"),
             (report, [tmp_path, "--out", a_file], "--out"),
             (bench, [spec, "--out", a_file / "bench.json"], "--out"),
             (bench, [spec, "--steps", "0"], "--steps"),
             (data, ["show", "mnist", "--out", a_file / "grid.png"], "--out"),
             (data, ["show", "mnist", "--standin-size", "0"], "--standin-size")]
    for command, args, flag in cases:
        result = _invoke(command, args)
        assert result.exit_code == 2 and f"'{flag}'" in result.output, (args, result.output)
    assert not reached


def test_resume_and_out_together_are_refused(spec, tmp_path, reached):
    result = _invoke(run_cmd, [spec, "--out", tmp_path / "a", "--resume", tmp_path])
    assert result.exit_code == 2 and "give one of them" in result.output and not reached


# ---------------------------------------------------------------- data
def test_a_training_split_with_zero_items_is_refused_before_training(tmp_path, monkeypatch):
    install_fake_session(monkeypatch, dataset=lambda: FakeDataset(0, 16))
    with pytest.raises(RunError, match="training split of dataset 'fake' has no items"):
        session.run(_opts(tmp_path), log=lambda s: None)
    assert not (tmp_path / "run" / "run.json").exists()


def test_an_idx_header_whose_sizes_overflow_int64_is_a_data_error(tmp_path):
    from runtime.data import DataError
    from runtime.data.idx import IMAGES_MAGIC, parse_idx
    dims = (2**31, 2**31, 4)                     # product 2**64: 0 in int64 arithmetic
    raw = IMAGES_MAGIC.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    with pytest.raises(DataError, match="truncated: the header declares 2147483648 x 2147483648 x 4"):
        parse_idx(raw, tmp_path / "x-idx3-ubyte", IMAGES_MAGIC, "images")


def test_svhn_labels_of_the_wrong_shape_are_refused(tmp_path):
    import scipy.io
    from runtime.data import DataError
    from runtime.data.svhn import load_split
    path = tmp_path / "train_32x32.mat"
    scipy.io.savemat(path, {"X": np.zeros((32, 32, 3, 4), np.uint8), "y": np.ones((2, 2))})
    with pytest.raises(DataError, match="one label per image .*found 2 x 2"):
        load_split(path)
    scipy.io.savemat(path, {"X": np.zeros((32, 32, 3, 4), np.uint8), "y": np.ones((1, 4))})
    assert load_split(path)[1].shape == (4,)


# ---------------------------------------------------------------- run folders
def _opts(tmp_path, **kw):
    from runtime.evaluate import EvalConfig
    kw.setdefault("out", None if "resume" in kw else tmp_path / "run")
    return session.RunOptions(spec=tmp_path / "fake.mms", progress=False,
                              eval=EvalConfig(cache_dir=tmp_path / "cache", metrics=["elbo"]), **kw)


def _eval(tmp_path, log=None):
    from runtime.evaluate import EvalConfig
    opts = session.EvalOptions(run_dir=tmp_path / "run",
                               eval=EvalConfig(cache_dir=tmp_path / "cache", metrics=["elbo"], seed=None))
    return session.evaluate_run(opts, log=log or (lambda s: None))


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    """A finished two-epoch run of the fake model (evaluated on the ELBO only), made once."""
    root = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as monkeypatch:
        install_fake_session(monkeypatch)
        session.run(_opts(root), log=lambda s: None)
    return root / "run"


@pytest.fixture
def trained(tmp_path, trained_once, monkeypatch):
    """A copy of that run in this test's folder, with the fakes installed."""
    install_fake_session(monkeypatch)
    shutil.copytree(trained_once, tmp_path / "run")
    return tmp_path / "run"


def test_eval_needs_no_optimizer_state_and_a_damaged_weights_file_is_named(tmp_path, trained):
    (trained / checkpoint.FOLDER / "state.pt").write_bytes(b"")
    assert "likelihood" in _eval(tmp_path)
    with pytest.raises(RunError, match="(?s)state.pt: empty.*mmspec eval .* still evaluates them"):
        session.run(_opts(tmp_path, resume=trained, epochs=3), log=lambda s: None)
    weights = trained / checkpoint.FOLDER / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(RunError, match="(?s)model.safetensors: checksum mismatch.*weights are lost"):
        _eval(tmp_path)


@pytest.mark.parametrize("name, content, words", [
    ("run.json", b"{\"seed\": 0,", "run.json is damaged: it is not valid JSON"),
    ("run.json", b"[]", "run.json is damaged: it holds a JSON list"),
    ("run.json", b"{\"seed\": \"zero\"}", "its field 'seed' is a str"),
    ("results.json", b"\x00\x01", "results.json is damaged: it is not valid JSON"),
    ("results.json", b"{\"coherence\": {\"cross\": [1]}}", "its coherence entry has the wrong structure"),
])
def test_damaged_run_json_and_results_json_are_named(tmp_path, trained, name, content, words):
    from runtime.report.compare import compare
    (trained / name).write_bytes(content)
    with pytest.raises(RunError, match=words):
        if name == "run.json":
            _eval(tmp_path)
        else:
            compare([trained])
    result = _invoke(report if name == "results.json" else eval_cmd, [trained])
    assert result.exit_code == 1 and words.split(":")[0] in result.output


def test_an_edited_or_undecodable_run_spec_is_named_not_blamed_on_the_compiler(tmp_path, trained):
    for content in (b"model fake_poe\nparam scale = 7\n", "model caf\u00e9\n".encode("latin-1")):
        (trained / "spec.mms").write_bytes(content)
        logged = []
        assert "likelihood" in _eval(tmp_path, log=logged.append)
        text = "\n".join(logged)
        assert "the run folder's spec no longer matches its hash" in text and "compiler changed" not in text


class NaNLikelihood(FakeModel):
    def log_likelihood(self, modality, z, x):
        return super().log_likelihood(modality, z, x) * float("nan")


def test_eval_marks_results_that_are_not_finite_and_exits_non_zero(tmp_path, trained, monkeypatch):
    install_fake_session(monkeypatch, model=lambda overrides: NaNLikelihood())
    result = _invoke(eval_cmd, [trained, "--metrics", "elbo", "--cache-dir", tmp_path / "cache"])
    assert result.exit_code == 1 and "not finite" in result.output and "likelihood.elbo = nan" in result.output
    assert "WARNING: " in (trained / "report.md").read_text()
    assert json.loads((trained / "results.json").read_text())["not_finite"]


def test_resume_with_a_different_seed_or_standin_size_is_refused(tmp_path, monkeypatch):
    install_fake_session(monkeypatch)
    session.run(_opts(tmp_path, evaluate=False, stop_after_epoch=1), log=lambda s: None)
    run_dir = tmp_path / "run"
    for change, words in (({"seed": 3}, "--seed: the run used 0, now 3"),
                          ({"data": session.DataOptions(standin_size=500)},
                           "--standin-size: the run used (the default), now 500")):
        with pytest.raises(RunError, match=words.replace("(", r"\(").replace(")", r"\)")):
            session.run(_opts(tmp_path, evaluate=False, resume=run_dir, **change), log=lambda s: None)
    done = session.run(_opts(tmp_path, evaluate=False, resume=run_dir, seed=0), log=lambda s: None)
    assert done.status == "finished"


def test_two_runs_on_one_out_cannot_both_pass(tmp_path, monkeypatch):
    from runtime.rundir import RunLock
    install_fake_session(monkeypatch)
    held = RunLock(tmp_path / "run").acquire()          # another run holds the directory
    with pytest.raises(RunError, match="in use by another mmspec run"):
        session.run(_opts(tmp_path, evaluate=False), log=lambda s: None)
    held.release()
    assert session.run(_opts(tmp_path, evaluate=False), log=lambda s: None).status == "finished"


class FailsAtStep(FakeModel):
    """Crashes (an exception inside the step) at step 3 of the first epoch."""

    def loss(self, batch, noise=None):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 3:
            raise MemoryError("simulated crash")
        return super().loss(batch, noise)


def test_after_a_crash_in_the_first_epoch_resume_starts_the_run_again(tmp_path, monkeypatch):
    install_fake_session(monkeypatch, model=lambda overrides: FailsAtStep())
    with pytest.raises(MemoryError):
        session.run(_opts(tmp_path, evaluate=False), log=lambda s: None)
    run_dir = tmp_path / "run"
    with pytest.raises(RunError, match=f"continue it with --resume {run_dir}"):
        session.run(_opts(tmp_path, evaluate=False), log=lambda s: None)
    install_fake_session(monkeypatch)
    logged = []
    done = session.run(_opts(tmp_path, evaluate=False, resume=run_dir), log=logged.append)
    assert done.status == "finished" and done.outcome.epoch == 2
    assert any("before its first checkpoint" in line for line in logged)


class InterruptsAtStep(FakeModel):
    """A real Ctrl-C (SIGINT) during step 5."""

    def loss(self, batch, noise=None):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return super().loss(batch, noise)


def test_the_continue_command_after_ctrl_c_includes_set_and_is_accepted(tmp_path, spec, monkeypatch):
    install_fake_session(monkeypatch, model=lambda o: InterruptsAtStep(scale=float(o.get("scale", 1))))
    first = _invoke(run_cmd, [spec, "--set", "scale=1.5", "--epochs", "2", "--no-eval", "--out", tmp_path / "run",
                              "--log-every", "7", "--seed", "4"])
    assert first.exit_code == 130
    line = first.output.split("Continue with:")[1].strip().splitlines()[0]
    words = shlex.split(line)
    assert words[:2] == ["mmspec", "run"] and "--out" not in words
    for flag in ("--set", "scale=1.5", "--no-eval", "--resume", "--epochs", "--seed", "--log-every"):
        assert flag in words
    install_fake_session(monkeypatch, model=lambda o: FakeModel(scale=float(o.get("scale", 1))))
    second = _invoke(run_cmd, words[2:])
    assert second.exit_code == 0, second.output
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "finished"


# ---------------------------------------------------------------- reports
def test_report_of_runs_on_different_datasets_keeps_one_table_per_dataset(tmp_path):
    from runtime.report.compare import compare
    dirs = []
    for name, dataset, mods in (("a", "mnist_svhn_text", ["mnist", "svhn"]), ("b", "polymnist", ["m0", "m1"]),
                                ("c", "mnist_svhn_text", ["mnist", "svhn"])):
        d = tmp_path / name
        d.mkdir()
        cross = {mods[0]: {mods[1]: 0.5}, mods[1]: {mods[0]: 0.25}}
        (d / "results.json").write_text(json.dumps({"model": name, "dataset": dataset, "modalities": mods,
                                                    "coherence": {"cross": cross, "joint": 0.1}}))
        dirs.append(d)
    text = compare(dirs, out=tmp_path / "out")
    assert "# Dataset mnist_svhn_text (2 runs)" in text and "# Dataset polymnist (1 run)" in text
    poly = text.split("# Dataset polymnist")[1]
    assert "| b |" in poly and "| a |" not in poly and "mnist ←" not in poly
    assert (tmp_path / "out" / "coherence-polymnist.csv").exists()
    assert (tmp_path / "out" / "coherence-mnist_svhn_text.csv").read_text().count("\n") == 4
