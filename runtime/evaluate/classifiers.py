"""Digit classifiers per modality, trained by the runtime and cached.

Coherence is only as good as the classifier that judges it, so each classifier is trained on the
dataset's own training split of its modality (real data when the dataset uses real files, the
stand-in otherwise) and its test accuracy is reported beside every coherence it produced. Trained
weights are cached under the cache directory, keyed by everything that defines the data they saw.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

VERSION = 3          # bump when architectures or training change: invalidates every cache entry


class ModalityClassifier(nn.Module):
    """A feature trunk and a linear head; `features` feeds the classifier Fréchet distance."""

    def __init__(self, trunk: nn.Module, width: int, n_classes: int):
        super().__init__()
        self.trunk = trunk
        self.head = nn.Linear(width, n_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.trunk(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.trunk(x))

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        return self(x).argmax(-1)


class _TextTrunk(nn.Module):
    """1-D convolutions over one-hot characters [B, L, V]."""

    def __init__(self, vocab: int, width: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(vocab, 32, 3, padding=1), nn.ReLU(),
            nn.Conv1d(32, width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveMaxPool1d(1), nn.Flatten())

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.transpose(1, 2))


def build_classifier(kind: str, shape: tuple[int, ...], n_classes: int, width: int = 64) -> ModalityClassifier:
    """A small network for the modality kind; any image size, text length or vector width.

    Deliberately narrow (16-32-64 strided convolutions): on a 2-core CPU it trains in seconds, and
    its test accuracy, reported beside every coherence, shows whether it is good enough.
    """
    if kind == "image":
        c = shape[0]
        trunk = nn.Sequential(
            nn.Conv2d(c, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
    elif kind == "text":
        trunk = _TextTrunk(shape[1], width)
    elif kind == "vector":
        trunk = nn.Sequential(nn.Flatten(), nn.Linear(shape[0], width), nn.ReLU(),
                              nn.Linear(width, width), nn.ReLU())
    else:
        raise ValueError(f"no classifier for modality kind {kind!r}")
    return ModalityClassifier(trunk, width, n_classes)


@dataclass
class TrainedClassifier:
    model: ModalityClassifier
    accuracy: float            # on the dataset's test split
    cached: bool               # loaded from the cache rather than trained now
    key: str


def cache_key(dataset_name: str, info, n_classes: int, sizes: dict[str, int], seed: int) -> str:
    """Everything that defines what the classifier saw: dataset, modality, data source, sizes, seed."""
    parts = dict(v=VERSION, dataset=dataset_name, modality=info.name, kind=info.kind,
                 shape=list(info.shape), source=str(info.source), origin=str(info.origin),
                 classes=n_classes, sizes=sizes, seed=seed)
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    return f"{dataset_name}-{info.name}-{info.source}-{digest}"


@torch.no_grad()
def accuracy(classify: Callable[[Tensor], Tensor], dataset, modality: str, split: str,
             chunk: int = 1000, seed: int = 0) -> float:
    labels = dataset.labels(split)
    gen = torch.Generator(device=labels.device)
    gen.manual_seed(seed)
    correct, n = 0, labels.shape[0]
    for start in range(0, n, chunk):
        idx = torch.arange(start, min(start + chunk, n), device=labels.device)
        x = dataset.batch(split, idx, generator=gen)[modality]
        correct += int((classify(x) == labels[idx]).sum())
    return correct / max(n, 1)


def _holdout(n: int, gen: torch.Generator, device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Training items and a validation slice for early stopping (none for small splits)."""
    perm = torch.randperm(n, generator=gen).to(device)
    if n < 2000:
        return perm, None
    k = min(1000, n // 10)
    return perm[k:], perm[:k]


def train_classifier(dataset, modality: str, *, seed: int, steps: int = 1500, batch: int = 128,
                     lr: float = 1e-3, check_every: int = 250,
                     good_enough: float = 0.995) -> tuple[ModalityClassifier, int]:
    """Adam on cross-entropy over random training batches; RNG isolated from the caller's.

    Stops early once a held-out slice of the training split is classified `good_enough` (text
    classifiers get there in a few hundred steps), so the cost is paid where it is needed.
    Returns the model and the number of steps it took.
    """
    info = dataset.modalities[modality]
    labels = dataset.labels("train")
    device = labels.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = build_classifier(info.kind, tuple(info.shape), len(dataset.class_names)).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        gen = torch.Generator(device=device)
        gen.manual_seed(seed)
        train_idx, val_idx = _holdout(labels.shape[0], torch.Generator().manual_seed(seed), device)
        model.train()
        step = 0
        for step in range(1, steps + 1):
            pick = torch.randint(0, train_idx.shape[0], (min(batch, train_idx.shape[0]),), device=device,
                                 generator=gen)
            idx = train_idx[pick]
            x = dataset.batch("train", idx, generator=gen)[modality]
            loss = nn.functional.cross_entropy(model(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if val_idx is not None and step % check_every == 0:
                with torch.no_grad():
                    x = dataset.batch("train", val_idx, generator=gen)[modality]
                    if float((model.eval().predict(x) == labels[val_idx]).float().mean()) >= good_enough:
                        break
                model.train()
    return model.eval(), step


def load_or_train(dataset, dataset_name: str, modality: str, cache_dir: Path | None, *,
                  seed: int = 0, steps: int = 1500, log: Callable[[str], None] = print) -> TrainedClassifier:
    """The cached classifier for this dataset modality, training (and caching) it when absent."""
    info = dataset.modalities[modality]
    n_classes = len(dataset.class_names)
    sizes = {s: int(dataset.split_size(s)) for s in ("train", "test")}
    key = cache_key(dataset_name, info, n_classes, sizes, seed)
    device = dataset.labels("test").device
    folder = Path(cache_dir) / "classifiers" / key if cache_dir else None
    if folder is not None and (folder / "model.safetensors").exists():
        meta = json.loads((folder / "meta.json").read_text())
        model = build_classifier(info.kind, tuple(info.shape), n_classes).to(device)
        model.load_state_dict(load_file(str(folder / "model.safetensors"), device=str(device)))
        return TrainedClassifier(model.eval(), float(meta["accuracy"]), True, key)
    log(f"training the {modality} classifier ({info.source} data, at most {steps} steps)")
    model, done = train_classifier(dataset, modality, seed=seed, steps=steps)
    acc = accuracy(model.predict, dataset, modality, "test", seed=seed)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous().cpu() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
        (folder / "meta.json").write_text(json.dumps({"accuracy": acc, "steps": done, "max_steps": steps, "key": key}, indent=2))
    return TrainedClassifier(model, acc, False, key)
