"""Located statements -> a checked `Experiment`, every mistake of a file reported at once.

Names resolve (specs, varied params, datasets, settings, metric paths, plot axes) with the spec
language's diagnostics: file:line:col, a caret, what was expected, the nearest known name.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import DiagnosticSink, SpecError, Span, did_you_mean, one_of
from ..syntax.source import read_spec
from . import syntax
from .model import (QUICK_ONLY, RESULT_KEYS, RUN_SETTINGS, Axis, Column, Experiment, PaperCell, Plot, SpecEntry, Table,
                    format_value)

MAX_RANGE = 64          # values one range may expand to


def check_experiment_file(path) -> Experiment:
    source = read_spec(path)            # the spec reader's encodings and messages (BOM, not UTF-8, unreadable)
    return check_experiment_text(source, str(path), base=Path(path).resolve().parent)


def check_experiment_text(source: str, filename: str = "<experiment>", base: Path | None = None) -> Experiment:
    statements = syntax.parse(source, filename)
    return _Checker(statements, DiagnosticSink(source, filename), base or Path.cwd()).run(filename)


def spec_search_path(base: Path) -> list[Path]:
    """Where a spec named by its stem is looked for: beside the experiment, one folder up (an
    experiment in specs/experiments/ names the specs in specs/), then the shipped specs."""
    from ..explain.catalog import specs_dir
    return [base, base.parent, specs_dir()]


class _Checker:
    def __init__(self, statements: list[syntax.Stmt], sink: DiagnosticSink, base: Path):
        self.stmts = statements
        self.sink = sink
        self.base = base

    def of(self, keyword: str) -> list[syntax.Stmt]:
        return [s for s in self.stmts if s.keyword == keyword]

    def unique(self, keyword: str, required: bool) -> syntax.Stmt | None:
        found = self.of(keyword)
        for extra in found[1:]:
            self.sink.error(f"a second '{keyword}' statement", extra.span, hint=f"an experiment has one '{keyword}'")
        if required and not found:
            self.sink.error(f"missing '{keyword}' statement", Span(1, 1, 1, 1), f"'{keyword} ...' in the experiment")
        return found[0] if found else None

    def run(self, filename: str) -> Experiment:
        head = self.unique("experiment", True)
        specs = self.specs()
        vary, vary_text = self.vary(specs)
        seeds = self.seeds()
        dataset_params, dataset_settings = self.datasets(specs, vary)
        quick = self.quick()
        tables = self.tables(specs)
        plots = self.plots(vary)
        best = self.best()
        self.sink.raise_if_any()
        return Experiment(head.name, Path(filename), specs, vary, vary_text, seeds, dataset_params,
                          dataset_settings, quick, tables, plots, best)

    # ---- specs ---------------------------------------------------------------------------------
    def specs(self) -> list[SpecEntry]:
        stmt = self.unique("specs", True)
        out: list[SpecEntry] = []
        for ref in (stmt.items if stmt else []):
            entry = self.spec_entry(ref)
            if entry is None:
                continue
            if any(e.name == entry.name for e in out):
                self.sink.error(f"spec '{entry.name}' is listed twice", ref.span)
                continue
            out.append(entry)
        return out

    def spec_entry(self, ref: syntax.SpecRef) -> SpecEntry | None:
        path = self.resolve_spec(ref)
        if path is None:
            return None
        from .. import check_spec
        try:
            program = check_spec(path)
        except SpecError as err:
            self.sink.error(f"spec '{ref.name}' ({path}) has errors:\n" + str(err), ref.span)
            return None
        return SpecEntry(path.stem, ref.label or path.stem, path, program.graph.dataset,
                         tuple(program.graph.params), int(program.train.epochs), int(program.train.batch))

    def resolve_spec(self, ref: syntax.SpecRef) -> Path | None:
        if ref.is_path:
            path = (self.base / ref.name).resolve()
            if not path.is_file():
                self.sink.error(f"no spec file {ref.name!r} (looked for {path})", ref.span)
                return None
            return path
        folders = spec_search_path(self.base)
        for folder in folders:
            if (folder / f"{ref.name}.mms").is_file():
                return (folder / f"{ref.name}.mms").resolve()
        known = sorted({p.stem for f in folders if f.is_dir() for p in f.glob("*.mms")})
        self.sink.error(f"unknown spec '{ref.name}'", ref.span, "the stem of a .mms file in " +
                        ", ".join(str(f) for f in folders[:2]) + " or the shipped specs, or a quoted path",
                        did_you_mean(ref.name, known))
        return None

    # ---- what varies ---------------------------------------------------------------------------
    def vary(self, specs: list[SpecEntry]) -> tuple[dict[str, list[float]], dict[str, list[str]]]:
        values: dict[str, list[float]] = {}
        texts: dict[str, list[str]] = {}
        for stmt in self.of("vary"):
            if stmt.name in values:
                self.sink.error(f"param '{stmt.name}' is varied twice", stmt.name_span)
                continue
            self.param_in_specs(stmt.name, stmt.name_span, specs)
            expanded = self.values(stmt.extra["values"])
            if expanded is None:
                continue
            nums = [v for v, _ in expanded]
            if len(set(nums)) != len(nums):
                self.sink.error(f"param '{stmt.name}' lists a value twice", stmt.span)
                continue
            values[stmt.name], texts[stmt.name] = nums, [t for _, t in expanded]
        return values, texts

    def values(self, given) -> list[tuple[float, str]] | None:
        if isinstance(given, list):
            return [(v.value, v.text) for v in given]
        _, lo, hi, span = given
        if lo.base != hi.base:
            self.sink.error(f"a range of powers needs one base, got {lo.base:g} and {hi.base:g}", span,
                            hint=f"write {lo.base:g}^a..{lo.base:g}^b")
            return None
        if lo.base <= 0 or lo.base == 1:
            self.sink.error(f"the base of a range must be positive and not 1, got {lo.base:g}", span)
            return None
        if hi.exponent < lo.exponent:
            self.sink.error(f"empty range: the exponents go from {lo.exponent} down to {hi.exponent}", span,
                            hint=f"write {lo.base:g}^{hi.exponent}..{lo.base:g}^{lo.exponent}")
            return None
        if hi.exponent - lo.exponent + 1 > MAX_RANGE:
            self.sink.error(f"the range has {hi.exponent - lo.exponent + 1} values; at most {MAX_RANGE}", span)
            return None
        return [(lo.base ** k, f"{lo.base:g}^{k}") for k in range(lo.exponent, hi.exponent + 1)]

    def param_in_specs(self, name: str, span: Span, specs: list[SpecEntry]) -> None:
        for spec in specs:
            if name not in spec.params:
                self.sink.error(f"spec '{spec.name}' has no param '{name}'", span, one_of(spec.params),
                                did_you_mean(name, spec.params))

    def seeds(self) -> int:
        stmt = self.unique("seeds", False)
        if stmt is None:
            return 1
        return self.count(stmt.extra["value"], "seeds") or 1

    def count(self, value: syntax.Value, what: str) -> int | None:
        if not float(value.value).is_integer() or value.value < 1:
            self.sink.error(f"{what} must be a whole number of at least 1, got {value.text}", value.span)
            return None
        return int(value.value)

    # ---- settings: per dataset and the quick budget --------------------------------------------------
    def datasets(self, specs: list[SpecEntry], vary: dict) -> tuple[dict, dict]:
        used = {s.dataset for s in specs}
        params: dict[str, dict[str, str]] = {}
        settings: dict[str, dict[str, int]] = {}
        for stmt in self.of("dataset"):
            if stmt.name not in used:
                self.sink.error(f"no listed spec uses dataset '{stmt.name}'", stmt.name_span, one_of(used),
                                did_you_mean(stmt.name, used))
                continue
            mine = [s for s in specs if s.dataset == stmt.name]
            for setting in stmt.items:
                if setting.kind == "param":
                    if setting.name in vary:
                        self.sink.error(f"param '{setting.name}' is varied; it cannot also be fixed per dataset",
                                        setting.span)
                        continue
                    self.param_in_specs(setting.name, setting.span, mine)
                    params.setdefault(stmt.name, {})[setting.name] = format_value(setting.value.value)
                else:
                    value = self.run_setting(setting, allow_seeds=False)
                    if value is not None:
                        settings.setdefault(stmt.name, {})[setting.name] = value
        return params, settings

    def quick(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for stmt in self.of("quick"):
            for setting in stmt.items:
                if setting.kind == "param":
                    self.sink.error(f"'quick' shrinks run settings; '{setting.name} = ...' is a param", setting.span,
                                    hint="fix a param for all budgets with a 'dataset NAME:' line")
                    continue
                value = self.run_setting(setting, allow_seeds=True)
                if value is not None:
                    out[setting.name] = value
        return out

    def run_setting(self, setting: syntax.Setting, allow_seeds: bool) -> int | None:
        known = [k for k in RUN_SETTINGS if allow_seeds or k not in QUICK_ONLY]
        if setting.name not in known:
            self.sink.error(f"unknown setting '{setting.name}'", setting.span, one_of(known),
                            did_you_mean(setting.name, known))
            return None
        return self.count(setting.value, setting.name)

    # ---- what to lay out -----------------------------------------------------------------------
    def metric(self, path: str, span: Span) -> bool:
        head = path.split(".", 1)[0]
        if head not in RESULT_KEYS:
            self.sink.error(f"unknown result '{head}' in metric path '{path}'", span, one_of(RESULT_KEYS),
                            did_you_mean(head, RESULT_KEYS))
            return False
        return True

    def tables(self, specs: list[SpecEntry]) -> list[Table]:
        out: list[Table] = []
        names = {s.name for s in specs}
        for stmt in self.of("table"):
            if any(t.name == stmt.name for t in out):
                self.sink.error(f"table '{stmt.name}' is declared twice", stmt.name_span)
                continue
            table = Table(stmt.name, stmt.extra["title"], [])
            rows = []
            for clause in stmt.items:
                if clause[0] == "column":
                    _, title, metric, _ = clause
                    if self.metric(metric.path, metric.span):
                        table.columns.append(Column(title, metric.path))
                elif clause[0] == "scale":
                    table.scale = clause[1]
                else:
                    rows.append(clause)
            if not table.columns:
                self.sink.error(f"table '{stmt.name}' has no column", stmt.span, "'column \"TITLE\" = METRIC.PATH'")
            for _, spec, span, cells in rows:
                if spec not in names:
                    self.sink.error(f"paper numbers for '{spec}', which is not in 'specs'", span, one_of(names),
                                    did_you_mean(spec, names))
                elif len(cells) != len(table.columns):
                    self.sink.error(f"{len(cells)} paper numbers for {len(table.columns)} columns", span,
                                    hint="write '-' where the paper gives no number")
                else:
                    table.paper[spec] = [PaperCell(c.mean, c.std) for c in cells]
            out.append(table)
        return out

    def plots(self, vary: dict) -> list[Plot]:
        out: list[Plot] = []
        for stmt in self.of("plot"):
            if any(p.name == stmt.name for p in out):
                self.sink.error(f"plot '{stmt.name}' is declared twice", stmt.name_span)
                continue
            axes: dict[str, Axis] = {}
            written, logs = set(), set()
            for clause in stmt.items:
                if clause[0] == "log":
                    if clause[1] not in ("x", "y"):
                        self.sink.error(f"'log {clause[1]}': the axis is x or y", clause[2])
                    logs.add(clause[1])
                    continue
                which, (kind, value, span), label, whole = clause
                if which in written:
                    self.sink.error(f"plot '{stmt.name}' has a second '{which}'", whole)
                    continue
                written.add(which)
                axis = self.axis(kind, value, span, vary)
                if axis is not None:
                    axis.label = label
                    axes[which] = axis
            for which in ("x", "y"):
                if which not in written:
                    self.sink.error(f"plot '{stmt.name}' has no '{which}' axis", stmt.span,
                                    f"'{which} METRIC.PATH'" + (", a varied param, 'size' or 'index'" if which == "x" else ""))
            if len(axes) == 2:
                out.append(Plot(stmt.name, stmt.extra["title"], axes["x"], axes["y"], "x" in logs, "y" in logs))
        return out

    def axis(self, kind: str, value: str, span: Span, vary: dict) -> Axis | None:
        if kind == "metric":
            return Axis("metric", value) if self.metric(value, span) else None
        if value in ("size", "index"):
            return Axis(value, value)
        if value not in vary:
            choices = list(vary) + ["size", "index"]
            self.sink.error(f"'{value}' is neither a varied param nor 'size' or 'index'", span, one_of(choices) +
                            " or a metric path", did_you_mean(value, choices))
            return None
        return Axis("param", value)

    def best(self) -> tuple[str, str] | None:
        stmt = self.unique("best", False)
        if stmt is None or not self.metric(stmt.items[0].path, stmt.items[0].span):
            return None
        return stmt.items[0].path, stmt.extra["direction"]
