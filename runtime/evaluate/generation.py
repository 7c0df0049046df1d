"""One pass of cross-generation over the test set, feeding several metrics at once.

Every (given subset -> target) pair is encoded once per given subset and decoded once per target;
the generated batch is handed to each *sink* (coherence, Levenshtein, feature statistics, images for
FID, grid examples), so adding a metric never adds a pass over the data. The empty subset `()` means
generation from prior samples.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import torch
from torch import Tensor

from .common import EvalData, Subset, decode, encode, encode_many


class Sink(Protocol):
    def add(self, given: Subset, target: str, generated: Tensor, batch: dict[str, Tensor],
            labels: Tensor) -> None: ...

    def end_chunk(self) -> None: ...


def to_data_space(model, target: str, z: Tensor, batch: dict[str, Tensor]) -> Tensor:
    """Decode `target` from z (given the batch's conditioning data, for a conditional spec) and bring
    it to the dataset's conventions.

    Text becomes the one-hot of its most likely characters (what a reader of the string sees);
    images are clamped to [0, 1].
    """
    info = model.modalities[target]
    with torch.no_grad():
        x = decode(model, target, z, batch).float()
    if info.kind == "text":
        return torch.nn.functional.one_hot(x.argmax(-1), x.shape[-1]).to(x.dtype)
    if info.kind == "image":
        return x.clamp(0, 1)
    return x


def sample_given(model, batch: dict[str, Tensor], given: Subset, n: int, posterior=None,
                 samples: int = 1) -> Tensor:
    """`samples` latent draws per item, sample-major ([samples * n, D]): from q(z | X_given)
    (`posterior` when already encoded), or from the prior when `given` is empty."""
    if not given:
        with torch.no_grad():
            return model.sample_prior(samples * n)
    posterior = posterior if posterior is not None else encode(model, batch, given)
    with torch.no_grad():
        return posterior.rsample(samples).detach().flatten(0, 1)


def sweep(model, data: EvalData, split: str, n: int | None, pairs: Sequence[tuple[Subset, str]],
          sinks: Sequence[Sink]) -> None:
    """Run every pair over the first `n` items of `split`, feeding every sink."""
    by_given: dict[Subset, list[str]] = {}
    for given, target in pairs:
        by_given.setdefault(given, []).append(target)
    for batch, labels in data.chunks(split, n):
        size = labels.shape[0]
        posteriors = encode_many(model, batch, [g for g in by_given if g])
        for given, targets in by_given.items():
            z = sample_given(model, batch, given, size, posteriors.get(given))
            for target in targets:
                generated = to_data_space(model, target, z, batch)
                for sink in sinks:
                    sink.add(given, target, generated, batch, labels)
        for sink in sinks:
            sink.end_chunk()
