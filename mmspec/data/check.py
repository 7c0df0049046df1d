"""The data stage of `mmspec check`: does the spec fit its dataset?

For a built-in dataset (`data mst`) the modality names, kinds and shapes come from `builtin.py`;
for a spec's own files (`data NAME { ... }`) from the files' headers (`plan.inspect_data`). Every
mismatch is a located diagnostic: a modality the data lacks or one it has that the spec does not
declare, a shape or kind that disagrees, labels missing for a metric that needs them, splits that
overlap. Nothing is loaded; no torch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import DiagnosticSink, Span, did_you_mean, one_of
from .builtin import ATTRIBUTES, BUILTIN, describe, shape_fits
from .decl import DataDecl, Declared

if TYPE_CHECKING:
    from .plan import DataPlan

LABEL_METRICS = ("coherence", "latent_probe")
ATTRIBUTE_METRICS = ("attribute_probe",)      # several attributes per item (runtime/evaluate/multilabel.py)


def check_data(data: DataDecl | str, data_span: Span, declared: dict[str, Declared],
               metrics: dict[str, Span], sink: DiagnosticSink, data_root=None) -> DataPlan | None:
    """Record every mismatch between the spec and its data in `sink` (see the module docstring).
    `metrics`: the evaluate line's metric names and their spans."""
    if isinstance(data, str):
        _check_builtin(data, data_span, declared, sink)
        _check_builtin_attributes(data, metrics, sink)
        return None
    from .formats import DataFileError                 # numpy and the readers: only for own files
    from .plan import inspect_data, split_rows
    for message, span, hint in data.problems:
        sink.error(message, span, hint=hint)
    plan = inspect_data(data, declared, data_root)
    for problem in plan.problems:
        sink.error(problem.message, problem.span or data.span, hint=problem.hint)
    if data.layout is not None:                      # the layout gives modalities, labels and items
        _check_split_given(data, sink)
        return plan
    if data.attributes is None:
        for metric, span in metrics.items():
            if metric in ATTRIBUTE_METRICS:
                sink.error(f"{metric} needs several attributes per item, and the data block declares none", span,
                           hint=f"add `attributes from \"FILE\"[\"COLUMN\", ...]` (0/1 columns) to the data "
                                f"block on line {data.span.line}, or evaluate latent_probe on the label")
    if not data.labels:
        for metric, span in metrics.items():
            if metric in LABEL_METRICS:
                sink.error(f"{metric} needs labels, and the data block declares none", span,
                           hint=f"add `label NAME from \"FILE\"[\"COLUMN\"]` (or `attributes from ...`) to "
                                f"the data block on line {data.span.line}")
    if data.split is None:
        _check_split_given(data, sink)
    elif data.split.kind == "indices" and not plan.problems:
        try:
            split_rows(plan)
        except DataFileError as err:
            sink.error(err.message, err.span or data.split.span)
    return plan


def _check_split_given(data: DataDecl, sink: DiagnosticSink) -> None:
    if data.split is None:
        sink.error("the data block has no split", data.span,
                   "`split train 0.8, test 0.2 seed 0`, `split from \"FILE\"[\"COLUMN\"]`, or "
                   "`split train from \"FILE\", test from \"FILE\"`")


def check_program_data(program, data_root=None, folder=None) -> DataPlan | None:
    """The data stage for a checked Program: raises a SpecError listing every mismatch.
    `folder`: the data folder when already known (a run's), instead of the block's `files`."""
    from dataclasses import replace

    from ..syntax import ast

    spec = program.spec
    stmt = next(iter(spec.of_type(ast.DataStmt)), None)
    if stmt is None:
        return None
    declared = {s.name: Declared(s.kind.name, tuple(s.kind.dims), s.name_span)      # given data is data too
                for s in spec.of_type(ast.ModalityStmt) + spec.of_type(ast.GivenStmt)}
    metrics = {}
    for s in spec.of_type(ast.EvaluateStmt):
        for item in s.items:
            name = getattr(item, "id", None) or getattr(item, "func", None)
            if name:
                metrics.setdefault(name, item.span)
    data = stmt.block if stmt.block is not None else stmt.name
    if folder is not None and not isinstance(data, str):
        data = replace(data, files=str(folder))
    sink = DiagnosticSink(spec.source, spec.filename)
    plan = check_data(data, stmt.span, declared, metrics, sink, data_root)
    sink.raise_if_any()
    return plan


def _check_builtin(name: str, span: Span, declared: dict[str, Declared], sink: DiagnosticSink) -> None:
    if name not in BUILTIN:
        sink.error(f"unknown dataset '{name}'", span, one_of(BUILTIN),
                   did_you_mean(name, BUILTIN) or
                   f"for your own files write `data {name} {{ modality NAME from \"FILE\" ... }}` "
                   f"(docs/data.md)")
        return
    known = BUILTIN[name]
    for modality, want in declared.items():
        if modality not in known:
            sink.error(f"dataset '{name}' has no modality '{modality}'", want.span,
                       "one of: " + ", ".join(f"{m}: {describe(*k)}" for m, k in known.items()),
                       did_you_mean(modality, known))
            continue
        kind, shape = known[modality]
        if want.kind != kind or not shape_fits(tuple(want.shape), shape):
            sink.error(f"dataset '{name}' has {modality}: {describe(kind, shape)}; the spec declares "
                       f"{describe(want.kind, tuple(want.shape))}", want.span)


def _check_builtin_attributes(name: str, metrics: dict[str, Span], sink: DiagnosticSink) -> None:
    if name not in BUILTIN or name in ATTRIBUTES:
        return
    for metric, span in metrics.items():
        if metric in ATTRIBUTE_METRICS:
            sink.error(f"{metric} needs several attributes per item, and dataset '{name}' has one class label",
                       span, hint="latent_probe reads the label; datasets with attributes: "
                       + ", ".join(f"{d} ({what})" for d, what in ATTRIBUTES.items()))
