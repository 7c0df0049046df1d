"""Writers of small dataset files in the real formats, built from first principles (struct, scipy,
Pillow, csv) rather than from the loaders' own code, so the tests check the loaders against the
formats themselves."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

MNIST_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def idx_images(images: np.ndarray) -> bytes:
    """IDX bytes of uint8 images [N, 28, 28]: magic 0x00000803 then N, rows, cols big-endian."""
    n, rows, cols = images.shape
    return struct.pack(">IIII", 0x00000803, n, rows, cols) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    """IDX bytes of uint8 labels [N]: magic 0x00000801 then N."""
    return struct.pack(">II", 0x00000801, len(labels)) + labels.astype(np.uint8).tobytes()


def digit_images(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Random uint8 images whose top-left pixel encodes the label (for alignment checks)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
    images[:, 0, 0] = labels * 20
    return images


def write_mnist(folder: Path, labels: dict[str, np.ndarray], gz: bool = True,
                dotted: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write the four MNIST IDX files; returns split -> (images, labels) written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, (img_name, lab_name) in MNIST_NAMES.items():
        lab = np.asarray(labels[split], dtype=np.uint8)
        img = digit_images(lab, seed=1 if split == "train" else 2)
        for name, data in ((img_name, idx_images(img)), (lab_name, idx_labels(lab))):
            if dotted:
                name = name.replace("-idx", ".idx")
            path = folder / (name + (".gz" if gz else ""))
            path.write_bytes(gzip.compress(data) if gz else data)
        written[split] = (img, lab)
    return written


def write_svhn(folder: Path, labels: dict[str, np.ndarray], seed: int = 0
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write train_32x32.mat / test_32x32.mat (X [32,32,3,N] uint8, y [N,1] with 10 for digit 0).
    Returns split -> (X as written, labels 0..9)."""
    import scipy.io

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = {}
    for split, name in (("train", "train_32x32.mat"), ("test", "test_32x32.mat")):
        lab = np.asarray(labels[split], dtype=np.int64)
        x = rng.integers(0, 256, (32, 32, 3, len(lab)), dtype=np.uint8)
        x[0, 0, 0, :] = lab * 20
        y = np.where(lab == 0, 10, lab).reshape(-1, 1).astype(np.uint8)
        scipy.io.savemat(folder / name, {"X": x, "y": y})
        written[split] = (x, lab)
    return written


def write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def write_jpeg(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, quality=95)


def solid(h: int, w: int, colour) -> np.ndarray:
    out = np.zeros((h, w, 3), dtype=np.uint8)
    out[:] = colour
    return out


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
