"""The papers' CelebA and CUB specs and their experiments (issue 12).

Every shipped spec is checked, explained, compared with its reference loss and trained a few steps
by the suites that cover all of specs/ (test_explain_cli, test_spec_losses); the experiments are
checked and explained by test_experiments. Here: each spec says which paper, table or figure it
serves and fits its dataset; one CelebA and one CUB spec run end to end on the stand-ins
(CelebA with the multi-label evaluation); and the experiments' tables read the multi-label metric
from trials' results.json, equal to a hand computation of mean and std over seeds.
"""
from __future__ import annotations

import csv
import json
import re
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(p for p in (ROOT / "specs").glob("*.mms") if p.stem.endswith(("_celeba", "_cub")))
EXPERIMENTS = ROOT / "specs" / "experiments"
TINY = ["--device", "cpu", "--source", "standin", "--standin-size", "64", "--epochs", "1", "--eval-samples", "32",
        "--probe-samples", "64", "--iw-samples", "2", "--classifier-steps", "20", "--log-every", "1"]


def test_the_papers_settings_are_all_there():
    names = {p.stem for p in SPECS}
    for method in ("crmvae", "mvae", "mopoe", "mvtcae", "mmvae", "smvae", "smvgon", "mmvm", "independent", "avg", "poe"):
        assert f"{method}_celeba" in names
    for method in ("crmvae", "mvae", "mopoe", "mvtcae", "mmvm", "independent", "avg", "poe", "mmvae"):
        assert f"{method}_cub" in names


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_each_spec_names_its_paper_and_fits_its_dataset(path):
    from mmspec.check.checker import check_file
    text = path.read_text()
    reproduces = re.search(r"^# reproduces: (.*)$", text, flags=re.M)
    assert reproduces and re.search(r"seed 00\d (Table|Figure)s? \d", reproduces.group(1)), path.name
    dataset = path.stem.rsplit("_", 1)[1]
    assert re.search(rf"^data {dataset}$", text, flags=re.M)
    program = check_file(path)                  # raises with the located errors if the spec does not fit
    if dataset == "celeba":
        assert "attribute_probe" in [m.name for m in program.evaluate]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def _run(spec: str, out: Path, cache: Path, *extra: str) -> dict:
    from runtime.cli import run
    got = CliRunner().invoke(run, [str(ROOT / "specs" / f"{spec}.mms"), "--out", str(out), "--cache-dir", str(cache),
                                   *TINY, *extra])
    assert got.exit_code == 0, got.output + repr(got.exception)
    return json.loads((out / "results.json").read_text())


def test_a_celeba_spec_runs_with_the_multilabel_evaluation(tmp_path, cache):
    res = _run("mmvm_celeba", tmp_path / "run", cache, "--metrics", "attribute_probe,elbo")
    probe = res["attribute_probe"]
    assert probe["attributes"] == ["shape", "colour", "size", "background"]      # the stand-in's attributes
    assert set(probe["mean_auroc"]) == {"image", "text", "image+text"}
    for subset, per in probe["auroc"].items():
        defined = [v for v in per.values() if v is not None]
        assert probe["mean_auroc"][subset] == pytest.approx(sum(defined) / len(defined))
        assert all(0.0 <= v <= 1.0 for v in defined)
    assert probe["n_train"] == 64 and probe["n_test"] == 32
    assert "Attribute probes (seed 004 Figure 14)" in (tmp_path / "run" / "report.md").read_text()


def test_a_cub_spec_runs(tmp_path, cache):
    res = _run("crmvae_cub", tmp_path / "run", cache, "--metrics", "latent_probe,cosine,elbo")
    assert set(res["latent_probe"]["accuracy"]) == {"image", "caption", "image+caption"}
    assert "image~caption" in res["cosine"] and res["likelihood"]["nll"] > 0


def _fake_trial(folder: Path, key: str, value: float) -> None:
    """A trial's results.json with the attribute probe's means as the runtime writes them."""
    run = folder / key
    run.mkdir(parents=True)
    means = {"image": value, "text": value / 2, "image+text": value + 0.1}
    (run / "results.json").write_text(json.dumps({"attribute_probe": {
        "mean_average_precision": means, "mean_auroc": means, "mean_accuracy": means}}))


def test_seed002_table3_reads_the_mean_average_precision_over_seeds(tmp_path):
    from mmspec.experiment import check_experiment_file
    from runtime.sweep.report import experiment_report
    source = EXPERIMENTS / "seed002_table3_celeba.mmx"
    exp = check_experiment_file(source)
    (tmp_path / "experiment.mmx").write_text(source.read_text())
    (tmp_path / "experiment.json").write_text(json.dumps({"source": str(source), "budget": "paper"}))
    trials = exp.trials("paper")
    assert len(trials) == 5 * 3
    for i, trial in enumerate(trials):
        _fake_trial(tmp_path, trial.key, 0.1 + 0.05 * (i % 3))       # seeds 0, 1, 2: 0.10, 0.15, 0.20
    report = experiment_report(tmp_path)
    rows = {r["spec"]: r for r in csv.DictReader((tmp_path / "representation.csv").open())}
    smvae = rows["smvae_celeba"]
    assert float(smvae["I mean"]) == pytest.approx(0.15)
    assert float(smvae["I std"]) == pytest.approx(statistics.stdev([0.10, 0.15, 0.20]))
    assert float(smvae["T mean"]) == pytest.approx(0.075) and float(smvae["I+T mean"]) == pytest.approx(0.25)
    assert "0.56" in report and "SMVGON" in report
