"""SVHN (cropped digits) from a data root: train_32x32.mat and test_32x32.mat.

Searched in root/SVHN, root/svhn and root. Each .mat (MATLAB v5, read with scipy.io.loadmat) holds
X: uint8 [32, 32, 3, N] and y: [N, 1] with labels 1..10, where 10 means the digit 0. Images become
uint8 [N, 3, 32, 32] (the MoPoE transpose (3, 2, 0, 1)), labels int64 with 10 -> 0.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from runtime.data.errors import DataError
from runtime.data.sources import candidate_dirs

SUBDIRS = ("SVHN", "svhn", "")
FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
EXPECTED = ["train_32x32.mat and test_32x32.mat (SVHN cropped digits, format 2)"]


def looked_in(root: Path | None) -> list[Path]:
    return candidate_dirs(root, *SUBDIRS)


def find_svhn(root: Path | None) -> dict[str, Path] | None:
    """Both .mat files from the first folder holding either; one without the other is an error."""
    for folder in looked_in(root):
        paths = {s: folder / name for s, name in FILES.items()}
        present = [p for p in paths.values() if p.is_file()]
        if len(present) == len(paths):
            return paths
        if present:
            missing = [p.name for p in paths.values() if not p.is_file()]
            raise DataError(f"SVHN in {folder} is incomplete: found {present[0].name} but not "
                            f"{', '.join(missing)}.")
    return None


def _loadmat(path: Path) -> dict:
    import scipy.io

    try:
        return scipy.io.loadmat(path)
    except Exception as exc:  # noqa: BLE001 - scipy raises many types for a damaged .mat
        raise DataError(f"{path}: cannot read this .mat file ({type(exc).__name__}: {exc}); it is "
                        f"truncated or corrupt. Download it again.") from None


def load_split(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images [N, 3, 32, 32] and int64 labels [N] (0..9) from one SVHN .mat file."""
    mat = _loadmat(path)
    if "X" not in mat or "y" not in mat:
        raise DataError(f"{path}: expected variables X and y (SVHN format), found "
                        f"{', '.join(k for k in mat if not k.startswith('__')) or 'none'}.")
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"])
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise DataError(f"{path}: X must be 32 x 32 x 3 x N, found {' x '.join(map(str, x.shape))}.")
    if y.ndim > 2 or (y.ndim == 2 and 1 not in y.shape):
        raise DataError(f"{path}: y must hold one label per image (N x 1), found {' x '.join(map(str, y.shape))}.")
    y = y.reshape(-1)
    if y.shape[0] != x.shape[3]:
        raise DataError(f"{path}: {y.shape[0]} labels for {x.shape[3]} images.")
    if x.dtype != np.uint8:
        raise DataError(f"{path}: X must be uint8 pixels, found {x.dtype}.")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() > 10):
        raise DataError(f"{path}: labels must be 1..10 (10 = digit 0), found {y.min()}..{y.max()}.")
    y[y == 10] = 0
    images = np.ascontiguousarray(np.transpose(x, (3, 2, 0, 1)))
    return torch.from_numpy(images), torch.from_numpy(y)
