"""`mmspec run`, `mmspec eval` and `mmspec report` (plugged into the mmspec CLI by entry points).

Every failure a user can cause ends in a located message on stderr and exit status 1 — never a
traceback. Ctrl-C during training writes a checkpoint and exits with status 130.
"""
from __future__ import annotations

import functools
import shlex
import sys
from pathlib import Path

import click
from rich.console import Console

from . import cli_values as values
from .errors import RunError

PATH = values.Path_(path_type=Path)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is meant for the user (imported lazily: optional parts)."""
    types: list[type[BaseException]] = [RunError]
    try:
        from mmspec.errors import SpecError
        types.append(SpecError)
    except ImportError:
        pass
    try:
        from runtime.data import DataError
        types.append(DataError)
    except ImportError:
        pass
    return tuple(types)


def _print_error(text: str, prefix: bool = True) -> None:
    console = Console(stderr=True, highlight=False)
    if prefix:
        console.print("[bold red]error:[/] ", end="")
    console.print(text, markup=False, soft_wrap=True)


def clean_errors(fn):
    """Print user-facing errors without a traceback and exit 1."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _user_errors() as exc:
            text = str(exc)
            _print_error(text, prefix=not _says_error(text))    # a SpecError's lines already say `error:`
            sys.exit(1)
        except OSError as exc:              # a full disk, a folder that vanished, a permission changed
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            _print_error(f"{where}{exc.strerror or exc}")
            sys.exit(1)
        except KeyboardInterrupt:
            Console(stderr=True).print("interrupted")
            sys.exit(130)
    return wrapper


def _says_error(text: str) -> bool:
    first = text.lstrip().split("\n", 1)[0]
    return first.startswith("error:") or ": error: " in first


