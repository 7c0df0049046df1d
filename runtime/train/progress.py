"""What the user sees while a model trains: a rich progress bar with every named loss term, and
TensorBoard scalars in the run directory.

Values reach this module only at the logging cadence, so the training step itself never waits for
the device.
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)


def format_terms(values: dict[str, float], limit: int = 32, per_line: int = 4) -> str:
    """Every named term as 'name value', `per_line` to a line so the bar stays readable; beyond
    `limit` terms (MoPoE on PolyMNIST has 188) the rest is counted, not dropped silently."""
    items = [f"{k} {v:.4g}" for k, v in values.items()]
    shown = items[:limit] + ([f"+{len(items) - limit} more (all in TensorBoard)"] if len(items) > limit else [])
    return "\n".join(" | ".join(shown[i:i + per_line]) for i in range(0, len(shown), per_line))


class TrainingDisplay:
    """Progress bar + TensorBoard writer; both optional (tests run silent)."""

    def __init__(self, *, console: Console | None, tb_dir: Path | None, epochs: int, purge_step: int = 0):
        self.console = console
        self.epochs = epochs
        self.progress: Progress | None = None
        self.task = None
        self.writer = None
        if tb_dir is not None:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(tb_dir), purge_step=purge_step or None)

    def start_epoch(self, epoch: int, steps: int, done: int) -> None:
        if self.console is None:
            return
        if self.progress is None:
            self.progress = Progress(TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                                     TextColumn("{task.fields[terms]}", markup=False), console=self.console)
            self.progress.start()
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task("train", total=steps, completed=done,
                                           epoch=f"{epoch + 1}/{self.epochs}", terms="")

    def advance(self) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)

    def log_step(self, step: int, values: dict[str, float]) -> None:
        if self.progress is not None:
            self.progress.update(self.task, terms=format_terms(values))
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"train/{k}", v, step)

    def end_epoch(self, epoch: int, step: int, means: dict[str, float], lr: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, terms=format_terms(means))
            self.progress.console.print(f"epoch {epoch + 1}/{self.epochs}: {format_terms(means, per_line=len(means))}"
                                        f" | lr {lr:.3g}", highlight=False, markup=False)
        if self.writer is not None:
            for k, v in means.items():
                self.writer.add_scalar(f"epoch/{k}", v, epoch + 1)
            self.writer.add_scalar("epoch/lr", lr, epoch + 1)
            self.writer.flush()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        if self.writer is not None:
            self.writer.close()
            self.writer = None
