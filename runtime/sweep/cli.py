"""`mmspec sweep` (plugged into the mmspec CLI by the `mmspec.commands` entry point)."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from ..cli import clean_errors
from ..errors import RunError


@click.command("sweep")
@click.argument("experiment", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--budget", type=click.Choice(["quick", "paper"]), default="quick", show_default=True,
              help="quick: shrunk trials (minutes on a laptop CPU); paper: the specs' own settings.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Experiment folder (default: runs/experiments/NAME-BUDGET).")
@click.option("--address", help="An existing Ray cluster (HEAD:6379, ray://HEAD:10001 or auto); default: a local Ray.")
@click.option("--connect-timeout", type=click.FloatRange(min=0.1), default=20.0, show_default=True,
              help="Seconds to reach --address before giving up with a message.")
@click.option("--max-concurrent", type=int, help="Trials at a time (default: all the CPUs, or as many as fit "
                                                  "on the GPUs).")
@click.option("--num-cpus", type=int, help="CPUs of the local Ray (default: all of this machine's).")
@click.option("--gpus-per-trial", type=click.FloatRange(min=0, max=1, min_open=True),
              help="Fraction of a GPU per trial (default: as many trials per GPU as their memory estimate fits, "
                   "at most 8; 0.25 when unknown).")
@click.option("--device", type=click.Choice(["cuda", "cpu"]), help="Default: CUDA when the cluster has GPUs.")
@click.option("--data-root", type=click.Path(path_type=Path), help="Folder with the real dataset files.")
@click.option("--source", type=str, help="Where data comes from: auto (default), real or standin.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Cache for classifiers and data.")
@clean_errors
def sweep(experiment, budget, out, address, connect_timeout, max_concurrent, num_cpus, gpus_per_trial, device,
          data_root, source, cache_dir):
    """Run every trial of EXPERIMENT (.mmx) on Ray, skip the finished ones, then write the report."""
    from mmspec.experiment import is_experiment_file
    from .driver import SweepOptions, require_ray, sweep as run_sweep
    from .report import experiment_report
    if not is_experiment_file(experiment):
        raise RunError(f"{experiment}: `mmspec sweep` takes an experiment file (.mmx); run a spec with `mmspec run`")
    if max_concurrent is not None and max_concurrent < 1:
        raise RunError("--max-concurrent must be at least 1")
    require_ray()
    console = Console(highlight=False)
    opts = SweepOptions(experiment, out, budget, address, max_concurrent, num_cpus, gpus_per_trial, device,
                        _str(cache_dir), _str(data_root), source, connect_timeout=connect_timeout)
    summary = run_sweep(opts, console=console)
    console.print()
    done, skipped = summary.count("done"), summary.count("skipped")
    failed = summary.count("failed", "diverged")
    console.print(f"{done} trials done, {skipped} already done, {failed} failed"
                  + (f", {summary.count('interrupted')} interrupted" if summary.interrupted else ""))
    experiment_report(summary.out)
    console.print(f"report: {summary.out / 'report.md'}")
    if summary.interrupted:
        console.print(f"interrupted; the same command resumes the unfinished trials:\n  mmspec sweep {experiment} "
                      f"--budget {budget} --out {summary.out}")
        sys.exit(130)
    if failed:
        sys.exit(1)


def _str(path) -> str | None:
    return str(path) if path is not None else None
