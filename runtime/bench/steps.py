"""One training step of each side, as a zero-argument function over data resident on the device.

mmspec's step is the training loop's own (`runtime.train.loop.Trainer._step`: forward, backward,
optimizer step, divergence bookkeeping, no host synchronisation) on batches gathered by index, as
in `mmspec run`. MultiVae's step is what its trainer does per batch: forward, `loss.backward()`,
the optimizer step, with the same optimizer settings and the same index-gathered batches.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from ..train.loop import LoopConfig, Trainer
from .synthetic import SyntheticData


class Batches:
    """Cycles through a fixed permutation of the resident items: one batch's indices per call."""

    def __init__(self, data: SyntheticData, batch: int, seed: int):
        self.batch = batch
        n = data.split_size("train")
        self.perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(data.labels("train").device)
        self.per_pass, self.i = n // batch, 0

    def __call__(self) -> torch.Tensor:
        b = self.i % self.per_pass
        self.i += 1
        return self.perm[b * self.batch:(b + 1) * self.batch]


def compile_for_bench(spec: Path, overrides: dict[str, str], device: torch.device, seed: int, batched: bool):
    from ..session import compile_model
    model = compile_model(spec, overrides, device, seed)
    if batched:
        model.module.use_batched(True)
    return model


def mmspec_step(model, data: SyntheticData, batch: int, *, seed: int, amp: str | None,
                compile: bool) -> Callable[[], None]:
    trainer = Trainer(model, data, LoopConfig(epochs=1, batch=batch, seed=seed, amp=amp, compile=compile),
                      run_dir=None, meta={})
    trainer._train_mode()
    batches = Batches(data, batch, seed)
    return lambda: trainer._step(trainer._batch(batches()))     # the loop's own gather and step


def multivae_step(mv_model, model, data: SyntheticData, batch: int, *, seed: int) -> Callable[[], None]:
    from . import multivae_side
    mv_model.to(data.labels("train").device).train()
    # MultiVae's trainer default: torch's Adam with the learning rate (no fused kernel)
    opt = torch.optim.Adam(mv_model.parameters(), lr=float(model.train.optimizer.params.get("lr", 1e-3)))
    batches = Batches(data, batch, seed)

    def step():
        loss = multivae_side.loss(mv_model, data.batch("train", batches()))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step
