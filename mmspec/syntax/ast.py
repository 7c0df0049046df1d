"""The abstract syntax tree: pydantic nodes that keep their source spans.

Expressions share one syntax for arithmetic, objective terms, distributions and sets (the checker
gives each its role), so the grammar stays small and every node can be located in an error.
"""
from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict

from ..data.decl import DataDecl
from ..errors import Span, did_you_mean, one_of


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    span: Span


# ---- expressions ---------------------------------------------------------------------------

class Number(Node):
    value: float
    text: str


class Name(Node):
    id: str


class Star(Node):
    """`*`: all modalities (in an index, a target list or a set)."""


class String(Node):
    value: str


class Indexed(Node):
    base: str
    base_span: Span
    index: "Expr"


class KwArg(Node):
    name: str
    value: "Expr"


class Arrow(Node):
    """`a -> b` inside rec(...)/elbo(...): a posterior and the modalities it reconstructs."""
    left: "Expr"
    right: "Expr"


class DBar(Node):
    """`a || b` inside kl(...)."""
    left: "Expr"
    right: "Expr"


class Call(Node):
    func: str
    func_span: Span
    args: list["Expr"]
    kwargs: list[KwArg]

    def kwarg(self, name: str) -> Optional["Expr"]:
        return next((k.value for k in self.kwargs if k.name == name), None)


class BinOp(Node):
    op: Literal["+", "-", "*", "/"]
    left: "Expr"
    right: "Expr"


class Neg(Node):
    operand: "Expr"


class Pow(Node):
    base: "Expr"
    exponent: "Expr"


class Tuple(Node):
    items: list["Expr"]


class ListLit(Node):
    items: list["Expr"]


class BigOp(Node):
    """`sum m: body` / `mean S in subsets(*): body`; without `in`, the variable ranges over modalities."""
    kind: Literal["sum", "mean"]
    var: str
    domain: Optional["Expr"]
    body: "Expr"


Expr = Union[Number, Name, Star, String, Indexed, Call, Arrow, DBar, BinOp, Neg, Pow, Tuple,
             ListLit, BigOp, KwArg]


# ---- statements ----------------------------------------------------------------------------

class DeclIndex(Node):
    var: str
    domain: Optional[Expr]


class ModelStmt(Node):
    name: str


class DataStmt(Node):
    name: str
    block: Optional[DataDecl] = None      # `data NAME { ... }`: the spec's own files (mmspec/data)


class LatentStmt(Node):
    name: str
    index_var: Optional[str]
    dim: "Expr"                     # a number, or arithmetic of params (so `--set` can change it)


class DistStmt(Node):
    """`prior p = ...` or `posterior q[m] = ...` (optionally `on z[m]`)."""
    role: Literal["prior", "posterior"]
    name: str
    name_span: Span
    index: Optional[DeclIndex]
    expr: Expr
    on: Optional[Expr]


class Kind(Node):
    name: str
    dims: list[int]


class ModalityStmt(Node):
    name: str
    name_span: Span
    kind: Kind
    likelihood: Expr
    net: Optional[Expr]
    weight: Optional[Expr]
    reads: Optional[Expr] = None        # `from (z, w[m0])`: the latents its decoder reads
    given: Optional[Expr] = None        # `given m1`: conditioning data its decoder also reads (CVAE)


class GivenStmt(Node):
    """`given m1: image(3, 28, 28), net polymnist_conv`: data the model reads and never generates."""
    name: str
    name_span: Span
    kind: Kind
    net: Optional[Expr]


class ParamStmt(Node):
    name: str
    expr: Expr


class ObjectiveStmt(Node):
    direction: Literal["maximize", "minimize"]
    name: Optional[str]
    expr: Expr


class Setting(Node):
    name: str
    value: Expr


class TrainStmt(Node):
    settings: list[Setting]


class EvaluateStmt(Node):
    items: list[Expr]


class InferStmt(Node):
    """`infer * = ...` (the full set), `infer (a, b) = ...` (exactly those), `infer S = ...` (any set)."""
    pattern: Literal["all", "any", "exact"]
    names: list[str]
    expr: Expr
    on: Optional[Expr]


class StageClause(Node):
    """One clause of a stage block: `objective NAME`, `train ...`, `freeze ...`, `select min NAME`
    (items: the names or parameter selectors; mode: min/max as written), or train settings."""
    kind: Literal["objective", "train", "freeze", "select", "settings"]
    items: list[Expr] = []
    mode: Optional[Name] = None
    settings: list[Setting] = []


class StageStmt(Node):
    """`stage NAME { clauses }`: one training stage (see mmspec/stages.py)."""
    name: str
    name_span: Span
    clauses: list[StageClause]

    def clauses_of(self, kind: str) -> list[StageClause]:
        return [c for c in self.clauses if c.kind == kind]


Statement = Union[ModelStmt, DataStmt, LatentStmt, DistStmt, ModalityStmt, ParamStmt,
                  ObjectiveStmt, TrainStmt, EvaluateStmt, InferStmt, StageStmt, GivenStmt]


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    filename: str
    source: str
    statements: list[Statement]

    def of_type(self, cls: type) -> list:
        return [s for s in self.statements if isinstance(s, cls)]


for _cls in (LatentStmt, Indexed, KwArg, Arrow, DBar, Call, BinOp, Neg, Pow, Tuple, ListLit, BigOp, DeclIndex,
             DistStmt, ModalityStmt, GivenStmt, ParamStmt, ObjectiveStmt, Setting, EvaluateStmt, InferStmt, StageClause,
             StageStmt):
    _cls.model_rebuild()


def word_option(opts: dict, name: str, allowed: tuple[str, ...], default: str, fail, what: str) -> str:
    """The bare word given as option `name` (e.g. `grad=detached`), checked against `allowed`;
    `fail(message, node, *hints)` reports a located error for anything else."""
    if name not in opts:
        return default
    node = opts[name]
    value = node.id if isinstance(node, Name) else None
    if value not in allowed:
        fail(f"unknown {name} {what}", node, one_of(allowed), did_you_mean(str(value), allowed))
    return value


def source_text(source: str, node: Node) -> str:
    """The source text of a node (single line), for messages and printouts."""
    lines = source.splitlines()
    s = node.span
    if s.line == s.end_line and 1 <= s.line <= len(lines):
        return lines[s.line - 1][s.column - 1:s.end_column - 1]
    if 1 <= s.line <= len(lines):
        picked = [lines[s.line - 1][s.column - 1:]] + lines[s.line:s.end_line - 1]
        if s.end_line <= len(lines):
            picked.append(lines[s.end_line - 1][:s.end_column - 1])
        return " ".join(p.strip() for p in picked)
    return "?"
