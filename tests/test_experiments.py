"""The experiment language (.mmx): located errors like the spec language's, the expansion into
trials, metric paths against hand-written results, and every shipped experiment checked and
explained."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmspec import SpecError
from mmspec.cli import main
from mmspec.experiment import check_experiment_file, check_experiment_text
from mmspec.experiment.results import by_size, curves, value

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted((ROOT / "specs" / "experiments").glob("*.mmx"))

GOOD = """experiment demo
specs poe_mst "PoE", mvae_mst
vary beta = 2^-2..2^1
seeds 3
dataset mst: epochs 7
quick epochs 1, standin 64, seeds 2
table coherence "Table" {
    column "M <- S" = coherence.cross.mnist.svhn
    column "R" = coherence.joint
    paper poe_mst: 0.5 ± 0.1, -
}
plot p "Figure" {
    x likelihood.nll
    y latent_probe.accuracy.*
}
"""


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as err:
        check_experiment_text(text, "bad.mmx", base=ROOT / "specs")
    return str(err.value)


def located(message: str, line: int, col: int | None = None) -> None:
    m = re.match(r"bad\.mmx:(\d+):(\d+): error: ", message)
    assert m, message
    assert int(m.group(1)) == line, message
    if col is not None:
        assert int(m.group(2)) == col, message
    assert "^" in message, message


def test_good_experiment_expands_to_its_trials():
    exp = check_experiment_text(GOOD, "good.mmx", base=ROOT / "specs")
    assert exp.vary == {"beta": [0.25, 0.5, 1.0, 2.0]} and exp.vary_text["beta"][0] == "2^-2"
    paper = exp.trials("paper")
    assert len(paper) == 2 * 4 * 3
    assert paper[0].key == "poe_mst/beta=0.25/seed0" and dict(paper[0].overrides) == {"beta": "0.25"}
    assert dict(paper[0].settings) == {"epochs": 7}                       # the dataset's override
    quick = exp.trials("quick")
    assert len(quick) == 2 * 4 * 2 and dict(quick[-1].settings)["standin"] == 64
    assert dict(quick[-1].settings)["epochs"] == 1 and quick[-1].key == "mvae_mst/beta=2/seed1"
    assert exp.tables[0].paper["poe_mst"][0].std == 0.1 and exp.tables[0].paper["poe_mst"][1].mean is None


@pytest.mark.parametrize("old,new,line,words", [
    # syntax
    ("experiment demo", "experimnt demo", 1, ["did you mean 'experiment'"]),
    ("2^-2..2^1", "2^-2..", 4, ["unexpected 'seeds'", "expected a number"]),
    ('column "R" = coherence.joint', 'colum "R" = coherence.joint', 9, ["did you mean 'column'"]),
    # names
    ("mvae_mst\n", "mvae_mts\n", 2, ["unknown spec 'mvae_mts'", "did you mean 'mvae_mst'"]),
    ("vary beta", "vary betta", 3, ["has no param 'betta'", "did you mean 'beta'"]),
    ("dataset mst:", "dataset msst:", 5, ["no listed spec uses dataset 'msst'", "did you mean 'mst'"]),
    ("epochs 7", "epoch 7", 5, ["unknown setting 'epoch'", "did you mean 'epochs'"]),
    ("coherence.joint", "coherense.joint", 9, ["unknown result 'coherense'", "did you mean 'coherence'"]),
    ("paper poe_mst", "paper poe_mts", 10, ["not in 'specs'", "did you mean 'poe_mst'"]),
    ("x likelihood.nll", "x bta", 13, ["neither a varied param", "did you mean 'beta'"]),
    # values
    ("2^-2..2^1", "2^1..2^-2", 3, ["empty range"]),
    ("2^-2..2^1", "2^-2..3^1", 3, ["one base"]),
    ("seeds 3", "seeds 0", 4, ["at least 1"]),
    ("0.5 ± 0.1, -", "0.5", 10, ["1 paper numbers for 2 columns"]),
    ("quick epochs 1", "quick beta = 1, epochs 1", 6, ["is a param"]),
    ("dataset mst: epochs 7", "dataset mst: beta = 2", 5, ["is varied"]),
])
def test_mistakes_are_located(old, new, line, words):
    assert old in GOOD
    message = error_of(GOOD.replace(old, new, 1))
    located(message, line)
    for w in words:
        assert w in message, message


def test_missing_axis_and_statements():
    message = error_of(GOOD.replace("    y latent_probe.accuracy.*\n", ""))
    assert "has no 'y' axis" in message
    message = error_of("seeds 2\n")
    assert "missing 'experiment' statement" in message and "missing 'specs' statement" in message


def test_a_spec_with_errors_is_reported_at_its_name(tmp_path):
    (tmp_path / "broken.mms").write_text((ROOT / "specs" / "poe_mst.mms").read_text().replace("poe(", "pooe(", 1))
    with pytest.raises(SpecError) as err:
        check_experiment_text('experiment e\nspecs "broken.mms"\n', "bad.mmx", base=tmp_path)
    located(str(err.value), 2, 7)
    assert "has errors" in str(err.value) and "did you mean 'poe'" in str(err.value)


RESULTS = {"coherence": {"cross": {"m0": {"m1": 0.2, "m2": 0.4, "m1+m2": 0.9}, "m1": {"m0": 0.6, "m0+m2": 0.7}},
                         "joint": 0.1},
           "latent_probe": {"accuracy": {"m0": 0.5, "m1": 0.7, "m0+m1": 0.9}},
           "refinement_curve": {"elbo": {"m0": [1.0, 2.0, 4.0], "m1": [0.0, 1.0]}}}


def test_metric_paths_average_what_they_match():
    assert value(RESULTS, "coherence.joint") == 0.1
    assert value(RESULTS, "coherence.cross.*.*") == pytest.approx((0.2 + 0.4 + 0.9 + 0.6 + 0.7) / 5)
    assert value(RESULTS, "latent_probe.accuracy.m?") == pytest.approx(0.6)
    assert value(RESULTS, "coherence.cross.m0.m1|m2") == pytest.approx(0.3)
    assert value(RESULTS, "coherence.cross.m9.*") is None and value(RESULTS, "fid.m0.m1") is None
    assert by_size(RESULTS, "coherence.cross.*.*") == pytest.approx({1: (0.2 + 0.4 + 0.6) / 3, 2: (0.9 + 0.7) / 2})
    assert curves(RESULTS, "refinement_curve.elbo.*") == {"m0": [1.0, 2.0, 4.0], "m1": [0.0, 1.0]}


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_every_shipped_experiment_checks_and_explains(path):
    exp = check_experiment_file(path)
    header = path.read_text().splitlines()[0]
    assert re.search(r"seed 00\d .*(Table|Figure)", header), f"{path.name}: the header names no table/figure"
    assert exp.tables or exp.plots
    result = CliRunner().invoke(main, ["explain", str(path), "--budget", "quick"])
    assert result.exit_code == 0, result.output
    assert f"runs ({len(exp.trials('quick'))} =" in result.output and "step:" in result.output
    as_json = CliRunner().invoke(main, ["explain", str(path), "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert [t["key"] for t in json.loads(as_json.output)["trials"]] == [t.key for t in exp.trials("paper")]


def test_check_command_accepts_experiments_and_reports_errors(tmp_path):
    bad = tmp_path / "bad.mmx"
    bad.write_text(GOOD.replace("seeds 3", "sedes 3"))
    result = CliRunner().invoke(main, ["check", str(EXPERIMENTS[0]), str(bad)])
    assert result.exit_code == 1
    assert f"{EXPERIMENTS[0]}: ok" in result.output and "did you mean 'seeds'" in result.output


def test_the_documented_example_checks():
    text = (ROOT / "docs" / "experiments.md").read_text()
    example = re.search(r"```mmx\n(.*?)```", text, flags=re.S).group(1)
    exp = check_experiment_text(example, "docs/experiments.md", base=ROOT / "specs" / "experiments")
    assert len(exp.trials("paper")) == 2 * 4 * 3 and len(exp.trials("quick")) == 2 * 2 * 1
    assert [p.x.kind for p in exp.plots] == ["metric", "param", "size"]
    assert value({"cosine": {"image~text": {"matched": 0.25}}}, "cosine.image~text.matched") == 0.25


def _fake_run(folder: Path, key: str, coherence: float, weak: set[str]) -> None:
    """A trial's results.json as the runtime writes it, with the `classifiers` verdicts of issue 11."""
    import json
    run = folder / key
    run.mkdir(parents=True)
    classifiers = {m: {"accuracy": 0.5 if m in weak else 0.99, "balanced_accuracy": 0.5, "target": 0.98,
                       "meets_target": m not in weak} for m in ("mnist", "svhn", "text")}
    (run / "results.json").write_text(json.dumps({
        "classifiers": classifiers, "likelihood": {"nll": 100 * coherence},
        "coherence": {"cross": {"mnist": {"svhn": coherence}, "svhn": {"mnist": 1 - coherence}}, "joint": 0.1}}))


