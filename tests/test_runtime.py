"""The training runtime on a fake compiled model: exact resume, divergence guard, Ctrl-C, spec changes,
optimizers, and the run/eval/report session end to end (compiler and loaders replaced by fakes)."""
from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from mmspec.compiled import OptimizerSettings, SchedulerSettings
from runtime.errors import RunError
from runtime.train import checkpoint
from runtime.train.loop import LoopConfig, Trainer
from runtime.train.optim import build_optimizer, build_scheduler
from runtime_fakes import FakeDataset, FakeModel, install_fake_session


def _trainer(run_dir, model_cls=FakeModel, epochs=3, **cfg):
    torch.manual_seed(0)
    model = model_cls(epochs=epochs)
    trainer = Trainer(model, FakeDataset(), LoopConfig(epochs=epochs, batch=32, seed=0, log_every=5, **cfg),
                      run_dir=run_dir, meta={"spec_hash": model.source_hash})
    return model, trainer


def _same_weights(a, b) -> bool:
    sa, sb = a.module.state_dict(), b.module.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    model, trainer = _trainer(tmp_path_factory.mktemp("full"))
    return model, trainer.fit()


@pytest.mark.parametrize("stop", [{"stop_after_epoch": 1}, {"stop_after_steps": 13}])
def test_resume_is_bitwise_equal_to_an_uninterrupted_run(tmp_path, uninterrupted, stop):
    full_model, full = uninterrupted
    _, first = _trainer(tmp_path, **stop)
    assert first.fit().status == "interrupted"
    model, second = _trainer(tmp_path)
    second.restore(checkpoint.load(tmp_path))
    out = second.fit()
    assert out.status == "finished" and out.step == full.step
    assert _same_weights(model, full_model)
    assert out.history == full.history
    ckpt = checkpoint.load(tmp_path)
    assert ckpt.meta["epoch"] == 3 and ckpt.spec_text == model.source_text


class InterruptAtStep(FakeModel):
    """Sends itself SIGINT (a real Ctrl-C) during step 10."""

    calls = 0

    def loss(self, batch, noise=None):
        InterruptAtStep.calls += 1
        if InterruptAtStep.calls == 10:
            os.kill(os.getpid(), signal.SIGINT)
        return super().loss(batch, noise)


def test_ctrl_c_writes_a_checkpoint_that_resumes_exactly(tmp_path, uninterrupted):
    full_model, full = uninterrupted
    InterruptAtStep.calls = 0
    _, trainer = _trainer(tmp_path, model_cls=InterruptAtStep)
    before = signal.getsignal(signal.SIGINT)      # SIG_IGN when run in the background, as CI may
    out = trainer.fit()
    assert out.status == "interrupted" and out.step == 10
    assert checkpoint.load(tmp_path).meta["step"] == 10
    assert signal.getsignal(signal.SIGINT) is before
    model, again = _trainer(tmp_path)
    again.restore(checkpoint.load(tmp_path))
    again.fit()
    assert _same_weights(model, full_model)


class ExplodesAtStep(FakeModel):
    """The KL weight becomes 1e39 (inf in float32) from step 20 on: a spec weight that explodes."""

    calls = 0

    def loss(self, batch, noise=None):
        ExplodesAtStep.calls += 1
        self.scale = 1e39 if ExplodesAtStep.calls >= 20 else 1.0
        return super().loss(batch, noise)


def test_nan_guard_names_term_and_step_and_keeps_last_good_checkpoint(tmp_path):
    ExplodesAtStep.calls = 0
    _, trainer = _trainer(tmp_path, model_cls=ExplodesAtStep, epochs=4)
    out = trainer.fit()
    assert out.status == "diverged"
    assert "the total loss became inf at step 20 (epoch 3)" in out.message
    assert "last good checkpoint (end of epoch 2)" in out.message
    ckpt = checkpoint.load(tmp_path)
    assert ckpt.meta["epoch"] == 2
    state = ckpt.state
    assert state["loop"]["step"] == 16


class InfiniteTerm(FakeModel):
    """A named term is infinite from the first step, the total stays finite: the term must be named."""

    def loss(self, batch, noise=None):
        out = super().loss(batch, noise)
        out.terms["kl(joint || p)"] = out.terms["kl(joint || p)"] * float("inf")
        return out


def test_nan_guard_names_the_first_non_finite_term(tmp_path):
    _, trainer = _trainer(tmp_path, model_cls=InfiniteTerm)
    out = trainer.fit()
    assert out.status == "diverged"
    assert "the term 'kl(joint || p)' became inf at step 1 (epoch 1)" in out.message
    assert "No checkpoint had been written yet" in out.message
    assert not (tmp_path / checkpoint.FOLDER).exists()


