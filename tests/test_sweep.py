"""`mmspec sweep` end to end on a local Ray: a tiny experiment (2 specs x 2 beta x 2 seeds, a step
each on tiny stand-in data) runs its trials in parallel, one trial fails on purpose and the others
go on, a second invocation skips the finished trials, and the report's table and plot data equal a
hand computation from the trials' results.json."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

TINY = """# a tiny experiment: each trial is one optimizer step on 64 stand-in items
experiment tiny
specs poe_mst "PoE", mvae_mst "MVAE"
vary beta = 2^-1..2^0
seeds 2
quick epochs 1, standin 64, eval_samples 32, probe_samples 64, iw_samples 2, classifier_steps 10
best coherence.cross.*.*
table coherence "coherence" {
    column "M <- S" = coherence.cross.mnist.svhn
    column "probe" = latent_probe.accuracy.mnist|svhn|text
    paper poe_mst: 0.5, -
}
plot tradeoff "probe against NLL" { x likelihood.nll y latent_probe.accuracy.mnist|svhn|text }
plot by_beta "coherence against beta" { x beta y coherence.cross.*.* }
"""
BROKEN = "mvae_mst/beta=1/seed1"          # its run directory is made impossible: a file is in the way


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def swept(local_ray, tmp_path_factory):
    from runtime.sweep.driver import SweepOptions, sweep
    root = tmp_path_factory.mktemp("sweep")
    (root / "tiny.mmx").write_text(TINY)
    out = root / "out"
    (out / BROKEN).parent.mkdir(parents=True)
    (out / BROKEN).write_text("not a folder")
    opts = SweepOptions(root / "tiny.mmx", out=out, budget="quick", max_concurrent=2, device="cpu",
                        cache_dir=str(root / "cache"), source="standin")
    first = sweep(opts)
    stamps = {k: (out / k / "results.json").stat().st_mtime_ns for k, r in first.records.items() if r.status == "done"}
    second = sweep(opts)
    return out, first, second, stamps


def _results(out: Path, key: str) -> dict:
    return json.loads((out / key / "results.json").read_text())


def test_trials_run_in_parallel_and_a_failure_does_not_stop_the_others(swept):
    out, first, _, _ = swept
    statuses = {k: r.status for k, r in first.records.items()}
    assert len(statuses) == 8
    assert statuses.pop(BROKEN) == "failed" and set(statuses.values()) == {"done"}
    assert "Error" in first.records[BROKEN].error
    done = sorted((r.started, r.ended) for k, r in first.records.items() if k != BROKEN)
    assert any(b0 < a1 for (a0, a1), (b0, b1) in zip(done, done[1:])), "no two trials overlapped in time"
    info = json.loads((out / "poe_mst/beta=0.5/seed1/run.json").read_text())
    assert info["status"] == "finished" and info["seed"] == 1 and info["params"]["beta"] == 0.5
    assert json.loads((out / "trials.json").read_text())[BROKEN]["status"] == "failed"


def test_second_invocation_skips_finished_trials(swept):
    out, first, second, stamps = swept
    assert {k for k, r in second.records.items() if r.status == "skipped"} == set(stamps)
    assert second.records[BROKEN].status == "failed"            # retried, still impossible
    assert all((out / k / "results.json").stat().st_mtime_ns == t for k, t in stamps.items())


def _mean_std(values):
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return mean, std


def test_table_is_mean_and_std_over_seeds(swept):
    from runtime.sweep.report import experiment_report
    out, *_ = swept
    text = experiment_report(out)
    assert "quick" in text and "not** comparable" in text
    assert "Coherence: plain accuracy" in text          # the table's coherence column is coherence.cross.*
    rows = list(csv.DictReader((out / "coherence.csv").open()))
    assert len(rows) == 4
    for row in rows:
        seeds = [0, 1] if not (row["spec"] == "mvae_mst" and float(row["beta"]) == 1) else [0]
        beta = "0.5" if float(row["beta"]) == 0.5 else "1"
        runs = [_results(out, f"{row['spec']}/beta={beta}/seed{s}") for s in seeds]
        coh, coh_std = _mean_std([r["coherence"]["cross"]["mnist"]["svhn"] for r in runs])
        probe, _ = _mean_std([sum(r["latent_probe"]["accuracy"][m] for m in ("mnist", "svhn", "text")) / 3
                              for r in runs])
        assert int(row["seeds"]) == len(seeds)
        assert float(row["M <- S mean"]) == pytest.approx(coh, abs=1e-12)
        assert float(row["probe mean"]) == pytest.approx(probe, abs=1e-12)
        if coh_std is None:
            assert row["M <- S std"] == ""
        else:
            assert float(row["M <- S std"]) == pytest.approx(coh_std, abs=1e-12)
        if row["spec"] == "poe_mst":
            assert float(row["M <- S diff"]) == pytest.approx(coh - 0.5, abs=1e-12)


def test_plot_data_is_the_mean_point_per_beta_in_beta_order(swept):
    out, *_ = swept
    assert (out / "tradeoff.png").stat().st_size > 5000
    data = json.loads((out / "tradeoff.json").read_text())
    poe = next(s for s in data["series"] if s["label"] == "PoE")
    assert poe["order"] == [0.5, 1.0]
    for i, beta in enumerate(("0.5", "1")):
        runs = [_results(out, f"poe_mst/beta={beta}/seed{s}") for s in (0, 1)]
        nll, nll_std = _mean_std([r["likelihood"]["nll"] for r in runs])
        assert poe["x"][i] == pytest.approx(nll, abs=1e-9) and poe["x_std"][i] == pytest.approx(nll_std, abs=1e-9)
    by_beta = json.loads((out / "by_beta.json").read_text())
    mvae = next(s for s in by_beta["series"] if s["label"] == "MVAE")
    assert mvae["x"] == [0.5, 1.0] and mvae["seeds"] == [2, 1]
    single = _results(out, "mvae_mst/beta=1/seed0")["coherence"]["cross"]
    expected = [v for row in single.values() for v in row.values()]
    assert mvae["y"][1] == pytest.approx(sum(expected) / len(expected), abs=1e-12)
