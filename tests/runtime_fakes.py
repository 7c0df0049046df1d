"""A tiny dataset and a tiny compiled model with the interfaces the runtime relies on.

They let the runtime's tests run in seconds and independently of the compiler and the dataset
loaders: `FakeDataset` follows `runtime.data.MultimodalDataset`, `FakeModel` follows
`mmspec.compiled.CompiledModel` (a PoE VAE with a prior expert, written directly in torch).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from mmspec.compiled import (LossOutput, MetricRequest, ModalityInfo, OptimizerSettings,
                             SchedulerSettings, TrainSettings)

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ALPHABET = " abcdefghijklmnopqrstuvwxyz"
TEXT_LEN = 5


@dataclass(frozen=True)
class DataModality:
    name: str
    kind: str
    shape: tuple
    source: str = "standin"
    origin: str = "tests/runtime_fakes.py"
    vocabulary: str | None = None


def _text(labels: torch.Tensor) -> torch.Tensor:
    codes = torch.tensor([[ALPHABET.index(c) for c in WORDS[y][:TEXT_LEN].ljust(TEXT_LEN)] for y in labels.tolist()],
                         dtype=torch.long).reshape(-1, TEXT_LEN)
    return nn.functional.one_hot(codes, len(ALPHABET)).float()


def _images(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A 2x2 bright block at a label-dependent place on a noisy 8x8 background."""
    x = torch.rand(labels.shape[0], 1, 8, 8, generator=gen) * 0.2
    for i, y in enumerate(labels.tolist()):
        r, c = divmod(y, 4)
        x[i, 0, 2 * r:2 * r + 2, 2 * c:2 * c + 2] = 1.0
    return x


class FakeDataset:
    def __init__(self, n_train: int = 256, n_test: int = 128, seed: int = 0, device: str = "cpu"):
        gen = torch.Generator().manual_seed(seed)
        self.class_names = list(WORDS)
        self.modalities = {"img": DataModality("img", "image", (1, 8, 8)),
                           "txt": DataModality("txt", "text", (TEXT_LEN, len(ALPHABET)), vocabulary=ALPHABET),
                           "extra": DataModality("extra", "vector", (4,))}
        self._data = {}
        for split, n in (("train", n_train), ("test", n_test)):
            y = torch.arange(n) % 10
            y = y[torch.randperm(n, generator=gen)]
            self._data[split] = {"label": y, "img": _images(y, gen), "txt": _text(y),
                                 "extra": torch.randn(n, 4, generator=gen)}
        self.to(device)

    def to(self, device):
        self._data = {s: {k: v.to(device) for k, v in d.items()} for s, d in self._data.items()}
        return self

    def split_size(self, split: str) -> int:
        return self._data[split]["label"].shape[0]

    def labels(self, split: str) -> torch.Tensor:
        return self._data[split]["label"]

    def batch(self, split: str, index: torch.Tensor, generator=None) -> dict[str, torch.Tensor]:
        return {m: self._data[split][m][index] for m in self.modalities}

    def source_items(self, split: str, modality: str) -> torch.Tensor:
        return torch.arange(self.split_size(split))           # no item repeats another's data

    def banner(self) -> str:
        return "fake dataset (tests)"

    def text_to_strings(self, modality: str, tensor: torch.Tensor) -> list[str]:
        return ["".join(ALPHABET[i] for i in row) for row in tensor.argmax(-1).tolist()]


class DiagNormal:
    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor):
        self.mu, self.logvar = mu, logvar

    @property
    def mean(self) -> torch.Tensor:
        return self.mu

    def rsample(self, k: int = 1) -> torch.Tensor:
        eps = torch.randn((k,) + tuple(self.mu.shape), device=self.mu.device, dtype=self.mu.dtype)
        return self.mu + eps * torch.exp(0.5 * self.logvar)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return (-0.5 * ((z - self.mu) ** 2 / self.logvar.exp() + self.logvar + math.log(2 * math.pi))).sum(-1)


def poe(experts: list[DiagNormal]) -> DiagNormal:
    precision = sum(torch.exp(-e.logvar) for e in experts)
    mu = sum(e.mu * torch.exp(-e.logvar) for e in experts) / precision
    return DiagNormal(mu, -torch.log(precision))