def _overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise RunError(f"--set expects NAME=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _eval_options(fn):
    """Options shared by `run` (its final evaluation) and `eval`."""
    options = [
        click.option("--eval-samples", type=values.POSITIVE,
                     help="Test items per metric (default: the whole test split)."),
        click.option("--probe-samples", type=values.POSITIVE, help="Training items the latent probe is fitted on "
                                                                  "(default: the spec's, else 10000)."),
        click.option("--iw-samples", type=values.POSITIVE,
                     help="Importance samples for the NLL (default: spec's k, else 12)."),
        click.option("--fid-weights", type=PATH, callback=values.fid_weights,
                     help="Local Inception-v3 weights for FID (or MMSPEC_FID_WEIGHTS); without them FID is skipped."),
        click.option("--classifier-steps", type=values.POSITIVE,
                     help="Cap on the training steps of each coherence classifier (default 20000; early "
                          "stopping on a validation split usually ends sooner; cached afterwards)."),
        click.option("--cache-dir", type=PATH, callback=values.writable_folder,
                     help="Cache for classifiers and data (default: MMSPEC_CACHE or ~/.cache/mmspec)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _data_options(fn):
    options = [
        click.option("--data-root", type=PATH, help="Folder with the real dataset files."),
        click.option("--source", type=values.SOURCE, help="Where data comes from: auto (default), real or standin."),
        click.option("--standin-size", type=values.POSITIVE, help="Items of the generated stand-in data per split."),
        click.option("--device", type=click.Choice(["cuda", "cpu"]), help="Default: CUDA when present."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _eval_config(kw: dict, metrics: str | None = None, seed: int | None = 0):
    from .evaluate import EvalConfig
    return EvalConfig(metrics=[m.strip() for m in metrics.split(",") if m.strip()] if metrics else None,
                      n_test=kw["eval_samples"], n_probe_override=kw["probe_samples"],
                      iw_k_override=kw["iw_samples"], fid_weights=kw["fid_weights"], cache_dir=kw["cache_dir"],
                      seed=seed, **({"classifier_steps": kw["classifier_steps"]} if kw["classifier_steps"] else {}))


@click.command("run")
@click.argument("spec", type=values.Path_(exists=True, dir_okay=False, path_type=Path))
@_data_options
@click.option("--epochs", type=values.POSITIVE, help="Override the spec's number of epochs.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a spec param (repeatable).")
@click.option("--out", type=PATH, callback=values.writable_folder, help="Run directory (default: runs/MODEL-TIMESTAMP).")
@click.option("--seed", type=values.SEED, help="Seed of initialisation, data order and noise (default: 0; "
                                               "when resuming, the run's own).")
@click.option("--resume", type=values.Path_(exists=True, file_okay=False, path_type=Path),
              callback=values.writable_folder, help="Continue the run in this directory exactly where it stopped.")
@click.option("--amp", type=click.Choice(["bf16"]), help="Mixed precision.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the training step.")
@click.option("--log-every", type=values.POSITIVE, default=50, show_default=True, help="Steps between logged values.")
@click.option("--no-eval", is_flag=True, help="Train only; evaluate later with `mmspec eval RUN_DIR`.")
@click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes training data-parallel (one per GPU; gloo on the CPU); the batch is global.")
@click.option("--metrics", callback=values.metric_names, help="Comma-separated metrics instead of the spec's evaluate line.")
@_eval_options
@clean_errors
def run(spec, data_root, source, standin_size, device, epochs, sets, out, seed, resume, amp, compile_,
        log_every, no_eval, metrics, nproc, **kw):
    """Train SPEC (CUDA when present), evaluate it and write the report into the run directory."""
    from .session import DataOptions, RunOptions, run as run_session
    console = Console(highlight=False, markup=False)
    opts = RunOptions(spec=spec, overrides=_overrides(sets), device=device, epochs=epochs, out=out, seed=seed,
                      resume=resume, amp=amp, compile=compile_, log_every=log_every, evaluate=not no_eval,
                      data=DataOptions(_str(data_root), source, standin_size, _str(kw["cache_dir"])),
                      eval=_eval_config(kw, metrics, seed=seed))
    if out is not None and resume is not None:
        raise click.UsageError("--out and --resume both name a run directory; give one of them")
    if nproc > 1:
        from .train.distributed import launch
        result = launch(opts, nproc)
    else:
        result = run_session(opts, log=console.print, console=console)
    from .train.distributed import finish, is_main
    main_rank = is_main()
    finish()                                     # under torchrun: every rank leaves the group together
    if not main_rank:                            # another rank of a torchrun launch: rank 0 reports
        return
    if result.status == "diverged":
        raise RunError(result.message)
    if result.status == "interrupted":
        console.print(f"interrupted after step {result.outcome.step}; checkpoint written. Continue with:\n"
                      f"  {continue_command(click.get_current_context(), result.run_dir)}", soft_wrap=True)
        sys.exit(130)
    _print_report(console, result.run_dir, result.results)


def continue_command(ctx: click.Context, run_dir: Path) -> str:
    """The `mmspec run` line that resumes this run: every option the user gave (--set included), with
    --resume RUN_DIR in place of --out/--resume."""
    from click.core import ParameterSource
    words = ["mmspec", "run", str(ctx.params["spec"]), "--resume", str(run_dir)]
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name in ("out", "resume") \
                or ctx.get_parameter_source(param.name) is not ParameterSource.COMMANDLINE:
            continue
        value, flag = ctx.params[param.name], param.opts[0]
        if param.is_flag:
            words += [flag] if value else []
        elif param.multiple:
            words += [w for v in value for w in (flag, str(v))]
        else:
            words += [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words)


def _str(path) -> str | None:
    return str(path) if path is not None else None


def _print_report(console: Console, run_dir: Path, results: dict | None) -> None:
    if results is not None:
        from .report.terminal import print_summary
        print_summary(console, results, run_dir)
    console.print(f"run directory: {run_dir}")
    if results is not None and results.get("not_finite"):
        raise RunError(f"{len(results['not_finite'])} result(s) are not finite (NaN or infinite): "
                       f"{', '.join(results['not_finite'][:6])}. They are marked in {run_dir / 'report.md'}; "
                       "the model's outputs are not usable as they stand.")


@click.command("eval")
@click.argument("run_dir", type=values.Path_(exists=True, file_okay=False, path_type=Path))
@_data_options
@click.option("--metrics", callback=values.metric_names, help="Comma-separated metrics instead of the spec's evaluate line.")
@click.option("--seed", type=values.SEED, help="Seed of the evaluation's sampling (default: the run's seed).")
@_eval_options
@clean_errors
def eval_cmd(run_dir, data_root, source, standin_size, device, metrics, seed, **kw):
    """Evaluate a trained run again (e.g. with FID weights) and rewrite its report."""
    from .session import DataOptions, EvalOptions, evaluate_run
    console = Console(highlight=False, markup=False)
    opts = EvalOptions(run_dir=run_dir, device=device, eval=_eval_config(kw, metrics, seed),
                       data=DataOptions(_str(data_root), source, standin_size, _str(kw["cache_dir"])))
    results = evaluate_run(opts, log=console.print)
    _print_report(console, run_dir, results)


@click.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=values.Path_(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=PATH, callback=values.writable_folder,
              help="Also write comparison.md, coherence.csv and probe.csv here.")
@click.option("--digits", type=values.DIGITS, default=2, show_default=True)
@clean_errors
def report(run_dirs, out, digits):
    """Several runs side by side: seed 001's Table 1 layout (coherence) and the latent-probe table.
    One experiment folder (from `mmspec sweep`): its tables and plots in the paper's layout."""
    from .sweep.aggregate import is_experiment_dir
    if len(run_dirs) == 1 and is_experiment_dir(run_dirs[0]):
        from .sweep.report import experiment_report
        click.echo(experiment_report(run_dirs[0], digits=max(digits, 3)))
        return
    from .report.compare import compare
    text = compare(list(run_dirs), out=out, digits=digits)
    click.echo(text)
