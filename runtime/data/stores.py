"""How each modality's batch is produced: index gathers from device-resident tensors.

A store holds the tensors of one modality for one split and turns a LongTensor of item indices
into the float batch the model reads. Everything is a tensor operation on the store's device, with
no Python loop over items, so the training loop never leaves the device:

- `ImageStore`: uint8 images [K, C, H, W] and an optional item -> image map (MNIST-SVHN pairs, CUB's
  ten captions per image), so 1.12M MNIST-SVHN-Text pairs cost two index vectors, not 1.12M images.
- `TokenStore`: token or character indices [K, L] -> one-hot [B, L, V].
- `DigitTextStore`: MNIST-SVHN-Text text, regenerated from the labels for every batch.
- `PolyStore`: PolyMNIST built on the fly from a digit, a background photograph and two offsets
  per item (binarise the digit at > 128, crop 28x28 of the background, invert it under the digit),
  optionally with the digit translated inside the canvas (Translated-PolyMNIST).
- `VectorStore`: float vectors [K, D].
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from runtime.data.text import encode_words, one_hot


def _moved(store, device: torch.device, memo: dict | None):
    """A copy of a dataclass store with every tensor field moved to `device`. `memo` (id ->
    moved tensor) keeps tensors shared between stores (PolyMNIST's digits) shared after the move."""
    memo = {} if memo is None else memo
    changes = {}
    for f in fields(store):
        value = getattr(store, f.name)
        if isinstance(value, Tensor):
            if id(value) not in memo:
                memo[id(value)] = (value, value.to(device))
            changes[f.name] = memo[id(value)][1]
    return replace(store, **changes)


def _rows(item_index: Tensor | None, index: Tensor) -> Tensor:
    return index if item_index is None else item_index[index]


@dataclass(frozen=True)
class ImageStore:
    """uint8 images [K, C, H, W]; item i shows image item_index[i] (or i when None)."""

    images: Tensor
    item_index: Tensor | None = None

    def gather(self, index: Tensor, generator=None) -> Tensor:
        return self.images[_rows(self.item_index, index)].float().div_(255.0)

    def sources(self, index: Tensor) -> Tensor:
        """The row each item shows: items sharing a row are copies of one source item."""
        return _rows(self.item_index, index)

    def to(self, device, memo=None):
        return _moved(self, device, memo)


@dataclass(frozen=True)
class TokenStore:
    """Token indices [K, L] over a vocabulary of `vocab_size`; one-hot [B, L, V] on gather."""

    tokens: Tensor
    vocab_size: int
    item_index: Tensor | None = None

    def gather(self, index: Tensor, generator=None) -> Tensor:
        return one_hot(self.tokens[_rows(self.item_index, index)], self.vocab_size)

    def sources(self, index: Tensor) -> Tensor:
        """The row each item shows: items sharing a row are copies of one source item."""
        return _rows(self.item_index, index)

    def to(self, device, memo=None):
        return _moved(self, device, memo)


@dataclass(frozen=True)
class DigitTextStore:
    """MNIST-SVHN-Text words, re-drawn per batch from the item labels [N] with `generator`."""

    labels: Tensor

    def gather(self, index: Tensor, generator=None) -> Tensor:
        return encode_words(self.labels[index], generator)

    def sources(self, index: Tensor) -> Tensor:
        """Each item is its own source: its words are drawn anew from its label for every batch."""
        return index

    def to(self, device, memo=None):
        return _moved(self, device, memo)


@dataclass(frozen=True)
class VectorStore:
    """float vectors [K, D]."""

    vectors: Tensor
    item_index: Tensor | None = None

    def gather(self, index: Tensor, generator=None) -> Tensor:
        return self.vectors[_rows(self.item_index, index)].float()

    def sources(self, index: Tensor) -> Tensor:
        """The row each item shows: items sharing a row are copies of one source item."""
        return _rows(self.item_index, index)

    def to(self, device, memo=None):
        return _moved(self, device, memo)


@dataclass(frozen=True)
class PolyStore:
    """One PolyMNIST modality, composed per batch.

    digits: uint8 [K, h, w] grey digits (h = w = 28, or 21 for Translated-PolyMNIST);
    digit_index: [N] which digit each item shows; background: uint8 [3, H, W];
    crop_offset: [N, 2] (y, x) top-left corner of the item's 28x28 background crop;
    digit_offset: [N, 2] (y, x) where a smaller digit is pasted in the 28x28 canvas, or None.
    """

    digits: Tensor
    digit_index: Tensor
    background: Tensor
    crop_offset: Tensor
    digit_offset: Tensor | None = None

    SIZE = 28

    def _canvas(self, index: Tensor) -> Tensor:
        """The items' digits on a 28x28 canvas, uint8 [B, 28, 28]."""
        digits = self.digits[self.digit_index[index]]
        if self.digit_offset is None:
            return digits
        h = digits.shape[-1]
        off = self.digit_offset[index].long()
        grid = torch.arange(self.SIZE, device=digits.device)
        rows = grid[None, :] - off[:, :1]
        cols = grid[None, :] - off[:, 1:]
        valid = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < h))[:, None, :]
        batch = torch.arange(digits.shape[0], device=digits.device)[:, None, None]
        pasted = digits[batch, rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, h - 1)[:, None, :]]
        return pasted * valid

    def gather(self, index: Tensor, generator=None) -> Tensor:
        mask = self._canvas(index) > 128
        off = self.crop_offset[index].long()
        grid = torch.arange(self.SIZE, device=off.device)
        ys = (off[:, :1] + grid[None, :])[:, :, None]
        xs = (off[:, 1:] + grid[None, :])[:, None, :]
        crop = self.background[:, ys, xs].permute(1, 0, 2, 3)  # [B, 3, 28, 28]
        composed = torch.where(mask[:, None], 255 - crop, crop)
        return composed.float().div_(255.0)

    def sources(self, index: Tensor) -> Tensor:
        """The digit each item shows: items sharing a digit are copies of one source digit."""
        return self.digit_index[index]

    def to(self, device, memo=None):
        return _moved(self, device, memo)
