"""MNIST-like handwritten digits (1 x 28 x 28) from scikit-learn's 8x8 digits.

Each item takes one handwritten 8x8 base digit (from the split's own bases, see `assets`),
upsamples it (bicubic), and warps it into a 28x28 canvas with the digit in the central ~20x20 box
as in MNIST: a random rotation (+-10 deg), shear, scale and aspect change (+-12%), a sub-pixel
shift and a smooth random elastic displacement. A soft threshold at a random level then sets the
stroke thickness (low level: bold strokes, high level: thin ones) while keeping anti-aliased edges.
So each of the ~1,400 training bases yields many distinct images, and the result stays easy
enough for a linear classifier (> 90% test accuracy on unseen handwriting).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from runtime.data.standin.assets import digit_bases
from runtime.data.standin.common import (CHUNK, affine, balanced_labels, generator, to_uint8,
                                         uniform, warp)

VERSION = 2
PAD = 2          # zero border around the 8x8 base before upsampling
UPSAMPLED = 48   # side of the upsampled (8 + 2*PAD) base
BOX = 20         # MNIST digits fit a 20x20 box inside the 28x28 canvas
WARP = {"rotation": 0.10, "shear": 0.10, "scale": 0.07, "aspect": 0.07, "shift": 0.03,
        "elastic": 0.015, "level": (0.25, 0.6)}  # radians, fractions, normalised units


def _bases_upsampled(split: str) -> tuple[Tensor, Tensor]:
    images, labels = digit_bases(split)
    padded = F.pad(images[:, None], (PAD, PAD, PAD, PAD))
    up = F.interpolate(padded, size=(UPSAMPLED, UPSAMPLED), mode="bicubic", align_corners=False)
    return up.clamp_(0, 1), labels


def _render(labels: Tensor, g: torch.Generator, bases: Tensor, base_of_label: list[Tensor]
            ) -> Tensor:
    """Warp one random base of each label into float digits [n, 1, 28, 28]."""
    n = len(labels)
    pick = torch.empty(n, dtype=torch.long)
    for label in range(10):
        sel = torch.nonzero(labels == label)[:, 0]
        pool = base_of_label[label]
        pick[sel] = pool[torch.randint(0, len(pool), (len(sel),), generator=g)]
    k = (28 / BOX) * (8 / (8 + 2 * PAD))
    w = WARP
    scale = 1 + uniform(n, g, -w["scale"], w["scale"])
    aspect = 1 + uniform(n, g, -w["aspect"], w["aspect"])
    theta = affine(k * aspect / scale, k / (aspect * scale),
                   uniform(n, g, -w["rotation"], w["rotation"]), uniform(n, g, -w["shear"], w["shear"]),
                   uniform(n, g, -w["shift"], w["shift"]), uniform(n, g, -w["shift"], w["shift"]))
    elastic = torch.randn(n, 2, 4, 4, generator=g) * w["elastic"]
    elastic = F.interpolate(elastic, size=(28, 28), mode="bicubic", align_corners=False)
    digits = warp(bases[pick], theta, (28, 28), elastic.permute(0, 2, 3, 1))
    level = uniform(n, g, *w["level"]).view(n, 1, 1, 1)
    return ((torch.sigmoid((digits - level) * 12) - 0.05) / 0.9).clamp_(0, 1)


def make_mnist_like(n: int, seed: int, split: str) -> dict[str, Tensor]:
    """n MNIST-like digits with balanced labels: {"images": uint8 [n,1,28,28], "labels": [n]}."""
    g = generator(seed, f"mnist-like/{split}")
    bases, base_labels = _bases_upsampled(split)
    base_of_label = [torch.nonzero(base_labels == c)[:, 0] for c in range(10)]
    labels = balanced_labels(n, g)
    parts = [to_uint8(_render(labels[i:i + CHUNK], g, bases, base_of_label))
             for i in range(0, n, CHUNK)]
    images = torch.cat(parts) if parts else torch.zeros(0, 1, 28, 28, dtype=torch.uint8)
    return {"images": images, "labels": labels}
