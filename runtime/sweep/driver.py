"""`mmspec sweep`: the trials of an experiment on Ray, with a live display and a final report.

A local Ray (started here: `ray.init(num_cpus=...)`, no dashboard) or an existing cluster
(`--address`, reached within --connect-timeout: runtime/sweep/connect.py). Each trial is one Ray
task with its share of the machine (runtime/sweep/resources.py): on CPUs, trials run side by side
with the torch threads divided among them; on GPUs, each trial asks for a fraction of one.
At most `max_concurrent` trials are in flight; a failed trial is recorded and the others go on;
Ctrl-C asks the running trials to checkpoint (the runtime's SIGINT handling) and the next
invocation resumes them.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import RunError
from .connect import DEFAULT_TIMEOUT_S, connect
from .resources import TrialPlan, cluster_of, plan_trials, trial_memory_bytes
from .trial import STOP_FILE, TrialJob, TrialRecord, execute, plan

EXPERIMENT_FILE = "experiment.json"
TRIALS_FILE = "trials.json"


@dataclass
class SweepOptions:
    experiment: Path
    out: Path | None = None
    budget: str = "quick"
    address: str | None = None
    max_concurrent: int | None = None
    num_cpus: int | None = None
    gpus_per_trial: float | None = None
    device: str | None = None
    cache_dir: str | None = None
    data_root: str | None = None
    source: str | None = None
    report: bool = True
    connect_timeout: float = DEFAULT_TIMEOUT_S


@dataclass
class SweepSummary:
    out: Path
    records: dict[str, TrialRecord] = field(default_factory=dict)
    interrupted: bool = False

    def count(self, *statuses: str) -> int:
        return sum(1 for r in self.records.values() if r.status in statuses)


def default_out(exp, budget: str) -> Path:
    return Path("runs") / "experiments" / f"{exp.name}-{budget}"


def prepare(opts: SweepOptions):
    """Check the experiment, write its folder's header, and the jobs of its trials."""
    from mmspec import check_spec
    from mmspec.experiment import check_experiment_file
    exp = check_experiment_file(opts.experiment)
    out = Path(opts.out) if opts.out else default_out(exp, opts.budget)
    out.mkdir(parents=True, exist_ok=True)
    (out / STOP_FILE).unlink(missing_ok=True)
    shutil.copyfile(opts.experiment, out / "experiment.mmx")
    (out / EXPERIMENT_FILE).write_text(json.dumps({
        "name": exp.name, "source": str(Path(opts.experiment).resolve()), "budget": opts.budget,
        "settings": {s.name: exp.run_settings(s, opts.budget) for s in exp.specs},
        "trials": [t.key for t in exp.trials(opts.budget)], "created": time.strftime("%F %T")}, indent=2))
    hashes: dict[tuple, str] = {}
    jobs = []
    for t in exp.trials(opts.budget):
        overrides = dict(t.overrides)
        ident = (str(t.spec.path), t.overrides)
        if ident not in hashes:
            hashes[ident] = check_spec(t.spec.path, overrides).source_hash
        jobs.append(TrialJob(t.key, str(t.spec.path), t.spec.label, overrides, t.seed, dict(t.settings),
                             str(out / t.key), hashes[ident], device=opts.device, cache_dir=opts.cache_dir,
                             data_root=opts.data_root, source=opts.source, stop_file=str(out / STOP_FILE)))
    return exp, out, jobs


