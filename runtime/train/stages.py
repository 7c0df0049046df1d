"""Training stages: run a spec's stages in order, each with its own objective, optimizer, frozen
parameters and model selection; checkpoints know the stage and `--resume` continues mid-stage.

A spec without `stage` statements has one implicit stage; it is trained by the plain `Trainer`,
exactly as before (`trainer_for` picks). With stages, each stage gets a `StageTrainer` (the plain
loop, narrowed):
- its loss is the stage's objective (`model.loss(..., objective=stage.objective)`);
- only the parameters of its `trains` groups are in its optimizer; the `frozen` groups have
  requires_grad off for the stage and their modules stay in eval mode, so they do not change,
  bit for bit (BatchNorm statistics included);
- it runs `stage.train.epochs` epochs (`--epochs N`, a number other than the spec's total, runs
  every stage for N epochs) with seed `seed + stage index`;
- with `select min|max OBJECTIVE` it evaluates that objective after every epoch on the validation
  split, with fixed noise, and at the end of the stage restores the weights of the best epoch.
  Validation split: the dataset's own `validation` (or `val`) split when it has one; else
  `VALIDATION_FRACTION` of the training split, drawn once by a generator seeded with
  `VALIDATION_SEED` (independent of the run's seed, so every run of a dataset size holds out the
  same items); a selecting stage then trains on the rest of the training split only.

Checkpoints: a stage's epoch-end and Ctrl-C checkpoints are the plain loop's (optimizer, RNG,
loop state with the validation record and the best weights so far) plus the stage record
(`state["stages"]`: index, completed stages); at the end of every stage a boundary checkpoint
holds the selected weights and the next stage's index. The meta records `stage`, `stage_index`,
`stage_epoch` and global `epoch`/`step`.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from pathlib import Path

import torch

from .. import rundir
from ..errors import RunError
from . import checkpoint
from .loop import LoopConfig, Outcome, Trainer

VALIDATION_FRACTION = 0.1
VALIDATION_SEED = 20_240_601
VALIDATION_SPLITS = ("validation", "val")


def in_groups(name: str, groups) -> bool:
    """Whether a parameter/buffer name belongs to one of the module-path groups."""
    return any(name == g or name.startswith(g + ".") for g in groups)


def is_staged(model) -> bool:
    stages = getattr(model, "stages", None) or []
    return bool(stages) and stages[0].explicit


# ---- data: a validation split ----------------------------------------------------------------

class HeldOut:
    """The dataset with a `validation` split: the dataset's own, or carved from `train`."""

    def __init__(self, dataset):
        self.dataset = dataset
        own = next((s for s in VALIDATION_SPLITS if s in (getattr(dataset, "splits", None) or {})), None)
        self.own = own
        self.index: dict[str, torch.Tensor | None] = {"train": None, "validation": None}
        if own is None:
            n = int(dataset.split_size("train"))
            k = min(max(1, round(n * VALIDATION_FRACTION)), n - 1)
            if k < 1:
                raise RunError(f"model selection needs a validation split, and the training split has {n} item(s)")
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(VALIDATION_SEED))
            device = dataset.labels("train").device
            self.index = {"validation": perm[:k].sort().values.to(device), "train": perm[k:].sort().values.to(device)}

    def description(self) -> str:
        if self.own:
            return f"the dataset's '{self.own}' split ({self.split_size('validation')} items)"
        return (f"{self.split_size('validation')} items held out from the training split "
                f"({VALIDATION_FRACTION:.0%}, seed {VALIDATION_SEED}); the stage trains on the other "
                f"{self.split_size('train')}")

    def _where(self, split: str) -> tuple[str, torch.Tensor | None]:
        if split == "validation":
            return (self.own, None) if self.own else ("train", self.index["validation"])
        if split == "train" and not self.own:
            return "train", self.index["train"]
        return split, None

    def split_size(self, split: str) -> int:
        name, idx = self._where(split)
        return int(idx.numel()) if idx is not None else int(self.dataset.split_size(name))

    def labels(self, split: str) -> torch.Tensor:
        name, idx = self._where(split)
        labels = self.dataset.labels(name)
        return labels if idx is None else labels[idx]

    def batch(self, split: str, index: torch.Tensor, generator=None) -> dict:
        name, idx = self._where(split)
        return self.dataset.batch(name, index if idx is None else idx[index.to(idx.device)], generator=generator)

    def __getattr__(self, name):
        return getattr(self.dataset, name)


