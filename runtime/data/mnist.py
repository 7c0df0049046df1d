"""MNIST from a data root: IDX files (gz or not) or torchvision's MNIST/raw and MNIST/processed.

Searched, in order, in root, root/mnist, root/MNIST, root/MNIST/raw and root/mnist/raw:
    train-images-idx3-ubyte  train-labels-idx1-ubyte  t10k-images-idx3-ubyte  t10k-labels-idx1-ubyte
each either plain or with .gz, and also spelled with a dot (train-images.idx3-ubyte), as some
mirrors do. Then torchvision's processed layout: root/MNIST/processed/{training.pt,test.pt}, each a
(uint8 images [N, 28, 28], int64 labels [N]) tuple saved with torch.save.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from runtime.data.errors import DataError
from runtime.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from runtime.data.sources import candidate_dirs

SUBDIRS = ("", "mnist", "MNIST", "MNIST/raw", "mnist/raw")
PROCESSED = ("MNIST/processed", "mnist/processed")
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
PROCESSED_FILES = {"train": "training.pt", "test": "test.pt"}
EXPECTED = ["train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
            "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz] "
            "(or torchvision's MNIST/processed/training.pt and test.pt)"]


@dataclass(frozen=True)
class MnistFiles:
    """The files found: per split, either (images, labels) IDX paths or one processed .pt."""

    idx: dict[str, tuple[Path, Path]] | None
    processed: dict[str, Path] | None

    def paths(self) -> list[Path]:
        if self.idx is not None:
            return [p for pair in self.idx.values() for p in pair]
        return list(self.processed.values())


def looked_in(root: Path | None) -> list[Path]:
    return candidate_dirs(root, *SUBDIRS, *PROCESSED)


def _variants(name: str) -> list[str]:
    dotted = name.replace("-idx", ".idx")
    return [name, name + ".gz", dotted, dotted + ".gz"]


def _find_file(folder: Path, name: str) -> Path | None:
    for variant in _variants(name):
        if (folder / variant).is_file():
            return folder / variant
    return None


def _find_idx(folder: Path) -> dict[str, tuple[Path, Path]] | None:
    """All four IDX files in `folder`; a partial set is an error (it is a broken download)."""
    found = {(split, i): _find_file(folder, name)
             for split, names in FILES.items() for i, name in enumerate(names)}
    present = [p for p in found.values() if p is not None]
    if not present:
        return None
    if len(present) < len(found):
        missing = [FILES[s][i] for (s, i), p in found.items() if p is None]
        raise DataError(f"MNIST in {folder} is incomplete: found {', '.join(p.name for p in present)}"
                        f" but not {', '.join(m + '[.gz]' for m in missing)}.")
    return {s: (found[(s, 0)], found[(s, 1)]) for s in FILES}


def find_mnist(root: Path | None) -> MnistFiles | None:
    """The MNIST files under `root`, or None when there are none."""
    for folder in candidate_dirs(root, *SUBDIRS):
        idx = _find_idx(folder) if folder.is_dir() else None
        if idx is not None:
            return MnistFiles(idx, None)
    for folder in candidate_dirs(root, *PROCESSED):
        paths = {s: folder / name for s, name in PROCESSED_FILES.items()}
        if all(p.is_file() for p in paths.values()):
            return MnistFiles(None, paths)
    return None


def _check(images: np.ndarray, labels: np.ndarray, where: str) -> None:
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{where}: MNIST images must be N x 28 x 28, found "
                        f"{' x '.join(map(str, images.shape))}.")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(f"{where}: {labels.shape[0] if labels.ndim else 0} labels for "
                        f"{images.shape[0]} images; the image and label files do not match.")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{where}: labels must be digits 0..9, found values up to {labels.max()}.")


def _load_processed(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise DataError(f"{path}: cannot read this torchvision MNIST file ({type(exc).__name__}); "
                        f"it is truncated or corrupt. Delete it and download MNIST again.") from None
    if not (isinstance(obj, (tuple, list)) and len(obj) == 2
            and all(isinstance(t, torch.Tensor) for t in obj)):
        raise DataError(f"{path}: expected a (images, labels) pair of tensors, as torchvision "
                        f"writes to MNIST/processed, found {type(obj).__name__}.")
    images, labels = obj
    return images.to(torch.uint8).numpy(), labels.long().numpy()


def load_split(files: MnistFiles, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images [N, 1, 28, 28] and int64 labels [N] of one split."""
    if files.idx is not None:
        image_path, label_path = files.idx[split]
        images = read_idx(image_path, IMAGES_MAGIC, "images")
        labels = read_idx(label_path, LABELS_MAGIC, "labels").astype(np.int64)
        where = f"{image_path} / {label_path.name}"
    else:
        images, labels = _load_processed(files.processed[split])
        where = str(files.processed[split])
    _check(images, labels, where)
    return torch.from_numpy(images.copy())[:, None], torch.from_numpy(labels)


def describe(files: MnistFiles) -> str:
    """Origin string for the banner: which kind of MNIST files, in which folder."""
    paths = files.paths()
    kind = "IDX files" if files.idx is not None else "torchvision training.pt/test.pt"
    gz = " (gzip)" if files.idx is not None and paths[0].suffix == ".gz" else ""
    return f"MNIST {kind}{gz} in {paths[0].parent}"
