"""Training stages: several named objectives, each trained in its own stage.

    maximize source: elbo(joint)
    minimize align: sum m: kl(joint || r[m])
    stage source { objective source  train q[*], decoders  epochs 100 }
    stage align  { objective align  train r[*]  freeze q[*], decoders  epochs 100  select min align }

A stage names its objective, which parameter groups train (`train`) and which stay as they are
(`freeze`), its own `epochs`/`batch`/`optimizer`/`scheduler` (defaults: the `train` statement), and
optionally a model-selection rule `select min|max OBJECTIVE`: the runtime evaluates that objective
on a validation split after every epoch and, at the end of the stage, restores the weights of the
best epoch. Without `stage` statements a spec has one objective and one implicit stage that trains
everything, so nothing changes for single-objective specs.

Parameter groups are the modules of `mmspec.lower.modules.SpecModule`, named in the spec's terms:
`q[mnist]` / `q[*]` / `q` (the encoders a posterior declaration owns), `joint` (every encoder a
declared distribution is computed from, e.g. the experts of a PoE), `decoders`, `decoders[text]`,
`log_scales`, `log_scales[m]`, `encoders`, `joint_encoders`, and `*` (everything). With a `train`
clause, only what it names trains; with only `freeze`, everything else trains.
"""
from __future__ import annotations

import re

from ..errors import DiagnosticSink, Invalid, did_you_mean, one_of
from ..model.graph import Detached, ModelGraph, closure
from ..model.sets import Env
from ..model.settings import Selection, StageSettings, TrainSettings
from ..syntax import ast

GROUP_ROLES = {"encoders": "encoder", "joint_encoders": "joint_encoder", "decoders": "decoder",
               "log_scales": "log_scale"}
IMPLICIT_STAGE = "main"


def objective_statements(spec: ast.Spec, sink: DiagnosticSink) -> list[ast.ObjectiveStmt]:
    """The objectives to build: one without stages; with stages, all of them, each named once."""
    stmts = spec.of_type(ast.ObjectiveStmt)
    if not spec.of_type(ast.StageStmt):
        if len(stmts) > 1:
            sink.error("several objectives need training stages, which this spec does not declare",
                       stmts[1].span, hint="combine the terms in one 'maximize' statement, or add "
                       "'stage NAME { objective OBJECTIVE ... }' for each objective")
        return stmts[:1]
    seen: dict[str, ast.ObjectiveStmt] = {}
    for s in stmts:
        if s.name is None:
            sink.error("with training stages every objective needs a name", s.span,
                       f"'{s.direction} NAME: ...'", hint="a stage refers to its objective by name")
        elif s.name in seen:
            sink.error(f"objective '{s.name}' is declared twice", s.span,
                       hint=f"first declared on line {seen[s.name].span.line}")
        else:
            seen[s.name] = s
    return list(seen.values())


def overall_settings(stages: list[StageSettings]) -> TrainSettings:
    """What a run records as its `train` settings: the total epochs, the first stage's others."""
    first = stages[0].train
    return TrainSettings(sum(s.train.epochs for s in stages), first.batch, first.optimizer, first.scheduler)


# ---- parameter groups -------------------------------------------------------------------------

def parameter_groups(graph: ModelGraph) -> dict[str, str]:
    """Module path -> the name a spec uses for it, in module order."""
    out: dict[str, str] = {}
    nets = list(graph.networks.values())
    for role, prefix in (("encoder", "encoders"), ("joint_encoder", "joint_encoders"),
                         ("refiner", "refiners"), ("gradient_origin", "origins"),      # constructs/refine.py
                         ("flow", "flows"), ("prior_mixture", "prior_mixtures"),       # constructs/flows.py, mog.py
                         ("conditional", "conditionals"),                            # constructs/hierarchy.py
                         ("ladder", "ladders")):                                     # constructs/ladder.py
        out.update({f"{prefix}.{n.name}": n.name for n in nets if n.role == role})
    out.update({f"decoders.{m}": f"decoders[{m}]" for m in graph.modalities})
    out.update({f"log_scales.{m}": f"log_scales[{m}]" for m, mod in graph.modalities.items() if mod.likelihood.learned})
    return out


def networks_of(graph: ModelGraph, key: str, through_sg: bool = True) -> set[str]:
    """The encoder groups a distribution is computed from (optionally not through stop-gradients)."""
    keep_going = (lambda node: True) if through_sg else (lambda node: not isinstance(node, Detached))
    groups = {graph.nodes[k].parameter_group() for k in closure(graph, [key], keep_going)}
    return groups - {None}


