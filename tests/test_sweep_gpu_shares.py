"""Fractional GPUs handed to Ray: a local Ray that declares one (logical) GPU schedules the sweep's
trials with the planned share each, and each trial records what it was granted. No GPU is needed:
Ray's GPUs are logical resources; a trial then fails at its first CUDA call with the runtime's
message, which is the behaviour a misdeclared cluster should get."""
from __future__ import annotations

import json

import pytest

ray = pytest.importorskip("ray")

EXPERIMENT = """experiment shares
specs poe_mst "PoE"
vary beta = 2^-1..2^0
seeds 1
quick epochs 1, standin 64, eval_samples 32, probe_samples 64, iw_samples 2, classifier_steps 10
table t "t" { column "probe" = latent_probe.accuracy.mnist|svhn|text }
"""


@pytest.fixture(scope="module")
def one_logical_gpu():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_trials_get_their_fraction_of_the_gpu_from_ray(one_logical_gpu, tmp_path):
    from runtime.sweep.driver import SweepOptions, _plan, prepare, sweep
    from runtime.sweep.resources import DEFAULT_GPU_FRACTION
    (tmp_path / "shares.mmx").write_text(EXPERIMENT)
    opts = SweepOptions(tmp_path / "shares.mmx", out=tmp_path / "out", gpus_per_trial=0.5,
                        cache_dir=str(tmp_path / "cache"), source="standin", report=False)
    jobs = prepare(opts)[2]
    unsized = _plan(ray, SweepOptions(opts.experiment, out=opts.out), jobs)    # no --gpus-per-trial, no GPU memory known
    assert (unsized.device, unsized.concurrent, unsized.gpu_fractions) == ("cuda", 2, (DEFAULT_GPU_FRACTION,) * 2)
    plan = _plan(ray, opts, jobs)
    assert (plan.device, plan.concurrent, plan.cpus_per_trial, plan.gpu_fractions) == ("cuda", 2, 1, (0.5, 0.5))
    summary = sweep(opts)
    assert len(summary.records) == 2
    for record in summary.records.values():
        assert record.granted == {"CPU": 1.0, "GPU": 0.5, "gpu_ids": [0], "CUDA_VISIBLE_DEVICES": "0"}
        assert record.status == "failed" and "torch sees no CUDA device" in record.error   # a logical GPU only
    stored = json.loads((tmp_path / "out" / "trials.json").read_text())
    assert {k: v["granted"]["GPU"] for k, v in stored.items()} == {k: 0.5 for k in summary.records}
