"""Digit classifiers per modality, trained by the runtime to convergence and cached.

Coherence is only as good as the classifier that judges it. Each classifier (the papers' own
architecture, classifier_nets.py) is trained on the dataset's training split of its modality (real
data when the dataset uses real files, the stand-in otherwise) with early stopping on a held-out
slice of that split, and keeps its best validation weights (`RECIPES`: judges of real data get a
wider net for three-channel digits and averaged weights; translated digits a position-free net). Its
test accuracy, plain and class-balanced, is reported beside every coherence it produced, against a
target: the accuracy the papers' classifiers reach on that data (0.99 on MNIST, 0.98 on PolyMNIST),
or what the stand-in allows. A coherence judged by a classifier below its target is marked wherever it is shown.
Trained weights are cached under the cache directory, keyed by everything that defines them.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from .classifier_nets import ModalityClassifier, build_classifier

VERSION = 7          # bump when architectures or training change: invalidates every cache entry
MAX_STEPS = 20000    # the cap on training steps; early stopping usually ends far sooner

# Test accuracy a classifier must reach for its coherences to be comparable with the papers':
# real data -> the papers' classifiers (MoPoE's MNIST/SVHN/text ones, seed 004's PolyMNIST ones
# "above 98%"); stand-ins -> what these nets reach on the default stand-in (60,000 items) at the
# default budget, a little below the lowest modality measured (docs/evaluation.md has the
# measurements; the slow tests in tests/test_classifiers.py assert them). A judge trained on a
# smaller stand-in or budget may fall short, and its coherences are then marked: that is the point.
TARGETS = {
    "real": {("mst", "mnist"): 0.99, ("mst", "svhn"): 0.90, ("mst", "text"): 0.99,
             ("polymnist", "*"): 0.98, ("tpolymnist", "*"): 0.98},
    "standin": {("mst", "mnist"): 0.97, ("mst", "svhn"): 0.99, ("mst", "text"): 0.99,
                ("polymnist", "*"): 0.97, ("tpolymnist", "*"): 0.97},
}


# How a judge is built and trained, by data source and dataset ("*": any other dataset). Real data:
# MoPoE's wider MNIST net for three-channel digits (`net` "wide") and an exponential moving average of
# the weights judged at the checks (`ema`), which bring real PolyMNIST-like data past its 0.98 target
# where the PolyMNIST net with plain weights stays below. Translated digits, real or stand-in, need a
# net that does not tie the class to a position ("pooled": the wide net stops at 0.969-0.977 on real
# ones, the PolyMNIST net at 0.94 on the stand-in). Measurements in docs/evaluation.md. Stand-ins keep
# the recipe their targets and floors were measured with; changing it means measuring them again.
RECIPES = {
    "real": {"*": {"net": "wide", "ema": 0.999}, "tpolymnist": {"net": "pooled", "ema": 0.999}},
    "standin": {"*": {"net": "paper", "ema": None}, "tpolymnist": {"net": "pooled", "ema": None}},
}


def recipe_for(dataset_name: str, source: str) -> dict:
    """The recipe (RECIPES) of a dataset's modality from this data source; anything not real is
    built as a stand-in."""
    table = RECIPES["real" if str(source) == "real" else "standin"]
    return dict(table.get(dataset_name, table["*"]))


def accuracy_target(dataset_name: str, modality: str, source: str) -> float | None:
    """The test accuracy this modality's classifier should reach; None where no target is set."""
    table = TARGETS.get(str(source), {})
    return table.get((dataset_name, modality), table.get((dataset_name, "*")))


@dataclass
class TrainedClassifier:
    model: ModalityClassifier
    accuracy: float            # on the dataset's test split
    balanced_accuracy: float   # mean per-class recall on the test split (MultiVae's convention)
    cached: bool               # loaded from the cache rather than trained now
    key: str
    training: dict             # steps, best step, validation accuracy, why training stopped

    def summary(self, target: float | None) -> dict:
        """The results.json entry: both accuracies, the target and whether it is met."""
        return {"accuracy": self.accuracy, "balanced_accuracy": self.balanced_accuracy, "target": target,
                "meets_target": None if target is None else self.accuracy >= target, "cached": self.cached,
                "cache_key": self.key, "training": self.training}


def cache_key(dataset_name: str, info, n_classes: int, sizes: dict[str, int], seed: int, max_steps: int,
              recipe: dict) -> str:
    """Everything that defines the classifier: dataset, modality, data source, sizes, seed, step cap
    and the recipe it is trained with."""
    parts = dict(v=VERSION, dataset=dataset_name, modality=info.name, kind=info.kind,
                 shape=list(info.shape), source=str(info.source), origin=str(info.origin),
                 classes=n_classes, sizes=sizes, seed=seed, max_steps=max_steps,
                 recipe=recipe)
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    return f"{dataset_name}-{info.name}-{info.source}-{digest}"


