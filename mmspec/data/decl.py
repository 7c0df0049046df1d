"""A spec's own data, as declared: which file each modality, label and split comes from.

    data cite {
        files "cite"                                  # next to the spec, else under the data root
        modality rna     from "cite.npz"["rna"]
        modality protein from "cite.npz"["protein"]
        label cell_type  from "meta.csv"["cell_type"]
        split            from "meta.csv"["split"]     # or: split train 0.8, test 0.2 seed 0
    }

These nodes are what the parser builds and what both `mmspec check` (which opens the files'
headers, `headers.py`) and the runtime's loader read; they hold no data. Every node keeps its span,
so a problem found in a file is reported at the spec line that named it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Span

TEXT_MODES = ("chars", "words")
MEMORY_MODES = ("auto", "resident", "stream")
SPLIT_NAMES = ("train", "validation", "test")


@dataclass(frozen=True)
class Source:
    """One thing read from a file: the file (relative to the data folder), what is selected in it
    (npz/HDF5 keys, table columns with * and ? patterns), an optional text mode, and the column
    that names each row's item (`by`, for tables aligned with image folders by file name)."""

    path: str
    select: tuple[str, ...] = ()
    mode: str | None = None
    by: str | None = None
    span: Span = field(default_factory=Span.unknown)

    def describe(self) -> str:
        sel = f"[{', '.join(repr(s) for s in self.select)}]" if self.select else ""
        return f'"{self.path}"{sel}'


@dataclass(frozen=True)
class ModalitySource:
    name: str
    source: Source
    span: Span = field(default_factory=Span.unknown)


@dataclass(frozen=True)
class LabelDecl:
    """One class label (`label NAME from ...`) or several binary attributes (`attributes from ...`)."""

    name: str
    source: Source
    multi: bool = False
    span: Span = field(default_factory=Span.unknown)


@dataclass(frozen=True)
class SplitDecl:
    """How items fall into train/validation/test.

    kind "column": one value per item (train/validation/test, or 0/1/2 as CelebA's partition file);
    kind "indices": one file of item indices per split; kind "fractions": a seeded permutation cut
    into the given fractions, in the order written.
    """

    kind: str
    source: Source | None = None
    parts: tuple[tuple[str, object], ...] = ()       # (split, Source | float) in written order
    seed: int = 0
    span: Span = field(default_factory=Span.unknown)


@dataclass(frozen=True)
class DataDecl:
    """A `data NAME { ... }` block. `spec_file` is the spec's path: relative folders start there."""

    name: str
    modalities: tuple[ModalitySource, ...] = ()
    files: str | None = None
    files_span: Span | None = None
    labels: tuple[LabelDecl, ...] = ()
    split: SplitDecl | None = None
    memory: str = "auto"
    memory_span: Span | None = None
    workers: int | None = None          # DataLoader workers for streamed data (None: automatic)
    layout: str | None = None           # a known file layout (`layout mimic_cxr`, mimic.py), else None
    layout_skip: str | None = None      # `layout mimic_cxr skip unpaired`
    layout_span: Span | None = None
    spec_file: str = "<spec>"
    span: Span = field(default_factory=Span.unknown)
    problems: tuple[tuple[str, Span, str | None], ...] = ()     # clause mistakes found while parsing

    def modality(self, name: str) -> ModalitySource | None:
        return next((m for m in self.modalities if m.name == name), None)

    @property
    def label(self) -> LabelDecl | None:
        return next((l for l in self.labels if not l.multi), None)

    @property
    def attributes(self) -> LabelDecl | None:
        return next((l for l in self.labels if l.multi), None)

    def where(self, span: Span | None) -> str:
        """'spec.mms:12:5', the prefix of a runtime error about the item declared at `span`."""
        span = span or self.span
        return f"{self.spec_file}:{span.line}:{span.column}"


@dataclass(frozen=True)
class Declared:
    """A modality as the spec declares it."""

    kind: str                   # "image" | "text" | "vector"
    shape: tuple[int, ...]
    span: Span = field(default_factory=Span.unknown)
