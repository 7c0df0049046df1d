"""Training stages (issue 5): frozen parameters do not change, model selection keeps the right
epoch, a run resumes mid-stage bit for bit, checkpoints know their stage, and `explain` lists the
stages in order; bad stage statements are located errors.

The runtime tests train a tiny two-stage alignment model (methods.md 16) on the MNIST-SVHN-Text
stand-in through the real session: stage `source` trains a PoE VAE for 1 epoch (9 steps),
stage `align` trains separate encoders r[m] by KL(joint || r[m]) for 3 epochs (8 steps each) on the
training split less a held-out validation split. Everything runs on the CPU in deterministic mode,
so runs with the same seed agree bit for bit.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mmspec import SpecError, check_spec, compile_spec
from spec_helpers import Ref

TINY = """\
model tiny_alignment
data mst

latent z: 4
prior p = normal()

modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mlp(hidden=[16])
modality text:  text(8, 71)      ~ categorical,         net mlp(hidden=[16])

posterior q[m] = encoder(m)
posterior joint = poe(p, q[*])
posterior r[m] = encoder(m)

maximize source: elbo(joint)
minimize align: sum m: kl(joint || r[m])

train batch 64, optimizer adam(lr=1e-3)

stage source { objective source  train q[*], decoders  epochs 1 }
stage align { objective align  train r[*]  freeze q[*], decoders  epochs 3  select SELECT align }

infer (mnist) = r[mnist]
infer (text) = r[text]
infer S = poe(p, q[S])
"""
SOURCE_STEPS, ALIGN_STEPS_PER_EPOCH, ALIGN_EPOCHS = 9, 8, 3      # 600 stand-in items: 540 train after hold-out
TOTAL_STEPS = SOURCE_STEPS + ALIGN_EPOCHS * ALIGN_STEPS_PER_EPOCH


def tiny_spec(tmp_path: Path, select: str = "min") -> Path:
    path = tmp_path / f"tiny_{select}.mms"
    path.write_text(TINY.replace("SELECT", select))
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def train(spec: Path, out: Path, cache, **kw):
    from runtime.session import DataOptions, RunOptions, run
    data = DataOptions(source="standin", standin_size=600, cache_dir=str(cache))
    return run(RunOptions(spec=spec, out=out, data=data, device="cpu", evaluate=False, progress=False, **kw),
               log=lambda s: None)


def resume(spec: Path, run_dir: Path):
    from runtime.session import RunOptions, run
    return run(RunOptions(spec=spec, resume=run_dir, device="cpu", evaluate=False, progress=False),
               log=lambda s: None)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file
    return load_file(str(Path(run_dir) / "checkpoint" / "model.safetensors"))


def meta(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "checkpoint" / "meta.json").read_text())


def stage_record(run_dir: Path) -> list[dict]:
    """run.json's per-stage summary without the wall times (which differ between runs)."""
    stages = json.loads((Path(run_dir) / "run.json").read_text())["stages"]
    return [{k: v for k, v in s.items() if k != "wall_s"} for s in stages]


def group(state: dict, *prefixes: str) -> dict:
    return {k: v for k, v in state.items() if k.startswith(prefixes)}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def all_differ(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(not torch.equal(a[k], b[k]) for k in a)


Q_AND_DECODERS = ("encoders.q[", "decoders.")
R = ("encoders.r[",)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, cache):
    """The uninterrupted reference run (select min align)."""
    tmp = tmp_path_factory.mktemp("full")
    spec = tiny_spec(tmp)
    result = train(spec, tmp / "run", cache)
    assert result.status == "finished" and result.outcome.step == TOTAL_STEPS
    return spec, tmp / "run", result


# ---- the language -----------------------------------------------------------------------------

def test_stages_resolve_to_parameter_groups_in_order(tmp_path):
    program = check_spec(tiny_spec(tmp_path).read_text())
    (source, align) = program.stages
    assert (source.name, source.objective, align.name, align.objective) == ("source", "source", "align", "align")
    assert source.trains == ("encoders.q[mnist]", "encoders.q[text]", "decoders.mnist", "decoders.text")
    assert source.frozen == ("encoders.r[mnist]", "encoders.r[text]")     # what a stage does not train stays
    assert align.trains == ("encoders.r[mnist]", "encoders.r[text]")
    assert set(align.frozen) == set(source.trains)
    assert (source.train.epochs, align.train.epochs, align.train.batch) == (1, 3, 64)   # `train` is the default
    assert source.select is None and (align.select.objective, align.select.mode) == ("align", "min")
    assert program.train.epochs == 4                                     # what a run records: the total