@dataclass
class FakeModel:
    """PoE VAE (prior expert included) over the given modalities; `scale` multiplies the KL term."""

    modality_names: tuple = ("img", "txt")
    latent_dim: int = 4
    epochs: int = 2
    batch: int = 32
    lr: float = 1e-2
    scale: float = 1.0
    evaluate: list = field(default_factory=list)
    scheduler: str = "exponential"

    def __post_init__(self):
        data = FakeDataset(8, 8)
        self.modalities = {m: ModalityInfo(m, data.modalities[m].kind, data.modalities[m].shape,
                                           "gaussian" if data.modalities[m].kind != "text" else "categorical", 1.0)
                           for m in self.modality_names}
        d = self.latent_dim
        self.module = nn.ModuleDict({
            "enc": nn.ModuleDict({m: nn.Sequential(nn.Flatten(), nn.Linear(math.prod(i.shape), 32), nn.ReLU(),
                                                   nn.Linear(32, 2 * d)) for m, i in self.modalities.items()}),
            "dec": nn.ModuleDict({m: nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, math.prod(i.shape)))
                                  for m, i in self.modalities.items()})})
        self.name, self.dataset = "fake_poe", "fake"
        self.params = {"scale": self.scale}
        self.train = TrainSettings(self.epochs, self.batch, OptimizerSettings("adam", {"lr": self.lr}),
                                   SchedulerSettings(self.scheduler, {"gamma": 0.9} if self.scheduler == "exponential" else {}))
        self.evaluate = [MetricRequest(n) for n in self.evaluate]
        self.source_text = f"model fake_poe\nparam scale = {self.scale}\nlatent z: {d}\n"
        self.source_hash = hashlib.sha256(self.source_text.encode()).hexdigest()
        self.can_generate, self.generation_note = True, ""

    def set_clock(self, clock) -> None:
        """No scheduled weights: nothing follows the clock."""

    def schedule_notes(self, epochs: int, steps_per_epoch: int) -> list[str]:
        return []

    def _expert(self, m, x) -> DiagNormal:
        mu, logvar = self.module["enc"][m](x).chunk(2, -1)
        return DiagNormal(mu, logvar.clamp(-8, 8))

    def prior(self, batch_size: int) -> DiagNormal:
        p = next(self.module.parameters())
        z = torch.zeros(batch_size, self.latent_dim, device=p.device)
        return DiagNormal(z, z.clone())

    def encode(self, batch, subset) -> DiagNormal:
        b = batch[subset[0]].shape[0]
        return poe([self.prior(b)] + [self._expert(m, batch[m]) for m in subset])

    def encode_subsets(self, batch, subsets) -> list[DiagNormal]:
        return [self.encode(batch, s) for s in subsets]

    def decode(self, modality, z):
        info = self.modalities[modality]
        out = self.module["dec"][modality](z).reshape(*z.shape[:-1], *info.shape)
        return out.softmax(-1) if info.kind == "text" else out

    def log_likelihood(self, modality, z, x):
        info = self.modalities[modality]
        out = self.module["dec"][modality](z).reshape(*z.shape[:-1], *info.shape)
        if info.kind == "text":
            return (x * out.log_softmax(-1)).flatten(-2).sum(-1)
        return (-0.5 * (x - out) ** 2 - 0.5 * math.log(2 * math.pi)).flatten(-len(info.shape)).sum(-1)

    def sample_prior(self, n: int):
        return self.prior(n).rsample(1)[0]

    def loss(self, batch, noise=None) -> LossOutput:
        names = list(self.modalities)
        q = self.encode(batch, names)
        z = q.rsample(1)
        rec = sum(self.log_likelihood(m, z, batch[m]) for m in names).mean()
        kl = (q.log_prob(z) - self.prior(z.shape[1]).log_prob(z)).mean()
        loss = -rec + self.scale * kl
        return LossOutput(loss, {"rec(joint -> *)": rec.detach(), "kl(joint || p)": kl.detach()})


def install_fake_session(monkeypatch, model=None, dataset=None) -> dict:
    """Replace the compiler and the dataset loader of `runtime.session` by the fakes (the rest of the
    session is real). `model(overrides)` and `dataset()` override what is made; `made["model"]` is the
    last model compiled."""
    from runtime import session
    made = {}

    def compile_model(spec, overrides, device, seed):
        torch.manual_seed(seed)
        if model is not None:
            made["model"] = model(overrides)
        else:
            made["model"] = FakeModel(epochs=2, scale=float(overrides.get("scale", 1.0)),
                                      evaluate=["coherence", "latent_probe", "elbo", "cosine"])
        return made["model"]

    def load_data(model, data, *, seed, device):
        return dataset() if dataset is not None else FakeDataset(256, 128)

    monkeypatch.setattr(session, "compile_model", compile_model)
    monkeypatch.setattr(session, "load_data", load_data)
    return made