class FixedNoise:
    """Validation noise from one generator reseeded per pass: every epoch is scored on the same draws."""

    def __init__(self, device, seed: int = VALIDATION_SEED):
        self.gen = torch.Generator(device=device).manual_seed(seed)

    def normal(self, key, shape, like):
        return torch.randn(tuple(shape), generator=self.gen, device=like.device, dtype=like.dtype)

    def uniform(self, key, shape, like):
        return torch.rand(tuple(shape), generator=self.gen, device=like.device, dtype=like.dtype)


# ---- one stage --------------------------------------------------------------------------------

class StageModel:
    """The compiled model as one stage sees it: the stage's loss and settings, everything else shared."""

    def __init__(self, model, stage):
        self.base, self.stage = model, stage
        self.train = stage.train

    def loss(self, batch, noise=None):
        return self.base.loss(batch, noise, objective=self.stage.objective)

    def __getattr__(self, name):
        return getattr(self.base, name)


class StageTrainer(Trainer):
    """The plain loop for one stage: narrowed optimizer, frozen modules in eval mode, validation."""

    def __init__(self, model, stage, index: int, dataset, cfg: LoopConfig, *, run_dir, meta, display, record):
        self.stage, self.index, self.record = stage, index, record
        super().__init__(StageModel(model, stage), dataset, cfg, run_dir=run_dir, meta=meta, display=display)
        self.loop.update(validation=[], best=None)

    def _parameters(self):
        return [p for n, p in self.model.module.named_parameters() if in_groups(n, self.stage.trains)]

    def _train_mode(self) -> None:
        module = self.model.module
        module.train()
        for name, sub in module.named_modules():
            if name and in_groups(name, self.stage.frozen):
                sub.eval()

    def state_dict(self) -> dict:
        return dict(super().state_dict(), stages=dict(self.record, index=self.index))

    def _end_epoch(self, epoch: int, vec: torch.Tensor, sums: torch.Tensor) -> None:
        if self.stage.select is not None:
            self._select(epoch, self.validate())
        super()._end_epoch(epoch, vec, sums)

    def validate(self) -> float:
        """The selection objective's mean over the validation split (as written, not negated)."""
        select, module = self.stage.select, self.model.module
        n, size = self.dataset.split_size("validation"), self.batch
        noise = FixedNoise(self.device)
        data_gen = torch.Generator(device=self.device).manual_seed(VALIDATION_SEED + 1)
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        module.eval()
        try:
            with torch.no_grad():         # refine(...) and gradient_origin(...) turn autograd on for their own steps
                for start in range(0, n, size):
                    idx = torch.arange(start, min(start + size, n), device=self.device)
                    batch = self.dataset.batch("validation", idx, generator=data_gen)
                    out = self.model.base.loss({m: batch[m] for m in self.modalities}, noise, objective=select.objective)
                    total += out.terms["objective"].double() * idx.numel()
        finally:
            self._train_mode()
        return float(total) / n

    def _select(self, epoch: int, value: float) -> None:
        self.loop["validation"].append(value)
        best = self.loop["best"]
        finite = value == value and abs(value) != float("inf")
        if best is None:
            better = finite
        else:
            better = finite and (value < best["value"] if self.stage.select.mode == "min" else value > best["value"])
        if better:                       # ties keep the earlier epoch
            state = self.model.module.state_dict()
            weights = {k: v.detach().to("cpu", copy=True) for k, v in state.items() if in_groups(k, self.stage.trains)}
            self.loop["best"] = {"epoch": epoch + 1, "value": value, "weights": weights}

    def _counters(self) -> dict:
        offsets = self.record["offsets"]
        return {"stage": self.stage.name, "stage_index": self.index, "stage_epoch": self.loop["epoch"],
                "stage_step": self.loop["step"], "epoch": offsets["epochs"] + self.loop["epoch"],
                "step": offsets["steps"] + self.loop["step"]}


# ---- the stages in order ----------------------------------------------------------------------

