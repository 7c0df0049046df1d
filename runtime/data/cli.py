"""`mmspec data ...`: inspect what a spec's `data NAME` resolves to.

    mmspec data show NAME [--data-root DIR] [--source auto|real|standin] [--out grid.png]
    mmspec data show SPEC.mms [--data-root DIR] [--out grid.png]    # the spec's data (own files too)

prints the modalities (kind, shape, source, origin), split sizes, label counts and which modality
came from where, and optionally writes a picture grid of aligned samples. A `DataError` prints its
message and exits 1, without a traceback. Registered in pyproject.toml under the entry-point
group "mmspec.commands", which the main `mmspec` CLI adds.
"""
from __future__ import annotations

import sys

import click

from runtime import cli_values as values
from runtime.data.dataset import MultimodalDataset
from runtime.data.errors import DataError
from runtime.data.load import dataset_names, load_dataset


@click.group()
def data() -> None:
    """Datasets: real files under a data root, or the embedded stand-ins."""


@data.command("list")
def list_datasets() -> None:
    """List the dataset names a spec can use."""
    for name in dataset_names():
        click.echo(name)


@data.command("standin")
@click.argument("kind", type=click.Choice(["neural"]))
@click.option("--out", type=values.Path_(file_okay=False), required=True, help="Folder to write into.")
@click.option("--trials", type=int, default=400, show_default=True, help="Trials (16 windows each).")
@click.option("--seed", type=int, default=0, show_default=True)
def standin_files(kind, out, trials, seed) -> None:
    """Write stand-in files for a spec's own data: `neural`, MMVM's five-rat recordings
    (specs/owndata/mmvm_neural.mms reads them)."""
    from runtime.data.standin.neural import write_neural

    if trials < 5:
        click.echo("error: --trials must be at least 5", err=True)
        sys.exit(1)
    click.echo(f"wrote {write_neural(out, trials, seed)}")


def _label_counts(ds: MultimodalDataset, split: str) -> str:
    import torch

    counts = torch.bincount(ds.labels(split).cpu(), minlength=len(ds.class_names)).tolist()
    pairs = [f"{ds.class_names[i]}: {c}" for i, c in enumerate(counts)]
    if len(pairs) > 12:
        pairs = pairs[:10] + [f"... ({len(pairs)} classes)"]
    return ", ".join(pairs)


def describe(ds: MultimodalDataset) -> str:
    """The text `data show` prints."""
    lines = [ds.banner(), "", "modalities:"]
    for name, mod in ds.modalities.items():
        vocab = f", vocabulary {len(mod.vocabulary)}" if mod.vocabulary is not None else ""
        lines.append(f"  {name}: {mod.kind} {tuple(mod.shape)}{vocab}, {mod.source}")
    lines.append("splits:")
    for split in ds.splits:
        lines.append(f"  {split}: {ds.split_size(split):,} items")
        lines.append(f"    labels ({ds.label_name}): {_label_counts(ds, split)}")
    if ds.attribute_names:
        lines.append(f"attributes: {', '.join(ds.attribute_names)}")
    return "\n".join(lines)


def _spec_dataset(path: str, data_root, **kw):
    """The dataset a spec file names: a built-in one, or its own files (`data NAME { ... }`)."""
    from pathlib import Path

    from mmspec import check_spec
    from mmspec.data.check import check_program_data
    from mmspec.data.plan import Declared

    program = check_spec(Path(path))
    check_program_data(program, data_root)
    stmt_data = program.data
    if stmt_data is None:
        return load_dataset(program.graph.dataset, data_root=data_root, **kw)
    declared = {n: Declared(m.kind, tuple(m.shape)) for n, m in program.graph.modalities.items()}
    kw.pop("source", None)
    kw.pop("standin_size", None)
    return load_dataset(stmt_data, data_root=data_root, declared=declared, **kw)


@data.command("show")
@click.argument("name")
@click.option("--data-root", type=values.Path_(file_okay=False), default=None,
              help="Folder with the real files (default: $MMSPEC_DATA_ROOT).")
@click.option("--source", type=click.Choice(["auto", "real", "standin"]), default="auto",
              show_default=True, help="Real files, the embedded stand-in, or real when present.")
@click.option("--out", type=values.Path_(dir_okay=False), default=None, callback=values.writable_file,
              help="Write a PNG grid of aligned samples here.")
@click.option("--seed", type=values.SEED, default=0, show_default=True, help="Stand-in/pairing seed.")
@click.option("--standin-size", type=values.POSITIVE, default=None, help="Stand-in training items.")
@click.option("--cache-dir", type=values.Path_(file_okay=False), default=None,
              help="Cache folder (default: $MMSPEC_CACHE or ~/.cache/mmspec).")
def show(name, data_root, source, out, seed, standin_size, cache_dir) -> None:
    """Print what dataset NAME (or the data of spec file NAME.mms) holds and where each modality came
    from."""
    from mmspec.errors import SpecError

    try:
        if name.endswith(".mms"):
            ds = _spec_dataset(name, data_root, source=source, seed=seed, standin_size=standin_size,
                               cache_dir=cache_dir)
        else:
            ds = load_dataset(name, data_root=data_root, source=source, seed=seed,
                              standin_size=standin_size, cache_dir=cache_dir)
        click.echo(describe(ds))
        if out:
            from runtime.data.grid import save_grid

            click.echo(f"wrote {save_grid(ds, out, seed=seed)}")
    except DataError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except SpecError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