def test_changed_spec_is_refused_with_what_changed(tmp_path):
    model, trainer = _trainer(tmp_path, stop_after_epoch=1)
    trainer.meta.update(params=dict(model.params), overrides={})
    trainer.fit()
    changed = FakeModel(scale=2.5)
    msg = checkpoint.spec_change_message(checkpoint.load(tmp_path), new_text=changed.source_text,
                                         new_hash=changed.source_hash, new_params=changed.params,
                                         new_overrides={"scale": "2.5"}, spec_name="fake.mms")
    assert "refusing to resume" in msg
    assert "-param scale = 1.0" in msg and "+param scale = 2.5" in msg
    assert "param scale: 1.0 -> 2.5" in msg and "--set scale: (unset) -> 2.5" in msg
    same = checkpoint.spec_change_message(checkpoint.load(tmp_path), new_text=model.source_text,
                                          new_hash=model.source_hash, new_params={}, new_overrides={},
                                          spec_name="fake.mms")
    assert same is None


def test_optimizers_and_schedulers_from_spec_settings():
    params = [torch.nn.Parameter(torch.zeros(2))]
    opt = build_optimizer(OptimizerSettings("adam", {"lr": 5e-4, "betas": (0.9, 0.99)}), params)
    assert opt.param_groups[0]["lr"] == 5e-4 and opt.param_groups[0]["betas"] == (0.9, 0.99)
    assert isinstance(build_optimizer(OptimizerSettings("sgd", {"lr": 0.1, "momentum": 0.9}), params),
                      torch.optim.SGD)
    sched = build_scheduler(SchedulerSettings("cosine", {"t_max": 7}), opt, epochs=100)
    assert sched.T_max == 7
    assert build_scheduler(SchedulerSettings("cosine"), opt, epochs=12).T_max == 12
    assert build_scheduler(SchedulerSettings("exponential", {"gamma": 0.98}), opt, 3).gamma == 0.98
    assert build_scheduler(SchedulerSettings("none"), opt, 3) is None
    with pytest.raises(RunError, match="does not take momentum"):
        build_optimizer(OptimizerSettings("adam", {"momentum": 0.9}), params)
    with pytest.raises(RunError, match="unknown optimizer"):
        build_optimizer(OptimizerSettings("lamb", {}), params)


# ---------------------------------------------------------------- the session, with fakes
@pytest.fixture
def fake_session(monkeypatch):
    """Replace the compiler and the dataset loader by the fakes; the rest of the session is real."""
    return install_fake_session(monkeypatch)


def _run_opts(tmp_path, **kw):
    from runtime.evaluate import EvalConfig
    from runtime.session import RunOptions
    return RunOptions(spec=tmp_path / "fake.mms", out=tmp_path / "run", progress=False,
                      eval=EvalConfig(cache_dir=tmp_path / "cache", classifier_steps=100), **kw)


def test_session_trains_evaluates_and_reports(tmp_path, fake_session):
    from runtime.report.compare import compare
    from runtime.session import run
    result = run(_run_opts(tmp_path), log=lambda s: None)
    run_dir = result.run_dir
    assert result.status == "finished"
    info = json.loads((run_dir / "run.json").read_text())
    for key in ("spec_hash", "params", "data", "versions", "device", "train_wall_s", "eval_wall_s", "history"):
        assert key in info
    assert info["data"]["modalities"]["img"]["source"] == "standin"
    assert (run_dir / "spec.mms").read_text() == fake_session["model"].source_text
    res = json.loads((run_dir / "results.json").read_text())
    assert set(res["coherence"]["cross"]) == {"img", "txt"} and "img+txt" in res["latent_probe"]["accuracy"]
    assert "levenshtein" in res and "likelihood" in res and "cosine" in res
    for name in ("report.md", "loss_curves.png", "grid_img_to_txt.png", "grid_txt_to_img.png"):
        assert (run_dir / name).exists(), name
    report = (run_dir / "report.md").read_text()
    assert "txt ← img" in report and "test accuracy" in report and "Latent linear probe" in report
    assert list((run_dir / "tensorboard").iterdir())
    table = compare([run_dir, run_dir], out=tmp_path / "cmp")
    assert table.count("fake_poe (run)") >= 4
    assert (tmp_path / "cmp" / "coherence.csv").read_text().splitlines()[0].startswith("method,img")


def test_session_refuses_to_resume_a_changed_spec_and_an_existing_run(tmp_path, fake_session):
    from runtime.session import run
    run(_run_opts(tmp_path, evaluate=False, stop_after_epoch=1), log=lambda s: None)
    with pytest.raises(RunError, match="already holds a run"):
        run(_run_opts(tmp_path, evaluate=False), log=lambda s: None)
    with pytest.raises(RunError, match="param scale: 1.0 -> 2.0"):
        run(_run_opts(tmp_path, evaluate=False, resume=tmp_path / "run", overrides={"scale": "2"}),
            log=lambda s: None)
    done = run(_run_opts(tmp_path, evaluate=False, resume=tmp_path / "run"), log=lambda s: None)
    assert done.status == "finished" and done.outcome.epoch == 2


