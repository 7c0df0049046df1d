"""Phase 3, explain: a checked Program as text, LaTeX, JSON or a drawing, with its family and cost."""
from .render import Explanation, render_json, render_latex, render_text

__all__ = ["Explanation", "render_json", "render_latex", "render_text"]
