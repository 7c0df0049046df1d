"""Phase 2, check: AST -> Program (model graph + objective IR + settings), or a located SpecError."""
from .checker import Checker, Program, check_file, check_text

__all__ = ["Checker", "Program", "check_file", "check_text"]
