"""`mmspec explain EXPERIMENT.mmx`: the trials an experiment expands to and what they cost.

The cost of a step is the spec's own (`mmspec explain` of the spec, from the objective IR); an
experiment multiplies it by the epochs of each trial and the number of trials.
"""
from __future__ import annotations

import json

from .model import BUDGETS, Experiment, Trial


def spec_step_cost(path, overrides: dict[str, str]) -> dict:
    """The spec's cost of one training step, as `mmspec explain SPEC` prints it."""
    from .. import check_spec
    from ..explain.analysis import step_cost
    return step_cost(check_spec(path, overrides)).as_dict()


def _passes(cost: dict) -> int:
    return int(cost["encoder_passes"]) + int(cost["decoder_calls"])


def _settings_text(settings: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in settings.items()) or "the specs' own settings"


def render_text(exp: Experiment, budget: str = "paper") -> str:
    trials = exp.trials(budget)
    lines = [f"experiment {exp.name} ({exp.path})",
             f"budget {budget}: " + ("the specs' own settings, with the per-dataset overrides" if budget == "paper"
                                     else _settings_text(exp.run_settings(exp.specs[0], "quick")) if exp.specs else ""),
             "varies: " + ("; ".join(f"{k} = {', '.join(exp.vary_text[k])} ({len(v)} values"
                                     + (f", {len(exp.values(k, budget))} in this budget" if len(exp.values(k, budget)) < len(v) else "")
                                     + ")" for k, v in exp.vary.items()) or "nothing (one point per spec)"),
             f"seeds: {exp.seed_count(budget)}", "", "specs:"]
    costs: dict[str, dict] = {}
    for spec in exp.specs:
        fixed = exp.dataset_params.get(spec.dataset, {})
        cost = spec_step_cost(spec.path, fixed)
        costs[spec.name] = cost
        settings = exp.run_settings(spec, budget)
        epochs = settings.get("epochs", spec.train_epochs)
        extra = {k: v for k, v in settings.items() if k != "epochs"}
        lines.append(f"  {spec.name:<22} \"{spec.label}\"  data {spec.dataset}, batch {spec.batch}, "
                     f"{epochs} epochs" + (f", fixed {', '.join(f'{k}={v}' for k, v in fixed.items())}" if fixed else "")
                     + (f" ({', '.join(f'{k} {v}' for k, v in extra.items())})" if extra and budget == "paper" else ""))
        lines.append(f"  {'':<22} step: {cost['encoder_passes']} encoder passes, {cost['decoder_calls']} decoder "
                     f"calls, {cost['decoded_samples']} decoded samples, {cost['products']} products of experts, "
                     f"{cost['kl_terms']} KL terms")
    lines += ["", f"runs ({len(trials)} = {len(exp.specs)} specs x {_combos(exp, budget)} values x "
                  f"{exp.seed_count(budget)} seeds):"]
    lines += [_trial_line(t) for t in trials]
    lines += ["", "cost: " + _total(trials, costs, exp, budget)]
    if exp.tables:
        lines += ["", "tables: " + ", ".join(f"{t.name} ({t.title}; {len(t.columns)} columns"
                                             + (f", paper numbers for {len(t.paper)} specs)" if t.paper else ")")
                                             for t in exp.tables)]
    if exp.plots:
        lines += ["plots: " + ", ".join(f"{p.name} ({p.y.value} against {p.x.value})" for p in exp.plots)]
    other = [b for b in BUDGETS if b != budget]
    lines += ["", f"(--budget {other[0]} for the other budget)"]
    return "\n".join(lines)


def _combos(exp: Experiment, budget: str) -> int:
    n = 1
    for name in exp.vary:
        n *= len(exp.values(name, budget))
    return n


def _trial_line(t: Trial) -> str:
    sets = " ".join(f"--set {k}={v}" for k, v in t.overrides)
    return f"  {t.key:<40} {sets}".rstrip()


def _total(trials: list[Trial], costs: dict, exp: Experiment, budget: str) -> str:
    """Epochs and network passes per training item summed over trials; steps where the stand-in
    size fixes the data size (quick budget)."""
    epochs = sum((t.setting("epochs") or t.spec.train_epochs) for t in trials)
    passes = sum((t.setting("epochs") or t.spec.train_epochs) * _passes(costs[t.spec.name]) for t in trials)
    text = (f"{epochs} training epochs over {len(trials)} trials; {passes} encoder+decoder passes per "
            f"training item in all")
    if budget == "quick":
        steps = sum((t.setting("epochs") or t.spec.train_epochs) * max(1, -(-(t.setting("standin") or 0) // t.spec.batch))
                    for t in trials)
        text += f"; about {steps} optimizer steps on the stand-in data (real data, when present, is larger)"
    return text


def render_json(exp: Experiment, budget: str = "paper") -> str:
    """The trials as data, for tools: each with its spec, overrides, seed, settings and step cost."""
    costs = {s.name: spec_step_cost(s.path, exp.dataset_params.get(s.dataset, {})) for s in exp.specs}
    trials = [{"key": t.key, "spec": str(t.spec.path), "label": t.spec.label, "dataset": t.spec.dataset,
               "overrides": dict(t.overrides), "seed": t.seed, "settings": dict(t.settings),
               "epochs": t.setting("epochs") or t.spec.train_epochs, "step_cost": costs[t.spec.name]}
              for t in exp.trials(budget)]
    return json.dumps({"experiment": exp.name, "budget": budget, "vary": exp.vary, "seeds": exp.seed_count(budget),
                       "trials": trials, "tables": [t.name for t in exp.tables], "plots": [p.name for p in exp.plots]},
                      indent=2)
