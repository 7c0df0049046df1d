"""Where a modality comes from: the data root, the --source policy and the fallback banner.

`LoadContext` carries what `load_dataset` was asked for. `resolve()` applies the policy for one
real-file group: `standin` never looks at files; `real` raises the finder's "missing" message;
`auto` (default) returns None and records why, so the banner can say loudly that the stand-in
is in use. A group whose files are present but broken always raises: a corrupt download must not
silently turn into a stand-in run.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

from runtime.data.errors import STANDIN_HINT, DataError

SOURCES = ("auto", "real", "standin")
ROOT_ENV = "MMSPEC_DATA_ROOT"
T = TypeVar("T")


@dataclass
class LoadContext:
    """One `load_dataset` request. notes collect the fallback reasons for the banner."""

    root: Path | None
    source: str = "auto"
    seed: int = 0
    standin_size: int | None = None
    cache_dir: object = None
    notes: list[str] = field(default_factory=list)

    def size(self, default: int) -> int:
        """Number of stand-in training items."""
        return int(self.standin_size) if self.standin_size is not None else default

    def test_size(self, default: int) -> int:
        """Stand-in test items: a sixth of the training items (MNIST's 10k:60k), at least 100."""
        return max(self.size(default) // 6, 100)


def resolve_root(data_root) -> Path | None:
    """--data-root, else $MMSPEC_DATA_ROOT, else None. A named root that does not exist is an
    error rather than a silent stand-in run."""
    root = data_root if data_root is not None else os.environ.get(ROOT_ENV) or None
    if root is None:
        return None
    path = Path(root).expanduser()
    if not path.is_dir():
        how = "--data-root" if data_root is not None else f"${ROOT_ENV}"
        raise DataError(f"data root {path} (from {how}) is not a directory. Point it at the "
                        f"folder that holds the dataset files. {STANDIN_HINT}")
    return path


def candidate_dirs(root: Path | None, *subdirs: str) -> list[Path]:
    """root/sub for each sub ('' meaning root itself), in search order."""
    if root is None:
        return []
    return [root / s if s else root for s in subdirs]


def missing_message(what: str, expected: list[str], looked_in: list[Path], why: str = "") -> str:
    """The standard 'files not found' message: what, which files, where, what to do."""
    where = ", ".join(str(d) for d in looked_in) if looked_in else (
        f"nowhere: no data root was given (use --data-root DIR or set ${ROOT_ENV})")
    return (f"{what} not found. Expected {'; '.join(expected)}. Looked in: {where}. "
            f"{why}{STANDIN_HINT}")


def resolve(ctx: LoadContext, what: str, find: Callable[[Path | None], T | None],
            expected: list[str], looked_in: list[Path]) -> T | None:
    """Apply the source policy to one group of real files (see the module docstring)."""
    if ctx.source == "standin":
        return None
    found = find(ctx.root)
    if found is not None:
        return found
    if ctx.source == "real":
        raise DataError(missing_message(what, expected, looked_in,
                                        "--source real never falls back. "))
    where = (f"under {ctx.root}" if ctx.root else
             f"(no data root: use --data-root DIR or set ${ROOT_ENV})")
    ctx.notes.append(f"{what} not found {where}: using the stand-in")
    return None
