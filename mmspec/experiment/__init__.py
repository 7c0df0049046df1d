"""Experiments (.mmx files): several specs x varied params x seeds, and the tables and plots of a paper.

    text --parse--> located statements --check--> Experiment --trials(budget)--> Trial list

Pure Python (no torch, no runtime): `mmspec check/explain` read experiments with it, and the
runtime's `mmspec sweep` and `mmspec report` run and lay them out.
"""
from __future__ import annotations

from .check import check_experiment_file, check_experiment_text
from .model import BUDGETS, Axis, Column, Experiment, Plot, SpecEntry, Table, Trial, format_value

SUFFIX = ".mmx"


def is_experiment_file(path) -> bool:
    return str(path).endswith(SUFFIX)


__all__ = ["BUDGETS", "SUFFIX", "Axis", "Column", "Experiment", "Plot", "SpecEntry", "Table", "Trial",
           "check_experiment_file", "check_experiment_text", "format_value", "is_experiment_file"]