def test_a_spec_without_stages_has_one_implicit_stage_that_trains_everything():
    from spec_helpers import SPECS
    program = check_spec(next(s for s in SPECS if s.stem == "poe_mst").read_text())
    (only,) = program.stages
    assert not only.explicit and only.frozen == () and only.select is None
    assert {p.split(".")[0] for p in only.trains} == {"encoders", "decoders"}


@pytest.mark.parametrize("change, message, culprit", [
    (("objective align ", "objective algn "), "unknown objective 'algn'", "algn"),
    (("train r[*]", "train s[*]"), "unknown parameter group 's'", "s[*]"),
    (("train r[*]  freeze q[*]", "train r[*], q[*]  freeze q[*]"), "both trains and freezes q[*]", "q[*]"),
    (("select SELECT align", "select lowest align"), "'select lowest'", "lowest"),
    (("stage align", "stage source"), "stage 'source' is declared twice", "source"),
    (("objective align ", ""), "stage 'align' names no objective", "align"),
    (("minimize align:", "minimize"), "every objective needs a name", "minimize"),
    (("train r[*]  freeze q[*], decoders", "freeze *"), "stage 'align' trains nothing", "align"),
    (("train r[*]  freeze", "train r[*] train r[mnist] freeze"), "a second 'train' clause", "train"),
    (("train batch", "minimize other: kl(joint || p)\ntrain batch"), "objective 'other' is used by no stage",
     "minimize other"),
])
def test_bad_stages_are_located_errors(change, message, culprit):
    text = TINY.replace(*change).replace("SELECT", "min")
    with pytest.raises(SpecError) as err:
        check_spec(text)
    d = err.value.diagnostics[0]
    assert message in d.message
    line = text.splitlines()[d.span.line - 1]
    assert line[d.span.column - 1:].startswith(culprit), (line, d.span)


@pytest.mark.parametrize("word, typo", [("epochs", "epoch"), ("select", "selct"), ("freeze", "freez")])
def test_a_misspelt_stage_clause_is_located_with_a_suggestion(word, typo):
    lines = TINY.replace("SELECT", "min").splitlines()
    lines[19] = lines[19].replace(f"{word} ", f"{typo} ")                    # line 20: stage align
    text = "\n".join(lines)
    with pytest.raises(SpecError) as err:
        check_spec(text)
    d = err.value.diagnostics[0]
    assert d.span.line == 20 and text.splitlines()[19][d.span.column - 1:].startswith(f"{typo} ")
    assert d.hint == f"did you mean '{word}'?"


def test_several_objectives_without_stages_is_an_error():
    text = TINY.replace("SELECT", "min").split("stage source")[0] + "infer S = poe(p, q[S])\n"
    with pytest.raises(SpecError, match="several objectives need training stages"):
        check_spec(text)


# ---- the runtime ------------------------------------------------------------------------------

def test_frozen_parameters_do_not_change(full_run, tmp_path, cache):
    """Stage source leaves r[*] at its initial weights; stage align leaves q[*] and the decoders
    exactly as stage source ended them, and trains every weight of r[*]."""
    spec, full_dir, _ = full_run
    torch.manual_seed(0)                                    # the session compiles with the run's seed
    initial = compile_spec(spec).module.state_dict()
    boundary_dir = tmp_path / "boundary"
    assert train(spec, boundary_dir, cache, stop_after_epoch=1).status == "interrupted"
    assert meta(boundary_dir)["stage"] == "align" and meta(boundary_dir)["step"] == SOURCE_STEPS
    boundary, final = weights(boundary_dir), weights(full_dir)
    assert same(group(boundary, *R), group(initial, *R))
    assert all_differ(group(boundary, *Q_AND_DECODERS), group(initial, *Q_AND_DECODERS))
    assert same(group(final, *Q_AND_DECODERS), group(boundary, *Q_AND_DECODERS))
    assert all_differ(group(final, *R), group(boundary, *R))


BN_SPEC = """\
model tiny_alignment_cub
data cub
latent z: 4
prior p = normal()
modality image:   image(3, 64, 64) ~ laplace(scale=0.75), net mlp(hidden=[8])
modality caption: text(32, 45)     ~ categorical,         net cub_sent
posterior q[m] = encoder(m)
posterior joint = poe(p, q[*])
posterior r[m] = encoder(m)
maximize source: elbo(joint)
minimize align: sum m: kl(joint || r[m])
train batch 50, optimizer adam(lr=1e-3)
stage source { objective source  train q[*], decoders  epochs 1 }
stage align { objective align  train r[*]  freeze q[*], decoders  epochs 1 }
infer S = poe(p, q[S])
"""


