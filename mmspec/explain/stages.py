"""`explain` for specs with training stages: the stages in order, each with its objective, what it
trains and freezes, its settings, its model-selection rule and its cost per step.

Single-objective specs have one implicit stage and print exactly as before; nothing here is used
for them.
"""
from __future__ import annotations

from ..check import Program
from ..constructs.stages import describe_groups, parameter_groups
from ..model.notation import fmt
from ..model.settings import StageSettings, TrainSettings
from .analysis import step_cost

VALIDATION = ("on a validation split (the dataset's own, else one the runtime holds out from the training "
              "split); the stage ends with the weights of that epoch")


def is_staged(program: Program) -> bool:
    return bool(program.stages) and program.stages[0].explicit


def settings_text(t: TrainSettings) -> str:
    opt = ", ".join(f"{k}={fmt(v)}" for k, v in t.optimizer.params.items())
    text = f"epochs {t.epochs}, batch {t.batch}, optimizer {t.optimizer.name}({opt})"
    if t.scheduler.name != "none":
        text += f", scheduler {t.scheduler.name}({', '.join(f'{k}={fmt(v)}' for k, v in t.scheduler.params.items())})"
    return text


def selection_text(stage: StageSettings) -> str:
    s = stage.select
    word = "lowest" if s.mode == "min" else "highest"
    return f"keep the epoch with the {word} value of {s.objective} {VALIDATION}"


def aim_text(program: Program, stage: StageSettings) -> str:
    obj = program.ir.objectives[stage.objective]
    return f"{obj.direction} {stage.objective}"


def text_lines(program: Program) -> list[str]:
    """The 'Stages' section of the Unicode explanation."""
    groups = parameter_groups(program.graph)
    out = ["", "Stages, in training order"]
    for i, st in enumerate(program.stages, 1):
        out.append(f"  {i}. {st.name}: {aim_text(program, st)}")
        out.append(f"       trains   {describe_groups(st.trains, groups)}")
        out.append(f"       frozen   {describe_groups(st.frozen, groups)}")
        out.append(f"       settings {settings_text(st.train)}")
        if st.select is not None:
            out.append(f"       select   {selection_text(st)}")
    return out


def cost_lines(program: Program, labels: dict[str, str], only_when_used=()) -> list[str]:
    """Cost per training step, one block per stage (the stages' objectives differ); a row of
    `only_when_used` where some stage uses it."""
    costs = {st.name: step_cost(program, st.objective).as_dict() for st in program.stages}
    shown = {key: label for key, label in labels.items()
             if key not in only_when_used or any(cost[key] for cost in costs.values())}
    out = []
    for st in program.stages:
        out.append(f"  stage {st.name} (objective {st.objective})")
        out += [f"    {label:<40} {costs[st.name][key]:>5}" for key, label in shown.items()]
    return out


def latex_lines(program: Program) -> list[str]:
    """An enumerate of the stages, after the align* block of objectives."""
    groups = parameter_groups(program.graph)
    out = ["\\begin{enumerate}\\raggedright"]          # names like q[$\\ast$] and settings do not hyphenate
    for st in program.stages:
        obj = program.ir.objectives[st.objective]
        sym = objective_symbol(obj.name, obj.direction)
        verb = "maximise" if obj.direction == "maximize" else "minimise"
        line = (f"\\item \\textbf{{{_tex(st.name)}}}: {verb} ${sym}$; trains {_tex(describe_groups(st.trains, groups))}"
                f"; frozen: {_tex(describe_groups(st.frozen, groups))}; {_tex(settings_text(st.train))}")
        if st.select is not None:
            other = program.ir.objectives[st.select.objective]
            word = "lowest" if st.select.mode == "min" else "highest"
            line += (f"; keeps the epoch with the {word} validation value of "
                     f"${objective_symbol(other.name, other.direction)}$")
        out.append(line + ".")
    out.append("\\end{enumerate}")
    return out


def objective_symbol(name: str, direction: str) -> str:
    sym = "\\mathcal{L}" if direction == "maximize" else "\\mathcal{J}"
    return f"{sym}_{{\\mathrm{{{_tex(name)}}}}}"


def _tex(text: str) -> str:
    return text.replace("_", "\\_").replace("[*]", "[$\\ast$]").replace("{", "\\{").replace("}", "\\}")


def as_json(program: Program) -> list[dict]:
    groups = parameter_groups(program.graph)
    out = []
    for st in program.stages:
        t = st.train
        out.append({
            "name": st.name, "objective": st.objective,
            "direction": program.ir.objectives[st.objective].direction,
            "trains": [groups[p] for p in st.trains], "frozen": [groups[p] for p in st.frozen],
            "parameter_groups": {"trains": list(st.trains), "frozen": list(st.frozen)},
            "epochs": t.epochs, "batch": t.batch, "optimizer": t.optimizer.name, "optimizer_params": t.optimizer.params,
            "scheduler": t.scheduler.name, "scheduler_params": t.scheduler.params,
            "select": None if st.select is None else {"objective": st.select.objective, "mode": st.select.mode},
            "cost": step_cost(program, st.objective).as_dict()})
    return out