class StageDisplay:
    """The run's display for one stage: term names prefixed by the stage, steps made global, and
    left open at the end of the stage (the run closes it)."""

    def __init__(self, display, stage: str, epochs: int, step_offset: int):
        self.d, self.stage, self.epochs, self.offset = display, stage, epochs, step_offset

    def start_epoch(self, epoch, steps, done):
        self.d.epochs = self.epochs
        self.d.start_epoch(epoch, steps, done)

    def advance(self):
        self.d.advance()

    def log_step(self, step, values):
        self.d.log_step(step + self.offset, _named(values, self.stage))

    def end_epoch(self, epoch, step, means, lr):
        self.d.end_epoch(epoch, step + self.offset, _named(means, self.stage), lr)

    def close(self):
        pass


def trainer_for(model, dataset, cfg: LoopConfig, *, run_dir: Path | None, meta: dict, display=None):
    """The trainer of a compiled model: the plain `Trainer` for one implicit stage, else
    `StagedTraining` (the same interface: restore, fit, loop), so the session needs no branch."""
    cls = StagedTraining if is_staged(model) else Trainer
    return cls(model, dataset, cfg, run_dir=run_dir, meta=meta, display=display)


class StagedTraining:
    """Trains a compiled model through its stages, one `StageTrainer` after another."""

    def __init__(self, model, dataset, cfg: LoopConfig, *, run_dir: Path | None, meta: dict, display=None):
        self.model, self.dataset, self.cfg = model, dataset, cfg
        self.run_dir, self.meta, self.display = run_dir, meta, display
        self.stages = list(getattr(model, "stages", []))
        override = cfg.epochs != model.train.epochs          # --epochs N other than the spec's total
        self.epochs_override = cfg.epochs if override else None
        self.record = {"done": [], "offsets": {"epochs": 0, "steps": 0, "wall_s": 0.0}}
        self.index, self.pending, self.current = 0, None, None
        self._held_out = None

    @property
    def loop(self) -> dict:
        """Global counters (the session logs them and records the wall time)."""
        off, cur = self.record["offsets"], self.current.loop if self.current else {}
        return {"step": off["steps"] + cur.get("step", 0), "epoch": off["epochs"] + cur.get("epoch", 0),
                "wall_s": off["wall_s"] + cur.get("wall_s", 0.0), "stage": self.index}

    def restore(self, ckpt: checkpoint.Checkpoint) -> None:
        record = ckpt.state.get("stages")
        if record is None:
            raise RunError(f"the checkpoint in {ckpt.folder} has no stage record; it was not written by a "
                           "staged run of this spec")
        self.record = {"done": list(record["done"]), "offsets": dict(record["offsets"])}
        self.index = record["index"]
        if record.get("boundary"):
            ckpt.load_weights(self.model.module, self._device())
        else:
            self.pending = ckpt
        if self.index < len(self.stages):
            self.current = self._trainer(self.index)
            if self.pending is not None:
                self.current.restore(self.pending)
                self.pending = None

    def fit(self) -> Outcome:
        try:
            while self.index < len(self.stages):
                trainer = self.current or self._trainer(self.index)
                self.current = trainer
                with _frozen(self.model.module, self.stages[self.index].frozen):
                    out = trainer.fit()
                if out.status != "finished":
                    return self._outcome(out.status, out.message)
                self._finish_stage(trainer)
                if self.index < len(self.stages) and self._stop_at_boundary(trainer):
                    return self._outcome("interrupted")
            return self._outcome("finished")
        finally:
            if self.display is not None:
                self.display.close()

    # ---- helpers --------------------------------------------------------------------------------
    def _device(self):
        return self.dataset.labels("train").device

    def _trainer(self, index: int) -> StageTrainer:
        stage, off = self.stages[index], self.record["offsets"]
        cfg = self.cfg
        local = lambda limit, done: (limit - done) if limit is not None and limit - done > 0 else None
        stage_cfg = replace(cfg, epochs=self.epochs_override or stage.train.epochs, batch=stage.train.batch,
                            seed=cfg.seed + index, stop_after_epoch=local(cfg.stop_after_epoch, off["epochs"]),
                            stop_after_steps=local(cfg.stop_after_steps, off["steps"]))
        dataset = self.dataset
        if stage.select is not None:
            self._held_out = self._held_out or HeldOut(self.dataset)
            dataset = self._held_out
        display = None if self.display is None else StageDisplay(self.display, stage.name, stage_cfg.epochs, off["steps"])
        meta = dict(self.meta, stages=len(self.stages))
        self.current = None
        return StageTrainer(self.model, stage, index, dataset, stage_cfg, run_dir=self.run_dir, meta=meta,
                            display=display, record=self.record)

    def _finish_stage(self, trainer: StageTrainer) -> None:
        """Restore the selected epoch, record the stage, write the boundary checkpoint."""
        stage, loop, off = trainer.stage, trainer.loop, self.record["offsets"]
        best = loop.get("best")
        if stage.select is not None and best is not None:
            self.model.module.load_state_dict(best["weights"], strict=False)
        history, log_steps = self._logs(loop, stage.name)
        self.record["done"].append({
            "name": stage.name, "objective": stage.objective, "epochs": loop["epoch"], "steps": loop["step"],
            "wall_s": loop["wall_s"], "history": history, "log_steps": log_steps,
            "validation": list(loop["validation"]), "selected_epoch": best and best["epoch"],
            "selected_value": best and best["value"],
            "validation_split": self._held_out.description() if stage.select is not None else None})
        self.record["offsets"] = {"epochs": off["epochs"] + loop["epoch"], "steps": off["steps"] + loop["step"],
                                  "wall_s": off["wall_s"] + loop["wall_s"]}
        self.index += 1
        self.current = None
        self._save_boundary()

    def _logs(self, loop: dict, stage: str) -> tuple[list[dict], list[dict]]:
        """A stage's epoch history and logged steps with global epochs/steps and stage-named terms."""
        off = self.record["offsets"]
        history = [dict(h, epoch=off["epochs"] + h["epoch"], step=off["steps"] + h["step"], stage=stage,
                        stage_epoch=h["epoch"], terms=_named(h["terms"], stage)) for h in loop["history"]]
        steps = [dict(_named(s, stage), step=s["step"] + off["steps"]) for s in loop["steps"]]
        return history, steps

    def _save_boundary(self) -> None:
        if self.run_dir is None:
            return
        off = self.record["offsets"]
        following = self.stages[self.index].name if self.index < len(self.stages) else "done"
        state = {"stages": dict(self.record, index=self.index, boundary=True)}
        meta = dict(self.meta, stages=len(self.stages), stage=following, stage_index=self.index, stage_epoch=0,
                    stage_step=0, epoch=off["epochs"], step=off["steps"], batch_in_epoch=0,
                    epochs=sum(d["epochs"] for d in self.record["done"]), saved_at=time.time())
        checkpoint.save(self.run_dir, self.model.module, state, spec_text=self.model.source_text, meta=meta)
        if (Path(self.run_dir) / "run.json").exists():
            rundir.update(self.run_dir, stages=self.stage_summaries())

    def _stop_at_boundary(self, trainer: StageTrainer) -> bool:
        off, cfg = self.record["offsets"], self.cfg
        return (trainer.interrupted or off["steps"] == cfg.stop_after_steps
                or (cfg.stop_after_epoch is not None and off["epochs"] >= cfg.stop_after_epoch))

    def _outcome(self, status: str, message: str = "") -> Outcome:
        done = self.record["done"]
        history = [h for d in done for h in d["history"]]
        steps = [s for d in done for s in d["log_steps"]]
        cur = self.current
        if cur is not None and status != "finished":
            cur_history, cur_steps = self._logs(cur.loop, cur.stage.name)
            history, steps = history + cur_history, steps + cur_steps
        loop = self.loop
        return Outcome(status, loop["epoch"], loop["step"], message, history, steps)

    def stage_summaries(self) -> list[dict]:
        """Per completed stage: epochs, steps, the validation curve and the selected epoch (for run.json)."""
        return [{k: v for k, v in d.items() if k not in ("history", "log_steps")} for d in self.record["done"]]


def _named(values: dict, stage: str) -> dict:
    """Term names prefixed by their stage (`align/kl(...)`)."""
    return {f"{stage}/{k}": v for k, v in values.items() if k != "step"}


@contextlib.contextmanager
def _frozen(module: torch.nn.Module, groups):
    """requires_grad off for the frozen groups during a stage (no gradient is even computed)."""
    changed = [p for n, p in module.named_parameters() if in_groups(n, groups) and p.requires_grad]
    for p in changed:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in changed:
            p.requires_grad_(True)
