"""How `mmspec sweep` shares a cluster among trials (a pure function, over made-up clusters: no GPU
is needed), and that an unreachable `--address` fails within the timeout instead of hanging."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from runtime.errors import RunError
from runtime.sweep.connect import host_port, probe
from runtime.sweep.resources import (DEFAULT_GPU_FRACTION, MAX_TRIALS_PER_GPU, Cluster, gpu_fraction, plan_trials,
                                     trial_memory_bytes)
from spec_helpers import ROOT

GiB = 2 ** 30


# ---- sharing out GPUs and CPUs ----------------------------------------------------------------

def test_cpu_only_machine_runs_one_trial_per_cpu_with_the_threads_divided():
    plan = plan_trials(Cluster(cpus=16), [None] * 8)
    assert (plan.concurrent, plan.threads, plan.cpus_per_trial, plan.device) == (8, 2, 2, "cpu")
    assert plan.gpu_fractions == (0.0,) * 8
    capped = plan_trials(Cluster(cpus=16), [None] * 40, max_concurrent=3)
    assert (capped.concurrent, capped.threads) == (3, 5)                 # 16 // 3
    few = plan_trials(Cluster(cpus=2), [None] * 8, max_concurrent=10)     # never more trials than CPUs
    assert (few.concurrent, few.threads) == (2, 1)


def test_trials_share_a_gpu_by_their_memory_estimate():
    # an 80 GiB GPU, 80% of it usable: trials of 20 GiB -> 3 a GPU; of 5 GiB -> 12, capped at 8
    assert gpu_fraction(20 * GiB, 80 * GiB) == pytest.approx(1 / 3)
    assert gpu_fraction(5 * GiB, 80 * GiB) == pytest.approx(1 / MAX_TRIALS_PER_GPU)
    assert gpu_fraction(70 * GiB, 80 * GiB) == 1.0                         # too big to share: a whole GPU
    assert gpu_fraction(None, 80 * GiB) == gpu_fraction(20 * GiB, None) == DEFAULT_GPU_FRACTION
    plan = plan_trials(Cluster(cpus=16, gpus=2, gpu_bytes=80 * GiB), [20 * GiB] * 10)
    assert plan.device == "cuda" and plan.gpu_fractions == pytest.approx((1 / 3,) * 10)
    assert plan.concurrent == 6 and plan.cpus_per_trial == plan.threads == 2     # 3 on each of 2 GPUs; 16 // 6
    mixed = plan_trials(Cluster(cpus=64, gpus=1, gpu_bytes=80 * GiB), [30 * GiB, 8 * GiB, None])
    assert mixed.gpu_fractions == pytest.approx((1 / 2, 1 / 8, DEFAULT_GPU_FRACTION))
    assert mixed.concurrent == 3                 # the smallest share bounds the count; Ray queues the rest


def test_gpus_per_trial_overrides_the_estimate_and_is_checked():
    plan = plan_trials(Cluster(cpus=8, gpus=1, gpu_bytes=80 * GiB), [20 * GiB] * 5, gpus_per_trial=0.5)
    assert plan.gpu_fractions == (0.5,) * 5 and plan.concurrent == 2 and plan.threads == 4
    for bad in (0.0, 1.5, -0.25):
        with pytest.raises(RunError, match="must be in \\(0, 1\\]"):
            plan_trials(Cluster(cpus=8, gpus=1), [None], gpus_per_trial=bad)


def test_cpu_is_forced_on_a_gpu_cluster_and_cuda_refused_without_one():
    plan = plan_trials(Cluster(cpus=8, gpus=4), [None] * 4, device="cpu")
    assert plan.device == "cpu" and plan.gpu_fractions == (0.0,) * 4 and plan.threads == 2
    with pytest.raises(RunError, match="no GPU"):
        plan_trials(Cluster(cpus=8), [None], device="cuda")
    with pytest.raises(RunError, match="at least 1"):
        plan_trials(Cluster(cpus=8), [None], max_concurrent=0)


def test_plan_describes_its_shares():
    assert plan_trials(Cluster(cpus=4), [None] * 2).describe() == "2 at a time, 2 CPUs (2 torch threads) per trial"
    assert plan_trials(Cluster(cpus=4, gpus=1), [None] * 4).describe() == "4 at a time, 1 CPU and 0.25 GPU per trial"


def test_memory_estimate_counts_the_parameters_and_grows_with_the_batch():
    from mmspec import compile_spec
    spec = str(ROOT / "specs" / "poe_mst.mms")
    params = sum(p.numel() for p in compile_spec(spec).module.parameters())     # counted on real weights
    small, large = trial_memory_bytes(spec, {}, batch=8), trial_memory_bytes(spec, {}, batch=16)
    activations = large - small                                           # linear in the batch
    assert small == params * 16 + activations and activations > 0
    assert trial_memory_bytes(str(ROOT / "specs" / "missing.mms"), {}) is None


# ---- an unreachable cluster -------------------------------------------------------------------

def test_addresses_are_parsed_with_ray_default_ports():
    assert host_port("10.0.0.5:6380") == ("10.0.0.5", 6380)
    assert host_port("ray://head.example:10002") == ("head.example", 10002)
    assert host_port("head.example") == ("head.example", 6379)
    assert host_port("ray://head") == ("head", 10001)
    assert host_port("auto") is None
    with pytest.raises(RunError, match="expected HOST:PORT"):
        host_port("head:port")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_closed_port_fails_at_once_with_the_reason():
    start = time.monotonic()
    with pytest.raises(RunError, match="cannot reach the Ray cluster at '127.0.0.1:[0-9]+': .*refused"):
        probe(f"127.0.0.1:{closed_port()}", timeout_s=5)
    assert time.monotonic() - start < 5


TINY = """experiment tiny
specs poe_mst "PoE"
seeds 1
quick epochs 1, standin 64, eval_samples 32, probe_samples 64, iw_samples 2, classifier_steps 10
best coherence.cross.*.*
"""


def test_sweep_with_an_unreachable_address_exits_with_a_message(tmp_path):
    pytest.importorskip("ray")
    from mmspec.cli import main
    exp = tmp_path / "tiny.mmx"
    exp.write_text(TINY)
    start = time.monotonic()
    result = CliRunner().invoke(main, ["sweep", str(exp), "--address", f"127.0.0.1:{closed_port()}",
                                       "--connect-timeout", "5", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and time.monotonic() - start < 20
    assert "cannot reach the Ray cluster" in result.output and "ray start --head" in result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output


def test_a_port_that_answers_but_is_not_ray_gives_up_after_the_timeout(tmp_path):
    """A listening socket accepts the TCP connection but never speaks Ray: ray.init alone would wait
    for minutes; the sweep gives up after --connect-timeout (run in its own process: the abandoned
    ray.init keeps retrying in a thread until that process exits)."""
    pytest.importorskip("ray")
    exp = tmp_path / "tiny.mmx"
    exp.write_text(TINY)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-c", "from mmspec.cli import main; main()", "sweep", str(exp), "--address", f"127.0.0.1:{port}",
                               "--connect-timeout", "3", "--out", str(tmp_path / "out")],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
        took = time.monotonic() - start
    assert done.returncode == 1, done.stderr[-2000:]
    # the watchdog's message, or Ray's own refusal when it gives up first: either way, located and quick
    assert f"cannot reach the Ray cluster at '127.0.0.1:{port}'" in done.stderr, done.stderr[-2000:]
    assert took < 60 and "Traceback" not in done.stderr, (took, done.stderr[-2000:])
