"""SVHN-like house-number crops (3 x 32 x 32).

A glyph atlas is rendered once with Pillow (each digit in each available font, 64x64, centred on
its ink box). Each item then composes, in batched tensor operations:
- a background: a random crop (10-40% of the side) of one of scikit-image's photographs or
  textures, tinted and darkened;
- the labelled digit in the centre (height 15-23 px, +-1.3 px jitter, small rotation and shear),
  in a random bright colour and the item's font;
- neighbouring distractor digits in the same font and colour to its left and right (each present
  with probability 0.7), like the house-number context of SVHN crops;
- a random blur and Gaussian pixel noise.
Simplification against real SVHN, kept on purpose: the digit is always brighter than its
background (SVHN has both polarities), which keeps the modality recognisable by a linear model.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from runtime.data.standin.assets import fonts, photo
from runtime.data.standin.common import (CHUNK, affine, balanced_labels, blur, crop_photos,
                                         generator, to_uint8, uniform, warp)

VERSION = 1
ATLAS = 64
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
          "brick", "grass", "gravel")


@functools.lru_cache(maxsize=1)
def glyph_atlas() -> tuple[Tensor, Tensor, Tensor]:
    """masks [F*10, 1, 64, 64] (font-major), ink height and width/height ratio per glyph."""
    from PIL import Image, ImageDraw

    masks, heights, ratios = [], [], []
    for font in fonts(48):
        for digit in range(10):
            canvas = Image.new("L", (2 * ATLAS, 2 * ATLAS))
            ImageDraw.Draw(canvas).text((ATLAS, ATLAS), str(digit), fill=255, font=font, anchor="mm")
            a = np.asarray(canvas)
            ys, xs = np.nonzero(a)
            cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
            crop = a[cy - ATLAS // 2: cy + ATLAS // 2, cx - ATLAS // 2: cx + ATLAS // 2]
            masks.append(torch.tensor(crop, dtype=torch.float32) / 255.0)
            h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
            heights.append(float(h))
            ratios.append(w / h)
    return torch.stack(masks)[:, None], torch.tensor(heights), torch.tensor(ratios)


@functools.lru_cache(maxsize=1)
def _photos() -> list[Tensor]:
    return [photo(name, 192) for name in PHOTOS]


def _glyphs(glyph: Tensor, height: Tensor, cx: Tensor, cy: Tensor, rot: Tensor, shear: Tensor
            ) -> Tensor:
    """Draw atlas glyphs [n] at height (px), centre (normalised) into [n, 1, 32, 32] masks."""
    atlas, ink, _ = glyph_atlas()
    k = 0.5 * ink[glyph] / height  # output half-side (16 px) in atlas half-sides (32 px)
    theta = affine(k, k, rot, shear, cx, cy)
    return warp(atlas[glyph], theta, (32, 32))


def _digit_masks(labels: Tensor, g: torch.Generator) -> Tensor:
    n = len(labels)
    _, _, ratio = glyph_atlas()
    n_fonts = len(ratio) // 10
    font = torch.randint(0, n_fonts, (n,), generator=g)
    height = uniform(n, g, 15, 23)
    rot, shear = uniform(n, g, -0.12, 0.12), uniform(n, g, -0.15, 0.15)
    cx, cy = uniform(n, g, -0.08, 0.08), uniform(n, g, -0.08, 0.08)
    mask = _glyphs(font * 10 + labels, height, cx, cy, rot, shear)
    half_width = ratio[font * 10 + labels] * height / 32  # in normalised units
    for side in (-1.0, 1.0):
        other = torch.randint(0, 10, (n,), generator=g)
        present = (torch.rand(n, generator=g) < 0.7).float().view(n, 1, 1, 1)
        gap = uniform(n, g, 0.05, 0.25)
        ox = cx + side * (half_width + ratio[font * 10 + other] * height / 32 + gap)
        mask = torch.maximum(mask, present * _glyphs(font * 10 + other, height, ox, cy, rot, shear))
    return mask


def _backgrounds(n: int, g: torch.Generator) -> Tensor:
    photos = _photos()
    which = torch.randint(0, len(photos), (n,), generator=g)
    scale = uniform(n, g, 0.10, 0.40)
    zero = torch.zeros(n)
    theta = affine(scale, scale, zero, zero, zero, zero)
    theta[:, 0, 2] = uniform(n, g, -1, 1) * (1 - scale)
    theta[:, 1, 2] = uniform(n, g, -1, 1) * (1 - scale)
    crops = crop_photos(photos, which, theta, (32, 32))
    tint = uniform(3 * n, g, 0.5, 1.0).view(n, 3, 1, 1)
    return crops * tint * uniform(n, g, 0.25, 0.55).view(n, 1, 1, 1)


def _render(labels: Tensor, g: torch.Generator) -> Tensor:
    n = len(labels)
    mask = _digit_masks(labels, g)
    background = _backgrounds(n, g)
    hue = torch.rand(n, 3, generator=g)
    colour = (0.55 + 0.45 * hue / hue.max(1, keepdim=True).values.clamp_min(1e-6)).view(n, 3, 1, 1)
    image = background * (1 - mask) + colour * mask
    image = blur(image, uniform(n, g, 0, 1))
    noise = torch.randn(image.shape, generator=g) * uniform(n, g, 0, 0.05).view(n, 1, 1, 1)
    return image + noise


def make_svhn_like(n: int, seed: int, split: str) -> dict[str, Tensor]:
    """n SVHN-like crops with balanced labels: {"images": uint8 [n,3,32,32], "labels": [n]}."""
    g = generator(seed, f"svhn-like/{split}")
    labels = balanced_labels(n, g)
    parts = [to_uint8(_render(labels[i:i + CHUNK], g)) for i in range(0, n, CHUNK)]
    images = torch.cat(parts) if parts else torch.zeros(0, 3, 32, 32, dtype=torch.uint8)
    return {"images": images, "labels": labels}
