"""A checked experiment and the trials it expands to: plain data, no torch, no runtime.

An `Experiment` is what the sweep runs and the report lays out. `trials(budget)` is the one place
that turns specs x varied values x seeds (with the per-dataset and budget settings) into runs.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

BUDGETS = ("quick", "paper")

# Settings a `dataset` or `quick` line may give, what they change, and the runtime option they set.
RUN_SETTINGS = {
    "epochs": "training epochs",
    "standin": "items per split of the generated stand-in data (the real data is used when present)",
    "eval_samples": "test items per metric",
    "probe_samples": "training items the latent probe is fitted on",
    "iw_samples": "importance samples of the NLL",
    "classifier_steps": "training steps of each coherence classifier",
    "fid_samples": "generated images per FID",
    "seeds": "number of seeds (quick only)",
    "points": "values kept of each varied param, evenly spread, ends included (quick only)",
}
QUICK_ONLY = ("seeds", "points")

# `--budget quick` without a `quick` line: small enough for a laptop CPU, large enough that the
# coherence classifiers learn something.
QUICK_DEFAULTS = {"epochs": 1, "standin": 1024, "eval_samples": 500, "probe_samples": 1000,
                  "iw_samples": 4, "classifier_steps": 300, "fid_samples": 500}

# The top-level keys of a run's results.json that a metric path may start with.
RESULT_KEYS = ("coherence", "latent_probe", "likelihood", "reconstruction_error", "levenshtein", "classifier_frechet",
               "fid", "cosine", "refinement_curve", "classifiers", "run", "attribute_probe")


@dataclass(frozen=True)
class SpecEntry:
    name: str                   # the spec's file stem: row key and trial folder
    label: str                  # the row label (the paper's name for the method)
    path: Path
    dataset: str
    params: tuple[str, ...]     # the spec's declared params
    train_epochs: int
    batch: int


@dataclass(frozen=True)
class Column:
    title: str
    path: str


@dataclass(frozen=True)
class PaperCell:
    mean: float | None
    std: float | None = None


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    paper: dict[str, list[PaperCell]] = field(default_factory=dict)     # spec name -> cells, column order
    scale: float = 1.0


@dataclass
class Axis:
    kind: str                   # "metric", "param" (a varied param), "size" (subset size of the last
                                # pattern key) or "index" (the positions of a list, e.g. refinement steps)
    value: str
    label: str | None = None


@dataclass
class Plot:
    name: str
    title: str
    x: Axis
    y: Axis
    log_x: bool = False
    log_y: bool = False


@dataclass(frozen=True)
class Trial:
    """One run of the sweep: a spec, its param overrides (varied and per-dataset), a seed and the
    budget's run settings."""
    spec: SpecEntry
    varied: tuple[tuple[str, float], ...]
    overrides: tuple[tuple[str, str], ...]
    seed: int
    settings: tuple[tuple[str, int], ...]

    @property
    def key(self) -> str:
        """The trial's folder below the experiment directory: spec/param=value.../seedN."""
        parts = [self.spec.name] + [f"{k}={format_value(v)}" for k, v in self.varied] + [f"seed{self.seed}"]
        return "/".join(parts)

    def setting(self, name: str) -> int | None:
        return dict(self.settings).get(name)


@dataclass
class Experiment:
    name: str
    path: Path
    specs: list[SpecEntry]
    vary: dict[str, list[float]]
    vary_text: dict[str, list[str]]
    seeds: int
    dataset_params: dict[str, dict[str, str]]
    dataset_settings: dict[str, dict[str, int]]
    quick: dict[str, int]
    tables: list[Table]
    plots: list[Plot]
    best: tuple[str, str] | None = None          # (metric path, "higher" | "lower")

    def spec(self, name: str) -> SpecEntry:
        return next(s for s in self.specs if s.name == name)

    def seed_count(self, budget: str) -> int:
        return self.quick.get("seeds", self.seeds) if budget == "quick" else self.seeds

    def run_settings(self, spec: SpecEntry, budget: str) -> dict[str, int]:
        """The spec's dataset's settings, then (quick budget) the quick ones on top."""
        settings = dict(self.dataset_settings.get(spec.dataset, {}))
        if budget == "quick":
            settings.update({k: v for k, v in {**QUICK_DEFAULTS, **self.quick}.items() if k not in QUICK_ONLY})
        for name in QUICK_ONLY:
            settings.pop(name, None)
        return settings

    def values(self, name: str, budget: str) -> list[float]:
        """A varied param's values; the quick budget may keep only `points` of them."""
        values = self.vary[name]
        keep = self.quick.get("points") if budget == "quick" else None
        if not keep or keep >= len(values):
            return values
        if keep == 1:
            return [values[len(values) // 2]]
        picks = sorted({round(i * (len(values) - 1) / (keep - 1)) for i in range(keep)})
        return [values[i] for i in picks]

    def trials(self, budget: str) -> list[Trial]:
        """Every (spec, varied values, seed) in a stable order: spec, then values, then seed."""
        names = list(self.vary)
        combos = list(itertools.product(*(self.values(n, budget) for n in names))) if names else [()]
        out = []
        for spec in self.specs:
            fixed = dict(self.dataset_params.get(spec.dataset, {}))
            settings = tuple(sorted(self.run_settings(spec, budget).items()))
            for combo in combos:
                varied = tuple(zip(names, combo))
                overrides = {**fixed, **{k: format_value(v) for k, v in varied}}
                for seed in range(self.seed_count(budget)):
                    out.append(Trial(spec, varied, tuple(sorted(overrides.items())), seed, settings))
        return out


def format_value(value: float) -> str:
    """A param value as `--set` takes it and as a folder name shows it: exact, short."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))
