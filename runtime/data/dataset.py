"""The dataset object the runtime trains on: modality tensors, labels and where each came from.

A `MultimodalDataset` holds, per split, the item labels and one store per modality (see
`stores.py`). Everything lives on one device; `batch()` is a handful of index gathers, so a training
loop draws `torch.randint`/`randperm` indices on the device and never runs Python per item.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from runtime.data.errors import DataError
from runtime.data.text import decode_chars, decode_tokens

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DataModality:
    """What one modality is: kind ("image" | "text" | "vector"), shape, and where it came from.

    shape: image (C, H, W); text (L, V) one-hot; vector (D,).
    source: "real" (read from files) or "standin" (generated procedurally).
    origin: the file paths read, or a description of the generator.
    vocabulary: for text, the alphabet (a str, one character per index) or the token list.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    source: str
    origin: str
    vocabulary: str | list[str] | None = None


@dataclass
class SplitData:
    """One split: labels [N], one store per modality, optional attributes [N, A]."""

    labels: Tensor
    stores: dict[str, Any]
    attributes: Tensor | None = None

    def to(self, device, memo: dict | None = None) -> "SplitData":
        memo = {} if memo is None else memo
        attrs = None if self.attributes is None else self.attributes.to(device)
        stores = {k: s.to(device, memo) for k, s in self.stores.items()}
        return SplitData(self.labels.to(device), stores, attrs)


@dataclass
class MultimodalDataset:
    """A multimodal dataset resident on `device` (see the module docstring).

    notes: extra banner lines (e.g. why a modality fell back to the stand-in).
    label_name: what `labels()` means (e.g. "digit", "species", "attribute Male", "shape").
    attribute_names: the columns of `attributes()`, when the dataset has more than one label.
    """

    name: str
    modalities: dict[str, DataModality]
    class_names: list[str]
    splits: dict[str, SplitData]
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    notes: list[str] = field(default_factory=list)
    label_name: str = "class"
    attribute_names: list[str] = field(default_factory=list)
    description: str = ""
    folder: str | None = None          # own data (a spec's `data NAME { ... }`): the folder read

    def _split(self, split: str) -> SplitData:
        if split not in self.splits:
            raise DataError(f"dataset {self.name!r} has no split {split!r}; "
                            f"splits: {', '.join(self.splits)}")
        return self.splits[split]

    def split_size(self, split: str) -> int:
        """Number of items (aligned tuples) in a split."""
        return int(self._split(split).labels.shape[0])

    def labels(self, split: str) -> Tensor:
        """LongTensor [N] of class indices into `class_names`, on the device."""
        return self._split(split).labels

    def attributes(self, split: str) -> Tensor:
        """LongTensor [N, A] of per-item attributes (`attribute_names`); labels when none."""
        data = self._split(split)
        return data.labels[:, None] if data.attributes is None else data.attributes

    def batch(self, split: str, index: Tensor,
              generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Float tensors for the items `index` on the device: image [B,C,H,W] in [0,1], text one-hot
        [B,L,V], vector [B,D]. Index gathers only; `generator` draws MNIST-SVHN-Text positions."""
        data = self._split(split)
        index = index.to(self.device, torch.long)
        return {name: data.stores[name].gather(index, generator) for name in self.modalities}

    def source_items(self, split: str, modality: str) -> Tensor:
        """LongTensor [N]: the source item behind each item of the modality (an MNIST image shown in
        twenty pairs, a photograph with ten captions). Items with one source are copies of it, so a
        held-out slice that must not overlap the rest holds out sources, not items."""
        data = self._split(split)
        return data.stores[modality].sources(torch.arange(data.labels.shape[0], device=data.labels.device))

    def to(self, device) -> "MultimodalDataset":
        """The same dataset with every tensor on `device` (a new object; self is unchanged)."""
        device = torch.device(device)
        memo: dict = {}
        splits = {k: v.to(device, memo) for k, v in self.splits.items()}
        return MultimodalDataset(self.name, dict(self.modalities), list(self.class_names), splits,
                                 device, list(self.notes), self.label_name,
                                 list(self.attribute_names), self.description, self.folder)

    def banner(self) -> str:
        """Which modality came from where: real file paths or the stand-in generator."""
        lines = [f"dataset {self.name}" + (f" ({self.description})" if self.description else "")]
        width = max(len(m) for m in self.modalities)
        for name, mod in self.modalities.items():
            tag = "real" if mod.source == "real" else "STAND-IN"
            lines.append(f"  {name:<{width}}  {tag:<8}  {mod.origin}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)

    def text_to_strings(self, modality: str, onehot_or_probs: Tensor) -> list[str]:
        """Decode a text modality (argmax over the last axis). Character text keeps its spaces;
        token text is joined with spaces up to <eos>."""
        mod = self.modalities.get(modality)
        if mod is None or mod.kind != "text":
            raise DataError(f"{modality!r} is not a text modality of {self.name!r}")
        if isinstance(mod.vocabulary, str):
            return decode_chars(onehot_or_probs, mod.vocabulary)
        return decode_tokens(onehot_or_probs, mod.vocabulary)
