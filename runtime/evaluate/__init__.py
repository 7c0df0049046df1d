"""Evaluation of a trained compiled model (methods.md, evaluation protocols).

`evaluate(model, dataset, EvalConfig(...))` runs the metrics the spec asks for; each metric also
lives in its own module with a function that can be checked against an oracle.
"""
from .suite import ALL_METRICS, EvalConfig, Evaluation, evaluate

__all__ = ["ALL_METRICS", "EvalConfig", "Evaluation", "evaluate"]
