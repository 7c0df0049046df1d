"""The trials of an experiment folder grouped into rows: one per (spec, varied values), the seeds
of each row side by side; metric values as mean ± std over seeds; classifier warnings.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from mmspec.experiment.results import by_size, mean_std, value

from ..errors import RunError
from .driver import EXPERIMENT_FILE, TRIALS_FILE


@dataclass
class Row:
    spec: str
    label: str
    varied: tuple[tuple[str, float], ...]
    runs: list[dict] = field(default_factory=list)          # results.json of each finished seed
    missing: list[str] = field(default_factory=list)        # trial keys without results

    def stat(self, path: str, scale: float = 1.0) -> tuple[float | None, float | None, int]:
        mean, std, n = mean_std([value(r, path) for r in self.runs])
        return (None if mean is None else mean * scale, None if std is None else std * scale, n)

    def stat_by_size(self, path: str) -> dict[int, tuple[float, float | None, int]]:
        per_run = [by_size(r, path) for r in self.runs]
        sizes = sorted({s for d in per_run for s in d})
        return {s: mean_std([d.get(s) for d in per_run]) for s in sizes}

    def below_target(self, path: str) -> bool:
        """Some seed's coherence at `path` was judged by a classifier below its target accuracy."""
        if not path.startswith("coherence"):
            return False
        return any(_judges_below(r, path) for r in self.runs)


def _judges_below(results: dict, path: str) -> bool:
    classifiers = results.get("classifiers") or {}
    weak = {m for m, c in classifiers.items() if isinstance(c, dict) and c.get("meets_target") is False}
    if not weak:
        return False
    parts = path.split(".")
    if len(parts) >= 3 and parts[1] == "cross":
        from fnmatch import fnmatchcase
        targets = [t for t in (results.get("coherence", {}).get("cross") or {})
                   if any(fnmatchcase(t, alt) for alt in parts[2].split("|"))]
        return bool(weak & set(targets))
    return True                                  # joint coherence, by_given_count: every classifier judges


@dataclass
class ExperimentData:
    exp: object
    folder: Path
    budget: str
    rows: list[Row]
    records: dict

    def rows_of(self, spec: str) -> list[Row]:
        return [r for r in self.rows if r.spec == spec]


def is_experiment_dir(path) -> bool:
    return (Path(path) / EXPERIMENT_FILE).is_file()


def load(folder: Path) -> ExperimentData:
    """Re-check the experiment copied into the folder (its specs found where the original was)."""
    from mmspec.errors import SpecError
    from mmspec.experiment import check_experiment_text
    folder = Path(folder)
    header = json.loads((folder / EXPERIMENT_FILE).read_text())
    source = Path(header["source"])
    text = (folder / "experiment.mmx").read_text()
    try:
        exp = check_experiment_text(text, str(source), base=source.parent if source.parent.is_dir() else folder)
    except SpecError as err:
        raise RunError(f"{folder}: the experiment no longer checks:\n{err}") from None
    budget = header.get("budget", "quick")
    rows: dict[tuple, Row] = {}
    for trial in exp.trials(budget):
        row = rows.setdefault((trial.spec.name, trial.varied), Row(trial.spec.name, trial.spec.label, trial.varied))
        results = folder / trial.key / "results.json"
        if results.is_file():
            row.runs.append(json.loads(results.read_text()))
        else:
            row.missing.append(trial.key)
    try:
        records = json.loads((folder / TRIALS_FILE).read_text())
    except (OSError, ValueError):
        records = {}
    return ExperimentData(exp, folder, budget, list(rows.values()), records)
