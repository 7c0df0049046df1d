"""Coloured shapes on photographic backgrounds (3 x 64 x 64): the CUB/CelebA-shaped stand-in.

Each image shows one shape from `SHAPES` (the label) in one of `COLOURS`, `SIZES` small or large,
over a darkened crop of one of `BACKGROUNDS` (scikit-image texture/photograph). The four attribute
columns (shape, colour, size, background) are what the stand-in captions describe. Shapes are drawn
from an anti-aliased atlas (signed-distance tests at 4x supersampling, rendered once) through a
per-item affine warp (radius, rotation, +-3 px shift), so generation is a few batched operations.
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from runtime.data.standin.assets import photo
from runtime.data.standin.common import (CHUNK, affine, balanced_labels, crop_photos, generator,
                                         to_uint8, uniform, warp)

VERSION = 2
SHAPES = ("circle", "square", "triangle", "star", "cross", "heart")
COLOURS = {"red": (1.0, 0.15, 0.1), "orange": (1.0, 0.55, 0.05), "yellow": (1.0, 0.95, 0.15),
           "green": (0.2, 0.9, 0.2), "cyan": (0.1, 0.9, 0.95), "blue": (0.3, 0.45, 1.0),
           "purple": (0.7, 0.3, 1.0), "white": (1.0, 1.0, 1.0)}
SIZES = ("small", "large")
BACKGROUNDS = {"brick wall": ("brick", (1.0, 0.6, 0.5)), "grass": ("grass", (0.5, 1.0, 0.5)),
               "gravel": ("gravel", (0.8, 0.8, 0.8)), "starry sky": ("hubble_deep_field", (1, 1, 1))}
ATTRIBUTES = ("shape", "colour", "size", "background")
ATLAS = 128


def _signed(x: Tensor, y: Tensor) -> list[Tensor]:
    """Inside tests (> 0 inside) of each shape in local coordinates (radius ~1, y up)."""
    r, angle = torch.sqrt(x * x + y * y), torch.atan2(y, x)
    triangle = torch.stack([0.5 - (x * math.cos(t) + y * math.sin(t))
                            for t in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]).amin(0)
    star = 0.45 + 0.55 * (0.5 + 0.5 * torch.cos(5 * (angle - math.pi / 2))) ** 2.5 - r
    cross = torch.maximum(torch.minimum(0.3 - x.abs(), 0.95 - y.abs()),
                          torch.minimum(0.3 - y.abs(), 0.95 - x.abs()))
    hx, hy = x * 1.1, y * 1.1 + 0.25
    heart = -((hx * hx + hy * hy - 0.7) ** 3 - hx * hx * hy ** 3)
    return [1 - r, 0.82 - torch.maximum(x.abs(), y.abs()), triangle, star, cross, heart]


@functools.lru_cache(maxsize=1)
def shape_atlas() -> Tensor:
    """[len(SHAPES), 1, 128, 128] anti-aliased masks, radius 1 = a quarter of the side."""
    side = ATLAS * 4
    v = (torch.arange(side) + 0.5) / side * 4 - 2  # [-2, 2]
    y, x = torch.meshgrid(-v, v, indexing="ij")
    masks = torch.stack([(s > 0).float() for s in _signed(x, y)])[:, None]
    return F.avg_pool2d(masks, 4)


@functools.lru_cache(maxsize=1)
def _photos() -> list[Tensor]:
    out = []
    for name, tint in BACKGROUNDS.values():
        out.append(photo(name, 256) * torch.tensor(tint).view(3, 1, 1))
    return out


def _render(attrs: Tensor, g: torch.Generator) -> Tensor:
    n = len(attrs)
    shape, colour, size, background = attrs.unbind(1)
    radius = torch.where(size == 1, uniform(n, g, 19, 23), uniform(n, g, 11, 14))  # px
    k = 0.5 * 32 / radius  # output half-side (32 px) in atlas units (radius 1 = 32 atlas px)
    zero = torch.zeros(n)
    theta = affine(k, k, uniform(n, g, -0.25, 0.25), zero,
                   uniform(n, g, -3, 3) / 32, uniform(n, g, -3, 3) / 32)
    mask = warp(shape_atlas()[shape], theta, (64, 64))
    scale = uniform(n, g, 0.25, 0.6)
    crop = affine(scale, scale, zero, zero, zero, zero)
    crop[:, 0, 2] = uniform(n, g, -1, 1) * (1 - scale)
    crop[:, 1, 2] = uniform(n, g, -1, 1) * (1 - scale)
    back = crop_photos(_photos(), background, crop, (64, 64)) * 0.45
    fg = torch.tensor(list(COLOURS.values()))[colour].view(n, 3, 1, 1)
    return back * (1 - mask) + fg * mask


def make_shapes(n: int, seed: int, split: str) -> dict[str, Tensor]:
    """n images with balanced shapes: {"images": uint8 [n,3,64,64], "attributes": [n, 4]}."""
    g = generator(seed, f"shapes/{split}")
    attrs = torch.stack([balanced_labels(n, g, len(SHAPES)),
                         torch.randint(0, len(COLOURS), (n,), generator=g),
                         torch.randint(0, len(SIZES), (n,), generator=g),
                         torch.randint(0, len(BACKGROUNDS), (n,), generator=g)], 1)
    parts = [to_uint8(_render(attrs[i:i + CHUNK], g)) for i in range(0, n, CHUNK)]
    images = torch.cat(parts) if parts else torch.zeros(0, 3, 64, 64, dtype=torch.uint8)
    return {"images": images, "attributes": attrs}


def attribute_words(attrs: Tensor) -> list[tuple[str, str, str, str]]:
    """Attribute rows -> (shape, colour, size, background) words, for captions."""
    colours, backgrounds = list(COLOURS), list(BACKGROUNDS)
    return [(SHAPES[s], colours[c], SIZES[z], backgrounds[b]) for s, c, z, b in attrs.tolist()]