def balanced_accuracy(pred: Tensor, labels: Tensor) -> float:
    """Mean over the classes present in `labels` of the fraction of that class predicted correctly
    (scikit-learn's balanced_accuracy_score; MultiVae reports coherence this way)."""
    n_classes = int(max(int(labels.max()), int(pred.max())) + 1) if labels.numel() else 0
    counts = torch.bincount(labels, minlength=n_classes)
    hits = torch.bincount(labels[pred == labels], minlength=n_classes)
    present = counts > 0
    return float((hits[present].double() / counts[present].double()).mean()) if present.any() else 0.0


@torch.no_grad()
def predictions(classify: Callable[[Tensor], Tensor], dataset, modality: str, split: str,
                index: Tensor | None = None, chunk: int = 1000, seed: int = 0) -> tuple[Tensor, Tensor]:
    """(predicted, true) labels of the split's items (all, or `index`)."""
    labels = dataset.labels(split)
    index = torch.arange(labels.shape[0], device=labels.device) if index is None else index
    gen = torch.Generator(device=labels.device)
    gen.manual_seed(seed)
    preds = [classify(dataset.batch(split, index[i:i + chunk], generator=gen)[modality])
             for i in range(0, index.shape[0], chunk)]
    return (torch.cat(preds) if preds else index.new_zeros(0)), labels[index]


def scores(classify, dataset, modality: str, split: str = "test", seed: int = 0) -> dict[str, float]:
    pred, true = predictions(classify, dataset, modality, split, seed=seed)
    return {"accuracy": float((pred == true).double().mean()) if true.numel() else 0.0,
            "balanced_accuracy": balanced_accuracy(pred, true)}


