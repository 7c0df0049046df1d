"""lark's parse errors as located diagnostics, shared by the spec grammar and the experiment grammar.

Each grammar passes its own table of friendly token names and the words a misspelt name is matched
against; the spec grammar also adds hints that only make sense for specs (`hint_for`).
"""
from __future__ import annotations

from typing import Callable

import lark

from ..errors import Diagnostic, Span, closest


def describe_expected(expected: set[str], friendly: dict[str, str]) -> str:
    """'one of: ...' in words a user reads (token names through `friendly`, keywords quoted)."""
    words = sorted({friendly.get(t, f"'{t.lower()}'" if t.isupper() else t) for t in expected
                    if not t.startswith("__")})
    if len(words) > 12:
        words = words[:12] + ["..."]
    return "one of: " + ", ".join(words) if len(words) > 1 else (words[0] if words else "something else")


def syntax_diagnostic(err: lark.exceptions.UnexpectedInput, source: str, friendly: dict[str, str],
                      words: tuple[str, ...], near_types: tuple[str, ...] = ("NAME",),
                      hint_for: Callable[[str, str, int], str | None] | None = None) -> Diagnostic:
    """The located message for a parse error: what came, what was expected, the nearest of `words`
    for a misspelt name, else `hint_for(token type, text, line)`."""
    line, col = max(getattr(err, "line", 1) or 1, 1), max(getattr(err, "column", 1) or 1, 1)
    if isinstance(err, lark.exceptions.UnexpectedEOF):
        last = source.rstrip().splitlines() or [""]
        line, col = len(last), len(last[-1]) + 1
        return Diagnostic("unexpected end of file", Span(line, col, line, col + 1),
                          expected=describe_expected(set(err.expected), friendly))
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        char = source[err.pos_in_stream] if err.pos_in_stream < len(source) else "?"
        return Diagnostic(f"unexpected character {char!r}", Span(line, col, line, col + 1),
                          expected=describe_expected(set(err.allowed or ()), friendly))
    token = err.token
    text = str(token)
    span = Span(line, col, line, col + max(1, len(text)))
    expected = describe_expected(set(getattr(err, "expected", ()) or ()), friendly)
    if token.type == "$END":
        return Diagnostic("unexpected end of file", span, expected=expected)
    near = closest(text, words) if token.type in near_types else None
    if near and near != text:
        hint = f"did you mean '{near}'?"
    else:
        hint = hint_for(token.type, text, line) if hint_for else None
    return Diagnostic(f"unexpected {text!r}", span, expected=expected, hint=hint)