def reached_groups(graph: ModelGraph, objective) -> set[str]:
    """The groups that get a gradient from an objective (stop-gradient terms and sg(...) excluded)."""
    out: set[str] = set()
    for t in objective.linear_terms():
        if t.detached:
            continue
        for dist in t.leaf.distributions():
            out |= networks_of(graph, dist, through_sg=False)
        for target in {d.target for d in t.leaf.decoded()}:
            out.add(f"decoders.{target}")
            if graph.modalities[target].likelihood.learned:
                out.add(f"log_scales.{target}")
    return out


def describe_groups(paths, groups: dict[str, str]) -> str:
    """`q[*], decoders[*]`: the groups as a spec would name them, whole declarations folded."""
    chosen = [p for p in groups if p in set(paths)]
    if not chosen:
        return "nothing"
    families: dict[str, list[str]] = {}
    for p in groups:
        families.setdefault(_family(p, groups[p]), []).append(p)
    out, done = [], set()
    for p in chosen:
        fam = _family(p, groups[p])
        if fam in done:
            continue
        members = families[fam]
        if len(members) > 1 and all(m in chosen for m in members):
            out.append(f"{fam}[*]")
            done.add(fam)
        else:
            out.append(groups[p])
    return ", ".join(out)


def _family(path: str, label: str) -> str:
    m = re.fullmatch(r"(\w+)\[.+\]", label)
    return m.group(1) if m else label


# ---- the checker ------------------------------------------------------------------------------

