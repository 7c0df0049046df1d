"""mmspec: a declarative spec language and compiler for multimodal VAEs.

    text --parse--> AST --check--> model graph + objective IR --lower--> torch

`compile_spec` runs the whole pipeline and returns the object the runtime trains.
"""
from __future__ import annotations

from pathlib import Path

from .errors import SpecError

__version__ = "0.1.0"


def check_spec(path_or_text, overrides: dict[str, str] | None = None, filename: str | None = None):
    """Parse and check a spec (a path, or the text itself) into a Program, or raise SpecError."""
    from .check import check_file, check_text
    if isinstance(path_or_text, Path) or (isinstance(path_or_text, str) and "\n" not in path_or_text
                                          and path_or_text.endswith(".mms")):
        return check_file(path_or_text, overrides)
    return check_text(path_or_text, filename or "<spec>", overrides)


def compile_spec(path_or_text, overrides: dict[str, str] | None = None, filename: str | None = None):
    """The whole pipeline: spec -> CompiledSpec (networks + loss + encode/decode for evaluation)."""
    from .lower.model import CompiledSpec
    return CompiledSpec(check_spec(path_or_text, overrides, filename))


__all__ = ["SpecError", "check_spec", "compile_spec", "__version__"]
