"""Cross-coherence and joint coherence (methods.md, evaluation protocols).

Cross-coherence of (S -> t): decode t from one sample of q(z | X_S) and count how often the runtime's
classifier for t recovers the true label. Joint coherence: decode every modality from one prior
sample and count how often all classifiers agree.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .classifiers import balanced_accuracy
from .common import Subset, subset_label

Classify = Callable[[Tensor], Tensor]


class CoherenceSink:
    """Accuracy counts per (given, target), kept on the device until the end."""

    def __init__(self, classifiers: dict[str, Classify]):
        self.classifiers = classifiers
        self.correct: dict[tuple[Subset, str], Tensor] = {}
        self.count: dict[tuple[Subset, str], int] = {}
        self.seen: dict[tuple[Subset, str], list[tuple[Tensor, Tensor]]] = {}    # (pred, true): balanced accuracy
        self._joint: dict[str, Tensor] = {}
        self.joint_agree: Tensor | None = None
        self.joint_count = 0

    def add(self, given, target, generated, batch, labels) -> None:
        if target not in self.classifiers:
            return
        with torch.no_grad():
            pred = self.classifiers[target](generated)
        if not given:
            self._joint[target] = pred
            return
        key = (given, target)
        right = pred == labels
        self.correct[key] = self.correct.get(key, 0) + right.sum()
        self.count[key] = self.count.get(key, 0) + labels.shape[0]
        self.seen.setdefault(key, []).append((pred, labels))

    def end_chunk(self) -> None:
        """All targets of the prior sample are in: count the items on which every classifier agrees."""
        if not self._joint:
            return
        preds = torch.stack(list(self._joint.values()))
        agree = (preds == preds[0]).all(0).sum()
        self.joint_agree = agree if self.joint_agree is None else self.joint_agree + agree
        self.joint_count += preds.shape[1]
        self._joint = {}

    def cross(self, balanced: bool = False) -> dict[str, dict[str, float]]:
        """{target: {given label: accuracy}}; `balanced`: the mean over true classes of each class's
        accuracy (MultiVae's convention), so a frequent class cannot carry the number."""
        out: dict[str, dict[str, float]] = {}
        for (given, target), hits in self.correct.items():
            key = (given, target)
            if balanced:
                pred, true = (torch.cat(t) for t in zip(*self.seen[key]))
                value = balanced_accuracy(pred, true)
            else:
                value = float(hits) / self.count[key]
            out.setdefault(target, {})[subset_label(given)] = value
        return out

    def joint(self) -> float | None:
        if self.joint_agree is None:
            return None
        return float(self.joint_agree) / self.joint_count


def mean_by_given_size(cross: dict[str, dict[str, float]]) -> dict[int, float]:
    """Mean coherence over all pairs with k given modalities (PolyMNIST-style summaries)."""
    groups: dict[int, list[float]] = {}
    for row in cross.values():
        for given, acc in row.items():
            groups.setdefault(len(given.split("+")), []).append(acc)
    return {k: sum(v) / len(v) for k, v in sorted(groups.items())}
