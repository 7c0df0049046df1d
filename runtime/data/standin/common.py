"""Shared helpers of the stand-in generators: seeded generators, warps, blur, quantisation.

Every generator draws from a `torch.Generator` seeded from (seed, part name), works on CPU in
batched tensor operations (affine grids and `grid_sample` over glyph/shape atlases) and returns
uint8 tensors, so the same seed gives bit-identical data and a 60k-item set takes seconds.
"""
from __future__ import annotations

import zlib

import torch
import torch.nn.functional as F
from torch import Tensor

CHUNK = 4096


def generator(seed: int, part: str) -> torch.Generator:
    """A CPU generator for one named part of one stand-in (independent streams per part)."""
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + zlib.crc32(part.encode())) % 2**63)


def uniform(n: int, g: torch.Generator, lo: float, hi: float) -> Tensor:
    """n draws from U[lo, hi)."""
    return lo + (hi - lo) * torch.rand(n, generator=g)


def balanced_labels(n: int, g: torch.Generator, classes: int = 10) -> Tensor:
    """n labels with every class as equally often as n allows, in random order."""
    return (torch.arange(n) % classes)[torch.randperm(n, generator=g)]


def affine(scale_x: Tensor, scale_y: Tensor, rotation: Tensor, shear: Tensor,
           centre_x: Tensor, centre_y: Tensor) -> Tensor:
    """[n, 2, 3] matrices mapping output coordinates to source coordinates (affine_grid's
    convention): source = S R (out - centre), in normalised [-1, 1] units."""
    c, s = torch.cos(rotation), torch.sin(rotation)
    m = torch.zeros(len(c), 2, 3)
    m[:, 0, 0] = scale_x * c
    m[:, 0, 1] = scale_x * (shear - s)
    m[:, 1, 0] = scale_y * s
    m[:, 1, 1] = scale_y * c
    m[:, 0, 2] = -(m[:, 0, 0] * centre_x + m[:, 0, 1] * centre_y)
    m[:, 1, 2] = -(m[:, 1, 0] * centre_x + m[:, 1, 1] * centre_y)
    return m


def warp(source: Tensor, theta: Tensor, size: tuple[int, int], offset: Tensor | None = None
         ) -> Tensor:
    """Sample source [n, C, h, w] through theta [n, 2, 3] (+ optional displacement field
    [n, H, W, 2]) into [n, C, H, W], zero outside the source."""
    grid = F.affine_grid(theta, (theta.shape[0], source.shape[1], *size), align_corners=False)
    if offset is not None:
        grid = grid + offset
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def crop_photos(photos: list[Tensor], which: Tensor, theta: Tensor, size: tuple[int, int]) -> Tensor:
    """Crop/rescale of photo `which[i]` through theta[i] for each item: [n, 3, H, W]."""
    out = torch.empty(len(which), 3, *size)
    for p, photo in enumerate(photos):
        sel = torch.nonzero(which == p)[:, 0]
        if len(sel):
            out[sel] = warp(photo[None].expand(len(sel), -1, -1, -1), theta[sel], size)
    return out


def blur(images: Tensor, amount: Tensor) -> Tensor:
    """Mix each image [n, C, H, W] with its 3x3 box blur by amount [n] in [0, 1]."""
    blurred = F.avg_pool2d(images, 3, stride=1, padding=1, count_include_pad=False)
    a = amount.view(-1, *([1] * (images.dim() - 1)))
    return images * (1 - a) + blurred * a


def to_uint8(images: Tensor) -> Tensor:
    """[0, 1] floats -> uint8 (rounded, clamped)."""
    return (images.clamp(0, 1) * 255).round_().to(torch.uint8)