def test_report_marks_coherence_judged_by_a_weak_classifier(tmp_path):
    """Made by hand, no Ray: the report reads the folder's trials and marks † only where the target's
    classifier is below its target accuracy; a missing trial is listed, not averaged."""
    import csv
    import json
    from runtime.sweep.report import experiment_report
    text = GOOD.replace('paper poe_mst: 0.5 ± 0.1, -', 'column "S <- M" = coherence.cross.svhn.mnist\n    '
                        'paper poe_mst: 0.5 ± 0.1, -, -')
    (tmp_path / "experiment.mmx").write_text(text)
    (tmp_path / "experiment.json").write_text(json.dumps({"source": str(ROOT / "specs" / "x.mmx"), "budget": "quick"}))
    exp = check_experiment_text(text, "x.mmx", base=ROOT / "specs")
    keys = [t.key for t in exp.trials("quick")]
    for i, key in enumerate(keys[:-1]):
        _fake_run(tmp_path, key, 0.1 * (i % 3), weak={"mnist"} if key.startswith("poe_mst") else set())
    report = experiment_report(tmp_path)
    rows = {(r["spec"], r["beta"]): r for r in csv.DictReader((tmp_path / "coherence.csv").open())}
    poe = rows[("poe_mst", "0.25")]
    assert poe["M <- S below-target classifier"] == "True" and poe["S <- M below-target classifier"] == "False"
    assert poe["R below-target classifier"] == "True"                # joint: every classifier judges
    assert rows[("mvae_mst", "0.25")]["M <- S below-target classifier"] == "False"
    assert float(poe["M <- S mean"]) == pytest.approx((0.0 + 0.1) / 2)
    assert rows[("mvae_mst", "2")]["seeds"] == "1" and keys[-1] in report
    assert "†" in report and "below its target" in report
    series = json.loads((tmp_path / "p.json").read_text())["series"]
    assert next(s for s in series if s["label"] == "PoE")["below_target"] is False    # y is the probe, not coherence


def test_experiment_files_are_read_as_specs_are(tmp_path):
    """A UTF-8 BOM is accepted; bytes that are not UTF-8 are a located error, not a traceback."""
    shipped = EXPERIMENTS[0]
    bom = tmp_path / "bom.mmx"
    bom.write_bytes(b"\xef\xbb\xbf" + shipped.read_bytes())
    assert check_experiment_file(bom).name == check_experiment_file(shipped).name
    latin = tmp_path / "latin.mmx"
    latin.write_bytes(b"experiment x\n# caf\xe9\n")
    with pytest.raises(SpecError) as err:
        check_experiment_file(latin)
    assert "latin.mmx:2:" in str(err.value) and "not UTF-8" in str(err.value)
