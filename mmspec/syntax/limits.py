"""Limits on the shape of a spec, checked on the parse tree before anything walks it recursively.

The AST, the checker, the objective IR and `explain` are recursive tree walks; an expression
nested thousands of levels deep (5000-term sums, 500 nested `sg(`, 3000 leading minus signs)
would end in a RecursionError. Real specs nest a handful of levels, so such an expression is
refused with a located message naming the limit. The walk here is iterative.
"""
from __future__ import annotations

from lark import Tree

from ..errors import Diagnostic, SpecError, Span

MAX_NESTING = 100           # expression levels: operators, calls, indices, tuples, lists, arguments

# parse-tree nodes that are one level of an expression (the rest are statements and lists of arguments)
_EXPRESSION_NODES = frozenset({"binop", "neg", "pow", "call", "indexed", "tuple", "bigop", "list", "kwarg",
                               "arrow", "dbar"})


def check_nesting(tree: Tree, source: str, filename: str) -> None:
    """Raise a located SpecError for each statement whose expressions nest deeper than MAX_NESTING."""
    problems = []
    for statement in tree.children:
        if isinstance(statement, Tree):
            depth, deepest_root = _deepest(statement)
            if depth > MAX_NESTING:
                problems.append(_too_deep(deepest_root, depth))
    if problems:
        raise SpecError(problems, source, filename)


def _deepest(statement: Tree) -> tuple[int, Tree]:
    """The deepest nesting in a statement, and the outermost expression that holds it (no recursion)."""
    best, best_root = 0, statement
    stack: list[tuple[Tree, int, Tree]] = [(statement, 0, statement)]
    while stack:
        node, depth, root = stack.pop()
        if node.data in _EXPRESSION_NODES:
            root = node if depth == 0 else root
            depth += 1
        if depth > best:
            best, best_root = depth, root
        stack.extend((child, depth, root) for child in node.children if isinstance(child, Tree))
    return best, best_root


def _too_deep(node: Tree, depth: int) -> Diagnostic:
    meta = node.meta
    line, column = getattr(meta, "line", 1), getattr(meta, "column", 1)
    end_line, end_column = getattr(meta, "end_line", line), getattr(meta, "end_column", column + 1)
    return Diagnostic(f"this expression is nested {depth} levels deep; the nesting limit is {MAX_NESTING}",
                      Span(line, column, end_line, end_column),
                      hint="each operator, call and argument is one level, so a sum of more than "
                           f"{MAX_NESTING} terms passes it too: use `sum m: ...` or `mean S in subsets(*): ...`, "
                           "or name parts with `param`/`posterior`")
