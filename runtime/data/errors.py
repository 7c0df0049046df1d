"""The one exception the data layer raises for problems a user can fix.

`DataError`'s message is the whole story for the person at the terminal: which file, where it was
looked for, what is wrong with it and what to do (point --data-root elsewhere, or use the embedded
stand-in). The CLI prints it and exits 1. It subclasses the runtime's `RunError`, so a training or
evaluation command that already reports `RunError` cleanly reports data problems too.
"""
from __future__ import annotations

from runtime.errors import RunError


class DataError(RunError):
    """A missing, truncated or corrupt dataset file, or a bad dataset request."""


STANDIN_HINT = (
    "To run without these files, use the embedded stand-in: `--source standin` "
    "(or `--source auto`, the default, which falls back to it and says so)."
)
