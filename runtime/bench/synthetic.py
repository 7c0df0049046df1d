"""Synthetic training data with a spec's modality shapes, resident on the device.

Throughput does not depend on what the pixels show, so `mmspec bench` trains on random data of
the right kinds (images in [0, 1], one-hot text, Gaussian vectors) held in device memory: a batch
is one index gather, exactly as with the real datasets (runtime.data), and nothing is read from
disk or generated per item while the clock runs. It follows the part of
`runtime.data.MultimodalDataset` the training loop uses.
"""
from __future__ import annotations

import torch
from torch import Tensor


def random_modality(kind: str, shape: tuple[int, ...], n: int, gen: torch.Generator) -> Tensor:
    """n items of one modality: uniform images, one-hot text over shape[-1] symbols, normal vectors."""
    if kind == "text":
        codes = torch.randint(shape[-1], (n, *shape[:-1]), generator=gen)
        return torch.nn.functional.one_hot(codes, shape[-1]).float()
    if kind == "image":
        return torch.rand((n, *shape), generator=gen)
    return torch.randn((n, *shape), generator=gen)


class SyntheticData:
    """`items` random items per modality of a compiled model, on `device`."""

    def __init__(self, modalities: dict, items: int, device: torch.device, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        self.modalities = dict(modalities)
        self._data = {m: random_modality(info.kind, tuple(info.shape), items, gen).to(device)
                      for m, info in modalities.items()}
        self._labels = torch.zeros(items, dtype=torch.long, device=device)

    def split_size(self, split: str) -> int:
        return int(self._labels.shape[0])

    def labels(self, split: str) -> Tensor:
        return self._labels

    def batch(self, split: str, index: Tensor, generator=None) -> dict[str, Tensor]:
        return {m: x[index] for m, x in self._data.items()}

    def banner(self) -> str:
        return f"synthetic data: {self.split_size('train')} random items per modality, on {self._labels.device}"
