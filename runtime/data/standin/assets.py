"""Real data that ships inside packages the project installs anyway, used by the stand-ins.

- scikit-learn's 1,797 handwritten 8x8 digits (`load_digits`), split once, by a fixed seed that
  does not depend on the user's seed, into 80% training bases and 20% test bases: stand-in test
  digits are warps of handwriting the training digits never saw.
- scikit-image's bundled photographs (`skimage.data`; only images inside the wheel, no download).
- TrueType fonts from matplotlib's font folder (DejaVu, STIX, Computer Modern) plus Pillow's own
  default font, all opened through Pillow.
"""
from __future__ import annotations

import functools
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

BASE_SPLIT_SEED = 20240601
FONT_NAMES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf", "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmb10.ttf",
)


@functools.lru_cache(maxsize=1)
def sklearn_digits() -> tuple[Tensor, Tensor]:
    """float images [1797, 8, 8] in [0, 1] and int64 labels [1797]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return torch.tensor(d.images / 16.0, dtype=torch.float32), torch.tensor(d.target)


def digit_bases(split: str) -> tuple[Tensor, Tensor]:
    """The scikit-learn digits reserved for one split ("train": 80% of each class, "test": 20%)."""
    images, labels = sklearn_digits()
    rng = np.random.default_rng(BASE_SPLIT_SEED)
    chosen = []
    for label in range(10):
        idx = np.flatnonzero(labels.numpy() == label)
        idx = rng.permutation(idx)
        cut = int(round(0.8 * len(idx)))
        chosen.append(idx[:cut] if split == "train" else idx[cut:])
    sel = torch.from_numpy(np.sort(np.concatenate(chosen)))
    return images[sel], labels[sel]


@functools.lru_cache(maxsize=None)
def photo(name: str, side: int | None = None) -> Tensor:
    """A scikit-image sample photograph as float [3, H, W] in [0, 1] (grey ones repeated to RGB),
    optionally area-resized so its shorter side is `side`."""
    import skimage.data

    array = np.asarray(getattr(skimage.data, name)())
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    image = torch.tensor(array[..., :3].astype(np.float32) / 255.0).permute(2, 0, 1)
    if side is not None:
        h, w = image.shape[1:]
        scale = side / min(h, w)
        image = F.interpolate(image[None], size=(round(h * scale), round(w * scale)),
                              mode="area")[0]
    return image.contiguous()


@functools.lru_cache(maxsize=1)
def font_paths() -> tuple[str, ...]:
    """The TrueType fonts available from matplotlib's font folder, in a fixed order."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib is a declared dependency
        return ()
    folder = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")
    return tuple(os.path.join(folder, n) for n in FONT_NAMES
                 if os.path.isfile(os.path.join(folder, n)))


def fonts(size: int) -> list:
    """Pillow font objects: the matplotlib TrueType fonts and Pillow's default font."""
    from PIL import ImageFont

    out = [ImageFont.truetype(p, size) for p in font_paths()]
    try:
        out.append(ImageFont.load_default(size))
    except TypeError:  # pragma: no cover - Pillow < 10.1 has no sized default font
        pass
    return out
