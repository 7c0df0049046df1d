"""Executes compiled mmspec models: data, training, evaluation and reports.

The runtime sees a model only through `mmspec.compiled.CompiledModel`; it never branches on which
method a spec describes, so a new method needs a new spec and no new code here.
"""
import os

# On a small CPU machine shared with any other busy process, OpenMP threads that spin while waiting
# make every convolution wait for a descheduled sibling: 2 threads become 2-5x slower than 1.
# Passive waiting removes that cliff. It only takes effect if set before torch is imported, so
# the `mmspec` entry point should set it too; an explicit user setting always wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
