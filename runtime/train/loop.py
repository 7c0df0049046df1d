"""The training loop: index-gather batches on the device, one optimizer step per batch, no host sync
inside the step, exact resume, a divergence guard and a clean Ctrl-C.

Exact resume: everything that decides the next step is checkpointed — weights, optimizer and
scheduler state, the global RNG (reparameterisation noise), the generator that shuffles each epoch
(saved as its state *before* the epoch's permutation was drawn, so a run interrupted mid-epoch
redraws the same permutation and skips the batches already done), the generator the dataset uses
for data made on the fly, and the running epoch sums. On the CPU in deterministic mode a resumed run
therefore ends bit for bit where an uninterrupted one does.

Divergence: every step folds `isfinite` of the loss and its named terms into device tensors that
remember the first bad step and its values; they are read at the logging cadence and at the end of
every epoch, before any checkpoint is written, so a checkpoint is never written from a diverged
model and the message names the first non-finite term and the exact step.
"""
from __future__ import annotations

import contextlib
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mmspec.compiled import Clock

from ..data.streaming import read_ahead
from ..errors import Diverged, RunError
from . import checkpoint
from .optim import build_optimizer, build_scheduler


@dataclass
class LoopConfig:
    epochs: int
    batch: int
    seed: int = 0
    amp: str | None = None                 # "bf16" or None
    compile: bool = False
    log_every: int = 50
    stop_after_epoch: int | None = None    # behave as if interrupted after this epoch (tests, smoke runs)
    stop_after_steps: int | None = None    # behave as if interrupted after this global step


@dataclass
class Outcome:
    status: str                            # "finished" | "interrupted" | "diverged"
    epoch: int                             # completed epochs
    step: int
    message: str = ""
    history: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)


