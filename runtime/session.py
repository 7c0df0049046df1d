"""`mmspec run` and `mmspec eval` as functions: compile, load data, train, evaluate, report.

The CLI parses options into `RunOptions`/`EvalOptions` and calls `run`/`evaluate_run`; tests call
them directly. Failures a user can cause (bad spec, missing data, changed spec on resume, a diverged
loss) surface as `SpecError`, `DataError` or `RunError` with a complete message.
"""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import rundir
from .errors import RunError
from .evaluate import EvalConfig, evaluate
from .report.writer import write_all
from .train import checkpoint, distributed
from .train.loop import LoopConfig, Outcome
from .train.stages import trainer_for
from .train.progress import TrainingDisplay


def default_cache_dir() -> Path:
    return Path(os.environ.get("MMSPEC_CACHE", "~/.cache/mmspec")).expanduser()


@dataclass
class DataOptions:
    data_root: str | None = None
    source: str | None = None              # None: "auto", or what the run used when resuming/evaluating
    standin_size: int | None = None
    cache_dir: str | None = None
    folder: str | None = None              # own data: the folder a run read its files from (eval reuses it)


@dataclass
class RunOptions:
    spec: Path
    overrides: dict[str, str] = field(default_factory=dict)
    data: DataOptions = field(default_factory=DataOptions)
    device: str | None = None
    epochs: int | None = None
    out: Path | None = None
    seed: int | None = None                # None: 0 for a new run, the run's own seed when resuming
    resume: Path | None = None
    amp: str | None = None
    compile: bool = False
    log_every: int = 50
    evaluate: bool = True
    eval: EvalConfig = field(default_factory=EvalConfig)
    progress: bool = True
    stop_after_epoch: int | None = None
    stop_after_steps: int | None = None


@dataclass
class RunResult:
    status: str
    run_dir: Path
    outcome: Outcome | None = None
    results: dict | None = None
    message: str = ""


def resolve_device(name: str | None) -> torch.device:
    if name is None:
        from mmspec.compiled import default_device
        return default_device()
    if name == "cuda" and not torch.cuda.is_available():
        raise RunError("--device cuda was asked for, but torch sees no CUDA device here; use --device cpu")
    return torch.device(name)


def compile_model(spec: Path, overrides: dict[str, str], device: torch.device, seed: int):
    """Seeded compilation (initial weights depend on the seed), moved to the device."""
    from mmspec import compile_spec
    torch.manual_seed(seed)
    model = compile_spec(Path(spec), dict(overrides) or None)
    model.module.to(device)
    return model


def load_data(model, data: DataOptions, *, seed: int, device: torch.device):
    """The spec's dataset (built-in, or its own files: runtime/data/owndata.py), checked against the
    spec's modalities first (a located SpecError, before anything is loaded or written)."""
    from runtime.data import load_dataset
    from runtime.data.owndata import spec_data
    name, declared = spec_data(model, data.data_root, data.folder)
    dataset = load_dataset(name, data_root=data.data_root, source=data.source or "auto", seed=seed,
                           device=str(device), standin_size=data.standin_size,
                           cache_dir=data.cache_dir, declared=declared, folder=data.folder)
    check_compatible(model, dataset)
    return dataset


def check_trainable(model, dataset) -> None:
    """A training split without items cannot make a single batch."""
    if int(dataset.split_size("train")) < 1:
        raise RunError(f"the training split of dataset {model.dataset!r} has no items; nothing to train on "
                       "(check the data files, or --standin-size)")


def check_compatible(model, dataset) -> None:
    """Every spec modality must exist in the dataset with the same kind and shape."""
    problems = []
    for name, info in {**model.modalities, **getattr(model, "givens", {})}.items():   # given data too (CVAE)
        got = dataset.modalities.get(name)
        if got is None:
            problems.append(f"modality {name!r} is not in dataset {model.dataset!r} "
                            f"(it has {', '.join(dataset.modalities)})")
        elif got.kind != info.kind or tuple(got.shape) != tuple(info.shape):
            problems.append(f"modality {name!r}: the spec says {info.kind}{tuple(info.shape)}, "
                            f"dataset {model.dataset!r} has {got.kind}{tuple(got.shape)}")
    if problems:
        raise RunError("the spec does not fit its data:\n  " + "\n  ".join(problems))


