"""`load_dataset`: a dataset by name, from the data root and/or the embedded stand-ins."""
from __future__ import annotations

import difflib

from mmspec.data.decl import DataDecl

from runtime.data.celeba import load_celeba
from runtime.data.cub import load_cub
from runtime.data.dataset import MultimodalDataset
from runtime.data.errors import DataError
from runtime.data.mst import load_mst
from runtime.data.owndata import load_own
from runtime.data.polymnist import load_polymnist
from runtime.data.sources import SOURCES, LoadContext, resolve_root

_LOADERS = {
    "mst": load_mst,
    "polymnist": lambda ctx: load_polymnist(ctx, translated=False),
    "tpolymnist": lambda ctx: load_polymnist(ctx, translated=True),
    "cub": load_cub,
    "celeba": load_celeba,
}


def dataset_names() -> list[str]:
    """The dataset names `load_dataset` (and a spec's `data NAME`) accepts."""
    return list(_LOADERS)


def load_dataset(name, *, data_root=None, source: str = "auto", seed: int = 0,
                 device="cpu", standin_size: int | None = None,
                 cache_dir=None, declared: dict | None = None, folder=None,
                 memory: str | None = None) -> MultimodalDataset:
    """Load `name` ("mst", "polymnist", "tpolymnist", "cub", "celeba") onto `device`, or a spec's own
    data: `name` a `DataDecl` (a `data NAME { ... }` block), `declared` the spec's modalities
    ({name: mmspec.data.plan.Declared}), `folder` the data folder when it is already known (a run's),
    `memory` auto/resident/stream instead of the block's (see runtime/data/owndata.py).

    data_root: folder holding the real files (default $MMSPEC_DATA_ROOT; none: stand-ins only).
    source: "auto" (real files where present, else the stand-in, said in the banner), "real"
    (never fall back; missing files raise DataError) or "standin" (never read files).
    seed: stand-in generation and pairing/permutation draws; same seed -> identical tensors.
    standin_size: stand-in training items (test: a sixth, at least 100); None -> dataset default.
    cache_dir: where generated stand-ins and decoded image folders are cached (default
    $MMSPEC_CACHE or ~/.cache/mmspec).
    """
    if isinstance(name, DataDecl):
        return load_own(name, declared or {}, data_root=data_root, folder=folder, device=device,
                        cache_dir=cache_dir, memory=memory)
    if name not in _LOADERS:
        close = difflib.get_close_matches(name, _LOADERS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(_LOADERS)}.{hint}")
    if source not in SOURCES:
        raise DataError(f"unknown data source {source!r}; use one of {', '.join(SOURCES)}.")
    if standin_size is not None and int(standin_size) < 10:
        raise DataError(f"standin_size must be at least 10, got {standin_size}.")
    root = resolve_root(data_root) if source != "standin" else None
    ctx = LoadContext(root, source, int(seed), standin_size, cache_dir)
    if source == "standin":
        ctx.notes.append("--source standin: no files were read")
    return _LOADERS[name](ctx).to(device)
