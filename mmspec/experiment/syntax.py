"""Experiment text -> located statements, with the spec language's syntax errors.

The grammar is experiment/grammar.lark; syntax errors are `SpecError`s formatted exactly like a
spec's (file:line:col, the line, a caret, what was expected, the nearest keyword).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import lark
from lark import Lark, Token, Transformer, v_args

from ..errors import Diagnostic, SpecError, Span
from ..syntax.diagnostics import syntax_diagnostic

KEYWORDS = ("experiment", "specs", "vary", "seeds", "dataset", "quick", "best", "table", "plot",
            "column", "paper", "scale", "x", "y", "log")

_FRIENDLY = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string", "PATH": "a metric path (e.g. coherence.joint)",
    "EXPONENT": "an integer exponent", "COMMA": "','", "COLON": "':'", "EQUAL": "'='", "LBRACE": "'{'",
    "RBRACE": "'}'", "CIRCUMFLEX": "'^'", "MINUS": "'-'", "DIRECTION": "'higher' or 'lower'",
    "PLUSMINUS": "'±'", "$END": "end of file",
}


# ---- located statements ------------------------------------------------------------------------

@dataclass
class Value:
    value: float
    text: str
    span: Span


@dataclass
class Power:
    base: float
    exponent: int
    span: Span


@dataclass
class SpecRef:
    name: str
    is_path: bool
    label: str | None
    span: Span


@dataclass
class Setting:
    name: str
    kind: str                   # "param" (NAME = value) or "run" (NAME N)
    value: Value
    span: Span


@dataclass
class Metric:
    path: str
    span: Span


@dataclass
class Cell:
    mean: float | None
    std: float | None
    span: Span


@dataclass
class Stmt:
    keyword: str
    span: Span
    name: str = ""
    name_span: Span | None = None
    items: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)


@lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = resources.files("mmspec.experiment").joinpath("grammar.lark").read_text()
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _span(m) -> Span:
    return Span(m.line, m.column, m.end_line, m.end_column)


def _number(tok: Token, negative: bool = False) -> float:
    value = float(tok)
    return -value if negative else value


@v_args(meta=True)
class _ToStatements(Transformer):
    def start(self, meta, items):
        return list(items)

    # -- values
    def number(self, meta, items):
        return Value(_number(items[0]), str(items[0]), _span(meta))

    def negative(self, meta, items):
        return Value(_number(items[0], True), "-" + str(items[0]), _span(meta))

    def power(self, meta, items):
        base, exponent = items
        return Power(float(base), int(str(exponent)), _span(meta))

    def value_list(self, meta, items):
        return [Value(v.base ** v.exponent, f"{_fmt(v.base)}^{v.exponent}", v.span) if isinstance(v, Power) else v
                for v in items]

    def value_range(self, meta, items):
        return ("range", items[0], items[1], _span(meta))

    # -- statements
    def experiment_stmt(self, meta, items):
        return Stmt("experiment", _span(meta), str(items[0]), _span(items[0]))

    def spec_ref(self, meta, items):
        ref, label = items
        is_path = ref.type == "STRING"
        return SpecRef(str(ref)[1:-1] if is_path else str(ref), is_path,
                       str(label)[1:-1] if label is not None else None, _span(ref))

    def specs_stmt(self, meta, items):
        return Stmt("specs", _span(meta), items=list(items))

    def vary_stmt(self, meta, items):
        name, values = items
        if isinstance(values, Value):
            values = [values]
        elif isinstance(values, Power):
            values = self.value_list(meta, [values])
        return Stmt("vary", _span(meta), str(name), _span(name), extra={"values": values})

    def seeds_stmt(self, meta, items):
        return Stmt("seeds", _span(meta), extra={"value": Value(float(items[0]), str(items[0]), _span(items[0]))})

    def param_setting(self, meta, items):
        name, value = items
        if isinstance(value, Power):
            value = self.value_list(meta, [value])[0]
        return Setting(str(name), "param", value, _span(meta))

    def run_setting(self, meta, items):
        name, number = items
        return Setting(str(name), "run", Value(float(number), str(number), _span(number)), _span(meta))

    def dataset_stmt(self, meta, items):
        name, *settings = items
        return Stmt("dataset", _span(meta), str(name), _span(name), items=settings)

    def quick_stmt(self, meta, items):
        return Stmt("quick", _span(meta), items=list(items))

    def path(self, meta, items):
        return Metric(str(items[0]), _span(items[0]))

    def best_stmt(self, meta, items):
        metric, direction = items
        return Stmt("best", _span(meta), items=[metric], extra={"direction": str(direction or "higher")})

    def column(self, meta, items):
        title, metric = items
        return ("column", str(title)[1:-1], metric, _span(meta))

    def known_cell(self, meta, items):
        mean, _, std = items
        return Cell(float(mean), float(std) if std is not None else None, _span(meta))

    def negative_cell(self, meta, items):
        mean, _, std = items
        return Cell(-float(mean), float(std) if std is not None else None, _span(meta))

    def missing_cell(self, meta, items):
        return Cell(None, None, _span(meta))

    def paper_row(self, meta, items):
        name, *cells = items
        return ("paper", str(name), _span(name), cells)

    def scale(self, meta, items):
        return ("scale", float(items[0]), _span(meta))

    def table_stmt(self, meta, items):
        name, title, *clauses = items
        return Stmt("table", _span(meta), str(name), _span(name), items=clauses, extra={"title": str(title)[1:-1]})

    def param_axis(self, meta, items):
        return ("param", str(items[0]), _span(meta))

    def x_axis(self, meta, items):
        axis, label = items
        axis = ("metric", axis.path, axis.span) if isinstance(axis, Metric) else axis
        return ("x", axis, str(label)[1:-1] if label is not None else None, _span(meta))

    def y_axis(self, meta, items):
        metric, label = items
        return ("y", ("metric", metric.path, metric.span), str(label)[1:-1] if label is not None else None, _span(meta))

    def log_axis(self, meta, items):
        return ("log", str(items[0]), _span(items[0]))

    def plot_stmt(self, meta, items):
        name, title, *clauses = items
        return Stmt("plot", _span(meta), str(name), _span(name), items=clauses, extra={"title": str(title)[1:-1]})


def _fmt(x: float) -> str:
    return f"{x:g}"


def parse(source: str, filename: str = "<experiment>") -> list[Stmt]:
    """Parse experiment text into located statements, or raise a located SpecError."""
    try:
        tree = _lark().parse(source)
    except lark.exceptions.UnexpectedInput as err:
        raise SpecError([_syntax_diagnostic(err, source)], source, filename) from None
    return _ToStatements().transform(tree)


def _syntax_diagnostic(err: lark.exceptions.UnexpectedInput, source: str) -> Diagnostic:
    return syntax_diagnostic(err, source, _FRIENDLY, KEYWORDS, near_types=("NAME", "PATH"))