class Trainer:
    """Trains one compiled model on one dataset; knows nothing about which method it is."""

    def __init__(self, model, dataset, cfg: LoopConfig, *, run_dir: Path | None, meta: dict, display=None):
        self.model, self.dataset, self.cfg = model, dataset, cfg
        self.run_dir, self.meta, self.display = run_dir, meta, display
        self.modalities = list(model.modalities) + list(getattr(model, "givens", {}))   # + a CVAE's given data
        self.device = dataset.labels("train").device
        self.n_train = int(dataset.split_size("train"))
        self.batch = min(cfg.batch, self.n_train)
        self.steps_per_epoch = self.n_train // self.batch
        self.opt = build_optimizer(model.train.optimizer, self._parameters())
        self.sched = build_scheduler(model.train.scheduler, self.opt, cfg.epochs)
        self.perm_gen = torch.Generator().manual_seed(cfg.seed)
        self.data_gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)
        self.loop = {"epoch": 0, "batch_in_epoch": 0, "step": 0, "perm_state": self.perm_gen.get_state(),
                     "history": [], "steps": [], "epoch_sums": None, "epoch_count": 0,
                     "term_names": None, "wall_s": 0.0, "fresh": True}
        forward = self._forward
        self.forward = torch.compile(forward) if cfg.compile else forward
        self.interrupted = False
        self._bad_step = torch.full((), -1, dtype=torch.long, device=self.device)
        self._bad_vec: torch.Tensor | None = None
        self._step_t = torch.zeros((), dtype=torch.long, device=self.device)
        model.set_clock(Clock(self._step_t, self.steps_per_epoch))   # schedules read the step on the device

    def _parameters(self):
        """What the optimizer updates: everything here; a training stage narrows it (stages.py)."""
        return self.model.module.parameters()

    def _train_mode(self) -> None:
        """Training mode for the step; a stage keeps its frozen modules in eval mode (stages.py)."""
        self.model.module.train()

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict:
        rng = {"torch": torch.get_rng_state(), "perm": self.perm_gen.get_state(),
               "data": self.data_gen.get_state(), "python": random.getstate(), "numpy": np.random.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {"optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict() if self.sched is not None else None,
                "rng": rng, "loop": dict(self.loop)}

    def restore(self, ckpt: "checkpoint.Checkpoint") -> None:
        """Continue exactly where the checkpoint stopped."""
        ckpt.load_weights(self.model.module, self.device)
        state = ckpt.state
        self.opt.load_state_dict(state["optimizer"])
        if self.sched is not None and state["scheduler"] is not None:
            self.sched.load_state_dict(state["scheduler"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        self.perm_gen.set_state(rng["perm"])
        self.data_gen.set_state(rng["data"])
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        self.loop = dict(state["loop"])
        self._step_t.fill_(self.loop["step"])

    def _counters(self) -> dict:
        """Where training stands, for the checkpoint's meta; a training stage adds its own (stages.py)."""
        return {"epoch": self.loop["epoch"], "step": self.loop["step"]}

    def _save(self) -> Path | None:
        if self.run_dir is None:
            return None
        meta = dict(self.meta, **self._counters(), batch_in_epoch=self.loop["batch_in_epoch"],
                    epochs=self.cfg.epochs, saved_at=time.time())
        try:
            return checkpoint.save(self.run_dir, self.model.module, self.state_dict(),
                                   spec_text=self.model.source_text, meta=meta)
        except checkpoint.NotFinite as exc:       # a finite loss, then an update that broke the weights
            step, epoch = self.loop["step"], (self.loop["step"] - 1) // self.steps_per_epoch + 1
            raise Diverged(f"training diverged: the weights became non-finite by step {step} (epoch {epoch}) "
                           f"while the loss was still finite: {exc}. {self._kept()} No checkpoint of the "
                           "non-finite weights was written.\nLower the learning rate (or clip gradients) "
                           "and start a new run.", step=step, term="weights") from None

    # ----------------------------------------------------------------- step
    def _forward(self, batch):
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.amp == "bf16"):
            out = self.model.loss(batch)
        return out.loss, out.terms

    def _step(self, batch) -> torch.Tensor:
        """One optimizer step; returns [loss, *terms] as a device vector (no host sync)."""
        loss, terms = self.forward(batch)
        self.opt.zero_grad(set_to_none=True)
        loss.float().backward()
        self.opt.step()
        if self.loop["term_names"] is None:
            self.loop["term_names"] = [k if k != "loss" else "loss (term)" for k in terms]
        vec = torch.stack([loss.detach().float()] + [t.detach().float().reshape(()) for t in terms.values()])
        self._track_finite(vec)
        return vec

    def _track_finite(self, vec: torch.Tensor) -> None:
        self._step_t += 1
        if self._bad_vec is None:
            self._bad_vec = torch.zeros_like(vec)
        new = (~torch.isfinite(vec)).any() & (self._bad_step < 0)
        self._bad_step = torch.where(new, self._step_t, self._bad_step)
        self._bad_vec = torch.where(new, vec, self._bad_vec)

    def names(self) -> list[str]:
        return ["loss"] + list(self.loop["term_names"] or [])

    def _sync(self, vec: torch.Tensor) -> dict[str, float]:
        """Read the latest values and the divergence record in one transfer; raise on divergence."""
        packed = torch.cat([vec.double(), self._bad_step.double().view(1), self._bad_vec.double()]).tolist()
        n = vec.numel()
        if packed[n] >= 0:
            raise self._diverged(int(packed[n]), packed[n + 1:])
        return dict(zip(self.names(), packed[:n]))

    def _diverged(self, step: int, values: list[float]) -> Diverged:
        names = self.names()
        bad = [(k, v) for k, v in zip(names, values) if not np.isfinite(v)]
        named = [b for b in bad if b[0] != "loss"]
        term, value = (named or bad)[0]
        epoch = (step - 1) // self.steps_per_epoch + 1
        kept = self._kept()
        others = ", ".join(f"{k} = {v}" for k, v in bad if k != term)
        what = "the total loss" if term == "loss" else f"the term '{term}'"
        msg = (f"training diverged: {what} became {value} at step {step} (epoch {epoch})"
               + (f"; also non-finite: {others}" if others else "") + f". {kept}\n"
               "Lower the learning rate or the weight of that term, and start a new run.")
        return Diverged(msg, step=step, term=term)

    def _kept(self) -> str:
        """Where the last good (verified, finite) checkpoint is, for a divergence message."""
        ckpt = None
        if self.run_dir is not None:
            try:
                ckpt = checkpoint.load(self.run_dir)
            except RunError:
                pass
        if ckpt is None:
            return "No checkpoint had been written yet."
        meta = ckpt.meta
        where = f"end of epoch {meta['epoch']}" if not meta.get("batch_in_epoch") else f"step {meta['step']}"
        return f"The last good checkpoint ({where}) is kept in {ckpt.folder}."

    # ----------------------------------------------------------------- loop
    def _batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        full = self.dataset.batch("train", idx, generator=self.data_gen)
        return {m: full[m] for m in self.modalities}

    def fit(self) -> Outcome:
        if self.loop.pop("fresh", False):
            torch.manual_seed(self.cfg.seed)
        with _deterministic(self.device), _sigint(self):
            start = time.perf_counter()
            try:
                status = self._epochs()
            except Diverged as exc:
                return self._outcome("diverged", str(exc))
            finally:
                self.loop["wall_s"] += time.perf_counter() - start
                if self.display is not None:
                    self.display.close()
        if status == "interrupted" and self.loop["batch_in_epoch"] > 0:
            self._save()             # mid-epoch; an epoch-end stop was saved by _end_epoch
        return self._outcome(status)

    def _outcome(self, status: str, message: str = "") -> Outcome:
        return Outcome(status, len(self.loop["history"]), self.loop["step"], message,
                       list(self.loop["history"]), list(self.loop["steps"]))

    def _epochs(self) -> str:
        loop, cfg = self.loop, self.cfg
        self._train_mode()
        while loop["epoch"] < cfg.epochs:
            epoch = loop["epoch"]
            self.perm_gen.set_state(loop["perm_state"])
            perm = torch.randperm(self.n_train, generator=self.perm_gen).to(self.device)
            sums = loop["epoch_sums"].to(self.device) if loop["epoch_sums"] is not None else None
            if self.display is not None:
                self.display.start_epoch(epoch, self.steps_per_epoch, loop["batch_in_epoch"])
            with read_ahead(self.dataset, "train", perm, self.batch, loop["batch_in_epoch"]):  # streamed data
                for b in range(loop["batch_in_epoch"], self.steps_per_epoch):
                    vec = self._step(self._batch(perm[b * self.batch:(b + 1) * self.batch]))
                    sums = vec.double() if sums is None else sums + vec.double()
                    loop["epoch_count"] += 1
                    loop["step"] += 1
                    loop["batch_in_epoch"] = b + 1
                    if self.display is not None:
                        self.display.advance()
                    if loop["step"] % cfg.log_every == 0:
                        self._log_step(vec)
                    if self._should_stop() and b + 1 < self.steps_per_epoch:
                        self._sync(vec)
                        loop["epoch_sums"] = sums.cpu()
                        return "interrupted"
            self._end_epoch(epoch, vec, sums)
            stop_epoch = cfg.stop_after_epoch is not None and loop["epoch"] >= cfg.stop_after_epoch
            if (self._should_stop() or stop_epoch) and loop["epoch"] < cfg.epochs:
                return "interrupted"
        return "finished"

    def _should_stop(self) -> bool:
        return self.interrupted or self.loop["step"] == self.cfg.stop_after_steps

    def _log_step(self, vec: torch.Tensor) -> None:
        values = self._sync(vec)
        self.loop["steps"].append({"step": self.loop["step"], **values})
        if self.display is not None:
            self.display.log_step(self.loop["step"], values)

    def _end_epoch(self, epoch: int, vec: torch.Tensor, sums: torch.Tensor) -> None:
        """Check, record the epoch means, step the scheduler, write the checkpoint."""
        loop = self.loop
        self._sync(vec)
        means = dict(zip(self.names(), (sums / loop["epoch_count"]).tolist()))
        lr = float(self.opt.param_groups[0]["lr"])
        loop["history"].append({"epoch": epoch + 1, "step": loop["step"], "lr": lr, "terms": means})
        if self.sched is not None:
            self.sched.step()
        loop.update(epoch=epoch + 1, batch_in_epoch=0, perm_state=self.perm_gen.get_state(),
                    epoch_sums=None, epoch_count=0)
        if self.display is not None:
            self.display.end_epoch(epoch, loop["step"], means, lr)
        self._save()


@contextlib.contextmanager
def _deterministic(device: torch.device):
    """Deterministic kernels on the CPU (exact resume); CUDA keeps its fast kernels."""
    previous = torch.are_deterministic_algorithms_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


@contextlib.contextmanager
def _sigint(trainer: Trainer):
    """First Ctrl-C: finish the step, write a checkpoint, stop. Second Ctrl-C: stop at once."""
    import threading
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if trainer.interrupted:
            raise KeyboardInterrupt
        trainer.interrupted = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
