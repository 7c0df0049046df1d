"""One trial of a sweep: a normal run directory made by `runtime.session.run`.

`plan` decides, from what is on disk, whether a trial is done (same spec hash, params, seed and
settings, results present), can be resumed (a checkpoint of the same trial) or starts afresh; a
stale folder (another spec hash or other settings) is moved aside, never deleted. `execute` runs
in a Ray worker and never raises: a failure comes back as a record with its error.
"""
from __future__ import annotations

import _thread
import json
import os
import signal
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

TRIAL_FILE = "trial.json"
STOP_FILE = ".stop"             # in the experiment folder: the driver's Ctrl-C, seen by every trial


@dataclass
class TrialJob:
    """Everything a worker needs to run one trial (plain data: it travels to Ray workers)."""
    key: str
    spec: str
    label: str
    overrides: dict[str, str]
    seed: int
    settings: dict[str, int]
    run_dir: str
    spec_hash: str
    device: str | None = None
    threads: int = 1
    cache_dir: str | None = None
    data_root: str | None = None
    source: str | None = None
    resume: bool = False
    stop_file: str | None = None

    def identity(self) -> dict:
        """What makes two trials the same trial."""
        return {"spec_hash": self.spec_hash, "overrides": dict(sorted(self.overrides.items())), "seed": self.seed,
                "settings": dict(sorted(self.settings.items()))}


@dataclass
class TrialRecord:
    key: str
    status: str                 # done | skipped | failed | interrupted | diverged
    run_dir: str
    error: str = ""
    wall_s: float = 0.0
    results: dict = field(default_factory=dict)
    started: float = 0.0        # wall-clock times (time.time()) of the worker's start and end
    ended: float = 0.0
    granted: dict = field(default_factory=dict)     # what Ray gave the worker: resources, GPU ids


def granted_resources() -> dict:
    """The share of the cluster this worker runs with, as Ray granted it ({} outside a Ray worker):
    {"CPU": 1.0, "GPU": 0.25, "gpu_ids": [0], "CUDA_VISIBLE_DEVICES": "0"}. Kept in the trial's record
    so a sweep shows which device each trial shared and how much of it."""
    try:
        import ray
        if not ray.is_initialized():
            return {}
        granted = {k: float(v) for k, v in ray.get_runtime_context().get_assigned_resources().items()}
        gpus = [int(g) if str(g).isdigit() else str(g) for g in ray.get_gpu_ids()]
    except Exception:                     # not inside a Ray task, or an older Ray: nothing to record
        return {}
    if gpus:
        granted.update(gpu_ids=gpus, CUDA_VISIBLE_DEVICES=os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    return granted


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def plan(job: TrialJob) -> str:
    """'skip', 'resume' or 'fresh' (moving a stale folder aside first)."""
    run_dir = Path(job.run_dir)
    if not run_dir.is_dir():
        return "fresh"
    stored = _read_json(run_dir / TRIAL_FILE)
    same = stored is not None and stored.get("identity") == job.identity()
    if same and (run_dir / "results.json").is_file():
        return "skip"
    info = _read_json(run_dir / "run.json") or {}
    if same and not info:
        return "fresh"        # stopped before the runtime wrote anything: nothing to keep aside
    if same and info.get("status") in ("training", "interrupted", "finished"):
        return "resume"       # from its checkpoint (none yet: the runtime starts it again); "finished"
                              # without results: stopped during its evaluation
    if any(run_dir.iterdir()):
        _move_aside(run_dir)
    return "fresh"


def _move_aside(run_dir: Path) -> Path:
    n = 1
    while (target := run_dir.with_name(f"{run_dir.name}.stale-{n}")).exists():
        n += 1
    run_dir.rename(target)
    return target


def execute(job: TrialJob) -> TrialRecord:
    """Train and evaluate one trial; any failure is returned, not raised."""
    done = threading.Event()
    if job.stop_file:
        threading.Thread(target=_watch_for_stop, args=(Path(job.stop_file), done), daemon=True).start()
    try:
        record = _execute(job)
    finally:
        done.set()
    record.ended = time.time()
    record.granted = granted_resources()
    return record


def _watch_for_stop(stop: Path, done: threading.Event) -> None:
    """When the driver is interrupted it writes the stop file: act as a Ctrl-C in this worker. During
    training the runtime's SIGINT handler then finishes the step and writes a checkpoint; before or
    after training, KeyboardInterrupt ends the trial (it restarts or resumes next time)."""
    while not done.wait(0.5):
        if stop.exists():
            handler = signal.getsignal(signal.SIGINT)
            if callable(handler) and handler is not signal.default_int_handler:
                try:
                    handler(signal.SIGINT, None)      # the training loop's handler: stop after this step
                except KeyboardInterrupt:
                    pass
            else:
                _thread.interrupt_main()
            return


def _execute(job: TrialJob) -> TrialRecord:
    start, started = time.perf_counter(), time.time()
    run_dir = Path(job.run_dir)
    try:
        import torch
        torch.set_num_threads(max(1, job.threads))
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_trial(run_dir, job, "running")
        result = _run(job, run_dir)
        status = {"finished": "done"}.get(result.status, result.status)
        _write_trial(run_dir, job, status, result.message)
        return TrialRecord(job.key, status, job.run_dir, result.message, time.perf_counter() - start,
                           result.results or {}, started)
    except KeyboardInterrupt:
        return TrialRecord(job.key, "interrupted", job.run_dir, "interrupted", time.perf_counter() - start,
                           started=started)
    except Exception as err:                          # recorded with its error; the sweep goes on
        message = f"{type(err).__name__}: {err}"
        try:
            _write_trial(run_dir, job, "failed", message, traceback.format_exc())
        except OSError:
            pass
        return TrialRecord(job.key, "failed", job.run_dir, message, time.perf_counter() - start, started=started)


def _run(job: TrialJob, run_dir: Path):
    from ..evaluate import EvalConfig
    from ..session import DataOptions, RunOptions, run
    s = job.settings
    eval_cfg = EvalConfig(n_test=s.get("eval_samples"), n_probe_override=s.get("probe_samples"),
                          iw_k_override=s.get("iw_samples"), cache_dir=Path(job.cache_dir) if job.cache_dir else None,
                          seed=job.seed, classifier_steps=s.get("classifier_steps", EvalConfig.classifier_steps))
    if s.get("fid_samples"):
        eval_cfg.fid_samples = s["fid_samples"]
    data = DataOptions(job.data_root, job.source, s.get("standin"), job.cache_dir)
    opts = RunOptions(spec=Path(job.spec), overrides=dict(job.overrides), data=data, device=job.device,
                      epochs=s.get("epochs"), out=run_dir, seed=job.seed, progress=False, eval=eval_cfg,
                      resume=run_dir if job.resume else None)
    with open(run_dir / "trial.log", "a") as log:
        return run(opts, log=lambda line: print(line, file=log, flush=True))


def _write_trial(run_dir: Path, job: TrialJob, status: str, error: str = "", trace: str = "") -> None:
    record = {"key": job.key, "label": job.label, "spec": job.spec, "identity": job.identity(), "status": status,
              "error": error, "updated": time.strftime("%F %T")}
    if trace:
        record["traceback"] = trace
    tmp = run_dir / f"{TRIAL_FILE}.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(run_dir / TRIAL_FILE)


def job_dict(job: TrialJob) -> dict:
    return asdict(job)