def _start_ray(opts: SweepOptions):
    import ray
    if ray.is_initialized():
        return ray, False
    if opts.address:
        connect(ray, opts.address, opts.connect_timeout)
    else:
        ray.init(num_cpus=opts.num_cpus or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
    return ray, True


def _plan(ray, opts: SweepOptions, jobs: list[TrialJob]) -> TrialPlan:
    """The trials' shares of the cluster (runtime/sweep/resources.py), with each trial's memory
    estimated only when GPUs are shared and no --gpus-per-trial says how much each takes."""
    cluster = cluster_of(ray.cluster_resources(), _local_gpu_bytes())
    estimate = cluster.gpus > 0 and opts.device != "cpu" and opts.gpus_per_trial is None and cluster.gpu_bytes
    sizes: dict[tuple, int | None] = {}
    for job in jobs if estimate else []:
        ident = (job.spec, tuple(sorted(job.overrides.items())), job.settings.get("batch"))
        if ident not in sizes:
            sizes[ident] = trial_memory_bytes(job.spec, job.overrides, job.settings.get("batch"))
    trial_bytes = [sizes.get((j.spec, tuple(sorted(j.overrides.items())), j.settings.get("batch"))) for j in jobs]
    return plan_trials(cluster, trial_bytes, max_concurrent=opts.max_concurrent,
                       gpus_per_trial=opts.gpus_per_trial, device=opts.device)


def _local_gpu_bytes() -> int | None:
    """The memory of this machine's first GPU (taken as the cluster's), when it has one."""
    try:
        import torch
        return torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else None
    except Exception:
        return None


def sweep(opts: SweepOptions, console=None, on_start: Callable | None = None) -> SweepSummary:
    """Run every trial not yet done; return what happened to each."""
    exp, out, jobs = prepare(opts)
    summary = SweepSummary(out)
    todo = []
    for job in jobs:
        decision = plan(job)
        if decision == "skip":
            summary.records[job.key] = TrialRecord(job.key, "skipped", job.run_dir,
                                                   results=_results(Path(job.run_dir)))
        else:
            job.resume = decision == "resume"
            todo.append(job)
    if todo:
        ray, started = _start_ray(opts)
        try:
            _run_jobs(ray, opts, exp, todo, summary, console, on_start)
        finally:
            if started:
                ray.shutdown()
    _write_records(out, summary)
    return summary


def _results(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        return {}


def _run_jobs(ray, opts, exp, todo: list[TrialJob], summary: SweepSummary, console, on_start) -> None:
    from .progress import SweepDisplay
    shares = _plan(ray, opts, todo)
    concurrent, fraction = shares.concurrent, dict(zip((j.key for j in todo), shares.gpu_fractions))
    remote = ray.remote(execute)
    display = SweepDisplay(console, exp, summary, total=len(todo) + len(summary.records), note=shares.describe())
    pending = list(todo)
    running: dict = {}
    try:
        with display:
            while pending or running:
                while pending and len(running) < concurrent:
                    job = pending.pop(0)
                    job.threads, job.device = shares.threads, shares.device
                    task = remote.options(num_cpus=shares.cpus_per_trial, num_gpus=fraction[job.key], max_retries=0)
                    running[task.remote(job)] = job
                    display.started(job)
                    if on_start is not None:
                        on_start(job)
                done, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
                for ref in done:
                    job = running.pop(ref)
                    summary.records[job.key] = _get(ray, ref, job)
                    display.finished(job, summary.records[job.key])
                display.refresh()
    except KeyboardInterrupt:
        summary.interrupted = True
        if console is not None:
            console.print("interrupted: asking the running trials to checkpoint (Ctrl-C again to stop at once)")
        _stop(ray, running, summary, summary.out / STOP_FILE)


def _get(ray, ref, job: TrialJob) -> TrialRecord:
    try:
        return ray.get(ref)
    except Exception as err:                          # the worker died (out of memory, killed)
        return TrialRecord(job.key, "failed", job.run_dir, f"{type(err).__name__}: {err}")


def _stop(ray, running: dict, summary: SweepSummary, stop_file: Path, grace_s: float = 120.0) -> None:
    """Ask running trials to stop at the end of their step (they checkpoint), wait for them.

    The request is a file in the experiment folder (it reaches workers on other nodes through the
    shared folder), not ray.cancel: a cancelled task would not run the runtime's checkpointing."""
    stop_file.write_text("stop\n")
    deadline = time.time() + grace_s
    while running and time.time() < deadline:
        try:
            done, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
        except KeyboardInterrupt:
            break
        for ref in done:
            job = running.pop(ref)
            summary.records[job.key] = _get(ray, ref, job)
    for ref, job in running.items():
        ray.cancel(ref, force=True)
        summary.records[job.key] = TrialRecord(job.key, "interrupted", job.run_dir, "stopped at once")
    stop_file.unlink(missing_ok=True)


def _write_records(out: Path, summary: SweepSummary) -> None:
    old = {}
    try:
        old = json.loads((out / TRIALS_FILE).read_text())
    except (OSError, ValueError):
        pass
    for key, rec in summary.records.items():
        entry = asdict(rec)
        entry.pop("results", None)
        if rec.status == "skipped":
            entry = dict(old.get(key, entry), status="done", note="skipped: already done")
        old[key] = entry
    (out / TRIALS_FILE).write_text(json.dumps(old, indent=2))


def require_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError as err:
        raise RunError("mmspec sweep needs Ray: pip install 'ray>=2.9'") from err
