"""`mmspec bench` (plugged into the mmspec CLI by the `mmspec.commands` entry point)."""
from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from .. import cli_values as values
from ..cli import _overrides, clean_errors


@click.command("bench")
@click.argument("spec", type=values.Path_(exists=True, dir_okay=False, path_type=Path))
@click.option("--device", type=click.Choice(["cuda", "cpu"]), help="Default: CUDA when present.")
@click.option("--batch", type=values.POSITIVE, help="Batch size (default: the spec's).")
@click.option("--steps", type=values.POSITIVE, default=20, show_default=True, help="Timed steps (after the warm-up).")
@click.option("--warmup", type=values.NON_NEGATIVE, default=3, show_default=True, help="Untimed steps first (compilation, caches).")
@click.option("--against", type=click.Choice(["multivae", "plain"]),
              help="Also time the same model in MultiVae, or on mmspec's plain path (eager, float32, "
                   "networks one by one), alternating.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a spec param (repeatable).")
@click.option("--amp", type=click.Choice(["bf16"]), help="Mixed precision for mmspec's step.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile mmspec's training step.")
@click.option("--batched/--no-batched", default=None,
              help="Identical networks as one vmapped call (default: on CUDA only).")
@click.option("--seed", type=values.SEED, default=0, show_default=True)
@click.option("--out", type=values.Path_(dir_okay=False, path_type=Path), callback=values.writable_file,
              help="Also write the result as JSON.")
@clean_errors
def bench(spec, device, batch, steps, warmup, against, sets, amp, compile_, batched, seed, out):
    """Training throughput of SPEC: samples/s, median step time, peak memory (optionally vs MultiVae)."""
    from .run import BenchOptions, bench as run_bench, summary_lines
    console = Console(highlight=False, markup=False)
    opts = BenchOptions(spec=spec, overrides=_overrides(sets), device=device, batch=batch, steps=steps,
                        warmup=warmup, against=against, seed=seed, amp=amp, compile=compile_, batched=batched)
    result = run_bench(opts, log=lambda s: console.print(s, soft_wrap=True))
    for line in summary_lines(result):
        console.print(line, soft_wrap=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        console.print(f"written: {out}")
