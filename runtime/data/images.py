"""Decoding image files (PNG, JPEG) into uint8 tensors, with located errors, in parallel threads.

Pillow releases the GIL while decoding, so a thread pool uses both cores for the tens of thousands
of small files of PolyMNIST, CUB and CelebA. An unreadable or truncated file is a `DataError` naming
it, never a Pillow traceback.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from runtime.data.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def open_rgb(path: Path):
    """The image at `path`, fully decoded, as an RGB Pillow image."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:  # UnidentifiedImageError is an OSError
        raise DataError(f"{path}: cannot read this image ({exc}); the file is truncated or "
                        f"corrupt. Replace it from the original archive.") from None


def read_rgb(path: Path, transform: Callable | None = None) -> np.ndarray:
    """uint8 [H, W, 3] of the image, after an optional Pillow-image transform."""
    image = open_rgb(path)
    if transform is not None:
        image = transform(image)
    return np.array(image, dtype=np.uint8)


def read_many(paths: Sequence[Path], transform: Callable | None = None,
              shape: tuple[int, int] | None = None) -> torch.Tensor:
    """uint8 [N, 3, H, W] of many images (decoded in threads). With `shape`, every image must
    already have that (H, W); a different size is a located error."""
    def one(path: Path) -> np.ndarray:
        array = read_rgb(path, transform)
        if shape is not None and array.shape[:2] != tuple(shape):
            raise DataError(f"{path}: image is {array.shape[1]}x{array.shape[0]} pixels, expected "
                            f"{shape[1]}x{shape[0]}.")
        return array

    if not paths:
        h, w = shape or (0, 0)
        return torch.zeros(0, 3, h, w, dtype=torch.uint8)
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        arrays = list(pool.map(one, paths, chunksize=256))
    stacked = np.stack(arrays)
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()


def image_files(folder: Path) -> list[Path]:
    """Image files directly inside `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
