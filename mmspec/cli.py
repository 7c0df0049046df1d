"""The `mmspec` command line: check, explain, graph, list — plus plugged-in commands.

Commands that need the runtime (run, eval, report, data, bench) are registered by the runtime
package through the `mmspec.commands` entry-point group, so mmspec/ never imports runtime/.
"""
from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import click

from .errors import SpecError
from .experiment import check_experiment_file as _check_experiment, is_experiment_file


def parse_overrides(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--set")
        out[name.strip()] = value.strip()
    return out


def load_program(path: str, overrides: dict[str, str]):
    """Check a spec file; on a spec mistake print the located message and exit 1."""
    from .check import check_file
    try:
        return check_file(path, overrides)
    except SpecError as err:
        click.echo(str(err), err=True)
        sys.exit(1)


class PluggableGroup(click.Group):
    """The built-in commands, plus those of the `mmspec.commands` entry-point group, each loaded only
    when it is run (or listed in --help): `mmspec check` never imports the runtime, nor torch."""

    def list_commands(self, ctx) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | {ep.name for ep in entry_points(group="mmspec.commands")})

    def get_command(self, ctx, name: str):
        found = super().get_command(ctx, name)
        if found is not None:
            return found
        ep = next((ep for ep in entry_points(group="mmspec.commands") if ep.name == name), None)
        return None if ep is None else _load_plugin(ep)


@click.group(cls=PluggableGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mmspec")
def main() -> None:
    """mmspec: multimodal VAEs as declarative specs."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a param.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Where own data folders are looked for (default: $MMSPEC_DATA_ROOT).")
def check(files: tuple[str, ...], sets: tuple[str, ...], data_root: str | None) -> None:
    """Parse and check spec FILES, and each against its data's headers; exit 1 if any has an error.
    A folder stands for every spec (.mms) and experiment (.mmx) under it."""
    from .check import check_file
    from .data.check import check_program_data
    failed = 0
    files = _spec_files(files)
    for path in files:
        try:
            if is_experiment_file(path):
                _check_experiment(path)
            else:
                check_program_data(check_file(path, parse_overrides(sets)), data_root)
            click.echo(f"{path}: ok")
        except SpecError as err:
            failed += 1
            click.echo(str(err), err=True)
    if failed:
        click.echo(f"{failed} of {len(files)} spec(s) have errors", err=True)
        sys.exit(1)


def _spec_files(paths: tuple[str, ...]) -> list[str]:
    """The files to check: each path as given, a folder replaced by its .mms and .mmx files (recursively)."""
    out: list[str] = []
    for path in paths:
        if not Path(path).is_dir():
            out.append(path)
            continue
        found = sorted(str(p) for suffix in ("*.mms", "*.mmx") for p in Path(path).rglob(suffix))
        if not found:
            raise click.BadParameter(f"{path} is a folder with no .mms or .mmx file in it", param_hint="FILES")
        out += found
    return out


@main.command()
@click.argument("file", type=click.Path())
@click.option("--latex", "fmt", flag_value="latex", help="LaTeX (align*) output.")
@click.option("--json", "fmt", flag_value="json", help="JSON output for tools.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a param.")
@click.option("--expand", is_flag=True, help="Print every member of large subset families (folded beyond 64).")
@click.option("--budget", type=click.Choice(["paper", "quick"]), default="paper", help="Experiments (.mmx) only.")
def explain(file: str, fmt: str | None, sets: tuple[str, ...], expand: bool, budget: str) -> None:
    """Print the derived model and objective of FILE, term by term, and its cost per step
    (for an experiment .mmx: the runs it expands to and their cost)."""
    from .explain import Explanation, render_json, render_latex, render_text
    if is_experiment_file(file):                     # an experiment: its trials and their cost
        click.echo(_explain_experiment(file, budget, fmt))
        return
    program = load_program(file, parse_overrides(sets))
    ex = Explanation.of(program)
    if fmt is None:
        click.echo(render_text(ex, expand))
        return
    click.echo({"latex": render_latex, "json": render_json}[fmt](ex))


@main.command()
@click.argument("file", type=click.Path())
@click.option("-o", "--out", required=True, type=click.Path(), help="Output file: .dot, .svg or .png.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a param.")
@click.option("--show-infer", is_flag=True,
              help="Also draw the evaluation-only posteriors (what infer rules give that no objective reads).")
@click.option("--expand", is_flag=True, help="Draw every member of large families (folded beyond 8).")
def graph(file: str, out: str, sets: tuple[str, ...], show_infer: bool, expand: bool) -> None:
    """Draw the model graph of FILE: data -> encoders -> posteriors -> latents -> terms -> decoders."""
    from .explain.draw import draw
    target = Path(out)
    if target.suffix.lower() not in (".dot", ".svg", ".png"):
        click.echo(f"error: {out}: the output must end in .dot, .svg or .png", err=True)
        sys.exit(1)
    program = load_program(file, parse_overrides(sets))
    try:
        draw(program, target, show_infer=show_infer, expand=expand)
    except OSError as err:
        click.echo(f"error: cannot write {out}: {err.strerror}", err=True)
        sys.exit(1)
    click.echo(f"wrote {out}")


@main.command(name="list")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="Spec folder (default: specs/).")
@click.option("--methods-doc", is_flag=True, help="Print docs/methods.md (paper, spec, explain output).")
def list_specs(directory: str | None, methods_doc: bool) -> None:
    """The shipped specs, one line each: method, dataset, paper."""
    from .explain.catalog import render_methods_doc, shipped_specs, specs_dir
    if methods_doc:
        click.echo(render_methods_doc(Path(directory) if directory else None), nl=False)
        return
    entries = shipped_specs(Path(directory) if directory else None)
    if not entries:
        click.echo(f"no specs found in {directory or specs_dir()}", err=True)
        sys.exit(1)
    width = max(len(e.method) for e in entries)
    for e in entries:
        click.echo(f"{e.method:<{width}}  {e.dataset:<10}  {e.paper}   ({e.path.name})")


def _explain_experiment(path: str, budget: str, fmt: str | None) -> str:
    from .experiment.explain import render_json as experiment_json, render_text as experiment_text
    if fmt == "latex":
        click.echo("error: --latex is for specs; an experiment explains as text or --json", err=True)
        sys.exit(1)
    try:
        return (experiment_json if fmt == "json" else experiment_text)(_check_experiment(path), budget)
    except SpecError as err:
        click.echo(str(err), err=True)
        sys.exit(1)


def _load_plugin(ep) -> click.Command:
    try:
        return ep.load()
    except Exception as err:  # a broken plug-in must not take down check/explain
        message = f"unavailable: {type(err).__name__}: {err}"

        @click.command(ep.name, help=message, context_settings={"ignore_unknown_options": True})
        @click.argument("args", nargs=-1, type=click.UNPROCESSED)
        def broken(args, _message=message):
            click.echo(f"error: this command is {_message}", err=True)
            sys.exit(1)
        return broken