def test_cli_prints_user_errors_without_traceback(tmp_path):
    from click.testing import CliRunner
    from runtime.cli import eval_cmd, report
    result = CliRunner().invoke(eval_cmd, [str(tmp_path)])
    assert result.exit_code == 1 and "not a run directory" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(report, [str(tmp_path)])
    assert result.exit_code == 1 and "no results.json" in result.output


# ---------------------------------------------------------------- reports and metric selection
def _results(label, cross, probe):
    return {"model": label, "modalities": ["mnist", "svhn", "text"], "coherence": {"cross": cross, "joint": 0.15},
            "latent_probe": {"accuracy": probe}, "classifiers": {"mnist": {"test_accuracy": 0.99}}}


def test_report_puts_runs_side_by_side_in_table_1_layout(tmp_path):
    from runtime.report.compare import compare
    cross = {"mnist": {"svhn": 0.6, "text": 0.97, "svhn+text": 0.97}, "svhn": {"mnist": 0.73, "text": 0.87,
             "mnist+text": 0.87}, "text": {"mnist": 0.91, "svhn": 0.71, "mnist+svhn": 0.95}}
    dirs = []
    for name in ("crmvae", "mopoe"):
        d = tmp_path / name
        d.mkdir()
        (d / "results.json").write_text(json.dumps(_results(name, cross, {"mnist": 0.95, "mnist+svhn": 0.97})))
        dirs.append(d)
    text = compare(dirs, out=tmp_path / "out")
    header = text.splitlines()[2]
    assert header.startswith("| method | mnist ← svhn | mnist ← text | mnist ← svhn+text | svhn ← mnist |")
    assert header.endswith("text ← mnist+svhn | joint (random) |")
    assert "| crmvae | 0.60 | 0.97 | 0.97 | 0.73 | 0.87 | 0.87 | 0.91 | 0.71 | 0.95 | 0.15 |" in text
    assert "| mopoe | 0.95 | 0.97 |" in text
    rows = (tmp_path / "out" / "coherence.csv").read_text().splitlines()
    assert rows[0].startswith("method,mnist,mnist,mnist,svhn") and rows[1].startswith("method,svhn,text,svhn+text")
    assert (tmp_path / "out" / "probe.csv").exists() and (tmp_path / "out" / "comparison.md").exists()


def test_metrics_come_from_the_spec_with_aliases_and_unknown_names_noted():
    from runtime.evaluate.suite import EvalConfig, chosen_metrics
    from mmspec.compiled import MetricRequest

    class Spec:
        evaluate = [MetricRequest("coherence"), MetricRequest("nll", {"k": 30}), MetricRequest("levenshtein"),
                    MetricRequest("bogus")]
    chosen, notes = chosen_metrics(Spec(), EvalConfig())
    assert chosen == {"coherence": {}, "elbo": {"k": 30}}
    assert "bogus" in notes[0]
    chosen, _ = chosen_metrics(Spec(), EvalConfig(metrics=["latent_probe"]))
    assert chosen == {"latent_probe": {}}
    assert set(chosen_metrics(type("S", (), {"evaluate": []})(), EvalConfig())[0]) == \
        {"coherence", "latent_probe", "fid", "elbo", "cosine"}


def test_eval_subsets_are_seeded_random_and_cover_the_classes():
    from runtime.evaluate.common import EvalData
    data = FakeDataset(256, 200)
    data._data["test"]["label"] = data._data["test"]["label"].sort().values      # stored sorted by class
    ev = EvalData(data, ["img"], seed=3, chunk=16)
    idx = ev.indices("test", 50)
    assert torch.equal(idx, EvalData(data, ["img"], seed=3).indices("test", 50))
    assert len(set(data.labels("test")[idx].tolist())) == 10
    assert sum(y.shape[0] for _, y in ev.chunks("test", 50)) == 50


def test_loss_curves_get_one_panel_per_term_until_there_are_too_many_then_one_per_kind(tmp_path):
    from runtime.report.plots import MAX_PANELS, _panels, loss_curves
    few = ["loss", "rec(mnist)", "kl(q || p)"]
    assert _panels(few) == [(n, [n]) for n in few]
    many = ["loss"] + [f"rec(m{i})" for i in range(20)] + [f"kl(q{i} || p)" for i in range(5)]
    panels = dict(_panels(many))
    assert len(many) > MAX_PANELS and set(panels) == {"loss", "rec: 20 terms", "kl: 5 terms"}
    assert sorted(sum(panels.values(), [])) == sorted(many)
    history = [{"step": s, "terms": {n: float(s) for n in many}} for s in (1, 2)]
    assert loss_curves(history, [], tmp_path / "curves.png").stat().st_size > 0


def test_the_progress_line_shows_every_term_and_counts_what_does_not_fit():
    from runtime.train.progress import format_terms
    values = {f"t{i}": float(i) for i in range(10)}
    text = format_terms(values, per_line=4)
    assert all(f"t{i} {i}" in text for i in range(10)) and text.count("\n") == 2
    assert format_terms(values, limit=3, per_line=10) == "t0 0 | t1 1 | t2 2 | +7 more (all in TensorBoard)"
