"""AST -> checked program: the model graph, the objective IR, and the settings.

Statement by statement: names resolve, shapes agree between a modality, its network and its
likelihood, params are numbers (with `--set` overrides), every distribution and term is
elaborated. All errors of a file are collected and raised together as one SpecError.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..constructs import flows, hierarchy, ladder, mog, refine, stages
from ..errors import DiagnosticSink, Invalid, SpecError, Span, did_you_mean, one_of
from ..model import ir
from ..constructs import schedules
from ..data.decl import DataDecl
from ..model.graph import Expert, JointExpert, Latent, Likelihood, ModelGraph, Modality, NetRef, NetworkInstance
from ..model.sets import Env, all_subsets, subset_label
from ..model.settings import MetricRequest, OptimizerSettings, SchedulerSettings, StageSettings, TrainSettings
from ..networks import REGISTRY
from ..syntax import ast
from ..syntax.source import read_spec
from .footprint import check_footprint
from ..model.numeric import MAX_COUNT, whole_number
from .values import check_options
from ..syntax.parser import parse
from .elaborate import DistDecl, Elaborator, _text
from . import conditional, latents as several
from .terms import TermBuilder

KINDS = {"image": 3, "text": 2, "vector": 1}
LIKELIHOODS = {"laplace": ("image", "vector"), "gaussian": ("image", "vector"),
               "bernoulli": ("image", "vector"), "categorical": ("text", "vector")}
OPTIMIZERS = {"adam": ("lr", "betas", "weight_decay", "eps"), "adamw": ("lr", "betas", "weight_decay", "eps"),
              "sgd": ("lr", "momentum", "weight_decay")}
SCHEDULERS = {"none": (), "exponential": ("gamma",), "step": ("step_size", "gamma"), "cosine": ("t_max",)}
METRICS = {"coherence": ("samples",), "latent_probe": ("samples",), "fid": ("samples",),
           "elbo": (), "nll": ("k",), "reconstruction_error": ("k",), "cosine": (), "levenshtein": (),
           "refinement_curve": ("steps", "k"), "attribute_probe": ("samples",)}
TRAIN_DEFAULTS = TrainSettings(100, 256, OptimizerSettings("adam", {"lr": 1e-3}), SchedulerSettings("none"))


@dataclass
class Program:
    """A checked spec: everything the printer and the lowering need."""
    spec: ast.Spec
    graph: ModelGraph
    ir: ir.ProgramIR
    train: TrainSettings
    evaluate: list[MetricRequest]
    overrides: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stages: list[StageSettings] = field(default_factory=list)     # in order; one implicit stage at least
    data: DataDecl | None = None       # `data NAME { ... }`: own files (mmspec/data); None: a built-in name

    @property
    def source_hash(self) -> str:
        text = self.spec.source + "".join(f"\n--set {k}={v}" for k, v in sorted(self.overrides.items()))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def objective(self) -> ir.Objective:
        return next(iter(self.ir.objectives.values()))


def check_text(source: str, filename: str = "<spec>", overrides: dict[str, str] | None = None) -> Program:
    return Checker(parse(source, filename), overrides or {}).run()


def check_file(path, overrides: dict[str, str] | None = None) -> Program:
    return check_text(read_spec(path), str(path), overrides)


class Checker:
    def __init__(self, spec: ast.Spec, overrides: dict[str, str]):
        self.spec = spec
        self.overrides = dict(overrides)
        self.sink = DiagnosticSink(spec.source, spec.filename)
        self.notes: list[str] = []

    def run(self) -> Program:
        name, dataset = self.header()
        graph = ModelGraph(name=name, dataset=dataset, modalities={}, latents={})
        self.graph = graph
        self.modalities_pass1()
        self.params()
        graph.latents = self.latents()
        conditional.declare_givens(self)        # `given m1: ...`, before the decoders that read it
        self.modalities_pass2()
        several.check_layout(self)
        self.sink.raise_if_any()
        decls = self.declarations()
        self.elab = Elaborator(graph, self.sink, decls, self.latent_for)
        decl_priors = [n for n, d in decls.items() if d.stmt.role == "prior"]
        self.elab.objective_term = TermBuilder(self.elab, decl_priors).term      # refine's maximize=...
        self.all_declarations(decls)
        several.latent_priors(self, decls)
        program_ir = ir.ProgramIR()
        priors = [s.name for s in self.spec.of_type(ast.DistStmt) if s.role == "prior"]
        self.objectives(program_ir, TermBuilder(self.elab, priors))
        self.infer(program_ir)
        train, evaluate = self.train_settings(), self.evaluate_settings()
        self.sink.raise_if_any()
        self.networks(program_ir)
        staged = stages.StageChecker(self).stages(program_ir, train)
        self.sink.raise_if_any()
        check_footprint(self)           # sizes that cannot fit in memory
        self.sink.raise_if_any()
        if staged[0].explicit:
            train = stages.overall_settings(staged)
        data = next(iter(self.spec.of_type(ast.DataStmt)), None)
        return Program(self.spec, graph, program_ir, train, evaluate, self.overrides, self.notes, staged,
                       data.block if data is not None else None)

    # ---- helpers ---------------------------------------------------------------------------
    def guard(self, fn, *args):
        """Run one elaboration; a failure is already recorded, so carry on with the next."""
        try:
            return fn(*args)
        except Invalid:
            return None

    def unique(self, stmts: list, what: str, required: bool) -> ast.Node | None:
        for extra in stmts[1:]:
            self.sink.error(f"a second '{what}' statement", extra.span, hint=f"a spec has one '{what}'")
        if required and not stmts:
            self.sink.error(f"missing '{what}' statement", Span(1, 1, 1, 1), f"'{what} NAME' in the spec")
        return stmts[0] if stmts else None

    # ---- header, latents, modalities, params -------------------------------------------------
    def header(self) -> tuple[str, str]:
        model = self.unique(self.spec.of_type(ast.ModelStmt), "model", True)
        data = self.unique(self.spec.of_type(ast.DataStmt), "data", True)
        return (model.name if model else "?", data.name if data else "?")

    def latents(self) -> dict[str, Latent]:
        out: dict[str, Latent] = {}
        elab = Elaborator(self.graph, self.sink, {}, lambda *a: None)
        for s in self.spec.of_type(ast.LatentStmt):
            if s.name in out:
                self.sink.error(f"latent '{s.name}' is declared twice", s.span)
            dim = self.guard(whole_number, elab, s.dim, Env({}), "a latent size")
            if dim is None:
                continue
            out[s.name] = Latent(s.name, dim, s.index_var is not None)
        if not out:
            self.sink.error("missing 'latent' statement", Span(1, 1, 1, 1), "'latent z: 32' (one shared latent) "
                            "or 'latent z[m]: 32' (one per modality)")
        return out

    def modalities_pass1(self) -> None:
        """Names, kinds and shapes first: M and the rescale weights depend on all of them."""
        self._mod_stmts: dict[str, ast.ModalityStmt] = {}
        for s in self.spec.of_type(ast.ModalityStmt):
            if s.name in self._mod_stmts:
                self.sink.error(f"modality '{s.name}' is declared twice", s.name_span,
                                hint=f"first declared on line {self._mod_stmts[s.name].span.line}")
                continue
            self.kind_ok(s.kind)
            self._mod_stmts[s.name] = s
        if not self._mod_stmts:
            self.sink.error("a spec needs at least one modality", Span(1, 1, 1, 1), "'modality NAME: KIND(...) ~ LIKELIHOOD, net NET'")
        self.graph.modalities = {n: None for n in self._mod_stmts}  # M is known from here on

    def kind_ok(self, kind: ast.Kind) -> bool:
        """A modality's (or given data's) kind and sizes; a problem is recorded and False returned."""
        if kind.name not in KINDS:
            self.sink.error(f"unknown modality kind '{kind.name}'", kind.span, one_of(KINDS),
                            did_you_mean(kind.name, KINDS))
        elif len(kind.dims) != KINDS[kind.name]:
            form = {"image": "image(C, H, W)", "text": "text(length, vocabulary)", "vector": "vector(D)"}
            self.sink.error(f"{kind.name} takes {KINDS[kind.name]} sizes", kind.span, form[kind.name])
        elif any(d <= 0 for d in kind.dims):
            self.sink.error("sizes must be positive", kind.span)
        elif any(d > MAX_COUNT for d in kind.dims):
            self.sink.error(f"sizes must be at most {MAX_COUNT:,}", kind.span)
        else:
            return True
        return False

    def modality_statements(self) -> dict[str, ast.ModalityStmt]:
        return self._mod_stmts

    def plain_elaborator(self) -> Elaborator:
        """An elaborator for numbers and names outside any distribution declaration."""
        return Elaborator(self.graph, self.sink, {}, lambda *a: None)

    def params(self) -> None:
        env_elab = Elaborator(self.graph, self.sink, {}, lambda *a: None)
        seen: dict[str, ast.ParamStmt] = {}
        given_data = {s.name: s for s in self.spec.of_type(ast.GivenStmt)}
        for s in self.spec.of_type(ast.ParamStmt):
            if s.name in seen:
                self.sink.error(f"param '{s.name}' is declared twice", s.span)
                continue
            if s.name == "M" or s.name in self._mod_stmts:
                self.sink.error(f"'{s.name}' is already a name (M is the number of modalities)", s.span)
                continue
            if s.name in given_data:
                self.sink.error(f"'{s.name}' is already a name: given data", s.span,
                                hint=f"given data declared on line {given_data[s.name].span.line}")
                continue
            seen[s.name] = s
            if schedules.is_schedule(s.expr) or (s.name in self.overrides
                                                 and schedules.is_override(self.overrides[s.name])):
                schedules.declare(self, s, env_elab)            # constructs/schedules.py
                continue
            value = self.guard(env_elab.number, s.expr, Env({}))
            if s.name in self.overrides:
                value = self.override_value(s.name, self.overrides[s.name], env_elab)
            if value is not None:
                self.graph.params[s.name] = value
        for name in self.overrides:
            if name not in seen:
                hint = did_you_mean(name, list(seen))
                self.sink.error(f"--set {name}=...: the spec has no param '{name}'", Span(1, 1, 1, 1),
                                one_of(seen), hint)

    def override_value(self, name: str, text: str, elab: Elaborator) -> float | None:
        """`--set name=text`, elaborated against its own text so a problem is not shown in the spec's."""
        source = f"param {name} = {text}"
        own = DiagnosticSink(source, f"--set {name}")
        why = ""
        try:
            stmts = parse(source, f"--set {name}").statements
            if len(stmts) != 1 or not isinstance(stmts[0], ast.ParamStmt) or stmts[0].name != name:
                raise IndexError("more than one value")
            stmt = stmts[0]
            return Elaborator(elab.g, own, {}, lambda *a: None).number(stmt.expr, Env({}))
        except SpecError as err:
            why = err.diagnostics[0].message if err.diagnostics else ""
        except (Invalid, IndexError, AttributeError):
            why = own.diagnostics[0].message if own.diagnostics else ""
        self.sink.error(f"--set {name}={text}: the value must be a number or arithmetic of params and M"
                        + (f" ({why})" if why else ""), Span(1, 1, 1, 1))
        return None

    def modalities_pass2(self) -> None:
        dims = {n: _prod(s.kind.dims) for n, s in self._mod_stmts.items()}
        elab = Elaborator(self.graph, self.sink, {}, lambda *a: None)
        for name, s in self._mod_stmts.items():
            likelihood = self.guard(self.likelihood, s, elab)
            net = self.guard(self.net, s, elab)
            weight, text = 1.0, "1"
            if s.weight is not None:
                if isinstance(s.weight, ast.Name) and s.weight.id == "rescale":
                    weight, text = max(dims.values()) / dims[name], "rescale"
                else:
                    weight = self.guard(self.likelihood_weight, s.weight, elab)
                    text = _text(self.spec.source, s.weight)
            reads = self.guard(several.decoder_reads, elab, s)
            given = self.guard(conditional.decoder_given, elab, s)
            if likelihood is None or net is None or weight is None or reads is None or given is None:
                continue
            self.graph.modalities[name] = Modality(name, s.kind.name, tuple(s.kind.dims), likelihood, net,
                                                   float(weight), text, s.span, reads, given)
        self.graph.modalities = {n: m for n, m in self.graph.modalities.items() if m is not None}

    def likelihood_weight(self, expr: ast.Expr, elab: Elaborator) -> float:
        """`weight W`: a number, or `rescale`, which an unknown name is offered alongside the params."""
        known = list(self.graph.params) + ["M"]
        if isinstance(expr, ast.Name) and expr.id not in known and expr.id not in self.graph.schedules:
            elab.fail(f"unknown likelihood weight '{expr.id}'", expr, "a number, a param, M, or rescale "
                      "(the largest modality's size over this one's)", did_you_mean(expr.id, known + ["rescale"]))
        return elab.number(expr, Env({}))

    def likelihood(self, s: ast.ModalityStmt, elab: Elaborator) -> Likelihood:
        expr = s.likelihood
        name = expr.id if isinstance(expr, ast.Name) else expr.func if isinstance(expr, ast.Call) else None
        if name not in LIKELIHOODS:
            elab.fail("unknown likelihood", expr, one_of(LIKELIHOODS), did_you_mean(str(name), LIKELIHOODS))
        if s.kind.name not in LIKELIHOODS[name]:
            elab.fail(f"a {name} likelihood does not fit a {s.kind.name} modality", expr,
                      "one of: " + ", ".join(n for n, k in LIKELIHOODS.items() if s.kind.name in k))
        scale, learned = None, False
        if isinstance(expr, ast.Call):
            allowed = {"scale"} if name in ("laplace", "gaussian") else set()
            for kw in expr.kwargs:
                if kw.name not in allowed:
                    elab.fail(f"unknown option '{kw.name}' for {name}", kw, one_of(allowed) if allowed else "no options",
                              did_you_mean(kw.name, allowed))
                if isinstance(kw.value, ast.Name) and kw.value.id == "learned" and name == "gaussian":
                    learned = True
                else:
                    scale = elab.number(kw.value, Env({}))
                    if scale <= 0:
                        elab.fail("a scale must be positive", kw.value)
            if expr.args:
                elab.fail(f"{name} takes named options only", expr.args[0], "scale=...")
        if name in ("laplace", "gaussian") and scale is None and not learned:
            scale = 1.0
        return Likelihood(name, scale, learned)

    def net(self, s: ast.ModalityStmt, elab: Elaborator) -> NetRef:
        if s.net is None:
            elab.fail(f"modality '{s.name}' has no network", s, "', net NAME' (e.g. net mlp(hidden=[512]))",
                      "registered networks: " + ", ".join(sorted(REGISTRY)))
        expr = s.net
        name = expr.id if isinstance(expr, ast.Name) else expr.func if isinstance(expr, ast.Call) else None
        if name not in REGISTRY:
            elab.fail(f"unknown network '{name}'", expr, one_of(REGISTRY), did_you_mean(str(name), REGISTRY))
        params = {kw.name: self.net_value(kw.value, elab) for kw in getattr(expr, "kwargs", [])}
        problem = REGISTRY[name].check(s.kind.name, tuple(s.kind.dims), params)
        if problem:
            elab.fail(f"network does not fit modality '{s.name}': {problem}", expr)
        return NetRef(name, tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items())))

    @staticmethod
    def net_value(expr: ast.Expr, elab: Elaborator):
        if isinstance(expr, ast.ListLit):
            return [Checker.net_value(i, elab) for i in expr.items]
        if isinstance(expr, ast.String):
            return expr.value
        if isinstance(expr, ast.Name) and expr.id not in elab.g.params and expr.id != "M":
            return expr.id
        value = elab.number(expr, Env({}))
        return int(value) if float(value).is_integer() else value

    # ---- distributions -----------------------------------------------------------------------
    def declarations(self) -> dict[str, DistDecl]:
        decls: dict[str, DistDecl] = {}
        for s in self.spec.of_type(ast.DistStmt):
            if s.name in decls or s.name in self.graph.modalities or s.name in self.graph.params:
                self.sink.error(f"'{s.name}' is declared twice", s.name_span)
                continue
            decls[s.name] = DistDecl(s, s.index is not None)
        return decls

    def all_declarations(self, decls: dict[str, DistDecl]) -> None:
        """Elaborate every declaration, used or not, so every mistake is reported."""
        for name, decl in decls.items():
            if not decl.indexed:
                self.guard(self.elab.declared, name, None, decl.stmt)
                continue
            values = self.guard(self.elab.decl_values, name)
            for value in values or []:
                if self.guard(self.elab.declared, name, value, decl.stmt) is None:
                    break

    def latent_for(self, modality: str | None, owner: str, node: ast.Node) -> str | None:
        latents = list(self.graph.latents.values())
        if len(latents) != 1:
            self.elab.fail("several latents are declared: say which one this encoder describes", node,
                           "'on " + latents[0].name + "' after the expression")
        latent = latents[0]
        if not latent.indexed:
            return latent.name
        if modality is None:
            self.elab.fail(f"a joint encoder needs one shared latent, but {latent.name} is one per modality", node)
        return f"{latent.name}[{modality}]"

    # ---- objectives and inference ------------------------------------------------------------
    def objectives(self, program_ir: ir.ProgramIR, builder: TermBuilder) -> None:
        stmts = self.spec.of_type(ast.ObjectiveStmt)
        if not stmts:
            self.sink.error("missing objective", Span(1, 1, 1, 1), "'maximize <terms>' or 'minimize <terms>'")
        for s in stages.objective_statements(self.spec, self.sink):
            tree = self.guard(builder.term, s.expr, Env({}))
            if tree is not None:
                name = s.name or "objective"
                program_ir.objectives[name] = ir.Objective(name, s.direction, tree, _text(self.spec.source, s.expr))

    def infer(self, program_ir: ir.ProgramIR) -> None:
        rules = self.spec.of_type(ast.InferStmt)
        if not rules:
            self.sink.error("missing 'infer' rule", Span(1, 1, 1, 1),
                            "'infer S = poe(p, q[S])': the posterior evaluation uses for a subset S of modalities")
            return
        order = list(self.graph.modalities)
        for rule in rules:
            for name in rule.names if rule.pattern == "exact" else []:
                if name not in self.graph.modalities and name not in self.graph.givens:
                    self.sink.error(f"unknown modality '{name}'", rule.span, one_of(order), did_you_mean(name, order))
            program_ir.infer_rules.append(ir.InferRule(rule.pattern, tuple(rule.names), _text(self.spec.source, rule)))
        self.elab.allow_mixed_latents = True
        for subset in all_subsets(order):
            rule = next((r for r in rules if _matches(r, subset, len(order))), None)
            if rule is None:
                self.sink.error(f"no infer rule covers the subset {subset_label(subset, order)}", rules[-1].span,
                                hint="add a general rule such as 'infer S = poe(p, q[S])'")
                return
            key = self.guard(self.infer_node, rule, subset)
            if key is None:
                return
            program_ir.infer[subset] = key
        conditional.infer_given(self, rules, program_ir)     # `infer (m1) = p`: given data alone (CVAE)
        self.elab.allow_mixed_latents = False

    def infer_node(self, rule: ast.InferStmt, subset: frozenset) -> str:
        env = Env({rule.names[0]: subset}) if rule.pattern == "any" else Env({})
        on = self.elab.latent_ref(rule.on, env) if rule.on is not None else None
        key = self.elab.dist(rule.expr, env, on=on)
        extra = self.graph.sees(key) - subset
        if extra:
            order = list(self.graph.modalities)
            self.elab.fail(f"for the subset {subset_label(subset, order)} this rule reads "
                           f"{', '.join(m for m in order if m in extra)}, which is not given", rule.expr)
        return key

    # ---- settings ----------------------------------------------------------------------------
    def train_settings(self) -> TrainSettings:
        stmt = self.unique(self.spec.of_type(ast.TrainStmt), "train", False)
        if stmt is None:
            if not self.spec.of_type(ast.StageStmt):       # stages note their own defaults
                self.notes.append("no 'train' statement: using epochs 100, batch 256, optimizer adam(lr=1e-3)")
            return TRAIN_DEFAULTS
        return self.train_values(stmt.settings, TRAIN_DEFAULTS)

    def train_values(self, settings: list[ast.Setting], base: TrainSettings) -> TrainSettings:
        """`epochs N, batch N, optimizer ..., scheduler ...` over `base` (a `train` statement or a stage)."""
        values = {"epochs": base.epochs, "batch": base.batch, "optimizer": base.optimizer, "scheduler": base.scheduler}
        elab = self.elab
        for st in settings:
            if st.name in ("epochs", "batch"):
                v = self.guard(whole_number, elab, st.value, Env({}), st.name)
                values[st.name] = v if v else values[st.name]
            elif st.name in ("optimizer", "scheduler"):
                table = OPTIMIZERS if st.name == "optimizer" else SCHEDULERS
                got = self.guard(self.named_call, st.value, table, st.name)
                if got:
                    cls = OptimizerSettings if st.name == "optimizer" else SchedulerSettings
                    values[st.name] = cls(*got)
            else:
                keys = list(values)
                self.sink.error(f"unknown train setting '{st.name}'", st.span, one_of(keys), did_you_mean(st.name, keys))
        return TrainSettings(**values)

    def named_call(self, expr: ast.Expr, table: dict, what: str) -> tuple[str, dict]:
        name = expr.id if isinstance(expr, ast.Name) else expr.func if isinstance(expr, ast.Call) else None
        if name not in table:
            self.elab.fail(f"unknown {what}", expr, one_of(table), did_you_mean(str(name), table))
        params = {}
        for kw in getattr(expr, "kwargs", []):
            if kw.name not in table[name]:
                self.elab.fail(f"unknown option '{kw.name}' for {name}", kw, one_of(table[name]),
                               did_you_mean(kw.name, table[name]))
            if isinstance(kw.value, ast.ListLit):
                params[kw.name] = tuple(self.elab.number(i, Env({})) for i in kw.value.items)
            else:
                params[kw.name] = self.elab.number(kw.value, Env({}))
        check_options(self.elab, what, name, params, {kw.name: kw.value for kw in getattr(expr, "kwargs", [])})
        return name, params

    def evaluate_settings(self) -> list[MetricRequest]:
        stmt = self.unique(self.spec.of_type(ast.EvaluateStmt), "evaluate", False)
        out = []
        for item in stmt.items if stmt else []:
            got = self.guard(self.named_call, item, METRICS, "metric")
            if got and got[0] == "refinement_curve":
                self.guard(refine.require_refinement, self.elab, item)
            if got:
                out.append(MetricRequest(got[0], {k: (int(v) if float(v).is_integer() else v) for k, v in got[1].items()}))
        return out

    def networks(self, program_ir: ir.ProgramIR) -> None:
        for node in self.graph.nodes.values():
            if isinstance(node, Expert):
                self.graph.networks[node.network] = NetworkInstance(node.network, "encoder", (node.modality,))
            elif isinstance(node, JointExpert):
                self.graph.networks[node.network] = NetworkInstance(node.network, "joint_encoder",
                                                                    node.modalities + node.given, node.hidden)
        refine.register_networks(self.graph)           # refine(...) update networks, gradient_origin(...) heads
        flows.register_networks(self.graph)            # flow(...) transforms
        mog.register_networks(self.graph)              # mog(...) prior parameters
        hierarchy.register_networks(self.graph)        # normal(given=...) networks
        ladder.register_networks(self.graph)           # ladder(...) networks
        for m in self.graph.modalities:
            self.graph.networks[f"decoder.{m}"] = NetworkInstance(f"decoder.{m}", "decoder", (m,))


def _matches(rule: ast.InferStmt, subset: frozenset, m: int) -> bool:
    if rule.pattern == "all":
        return len(subset) == m
    if rule.pattern == "exact":
        return subset == frozenset(rule.names)
    return True


def _prod(xs) -> int:
    out = 1
    for x in xs:
        out *= x
    return out
