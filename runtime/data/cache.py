"""On-disk cache of generated stand-ins and of decoded real image folders.

Stand-ins are keyed by (dataset part, seed, size, generator version), so a change to a generator
bumps its version and never serves stale tensors. Real image folders (PNG/JPEG collections that
take minutes to decode) are keyed by a fingerprint of the files read: path, count, total size and
newest modification time. Files are written atomically (temporary file + rename); an unreadable
cache entry is rebuilt, an unwritable cache directory only costs the rebuild next time.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import Tensor


def cache_root(cache_dir=None) -> Path:
    """`cache_dir`, else $MMSPEC_CACHE, else ~/.cache/mmspec; data lives in its `data/` folder."""
    base = cache_dir or os.environ.get("MMSPEC_CACHE") or Path.home() / ".cache" / "mmspec"
    return Path(base).expanduser() / "data"


def _load(path: Path) -> dict[str, Tensor] | None:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a damaged cache entry is simply rebuilt
        return None


def _save(path: Path, tensors: dict[str, Tensor]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        os.close(fd)
        torch.save(tensors, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        print(f"mmspec: could not write the data cache {path}: {exc}", file=sys.stderr)


def cached(key: str, build: Callable[[], dict[str, Tensor]], cache_dir=None) -> dict[str, Tensor]:
    """Load the tensors stored under `key`, or build, store and return them."""
    path = cache_root(cache_dir) / f"{key}.pt"
    if path.exists():
        tensors = _load(path)
        if tensors is not None:
            return tensors
    tensors = build()
    _save(path, tensors)
    return tensors


def standin_key(part: str, version: int, seed: int, size: int) -> str:
    """Cache key of a generated stand-in part."""
    return f"standin-{part}-v{version}-seed{seed}-n{size}"


def fingerprint(files: Iterable[Path]) -> str:
    """A short hash of file paths, sizes and mtimes: changes when any file read changes."""
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]
