"""Executes compiled mmspec models: data, training, evaluation and reports.

The runtime sees a model only through `mmspec.compiled.CompiledModel`; it never branches on which
method a spec describes, so a new method needs a new spec and no new code here.
"""
