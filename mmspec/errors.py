"""Located, user-facing errors.

Every mistake in a spec becomes a `Diagnostic` with a source span; `SpecError` carries all of a
file's diagnostics and formats them like a compiler would (file:line:col, the line, a caret, what
was expected, a suggestion), so no Python traceback ever reaches the user for a spec mistake.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable


@dataclass(frozen=True)
class Span:
    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def unknown() -> "Span":
        return Span(1, 1, 1, 1)


@dataclass
class Diagnostic:
    message: str
    span: Span
    expected: str | None = None
    hint: str | None = None


@dataclass
class SpecError(Exception):
    diagnostics: list[Diagnostic]
    source: str = ""
    filename: str = "<spec>"
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [format_diagnostic(d, self.source, self.filename) for d in self.diagnostics]
        parts += [f"{self.filename}: error: {note}" for note in self.notes]
        return "\n".join(parts)


def format_diagnostic(diag: Diagnostic, source: str, filename: str) -> str:
    lines = source.splitlines()
    span = diag.span
    out = [f"{filename}:{span.line}:{span.column}: error: {diag.message}"]
    if 1 <= span.line <= len(lines):
        text = lines[span.line - 1]
        gutter = f"{span.line:>5} | "
        out.append(gutter + text)
        width = span.end_column - span.column if span.end_line == span.line else len(text) - span.column + 1
        out.append(" " * (len(gutter) - 2) + "| " + " " * (span.column - 1) + "^" * max(1, width))
    if diag.expected:
        out.append(f"      = expected {diag.expected}")
    if diag.hint:
        out.append(f"      = hint: {diag.hint}")
    return "\n".join(out)


def closest(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The nearest known name, for `did you mean` hints on misspellings (difflib similarity >= cutoff)."""
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return found[0] if found else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    best = closest(name, candidates)
    return f"did you mean '{best}'?" if best else None


def one_of(candidates: Iterable[str]) -> str:
    names = sorted(set(candidates))
    if not names:
        return "nothing (none is declared)"
    return "one of: " + ", ".join(names)


class Invalid(Exception):
    """Raised after a diagnostic is recorded, to abandon the expression being elaborated."""


class DiagnosticSink:
    """Collects diagnostics so a check reports every error of a file, not just the first."""

    def __init__(self, source: str, filename: str):
        self.source = source
        self.filename = filename
        self.diagnostics: list[Diagnostic] = []

    def error(self, message: str, span: Span | None, expected: str | None = None,
              hint: str | None = None) -> None:
        diag = Diagnostic(message, span or Span.unknown(), expected, hint)
        if diag not in self.diagnostics:        # a declaration that fails is tried again at each use
            self.diagnostics.append(diag)

    def raise_if_any(self) -> None:
        if self.diagnostics:
            ordered = sorted(self.diagnostics, key=lambda d: (d.span.line, d.span.column))
            raise SpecError(ordered, self.source, self.filename)

    def fail(self, message: str, span: Span | None, expected: str | None = None,
             hint: str | None = None) -> "SpecError":
        self.error(message, span, expected, hint)
        return SpecError(list(self.diagnostics), self.source, self.filename)
