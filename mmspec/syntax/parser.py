"""Text -> AST: the lark grammar and a Transformer into located pydantic nodes.

Syntax errors become `SpecError`s with file:line:col, the offending line, a caret, what the parser
expected in words, and the nearest keyword when a name looks like a misspelt one.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import lark
from lark import Lark, Token, Transformer, v_args

from . import ast
from ..data.syntax import DATA_WORDS, DataBlockTransformer
from ..errors import Diagnostic, SpecError, Span
from .diagnostics import syntax_diagnostic
from .limits import check_nesting

KEYWORDS = ("model", "data", "latent", "prior", "posterior", "modality", "param", "maximize",
            "minimize", "train", "evaluate", "infer", "stage", "given")
STAGE_WORDS = ("objective", "freeze", "select", "epochs", "batch", "optimizer", "scheduler")   # inside `stage {}`

_FRIENDLY = {
    "NAME": "a name", "INT": "an integer", "NUMBER": "a number", "STRING": "a string",
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','", "COLON": "':'",
    "EQUAL": "'='", "TILDE": "'~'", "STAR": "'*'", "ARROW": "'->'", "DBAR": "'||'",
    "ADDOP": "'+' or '-'", "MULOP": "'*' or '/'", "MINUS": "'-'", "CIRCUMFLEX": "'^'",
    "BIGOP": "'sum' or 'mean'", "DIRECTION": "'maximize' or 'minimize'", "$END": "end of file",
    "STAGE_SETTING": "'epochs', 'batch', 'optimizer' or 'scheduler'", "LBRACE": "'{'", "RBRACE": "'}'",
    "TEXT_MODE": "'chars' or 'words'",
}


@lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = resources.files("mmspec.syntax").joinpath("grammar.lark").read_text()
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _span(meta_or_token) -> ast.Span:
    m = meta_or_token
    return Span(m.line, m.column, m.end_line, m.end_column)


def _tok_span(tok: Token) -> Span:
    return Span(tok.line, tok.column, tok.end_line, tok.end_column)


@v_args(meta=True)
class _ToAst(DataBlockTransformer):
    """Builds AST nodes; every node keeps the span of the text it came from."""

    def __init__(self, filename: str = "<spec>"):
        super().__init__()
        self.filename = filename

    # -- expressions
    def number(self, meta, items):
        return ast.Number(span=_span(meta), value=float(items[0]), text=str(items[0]))

    def name(self, meta, items):
        return ast.Name(span=_span(meta), id=str(items[0]))

    def star(self, meta, items):
        return ast.Star(span=_span(meta))

    def string(self, meta, items):
        return ast.String(span=_span(meta), value=str(items[0])[1:-1])

    def indexed(self, meta, items):
        base, index = items
        return ast.Indexed(span=_span(meta), base=str(base), base_span=_tok_span(base), index=index)

    def call(self, meta, items):
        func, arglist = items
        args = arglist or []
        return ast.Call(span=_span(meta), func=str(func), func_span=_tok_span(func),
                        args=[a for a in args if not isinstance(a, ast.KwArg)],
                        kwargs=[a for a in args if isinstance(a, ast.KwArg)])

    def arglist(self, meta, items):
        return list(items)

    def kwarg(self, meta, items):
        return ast.KwArg(span=_span(meta), name=str(items[0]), value=items[1])

    def list(self, meta, items):
        return ast.ListLit(span=_span(meta), items=[i for i in items if i is not None])

    def arrow(self, meta, items):
        return ast.Arrow(span=_span(meta), left=items[0], right=items[2])

    def dbar(self, meta, items):
        return ast.DBar(span=_span(meta), left=items[0], right=items[2])

    def binop(self, meta, items):
        left, op, right = items
        return ast.BinOp(span=_span(meta), op=str(op), left=left, right=right)

    def neg(self, meta, items):
        return ast.Neg(span=_span(meta), operand=items[0])

    def pow(self, meta, items):
        return ast.Pow(span=_span(meta), base=items[0], exponent=items[1])

    def tuple(self, meta, items):
        return ast.Tuple(span=_span(meta), items=list(items))

    def bigop(self, meta, items):
        kind, var, domain, body = items
        return ast.BigOp(span=_span(meta), kind=str(kind), var=str(var), domain=domain, body=body)

    # -- statements
    def start(self, meta, items):
        return list(items)

    def model_stmt(self, meta, items):
        return ast.ModelStmt(span=_span(meta), name=str(items[0]))

    def data_stmt(self, meta, items):
        return ast.DataStmt(span=_span(meta), name=str(items[0]),
                            block=self.data_decl(items[0], _span(meta), items[1]))

    def latent_index(self, meta, items):
        return str(items[0])

    def latent_stmt(self, meta, items):
        name, index, dim = items
        return ast.LatentStmt(span=_span(meta), name=str(name), index_var=index, dim=dim)

    def decl_index(self, meta, items):
        return ast.DeclIndex(span=_span(meta), var=str(items[0]), domain=items[1])

    def on_clause(self, meta, items):
        return items[0]

    def _dist(self, role, meta, items):
        name, index, expr, on = items
        return ast.DistStmt(span=_span(meta), role=role, name=str(name), name_span=_tok_span(name),
                            index=index, expr=expr, on=on)

    def prior_stmt(self, meta, items):
        return self._dist("prior", meta, items)

    def posterior_stmt(self, meta, items):
        return self._dist("posterior", meta, items)

    def kind(self, meta, items):
        return ast.Kind(span=_span(meta), name=str(items[0]), dims=[int(i) for i in items[1:]])

    def net_option(self, meta, items):
        return ("net", items[0])

    def weight_option(self, meta, items):
        return ("weight", items[0])

    def reads_option(self, meta, items):
        return ("reads", items[0])

    def given_option(self, meta, items):
        return ("given", items[0])

    def modality_stmt(self, meta, items):
        name, kind, likelihood, *options = items
        opts = {k: v for k, v in options}
        return ast.ModalityStmt(span=_span(meta), name=str(name), name_span=_tok_span(name),
                                kind=kind, likelihood=likelihood, net=opts.get("net"),
                                weight=opts.get("weight"), reads=opts.get("reads"), given=opts.get("given"))

    def given_stmt(self, meta, items):
        name, kind, *options = items
        opts = {k: v for k, v in options}
        return ast.GivenStmt(span=_span(meta), name=str(name), name_span=_tok_span(name), kind=kind,
                             net=opts.get("net"))

    def param_stmt(self, meta, items):
        return ast.ParamStmt(span=_span(meta), name=str(items[0]), expr=items[1])

    def objective_stmt(self, meta, items):
        direction, name, expr = items
        return ast.ObjectiveStmt(span=_span(meta), direction=str(direction),
                                 name=str(name) if name is not None else None, expr=expr)

    def setting(self, meta, items):
        return ast.Setting(span=_span(meta), name=str(items[0]), value=items[1])

    def train_stmt(self, meta, items):
        return ast.TrainStmt(span=_span(meta), settings=list(items))

    def evaluate_stmt(self, meta, items):
        return ast.EvaluateStmt(span=_span(meta), items=list(items))

    def stage_stmt(self, meta, items):
        name, *clauses = items
        return ast.StageStmt(span=_span(meta), name=str(name), name_span=_tok_span(name), clauses=clauses)

    def stage_objective(self, meta, items):
        tok = items[0]
        return ast.StageClause(span=_span(meta), kind="objective", items=[ast.Name(span=_tok_span(tok), id=str(tok))])

    def stage_train(self, meta, items):
        return ast.StageClause(span=_span(meta), kind="train", items=list(items))

    def stage_freeze(self, meta, items):
        return ast.StageClause(span=_span(meta), kind="freeze", items=list(items))

    def stage_select(self, meta, items):
        mode, name = items
        return ast.StageClause(span=_span(meta), kind="select", mode=ast.Name(span=_tok_span(mode), id=str(mode)),
                               items=[ast.Name(span=_tok_span(name), id=str(name))])

    def stage_setting(self, meta, items):
        return ast.Setting(span=_span(meta), name=str(items[0]), value=items[1])

    def stage_settings(self, meta, items):
        return ast.StageClause(span=_span(meta), kind="settings", settings=list(items))

    def infer_all(self, meta, items):
        return ("all", [])

    def infer_any(self, meta, items):
        return ("any", [str(items[0])])

    def infer_exact(self, meta, items):
        return ("exact", [str(i) for i in items])

    def infer_stmt(self, meta, items):
        (pattern, names), expr, on = items
        return ast.InferStmt(span=_span(meta), pattern=pattern, names=names, expr=expr, on=on)


def parse(source: str, filename: str = "<spec>") -> ast.Spec:
    """Parse spec text into an AST, or raise a located SpecError."""
    try:
        tree = _lark().parse(source)
    except lark.exceptions.UnexpectedInput as err:
        raise SpecError([_syntax_diagnostic(err, source)], source, filename) from None
    check_nesting(tree, source, filename)           # before the recursive walks below
    statements = _ToAst(filename).transform(tree)
    return ast.Spec(filename=filename, source=source, statements=statements)


def _syntax_diagnostic(err: lark.exceptions.UnexpectedInput, source: str) -> Diagnostic:
    return syntax_diagnostic(err, source, _FRIENDLY, KEYWORDS + STAGE_WORDS + DATA_WORDS,
                             hint_for=lambda kind, text, line: _spec_hint(kind, text, source, line))


def _spec_hint(kind: str, text: str, source: str, line: int) -> str | None:
    if kind == "STRING" and source.splitlines()[line - 1].lstrip().startswith("data "):
        return 'own files are described in a block: data NAME { modality M from "FILE" ... } (docs/data.md)'
    if kind == "NAME" and text in ("rec", "kl", "elbo"):
        return "objective terms go after 'maximize' or 'minimize'"
    return None
