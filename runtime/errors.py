"""User-facing runtime errors.

A `RunError` carries a message written for the person at the terminal (what went wrong, where, and
what to do). The CLI prints it and exits 1; no traceback reaches the user for a mistake in their
input, a missing file or a diverging run.
"""
from __future__ import annotations


class RunError(Exception):
    """A failure whose str() is the complete message to show the user."""


class Diverged(RunError):
    """The loss became NaN or infinite; the message names the term and the step."""

    def __init__(self, message: str, *, step: int, term: str):
        super().__init__(message)
        self.step = step
        self.term = term