class StageChecker:
    """Resolves `stage` statements against a checked model (after its networks are known)."""

    def __init__(self, checker):
        self.c = checker
        self.sink = checker.sink
        self.graph = checker.graph
        self.groups = parameter_groups(self.graph)

    def fail(self, message: str, node: ast.Node, expected: str | None = None, hint: str | None = None):
        self.sink.error(message, node.span, expected, hint)
        raise Invalid()

    def stages(self, program_ir, defaults: TrainSettings) -> list[StageSettings]:
        stmts = self.c.spec.of_type(ast.StageStmt)
        objectives = program_ir.objectives
        if not stmts:
            name = next(iter(objectives), "objective")
            return [StageSettings(IMPLICIT_STAGE, name, tuple(self.groups), (), defaults, None, explicit=False)]
        self.declared = [s.name for s in self.c.spec.of_type(ast.ObjectiveStmt) if s.name]
        out, seen = [], {}
        for stmt in stmts:
            if stmt.name in seen:
                self.sink.error(f"stage '{stmt.name}' is declared twice", stmt.name_span,
                                hint=f"first declared on line {seen[stmt.name].span.line}")
                continue
            seen[stmt.name] = stmt
            stage = self.c.guard(self.stage, stmt, defaults)
            if stage is not None:
                out.append(stage)
                self.note_unreached(stage, objectives)
        self.unused_objectives(stmts)
        return out or [StageSettings(IMPLICIT_STAGE, "objective", (), (), defaults, None)]

    def stage(self, stmt: ast.StageStmt, defaults: TrainSettings) -> StageSettings:
        for kind in ("objective", "train", "freeze", "select"):
            for extra in stmt.clauses_of(kind)[1:]:
                self.fail(f"a second '{kind}' clause in stage '{stmt.name}'", extra,
                          hint=f"list everything in one '{kind}' clause" if kind in ("train", "freeze") else None)
        objective = stmt.clauses_of("objective")
        if not objective:
            self.fail(f"stage '{stmt.name}' names no objective", ast.Name(span=stmt.name_span, id=stmt.name),
                      "'objective NAME' inside the stage's braces")
        obj_name = self.objective_name(objective[0].items[0])
        trains = self.selection(stmt.clauses_of("train"))
        frozen = self.selection(stmt.clauses_of("freeze"))
        overlap = [p for p in (trains or {}) if p in (frozen or {})]
        if overlap:
            item = frozen[overlap[0]]
            self.fail(f"stage '{stmt.name}' both trains and freezes {describe_groups(overlap, self.groups)}", item,
                      hint="a parameter group either trains or stays frozen in a stage")
        if trains is not None:
            train_set = set(trains)
        else:
            train_set = set(self.groups) - set(frozen or {})
        if not train_set:
            self.fail(f"stage '{stmt.name}' trains nothing", ast.Name(span=stmt.name_span, id=stmt.name),
                      "a 'train' clause, or a 'freeze' clause that leaves something to train")
        settings = self.c.train_values([s for c in stmt.clauses_of("settings") for s in c.settings], defaults)
        select = self.select(stmt.clauses_of("select"))
        return StageSettings(stmt.name, obj_name, tuple(p for p in self.groups if p in train_set),
                             tuple(p for p in self.groups if p not in train_set), settings, select)

    def objective_name(self, name: ast.Name) -> str:
        if name.id not in self.declared:
            self.fail(f"unknown objective '{name.id}'", name, one_of(self.declared) if self.declared else
                      "a named objective ('maximize NAME: ...')", did_you_mean(name.id, self.declared))
        return name.id

    def select(self, clauses: list[ast.StageClause]) -> Selection | None:
        if not clauses:
            return None
        clause = clauses[0]
        if clause.mode.id not in ("min", "max"):
            self.fail(f"'select {clause.mode.id}': a stage keeps the epoch with the lowest or highest value",
                      clause.mode, "'min' or 'max'", did_you_mean(clause.mode.id, ["min", "max"]))
        return Selection(self.objective_name(clause.items[0]), clause.mode.id)

    # ---- parameter selectors --------------------------------------------------------------------
    def selection(self, clauses: list[ast.StageClause]) -> dict[str, ast.Expr] | None:
        """Group path -> the selector that named it (for errors); None without a clause."""
        if not clauses:
            return None
        out: dict[str, ast.Expr] = {}
        for item in clauses[0].items:
            for path in self.selector(item):
                out.setdefault(path, item)
        return out

    def selector(self, expr: ast.Expr) -> list[str]:
        if isinstance(expr, ast.Star):
            return list(self.groups)
        base = expr.id if isinstance(expr, ast.Name) else expr.base if isinstance(expr, ast.Indexed) else None
        if base in GROUP_ROLES:
            return self.module_group(base, expr)
        if base in self.c.elab.decls:
            return self.distribution_group(base, expr)
        known = list(GROUP_ROLES) + list(self.c.elab.decls)
        if base is None:
            self.fail("expected a parameter group", expr, "a posterior name (q, q[mnist], q[*]), decoders, "
                      "decoders[m], log_scales, encoders, joint_encoders or *")
        self.fail(f"unknown parameter group '{base}'", expr, one_of(known), did_you_mean(base, known))

    def module_group(self, base: str, expr: ast.Expr) -> list[str]:
        prefix = f"{base}."
        paths = [p for p in self.groups if p.startswith(prefix)]
        if isinstance(expr, ast.Indexed):
            if base not in ("decoders", "log_scales"):
                self.fail(f"'{base}' takes no index", expr, f"'{base}', or a posterior name such as q[mnist]")
            mods = self.c.elab.modality_set(expr.index, Env({}))
            paths = [p for p in paths if p[len(prefix):] in mods]
            missing = [m for m in mods if f"{prefix}{m}" not in self.groups]
            if missing and base == "log_scales":
                self.fail(f"modality {missing[0]} has no learned scale", expr, hint="gaussian(scale=learned) learns one")
        if not paths:
            why = {"log_scales": "no likelihood has a learned scale", "joint_encoders": "the spec has no joint encoder",
                   "encoders": "the spec has no unimodal encoder"}.get(base, "")
            self.fail(f"'{base}' selects no parameters" + (f": {why}" if why else ""), expr)
        return paths

    def distribution_group(self, base: str, expr: ast.Expr) -> list[str]:
        elab = self.c.elab
        if isinstance(expr, ast.Name) and elab.decls[base].indexed:
            keys = [elab.declared(base, v, expr) for v in elab.decl_values(base)]
        else:
            keys = elab.dist_list(expr, Env({}))
        paths = set()
        for key in keys:
            paths |= networks_of(self.graph, key)
        if not paths:
            self.fail(f"'{base}' has no trainable weights (it is built from no encoder)", expr)
        return [p for p in self.groups if p in paths]

    # ---- whole-spec checks and notes ------------------------------------------------------------
    def unused_objectives(self, stmts: list[ast.StageStmt]) -> None:
        used = {c.items[0].id for s in stmts for c in s.clauses if c.kind in ("objective", "select")}
        for obj in self.c.spec.of_type(ast.ObjectiveStmt):
            if obj.name and obj.name not in used:
                self.sink.error(f"objective '{obj.name}' is used by no stage", obj.span,
                                hint=f"add 'stage NAME {{ objective {obj.name} }}', or use it in 'select'")

    def note_unreached(self, stage: StageSettings, objectives: dict) -> None:
        objective = objectives.get(stage.objective)
        if objective is None:
            return
        idle = [p for p in stage.trains if p not in reached_groups(self.graph, objective)]
        if idle:
            self.c.notes.append(f"stage {stage.name}: {describe_groups(idle, self.groups)} would train, but "
                                f"objective {stage.objective} never reaches them (they get no gradient)")
