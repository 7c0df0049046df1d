"""The live display of a sweep: trials done / running / failed / skipped, and the current best."""
from __future__ import annotations

import time

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text


class SweepDisplay:
    def __init__(self, console, exp, summary, total: int, note: str = ""):
        self.console, self.exp, self.summary, self.total, self.note = console, exp, summary, total, note
        self.running: dict[str, float] = {}
        self.start = time.time()
        self.live = Live(self._render(), console=console, refresh_per_second=2, transient=False) \
            if console is not None else None

    def __enter__(self):
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.update(self._render())
            self.live.__exit__(*exc)

    def started(self, job) -> None:
        self.running[job.key] = time.time()

    def finished(self, job, record) -> None:
        self.running.pop(job.key, None)
        if self.console is not None and record.status not in ("done", "skipped"):
            self.console.print(f"[red]{record.status}[/] {job.key}: {record.error}")

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._render())

    def best(self) -> tuple[str, float] | None:
        """The best trial so far by the experiment's `best` metric (mean cross-coherence by default)."""
        from mmspec.experiment.results import value
        path, direction = self.exp.best or ("coherence.cross.*.*", "higher")
        scored = [(key, value(rec.results, path)) for key, rec in self.summary.records.items() if rec.results]
        scored = [(k, v) for k, v in scored if v is not None]
        if not scored:
            return None
        pick = max if direction == "higher" else min
        return pick(scored, key=lambda kv: kv[1])

    def _render(self):
        s = self.summary
        done, skipped = s.count("done"), s.count("skipped")
        failed = s.count("failed", "diverged")
        table = Table.grid(padding=(0, 2))
        table.add_row(Text(f"sweep {self.exp.name}", style="bold"), Text(self.note, style="dim"))
        table.add_row("done", f"{done} (+{skipped} already done)" if skipped else str(done))
        table.add_row("running", str(len(self.running)))
        table.add_row("failed", Text(str(failed), style="red" if failed else ""))
        table.add_row("pending", str(max(0, self.total - done - skipped - failed - len(self.running)
                                         - s.count("interrupted"))))
        best = self.best()
        path = (self.exp.best or ("coherence.cross.*.*",))[0]
        table.add_row("best", f"{best[0]}: {path} = {best[1]:.4g}" if best else "–")
        table.add_row("elapsed", f"{time.time() - self.start:.0f} s")
        now = time.time()
        lines = [Text(f"  {k} ({now - t0:.0f} s)", style="cyan") for k, t0 in list(self.running.items())[:8]]
        return Group(table, *lines)