def _holdout(dataset, modality: str, n: int, seed: int, device) -> tuple[Tensor, Tensor | None]:
    """Training items and a validation slice for early stopping, split by source item.

    Paired datasets show one source item in several items (an MNIST image in twenty MNIST-SVHN-Text
    pairs, a photograph with ten captions); a validation item whose source is also trained on
    measures memorisation. So about 10% of the sources (at most 5,000) are held out with every item
    that shows them, and the validation slice is one item per held-out source. Sources, not equal
    values: a modality that is identical within a class (a stand-in's text) still keeps every
    class on both sides. No validation slice below 100 sources.
    """
    sources = dataset.source_items("train", modality).cpu()
    ids, groups = torch.unique(sources, return_inverse=True)
    n_sources = ids.shape[0]
    if n_sources < 100:
        return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(device), None
    take = min(5000, n_sources // 10)
    held = torch.zeros(n_sources, dtype=torch.bool)
    held[torch.randperm(n_sources, generator=torch.Generator().manual_seed(seed))[:take]] = True
    items = torch.arange(n)
    first = torch.full((n_sources,), n, dtype=torch.long).scatter_reduce(0, groups, items, "amin")
    return items[~held[groups]].to(device), first[held].to(device)


def train_classifier(dataset, modality: str, *, seed: int, steps: int = MAX_STEPS, batch: int = 128,
                     lr: float = 1e-3, patience: int = 6, decay_after: int = 2,
                     recipe: dict | None = None) -> tuple[ModalityClassifier, dict]:
    """Adam on cross-entropy over shuffled epochs of the training part; RNG isolated from the caller's.

    Images are shifted by up to two pixels per batch (a digit's position is not its class: the same
    net then generalises better). The validation accuracy is checked once an epoch (every 100 to 500
    steps); every `decay_after` checks without improvement the learning rate drops fivefold, and
    training stops after `patience` checks without improvement (converged) or after `steps`. The
    weights of the best check are kept. `recipe` (default: the one of the modality's data source,
    RECIPES) chooses the net and whether an average of the weights is what the checks judge and keep.
    Returns the model and a record of the training.
    """
    info = dataset.modalities[modality]
    recipe = recipe_for(dataset.name, info.source) if recipe is None else recipe
    labels = dataset.labels("train")
    device = labels.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = build_classifier(info.kind, tuple(info.shape), len(dataset.class_names), recipe["net"]).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        gen = torch.Generator(device=device)
        gen.manual_seed(seed)
        shuffle = torch.Generator().manual_seed(seed)
        train_idx, val_idx = _holdout(dataset, modality, labels.shape[0], seed, device)
        averaged = _Average(model, recipe["ema"]) if recipe["ema"] and val_idx is not None else None
        judged = averaged.model if averaged else model
        size = min(batch, train_idx.shape[0])
        per_epoch = max(1, train_idx.shape[0] // size)
        check_every = min(500, max(per_epoch, 100))
        best = {"accuracy": -1.0, "step": 0, "state": None}
        stale, step, order, decays = 0, 0, None, 0
        model.train()
        for step in range(1, steps + 1):
            b = (step - 1) % per_epoch
            if b == 0:                                   # a new epoch: a new order of the training part
                order = train_idx[torch.randperm(train_idx.shape[0], generator=shuffle).to(device)]
            idx = order[b * size:(b + 1) * size]
            x = _shifted(dataset.batch("train", idx, generator=gen)[modality], gen)
            loss = nn.functional.cross_entropy(model(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if averaged:
                averaged.update(model)
            if val_idx is not None and (step % check_every == 0 or step == steps):   # the cap's weights count too
                acc = _validation_accuracy(judged, dataset, modality, val_idx, seed)
                if acc > best["accuracy"]:
                    best, stale = {"accuracy": acc, "step": step,
                                   "state": {k: v.detach().clone() for k, v in judged.state_dict().items()}}, 0
                else:
                    stale += 1
                    if stale % decay_after == 0:
                        decays += 1
                        for group in opt.param_groups:
                            group["lr"] *= 0.2
                if stale >= patience or acc >= 1.0:
                    break
        if best["state"] is not None:
            model.load_state_dict(best["state"])
    converged = val_idx is not None and (stale >= patience or best["accuracy"] >= 1.0)
    record = {"steps": step, "max_steps": steps, "best_step": best["step"] or step,
              "validation_accuracy": best["accuracy"] if best["state"] is not None else None,
              "validation_items": 0 if val_idx is None else int(val_idx.shape[0]), "lr_decays": decays,
              "stopped": "converged (early stopping)" if converged else "step cap", "recipe": recipe}
    return model.eval(), record


class _Average:
    """An exponential moving average of a model's weights, the model judged at the checks: it
    averages out the step-to-step noise of Adam. The decay warms up as min(decay, (1 + t) / (10 + t))
    at update t, so the first weights (the initialisation) fade fast and a short training still
    gets an average of trained weights."""

    def __init__(self, model: nn.Module, decay: float):
        self.model, self.decay, self.updates = copy.deepcopy(model).eval(), decay, 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for mine, theirs in zip(self.model.state_dict().values(), model.state_dict().values()):
            if mine.is_floating_point():
                mine.lerp_(theirs, 1.0 - decay)
            else:
                mine.copy_(theirs)


def _shifted(x: Tensor, gen: torch.Generator, most: int = 2) -> Tensor:
    """Images [B, C, H, W] (at least 16 pixels a side) moved by up to `most` pixels each way, the
    border repeated; anything else unchanged."""
    if x.dim() != 4 or min(x.shape[-2:]) < 16:
        return x
    b, c, h, w = x.shape
    padded = nn.functional.pad(x, (most,) * 4, mode="replicate")
    dy, dx = torch.randint(0, 2 * most + 1, (2, b, 1), generator=gen, device=x.device)
    rows = (dy + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx + torch.arange(w, device=x.device))[:, None, None, :]
    return padded[torch.arange(b, device=x.device)[:, None, None, None],
                  torch.arange(c, device=x.device)[None, :, None, None], rows, cols]


def _validation_accuracy(model: ModalityClassifier, dataset, modality: str, val_idx: Tensor, seed: int) -> float:
    model.eval()
    pred, true = predictions(model.predict, dataset, modality, "train", index=val_idx, seed=seed)
    model.train()
    return float((pred == true).double().mean())


def load_or_train(dataset, dataset_name: str, modality: str, cache_dir: Path | None, *,
                  seed: int = 0, steps: int = MAX_STEPS, log: Callable[[str], None] = print) -> TrainedClassifier:
    """The cached classifier for this dataset modality, training (and caching) it when absent."""
    info = dataset.modalities[modality]
    n_classes = len(dataset.class_names)
    sizes = {s: int(dataset.split_size(s)) for s in ("train", "test")}
    recipe = recipe_for(dataset_name, info.source)
    key = cache_key(dataset_name, info, n_classes, sizes, seed, steps, recipe)
    device = dataset.labels("test").device
    folder = Path(cache_dir) / "classifiers" / key if cache_dir else None
    if folder is not None and (folder / "model.safetensors").exists():
        meta = json.loads((folder / "meta.json").read_text())
        model = build_classifier(info.kind, tuple(info.shape), n_classes, recipe["net"]).to(device)
        model.load_state_dict(load_file(str(folder / "model.safetensors"), device=str(device)))
        return TrainedClassifier(model.eval(), float(meta["accuracy"]), float(meta["balanced_accuracy"]), True,
                                 key, meta["training"])
    log(f"training the {modality} classifier ({info.source} data, early stopping, at most {steps} steps)")
    model, record = train_classifier(dataset, modality, seed=seed, steps=steps, recipe=recipe)
    test = scores(model.predict, dataset, modality, "test", seed=seed)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous().cpu() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
        (folder / "meta.json").write_text(json.dumps({**test, "training": record, "key": key}, indent=2))
    return TrainedClassifier(model, test["accuracy"], test["balanced_accuracy"], False, key, record)