def _data_record(dataset, model, data: DataOptions) -> dict:
    mods = {m: {"source": str(dataset.modalities[m].source), "origin": str(dataset.modalities[m].origin),
                "shape": list(dataset.modalities[m].shape)} for m in model.modalities}
    for m in mods:                          # own captions: the vocabulary built from the training split
        if dataset.modalities[m].vocabulary is not None and getattr(model, "data_decl", None) is not None:
            mods[m]["vocabulary"] = dataset.modalities[m].vocabulary
    return {"name": model.dataset, "data_root": data.data_root, "source": data.source or "auto",
            "standin_size": data.standin_size, "cache_dir": data.cache_dir, "modalities": mods,
            "folder": getattr(dataset, "folder", None),
            "banner": dataset.banner(), "train_items": int(dataset.split_size("train")),
            "test_items": int(dataset.split_size("test"))}


def _train_record(model, epochs: int) -> dict:
    t = model.train
    return {"epochs": epochs, "batch": t.batch, "optimizer": {"name": t.optimizer.name, **t.optimizer.params},
            "scheduler": {"name": t.scheduler.name, **t.scheduler.params}}


def _merge_data(stored: dict, given: DataOptions) -> DataOptions:
    """Data options for a resumed or re-evaluated run: the command line's, else the run's own."""
    return DataOptions(given.data_root or stored.get("data_root"), given.source or stored.get("source"),
                       given.standin_size or stored.get("standin_size"), given.cache_dir or stored.get("cache_dir"),
                       given.folder or stored.get("folder"))


def _resume_settings(opts: RunOptions, stored: dict) -> None:
    """Seed and data of the run being resumed; a different value on the command line is refused."""
    data = stored.get("data", {})
    given = {"--seed": (opts.seed, stored.get("seed", 0)),
             "--standin-size": (opts.data.standin_size, data.get("standin_size")),
             "--source": (opts.data.source, data.get("source"))}
    changed = [f"  {flag}: the run used {was if was is not None else '(the default)'}, now {now}"
               for flag, (now, was) in given.items() if now is not None and now != was and
               not (flag == "--source" and was is None and now == "auto")]
    if changed:
        raise RunError("refusing to resume: the command line changes how the run was trained:\n"
                       + "\n".join(changed) + "\nResuming must see the same data in the same order; leave "
                       "these flags out (the run's own values are used), or start a new run (another --out).")
    opts.seed = stored.get("seed", 0)
    opts.data = _merge_data(data, opts.data)
    if opts.epochs is None:
        opts.epochs = stored.get("train", {}).get("epochs")


def _prepare_run_dir(opts: RunOptions, model) -> tuple[Path, checkpoint.Checkpoint | None]:
    if opts.resume is not None:
        run_dir = Path(opts.resume)
        if not any((run_dir / name).exists() for name in checkpoint.PREFERENCE):
            return run_dir, None               # stopped before its first checkpoint: start it again
        ckpt = checkpoint.load(run_dir)
        msg = checkpoint.spec_change_message(ckpt, new_text=model.source_text, new_hash=model.source_hash,
                                             new_params=dict(model.params), new_overrides=dict(opts.overrides),
                                             spec_name=str(opts.spec))
        if msg:
            raise RunError(msg)
        return run_dir, ckpt
    run_dir = Path(opts.out) if opts.out else rundir.default_run_dir(model.name)
    if any((run_dir / name).exists() for name in checkpoint.PREFERENCE + ("run.json",)):
        raise RunError(f"{run_dir} already holds a run; continue it with --resume {run_dir}, "
                       "or choose another --out")
    return run_dir, None


def _prepare_on_main(ctx, opts: RunOptions, model) -> tuple[Path, checkpoint.Checkpoint | None]:
    """Rank 0 checks and names the run directory; the other ranks read the checkpoint it names."""
    run_dir = Path(distributed.on_main(ctx, lambda: str(_prepare_run_dir(opts, model)[0])))
    return run_dir, checkpoint.load(run_dir) if opts.resume is not None else None


def run(opts: RunOptions, log: Callable[[str], None] = print, console=None) -> RunResult:
    """Train (or resume) a spec, then evaluate it and write the report.

    Under a multi-process launch (`--nproc`, torchrun) every rank calls this; rank 0 alone writes,
    holds the run folder's lock and evaluates (train/distributed.py)."""
    ctx = distributed.context(opts.device)
    device = ctx.device if ctx else resolve_device(opts.device)
    main = ctx is None or ctx.is_main
    if not main:
        log, console = (lambda *_a, **_k: None), None
    if opts.epochs is not None and opts.epochs < 1:
        raise RunError(f"--epochs must be at least 1, got {opts.epochs}")
    if opts.resume is not None:
        _resume_settings(opts, rundir.read(opts.resume))
    elif opts.seed is None:
        opts.seed = 0
    opts.eval.seed = opts.seed
    model = compile_model(opts.spec, opts.overrides, device, opts.seed)
    if not main:
        return _locked_run(opts, model, device, log, console, ctx)
    lock = rundir.RunLock(Path(opts.resume or opts.out or rundir.default_run_dir(model.name)))
    if opts.resume is None and opts.out is None:
        opts.out = lock.path.parent
    lock.acquire()
    try:
        return _locked_run(opts, model, device, log, console, ctx)
    finally:
        lock.release()            # a folder this run made and failed to write into goes with the lock


