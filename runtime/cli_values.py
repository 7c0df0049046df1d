"""Validated command-line values for run, eval, report, bench and data.

Every flag is checked by click before anything is compiled, loaded or trained, so a bad value costs
nothing and its message names the flag ("Invalid value for '--epochs': 0 is not in the range x>=1").
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import click

class Path_(click.Path):
    """click.Path that refuses a NUL byte with a usage error (click's own stat raises ValueError)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and "\x00" in value:
            self.fail(f"{value!r} is not a valid path (it holds a NUL byte)", param, ctx)
        return super().convert(value, param, ctx)


POSITIVE = click.IntRange(min=1)
NON_NEGATIVE = click.IntRange(min=0)
SEED = click.IntRange(0, 2**31 - 1)          # seeds feed torch, numpy and scikit-learn (which wants < 2**32)
DIGITS = click.IntRange(0, 15)
SOURCE = click.Choice(["auto", "real", "standin"])


def _path_problem(path: Path, *, folder: bool) -> str | None:
    """Why `path` cannot be written (a folder to create or fill, or a file to write), or None."""
    try:
        if path.exists() and folder and not path.is_dir():
            return f"{path} is a file, not a folder"
        if path.exists() and not folder and path.is_dir():
            return f"{path} is a folder, not a file"
        ancestor = path if folder else path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if ancestor.exists() and not ancestor.is_dir():
            return f"{ancestor} is a file, so {path} cannot be created under it"
        with tempfile.TemporaryFile(dir=ancestor or Path(".")):
            pass
    except ValueError as exc:                     # e.g. an embedded NUL byte
        return f"{path!r} is not a valid path ({exc})"
    except OSError as exc:
        return f"cannot write in {getattr(exc, 'filename', None) or path}: {exc.strerror or exc}"
    return None


def writable_folder(ctx, param, value):
    """Callback: a folder that exists and is writable, or can be created."""
    if value is not None and (problem := _path_problem(Path(value), folder=True)):
        raise click.BadParameter(problem, ctx=ctx, param=param)
    return value


def writable_file(ctx, param, value):
    """Callback: a file that can be written (its folder exists and is writable, or can be created)."""
    if value is not None and (problem := _path_problem(Path(value), folder=False)):
        raise click.BadParameter(problem, ctx=ctx, param=param)
    return value


def metric_names(ctx, param, value):
    """Callback: comma-separated metric names, each known (aliases allowed), none empty."""
    if value is None:
        return None
    from .evaluate.suite import ALIASES, ALL_METRICS
    names = [n.strip() for n in value.split(",")]
    if not any(names) or "" in names:
        raise click.BadParameter(f"{value!r} has an empty metric name; give comma-separated names "
                                 f"from: {', '.join(ALL_METRICS)}", ctx=ctx, param=param)
    unknown = [n for n in names if n not in ALL_METRICS and n not in ALIASES]
    if unknown:
        raise click.BadParameter(f"unknown metric{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                                 f"known: {', '.join(ALL_METRICS)} (and aliases {', '.join(sorted(ALIASES))})",
                                 ctx=ctx, param=param)
    return ",".join(names)


def fid_weights(ctx, param, value):
    """Callback: an existing file that torch can read as a state dict of weights."""
    if value is None:
        return None
    from .evaluate.fid import weights_problem
    if problem := weights_problem(Path(value)):
        raise click.BadParameter(problem, ctx=ctx, param=param)
    return value