def test_frozen_batchnorm_statistics_do_not_change(tmp_path, cache):
    """A frozen module runs in eval mode: the caption network's (cub_sent) BatchNorm running
    statistics stay as stage source left them, while r[caption]'s own statistics move."""
    from runtime.session import DataOptions, RunOptions, run
    spec = tmp_path / "bn.mms"
    spec.write_text(BN_SPEC)
    data = DataOptions(source="standin", standin_size=100, cache_dir=str(cache))

    def go(out, **kw):
        return run(RunOptions(spec=spec, out=out, data=data, device="cpu", evaluate=False, progress=False, **kw),
                   log=lambda s: None)
    assert go(tmp_path / "boundary", stop_after_epoch=1).status == "interrupted"
    assert go(tmp_path / "full").status == "finished"
    boundary, final = weights(tmp_path / "boundary"), weights(tmp_path / "full")
    stats = [k for k in final if k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    frozen = [k for k in stats if not k.startswith(R)]
    assert frozen and any(k.startswith("decoders.caption") for k in frozen)
    assert same({k: final[k] for k in frozen}, {k: boundary[k] for k in frozen})
    assert all_differ({k: final[k] for k in stats if k.startswith(R)}, {k: boundary[k] for k in stats if k.startswith(R)})


@pytest.mark.parametrize("stop, stage, stage_epoch", [
    ({"stop_after_steps": 5}, "source", 0),                                       # mid stage 1
    ({"stop_after_epoch": 1}, "align", 0),                                        # at the boundary
    ({"stop_after_steps": SOURCE_STEPS + 3}, "align", 0),                         # mid stage 2, mid epoch
    ({"stop_after_epoch": 2}, "align", 1),                                        # after a selecting epoch
], ids=["mid-source", "boundary", "mid-align", "align-epoch-end"])
def test_resume_mid_stage_is_bitwise_equal(full_run, tmp_path, cache, stop, stage, stage_epoch):
    """Interrupted anywhere, a resumed run ends with the weights, history, validation values and
    selected epoch of the uninterrupted run; the checkpoint it resumes from names its stage."""
    spec, full_dir, full = full_run
    part = tmp_path / "part"
    first = train(spec, part, cache, **stop)
    assert first.status == "interrupted"
    m = meta(part)
    assert (m["stage"], m["stage_epoch"], m["stages"]) == (stage, stage_epoch, 2)
    assert m["stage_index"] == ["source", "align"].index(stage)
    assert m["step"] == stop.get("stop_after_steps", first.outcome.step)
    resumed = resume(spec, part)
    assert resumed.status == "finished" and resumed.outcome.step == TOTAL_STEPS
    assert same(weights(part), weights(full_dir))
    assert resumed.outcome.history == full.outcome.history
    assert stage_record(part) == stage_record(full_dir)
    assert meta(part)["stage"] == "done"


def test_each_stage_has_its_own_optimizer_and_scheduler(tmp_path, cache):
    """Stage align's `optimizer sgd(lr=0.05)` and `scheduler step(step_size=1, gamma=0.5)` replace the
    `train` statement's adam(lr=1e-3) for that stage only: the learning rate of each epoch (recorded
    before the scheduler steps) is 1e-3 in stage source, then 0.05, 0.025, 0.0125."""
    spec = tmp_path / "own.mms"
    spec.write_text(tiny_spec(tmp_path).read_text().replace(
        "select min align }", "select min align  optimizer sgd(lr=0.05)  scheduler step(step_size=1, gamma=0.5) }"))
    stages = check_spec(spec.read_text()).stages
    assert (stages[0].train.optimizer.name, stages[1].train.optimizer.name, stages[1].train.scheduler.name) == \
        ("adam", "sgd", "step")
    assert train(spec, tmp_path / "run", cache).status == "finished"
    history = json.loads((tmp_path / "run" / "run.json").read_text())["history"]
    assert [(h["stage"], h["stage_epoch"], h["epoch"]) for h in history] == \
        [("source", 1, 1), ("align", 1, 2), ("align", 2, 3), ("align", 3, 4)]
    assert [h["lr"] for h in history] == pytest.approx([1e-3, 0.05, 0.025, 0.0125])


def _validation_align(spec: Path, run_dir: Path, cache) -> float:
    """sum_m KL(joint || r[m]) on the held-out validation items at the run's final weights, in float64
    with the test's own PoE and KL (tests/spec_helpers.py); the networks are the run's."""
    from runtime.data import load_dataset
    from runtime.train.stages import VALIDATION_SEED, HeldOut
    model = compile_spec(spec)
    model.module.load_state_dict(weights(run_dir))
    model.module.double().eval()
    held = HeldOut(load_dataset("mst", source="standin", seed=0, device="cpu", standin_size=600,
                                cache_dir=str(cache)))
    n = held.split_size("validation")
    assert n <= 64                                             # one validation batch, as the runtime draws it
    batch = held.batch("validation", torch.arange(n), generator=torch.Generator().manual_seed(VALIDATION_SEED + 1))
    batch = {m: batch[m].double() for m in model.modalities}
    r = Ref(model, batch, noise=None)
    with torch.no_grad():
        joint = r.poe([r.prior()] + [r.enc(f"q[{m}]", m) for m in r.mods])
        return float(sum(r.kl(joint, r.enc(f"r[{m}]", m)) for m in r.mods).mean())


@pytest.mark.parametrize("select, expected_epoch", [("min", 3), ("max", 1)])
def test_model_selection_keeps_the_known_epoch(full_run, tmp_path, cache, select, expected_epoch):
    """Stage align minimises the KL, so its validation value falls epoch by epoch (checked first):
    `select min align` must keep the last epoch and `select max align` the first. The weights the
    stage ends with are those the run had after that epoch (a run stopped there has them), and the
    recorded value is the objective at those weights on the validation split."""
    if select == "min":
        spec, run_dir, _ = full_run
    else:
        spec = tiny_spec(tmp_path, select)
        run_dir = tmp_path / "run"
        assert train(spec, run_dir, cache).status == "finished"
    record = stage_record(run_dir)[1]
    curve = record["validation"]
    assert len(curve) == ALIGN_EPOCHS and all(a > b for a, b in zip(curve, curve[1:])), curve
    assert record["selected_epoch"] == expected_epoch
    assert record["selected_value"] == curve[expected_epoch - 1]
    at_epoch = tmp_path / "at_epoch"
    assert train(spec, at_epoch, cache, stop_after_epoch=1 + expected_epoch).status in ("interrupted", "finished")
    assert same(weights(run_dir), weights(at_epoch))
    if expected_epoch != ALIGN_EPOCHS:      # not the last epoch's weights (`select min` trains the same, keeps those)
        assert all_differ(group(weights(run_dir), *R), group(weights(full_run[1]), *R))
    assert _validation_align(spec, run_dir, cache) == pytest.approx(record["selected_value"], rel=1e-5)


def test_explain_lists_the_stages_in_order(tmp_path):
    from click.testing import CliRunner
    from mmspec.cli import main
    out = CliRunner().invoke(main, ["explain", str(tiny_spec(tmp_path, "max"))]).output
    section = out[out.index("Stages, in training order"):]
    assert section.index("1. source: maximize source") < section.index("2. align: minimize align")
    assert "select   keep the epoch with the highest value of align" in section
    data = json.loads(CliRunner().invoke(main, ["explain", "--json", str(tiny_spec(tmp_path))]).output)
    assert [(s["name"], s["trains"], s["select"]) for s in data["stages"]] == [
        ("source", ["q[mnist]", "q[text]", "decoders[mnist]", "decoders[text]"], None),
        ("align", ["r[mnist]", "r[text]"], {"objective": "align", "mode": "min"})]


def test_the_report_lists_the_stages_and_the_kept_epoch():
    from runtime.report.writer import markdown
    stages = [{"name": "source", "objective": "source", "epochs": 1, "steps": 9, "selected_epoch": None},
              {"name": "align", "objective": "align", "epochs": 3, "steps": 24, "selected_epoch": 2,
               "selected_value": 1.25, "validation_split": "60 items held out"}]
    text = markdown({"model": "tiny", "dataset": "mst", "metrics": [], "run": {"stages": stages}})
    assert "- stage 1, source (objective source): 1 epoch, 9 steps\n" in text
    assert "- stage 2, align (objective align): 3 epochs, 24 steps; kept epoch 2 (validation value 1.25, " \
           "on 60 items held out)" in text


def test_loss_curves_draw_terms_that_only_some_stages_log(tmp_path):
    """A staged run's stages log different terms (`source/...`, `align/...`): every term gets its
    panel, drawn over the steps that logged it (this raised a KeyError before)."""
    from runtime.report.plots import loss_curves
    steps = [{"step": 1, "source/loss": 3.0, "source/kl(joint||p)": 1.0},
             {"step": 2, "align/loss": 2.0, "align/kl(joint||r[mnist])": 0.5}]
    history = [{"epoch": 1, "step": 1, "terms": {"source/loss": 3.0, "source/kl(joint||p)": 1.0}},
               {"epoch": 2, "step": 2, "terms": {"align/loss": 2.0, "align/kl(joint||r[mnist])": 0.5}}]
    path = loss_curves(history, steps, tmp_path / "curves.png")
    assert path is not None and path.stat().st_size > 0