def _locked_run(opts: RunOptions, model, device, log, console, ctx) -> RunResult:
    main = ctx is None or ctx.is_main
    run_dir, ckpt = _prepare_run_dir(opts, model) if ctx is None else _prepare_on_main(ctx, opts, model)
    dataset = load_data(model, opts.data, seed=opts.seed, device=device)
    check_trainable(model, dataset)
    log(dataset.banner())
    epochs = opts.epochs or model.train.epochs
    if ckpt is not None and ckpt.note:
        log(ckpt.note)
    if ckpt is None and opts.resume is not None:
        log(f"{run_dir} stopped before its first checkpoint; training it from the beginning")
    if ckpt is None and main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "spec.mms").write_text(model.source_text)
        rundir.write(run_dir, {
            "model": model.name, "spec_file": str(opts.spec), "spec_hash": model.source_hash,
            "overrides": dict(opts.overrides), "params": dict(model.params), "seed": opts.seed,
            "train": _train_record(model, epochs), "data": _data_record(dataset, model, opts.data),
            "versions": rundir.package_versions(), "device": rundir.device_info(device),
            "amp": opts.amp, "compile": opts.compile, "argv": sys.argv, "created": time.strftime("%F %T"),
            "status": "training"})
    elif main:
        rundir.update(run_dir, status="training", device=rundir.device_info(device),
                      train=_train_record(model, epochs))
    log(f"run directory: {run_dir}")
    meta = {"spec_hash": model.source_hash, "overrides": dict(opts.overrides), "params": dict(model.params),
            "seed": opts.seed}
    cfg = LoopConfig(epochs=epochs, batch=model.train.batch, seed=opts.seed, amp=opts.amp, compile=opts.compile,
                     log_every=opts.log_every, stop_after_epoch=opts.stop_after_epoch,
                     stop_after_steps=opts.stop_after_steps)
    display = TrainingDisplay(console=console if opts.progress else None, tb_dir=run_dir / "tensorboard",
                              epochs=epochs, purge_step=ckpt.meta.get("step", 0) if ckpt else 0) if main else None
    if ctx is None:
        trainer = trainer_for(model, dataset, cfg, run_dir=run_dir, meta=meta, display=display)   # one stage unless the spec has several
    else:
        trainer = distributed.trainer(ctx, model, dataset, cfg, run_dir=run_dir, meta=meta, display=display)
    n_train = int(dataset.split_size("train"))
    for note in model.schedule_notes(epochs, n_train // min(model.train.batch, n_train)):
        log(f"note: {note}")
    if ckpt is not None:
        trainer.restore(ckpt)
        stage = f", stage {ckpt.meta['stage']}" if ckpt.meta.get("stages") else ""
        log(f"resuming after step {trainer.loop['step']} (epoch {trainer.loop['epoch'] + 1} of {epochs}{stage})")
    outcome = trainer.fit()
    if not main:
        return RunResult(outcome.status, run_dir, outcome, message=outcome.message)
    rundir.update(run_dir, status=outcome.status, epochs_trained=outcome.epoch, steps=outcome.step,
                  train_wall_s=round(trainer.loop["wall_s"], 1), history=outcome.history, log_steps=outcome.steps)
    if outcome.status != "finished" or not opts.evaluate:
        return RunResult(outcome.status, run_dir, outcome, message=outcome.message)
    results = evaluate_loaded(run_dir, model, dataset, opts.eval, log)
    return RunResult("finished", run_dir, outcome, results)


@dataclass
class EvalOptions:
    run_dir: Path
    data: DataOptions = field(default_factory=DataOptions)
    device: str | None = None
    eval: EvalConfig = field(default_factory=EvalConfig)


def evaluate_run(opts: EvalOptions, log: Callable[[str], None] = print) -> dict:
    """`mmspec eval RUN_DIR`: rebuild the model from the run's own spec copy and its checkpoint."""
    info = rundir.read(opts.run_dir)
    device = resolve_device(opts.device)
    if opts.eval.seed is None:
        opts.eval.seed = info.get("seed", 0)
    ckpt = checkpoint.load(opts.run_dir, need_state=False)        # evaluation needs no optimizer state
    if ckpt.note:
        log(ckpt.note)
    spec = _trained_spec(Path(opts.run_dir), ckpt, log)
    model = compile_model(spec, info.get("overrides", {}), device, info.get("seed", 0))
    if model.source_hash != ckpt.meta.get("spec_hash"):
        log("note: this mmspec compiles the run's spec to a different hash than when it was trained "
            "(the compiler changed); evaluating the stored weights anyway")
    ckpt.load_weights(model.module, device)
    dataset = load_data(model, _merge_data(info.get("data", {}), opts.data), seed=info.get("seed", 0), device=device)
    log(dataset.banner())
    return evaluate_loaded(opts.run_dir, model, dataset, opts.eval, log, merge=True)


def _trained_spec(run_dir: Path, ckpt: checkpoint.Checkpoint, log) -> Path:
    """The run folder's spec.mms when it is the text the weights were trained with, else the
    checkpoint's (checksummed) copy of that text."""
    path = run_dir / "spec.mms"
    try:
        if path.read_bytes() == (ckpt.folder / checkpoint.SPEC).read_bytes():
            return path
        what = "was edited or damaged since training"
    except OSError as exc:
        what = f"cannot be read: {exc.strerror or exc}"
    log(f"note: the run folder's spec no longer matches its hash ({path} {what}); evaluating with the copy "
        f"the weights were trained with, {ckpt.folder / checkpoint.SPEC}")
    return ckpt.folder / checkpoint.SPEC


def _merged(run_dir: Path, fresh: dict, log) -> dict:
    """Earlier results of the same weights, overlaid by the metrics just computed (`eval --metrics`)."""
    path = Path(run_dir) / "results.json"
    if not path.exists():
        return fresh
    from .report.compare import load_results
    try:
        old = load_results(run_dir)
    except RunError as exc:
        log(f"note: the earlier results are not kept ({exc})")
        return fresh
    if old.get("run", {}).get("steps") != fresh["run"]["steps"]:
        return fresh
    merged = dict(old, **fresh)
    merged["metrics"] = sorted(set(old.get("metrics", [])) | set(fresh["metrics"]))
    merged["timing_s"] = dict(old.get("timing_s", {}), **fresh["timing_s"])
    merged.pop("plots", None)
    return merged


def evaluate_loaded(run_dir: Path, model, dataset, cfg: EvalConfig, log, merge: bool = False) -> dict:
    """Evaluate a model that is ready on its device; write results.json, report.md and the plots."""
    if cfg.cache_dir is None:
        cfg.cache_dir = default_cache_dir()
    start = time.perf_counter()
    evaluation = evaluate(model, dataset, cfg, log)
    eval_s = round(time.perf_counter() - start, 1)
    info = rundir.update(run_dir, eval_wall_s=eval_s)
    run = {"spec_file": info.get("spec_file"), "spec_hash": info.get("spec_hash"), "params": info.get("params"),
           "device": info.get("device", {}).get("name"), "data_banner": info.get("data", {}).get("banner"),
           "epochs_trained": info.get("epochs_trained"), "steps": info.get("steps"),
           "train_wall_s": info.get("train_wall_s", 0.0), "eval_wall_s": eval_s, "run_dir": str(run_dir)}
    if info.get("stages"):                                  # training stages: epochs, validation, selected epoch
        run["stages"] = info["stages"]
    results = dict(evaluation.results, run=run)
    if merge:
        results = _merged(run_dir, results, log)
    _flag_not_finite(results, log)
    kinds = {m: i.kind for m, i in {**model.modalities, **getattr(model, "givens", {})}.items()}   # + given data
    write_all(run_dir, results, evaluation.grids, kinds=kinds, to_text=dataset.text_to_strings,
              history=info.get("history", []), steps=info.get("log_steps", []))
    log(f"report: {Path(run_dir) / 'report.md'}")
    return results


def not_finite(value, where: str = "") -> list[str]:
    """Paths (a.b.c) of the NaN or infinite numbers in a JSON-like result."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [f"{where} = {value}"]
    if isinstance(value, dict):
        return [p for k, v in value.items() if k != "not_finite" for p in not_finite(v, f"{where}.{k}" if where else str(k))]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in not_finite(v, f"{where}[{i}]")]
    return []


def _flag_not_finite(results: dict, log) -> None:
    """A NaN or infinite result is marked in results.json and the report, never shown as a number alone."""
    bad = not_finite({k: v for k, v in results.items() if k not in ("run", "timing_s")})
    results.pop("not_finite", None)
    if not bad:
        return
    results["not_finite"] = bad
    shown = ", ".join(bad[:6]) + (f" and {len(bad) - 6} more" if len(bad) > 6 else "")
    warning = (f"WARNING: {len(bad)} result(s) are not finite ({shown}): the model produces NaN or infinite "
               "values, so these numbers mean nothing")
    results["notes"] = [n for n in results.get("notes", []) if not n.startswith("WARNING:")] + [warning]
    log(warning)
