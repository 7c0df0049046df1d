"""Weight schedules (`param beta = warmup(0 -> 1, epochs=10)` and friends): the value at every step
of a run equals the formula written out here (independently of mmspec/lower/schedules.py), the loss
uses it, a run resumed mid-ramp ends bit for bit where an uninterrupted one does, the step is not
recompiled as the value changes, explain prints the schedule, and `--set` on one says what it does."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from mmspec import SpecError, check_spec, compile_spec
from mmspec.compiled import Clock
from spec_helpers import tiny_batch

HEAD = """\
model sched
data mst
latent z: 4
prior p = normal()
modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mlp(hidden=[16])
modality text:  text(8, 71)      ~ categorical,         net mlp(hidden=[16])
posterior q[m] = encoder(m)
posterior joint = poe(p, q[*])
infer S = poe(p, q[S])
"""
SPEC = HEAD + """\
param beta = warmup(0 -> 1, epochs=1.5)
param gamma = cyclical(0.1 -> 1, cycles=3, ratio=0.5, steps=6)
param pi = 1 / (M + 1)
maximize rec(joint -> *) - beta * pi * kl(joint || p) - gamma * sum m: kl(joint || q[m])
train epochs 2, batch 64, optimizer adam(lr=1e-3)
"""


# ---- the formulas, written out from the docs (not from the code) --------------------------------

def warmup(a, b, length, x):
    return a + (b - a) * min(1.0, x / length)


def cosine(a, b, length, x):
    return a + (b - a) * 0.5 * (1 - math.cos(math.pi * min(1.0, x / length)))


def cyclical(a, b, cycles, ratio, length, x):
    """Fu et al. 2019 (frange_cycle_linear): within each of `cycles` periods, rise linearly from a
    to b during the first `ratio` of the period, then stay at b; b after the last cycle."""
    if x >= length:
        return b
    period = length / cycles
    position = (x - period * math.floor(x / period)) / period
    return a + (b - a) * min(1.0, position / ratio)


def stepwise(values, times, x):
    return values[sum(1 for t in times if x >= t)]


# ---- the value at each step ----------------------------------------------------------------------

FORMULAS = {
    "w": ("warmup(0 -> 1, epochs=2.5)", lambda step, spe: warmup(0, 1, 2.5, step / spe)),
    "c": ("cosine(1 -> 0.2, steps=13)", lambda step, spe: cosine(1, 0.2, 13, step)),
    "y": ("cyclical(0 -> 2, cycles=4, ratio=0.25, epochs=3)",
          lambda step, spe: cyclical(0, 2, 4, 0.25, 3, step / spe)),
    "s": ("stepwise(values=[0, 0.5, 1], epochs=[1, 2.5])", lambda step, spe: stepwise([0, 0.5, 1], [1, 2.5], step / spe)),
    "u": ("stepwise(3 -> 1, steps=7)", lambda step, spe: stepwise([3, 1], [7], step)),
}


def test_every_schedule_equals_its_formula_at_every_step_and_the_loss_uses_it():
    spec = HEAD + "".join(f"param {n} = {text}\n" for n, (text, _) in FORMULAS.items()) + (
        "maximize rec(joint -> *) - w * kl(joint || p) - c * kl(joint || q[mnist]) - y * kl(joint || q[text])"
        " + (s - 2 * u) * kl(q[mnist] || p)\n")
    model = compile_spec(spec)
    batch = tiny_batch(model.modalities, batch=3, dtype=torch.float64)
    model.module.double()
    step, spe = torch.zeros((), dtype=torch.long), 5
    model.set_clock(Clock(step, spe))
    for i in range(40):
        step.fill_(i)
        terms = model.loss(batch).terms
        want = {n: f(i, spe) for n, (_, f) in FORMULAS.items()}
        for name, value in want.items():
            assert terms[name].item() == pytest.approx(value, abs=1e-12), (name, i)
        written = (terms["rec(joint->mnist)"] + terms["rec(joint->text)"] - want["w"] * terms["kl(joint||p)"]
                   - want["c"] * terms["kl(joint||q[mnist])"] - want["y"] * terms["kl(joint||q[text])"]
                   + (want["s"] - 2 * want["u"]) * terms["kl(q[mnist]||p)"])
        assert terms["objective"].item() == pytest.approx(written.item(), rel=1e-12, abs=1e-12), i


def test_without_a_clock_a_scheduled_param_has_its_final_value():
    model = compile_spec(SPEC)
    terms = model.loss(tiny_batch(model.modalities, dtype=torch.float32)).terms
    assert (terms["beta"].item(), terms["gamma"].item()) == (1.0, 1.0)


def test_the_step_is_not_recompiled_as_the_value_changes():
    """The value is data: a compiled loss (fullgraph, so no host sync inside) is traced once and
    follows the step counter; the cache of constants costs one retrace on the second call."""
    model = compile_spec(SPEC)
    batch = tiny_batch(model.modalities, batch=4, dtype=torch.float32)
    step = torch.zeros((), dtype=torch.long)
    model.set_clock(Clock(step, 9))
    traces = []

    def backend(graph, example_inputs):
        traces.append(graph)
        return graph.forward

    torch._dynamo.reset()
    loss = torch.compile(lambda b: model.loss(b).terms["beta"], backend=backend, fullgraph=True)
    loss(batch), loss(batch)
    before = len(traces)
    seen = []
    for i in range(2, 12):
        step.fill_(i)
        seen.append(loss(batch).item())
    assert len(traces) == before
    assert seen == pytest.approx([warmup(0, 1, 1.5, i / 9) for i in range(2, 12)], abs=1e-7)


# ---- a run: progress values, resume mid-ramp, --epochs ------------------------------------------

@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def train(spec: Path, out: Path, cache, **kw):
    from runtime.session import DataOptions, RunOptions, run
    data = DataOptions(source="standin", standin_size=300, cache_dir=str(cache))
    logged: list[str] = []
    result = run(RunOptions(spec=spec, out=out, data=data, device="cpu", evaluate=False, progress=False,
                            log_every=1, **kw), log=logged.append)
    return result, logged


def resume(spec: Path, run_dir: Path):
    from runtime.session import RunOptions, run
    return run(RunOptions(spec=spec, resume=run_dir, device="cpu", evaluate=False, progress=False, log_every=1),
               log=lambda s: None)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file
    return load_file(str(Path(run_dir) / "checkpoint" / "model.safetensors"))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, cache):
    tmp = tmp_path_factory.mktemp("full")
    spec = tmp / "sched.mms"
    spec.write_text(SPEC)
    result, _ = train(spec, tmp / "run", cache)
    assert result.status == "finished"
    return spec, tmp / "run", result


def test_a_run_logs_the_formula_value_at_every_step_and_trains_with_it(full_run):
    spec, run_dir, result = full_run
    record = json.loads((run_dir / "run.json").read_text())
    spe = record["data"]["train_items"] // 64
    steps = record["log_steps"]
    assert [s["step"] for s in steps] == list(range(1, 2 * spe + 1))
    for s in steps:
        i = s["step"] - 1                                   # the value used by the step: steps done before it
        beta, gamma = warmup(0, 1, 1.5, i / spe), cyclical(0.1, 1, 3, 0.5, 6, i)
        assert s["beta"] == pytest.approx(beta, abs=1e-7) and s["gamma"] == pytest.approx(gamma, abs=1e-7)
        written = (s["rec(joint->mnist)"] + s["rec(joint->text)"] - beta / 3 * s["kl(joint||p)"]
                   - gamma * (s["kl(joint||q[mnist])"] + s["kl(joint||q[text])"]))
        assert s["objective"] == pytest.approx(written, rel=1e-5, abs=1e-4)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    shown = [(e.step, e.value) for e in events.Scalars("train/beta")]
    assert shown == [(s["step"], pytest.approx(s["beta"], abs=1e-7)) for s in steps]
    assert [h["terms"]["beta"] for h in record["history"]] == pytest.approx(
        [sum(warmup(0, 1, 1.5, i / spe) for i in range(e * spe, (e + 1) * spe)) / spe for e in range(2)], abs=1e-6)


@pytest.mark.parametrize("stop", [{"stop_after_steps": 3},
                                  pytest.param({"stop_after_steps": 6}, marks=pytest.mark.slow),
                                  pytest.param({"stop_after_epoch": 1}, marks=pytest.mark.slow)],
                         ids=["mid-ramp", "mid-epoch-2", "epoch-end"])
def test_resume_mid_ramp_is_bitwise_equal(full_run, tmp_path, cache, stop):
    spec, full_dir, full = full_run
    first, _ = train(spec, tmp_path / "part", cache, **stop)
    assert first.status == "interrupted"
    resumed = resume(spec, tmp_path / "part")
    assert resumed.status == "finished" and resumed.outcome.step == full.outcome.step
    a, b = weights(tmp_path / "part"), weights(full_dir)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.outcome.history == full.outcome.history


def test_a_shorter_epochs_keeps_the_ramp_and_says_it_is_cut(tmp_path, cache):
    spec = tmp_path / "long.mms"
    spec.write_text(SPEC.replace("epochs=1.5", "epochs=10"))
    result, logged = train(spec, tmp_path / "run", cache, epochs=1)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    spe = record["data"]["train_items"] // 64
    assert record["log_steps"][-1]["beta"] == pytest.approx(warmup(0, 1, 10, (spe - 1) / spe), abs=1e-7)
    assert any("beta = warmup(0 -> 1, epochs=10) changes for 10 epochs, but training runs 1 epochs" in line
               for line in logged)


# ---- explain, --set and mistakes ------------------------------------------------------------------

def test_explain_prints_the_schedule_and_the_scheduled_weights():
    from mmspec.explain.render import Explanation, render_json, render_latex, render_text
    ex = Explanation.of(check_spec(SPEC), with_m=False)
    text = render_text(ex)
    assert "beta = warmup(0 -> 1, epochs=1.5)" in text
    assert "linear warm-up 0 → 1 over 1.5 epochs, then 1" in text and "beta(e) = min(1, e/1.5)" in text
    assert "gamma(t) = 0.1 + 0.9·min(1, (t mod 2)/2/0.5) for t < 6, then 1" in text
    assert "- 0.333333·beta · KL(joint ‖ p)" in text and "-     gamma · KL(joint ‖ q[mnist])" in text
    data = json.loads(render_json(ex))
    assert data["schedules"]["beta"]["kind"] == "warmup" and data["schedules"]["gamma"]["cycles"] == 3
    kl = next(t for t in data["objectives"][0]["terms"] if t.get("q") == "joint" and t.get("p") == "p")
    assert kl["coefficient"] == 0 and kl["scheduled"] == [{"constant": pytest.approx(-1 / 3), "factors": ["beta"]}]
    latex = render_latex(ex)
    assert "\\beta(e) &= \\min(1, e/1.5)" in latex and "\\tfrac{1}{3} \\cdot \\beta" not in latex
    assert "- 0.333333 \\cdot \\beta\\, \\mathrm{KL}" in latex
    from mmspec.explain.draw import model_graph
    labels = {d.get("label") for _, d in model_graph(ex.program).nodes(data=True)}
    assert "-0.333333·beta kl(joint||p)" in labels


def test_set_on_a_scheduled_param_replaces_the_schedule_and_says_so():
    fixed = check_spec(SPEC, {"beta": "0.5"})
    assert fixed.graph.params["beta"] == 0.5 and "beta" not in fixed.graph.schedules
    assert any("--set beta=0.5 replaces the schedule `warmup(0 -> 1, epochs=1.5)`: beta is the constant 0.5"
               in n for n in fixed.notes)
    model = compile_spec(SPEC, {"beta": "0.5"})
    assert "beta" not in model.loss(tiny_batch(model.modalities, dtype=torch.float32)).terms
    other = check_spec(SPEC, {"beta": "cosine(0 -> 1, steps=100)", "pi": "stepwise(0 -> 1, epochs=3)"})
    assert other.graph.schedules["beta"].kind == "cosine" and other.graph.schedules["pi"].kind == "stepwise"
    assert any("--set beta=cosine(0 -> 1, steps=100) replaces `warmup(0 -> 1, epochs=1.5)`" in n for n in other.notes)
    with pytest.raises(SpecError, match=r"--set beta=warmup\(0 -> 1\): warmup\(...\) needs its duration"):
        check_spec(SPEC, {"beta": "warmup(0 -> 1)"})


@pytest.mark.parametrize("param, message", [
    ("warmup(0 -> 1)", "needs its duration in epochs or in steps"),
    ("warmup(0 -> 1, epochs=10, steps=5)", "needs its duration in epochs or in steps"),
    ("warmup(0, epochs=10)", "takes its start and end values as `a -> b`"),
    ("warmup(0 -> 1, epochs=0)", "the length of a warmup must be positive"),
    ("cosine(0 -> 1, epoch=3)", "unknown option 'epoch' for cosine"),
    ("cyclical(0 -> 1, cycles=2.5, epochs=10)", "cycles must be a whole number"),
    ("cyclical(0 -> 1, ratio=1.5, epochs=10)", "ratio is the part of each cycle spent rising"),
    ("stepwise(values=[0, 1], epochs=[1, 2])", "2 values need 1 times"),
    ("stepwise(values=[0, 1, 2], epochs=[3, 2])", "positive and increasing"),
])
def test_a_malformed_schedule_is_a_located_error(param, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        check_spec(SPEC.replace("warmup(0 -> 1, epochs=1.5)", param))
    assert "sched" not in str(err.value) or ":10:" in str(err.value)


def test_a_scheduled_param_only_weights_objective_terms():
    with pytest.raises(SpecError, match="must be fixed, but it uses a param that follows a schedule"):
        check_spec(SPEC.replace("latent z: 4", "latent z: 4\nparam k = warmup(1 -> 4, epochs=2)")
                   .replace("rec(joint -> *)", "rec(joint -> *, k=k)"))
    with pytest.raises(SpecError, match="must be fixed"):
        check_spec(SPEC.replace("param pi = 1 / (M + 1)", "param pi = beta / (M + 1)"))


def test_a_scheduled_weight_must_stay_finite_wherever_the_schedule_goes():
    with pytest.raises(SpecError, match=r"division by zero when beta = 0") as err:
        check_spec(SPEC.replace("beta * pi * kl", "pi / beta * kl"))
    assert ":13:" in str(err.value)
    check_spec(SPEC.replace("beta * pi * kl", "pi / (beta + 1) * kl"))


STAGED = HEAD.replace("infer S = poe(p, q[S])\n", "") + """\
posterior r[m] = encoder(m)
param beta = warmup(0 -> 1, steps=3)
maximize source: elbo(joint)
minimize align: beta * sum m: kl(joint || r[m])
train batch 64
stage source { objective source  train q[*], decoders  epochs 1 }
stage align { objective align  train r[*]  freeze q[*], decoders  epochs 1 }
infer (mnist) = r[mnist]
infer (text) = r[text]
infer S = poe(p, q[S])
"""


def test_in_a_staged_spec_the_schedule_counts_from_the_start_of_its_stage(tmp_path, cache):
    spec = tmp_path / "staged.mms"
    spec.write_text(STAGED)
    result, _ = train(spec, tmp_path / "run", cache)
    assert result.status == "finished"
    steps = json.loads((tmp_path / "run" / "run.json").read_text())["log_steps"]
    align = [s for s in steps if "align/beta" in s]
    assert len(align) >= 4 and align[0]["step"] > 1                  # the second stage's steps
    assert [s["align/beta"] for s in align] == pytest.approx([warmup(0, 1, 3, i) for i in range(len(align))], abs=1e-7)
