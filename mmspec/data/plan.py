"""A `data { ... }` block against the spec's modalities and the files' headers.

`inspect_data` opens every declared source's header (`formats.header`), and decides, for each
modality, how the file's arrays become the batch tensors the spec declares (`Layout`). It collects
every mismatch as a located `Problem` instead of stopping at the first, so `mmspec check` can report
them all; the runtime's loader calls the same function and raises the first. `split_rows` assigns
items to train/validation/test (numpy only), shared by the loader and by check's overlap test.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import Span
from . import formats
from .decl import SPLIT_NAMES, DataDecl, Declared, LabelDecl, Source
from .formats import DataFileError, Header

SPLIT_CODES = {"train": "train", "training": "train", "0": "train", "validation": "validation",
               "valid": "validation", "val": "validation", "1": "validation", "test": "test", "2": "test"}


@dataclass(frozen=True)
class Problem:
    message: str
    span: Span | None
    hint: str | None = None


@dataclass(frozen=True)
class Layout:
    """How one modality's source becomes the declared tensor.

    how: "images" (a folder, converted to `mode`), "nchw" | "nhwc" | "nhw" (image arrays), "vector",
    "tokens" (integer [N, L]), "onehot" (numbers [N, L, V]), "captions" (a text file).
    """

    modality: str
    header: Header
    declared: Declared
    how: str
    mode: str | None = None


@dataclass
class DataPlan:
    decl: DataDecl
    folder: Path
    layouts: dict[str, Layout] = field(default_factory=dict)
    labels: list[tuple[LabelDecl, Header]] = field(default_factory=list)
    split_headers: dict[str, Header] = field(default_factory=dict)
    n_items: int | None = None
    item_ids: tuple[str, ...] | None = None      # image-folder stems, when items are matched by name
    index: object = None                         # a file layout's items (`layout mimic_cxr`: mimic.MimicIndex)
    problems: list[Problem] = field(default_factory=list)

    def fail(self, message: str, span: Span | None, hint: str | None = None) -> None:
        self.problems.append(Problem(message, span, hint))


def _fmt_shape(shape) -> str:
    return "x".join(str(s) for s in shape) if shape else "scalar"


def _layout(name: str, hdr: Header, want: Declared) -> tuple[str, str | None] | str:
    """(how, mode) when `hdr` can be the declared modality, else the reason it cannot."""
    kind, shape = want.kind, tuple(want.shape)
    declared = f"{kind}({', '.join(str(s) for s in shape)})"
    if hdr.dtype in ("U", "O"):
        return f"{hdr.what} holds strings, which cannot be the {declared} modality '{name}'"
    if kind == "image":
        c, h, w = shape
        if hdr.fmt == "images":
            if hdr.item_shape[1:] != (h, w):
                return (f"the images in {hdr.path} are {hdr.item_shape[2]}x{hdr.item_shape[1]} pixels "
                        f"(width x height, from {hdr.item_ids[0]}); the spec declares {declared}, {w}x{h}")
            if c not in (1, 3):
                return f"an image folder gives 1 (grey) or 3 (RGB) channels; the spec declares {c}"
            return ("images", "L" if c == 1 else "RGB")
        if hdr.dtype == "text":
            return f"{hdr.what} is text, not the {declared} modality '{name}'"
        got = hdr.item_shape
        for how, layout in (("nchw", (c, h, w)), ("nhwc", (h, w, c)), ("nhw", (h, w) if c == 1 else None)):
            if layout is not None and got == layout:
                return (how, None)
        return (f"{hdr.what} has items of shape {_fmt_shape(got)}; the spec declares {declared}, "
                f"which needs {c}x{h}x{w} (channels first), {h}x{w}x{c}"
                + (f" or {h}x{w}" if c == 1 else ""))
    if kind == "vector":
        if hdr.fmt in ("images",) or hdr.dtype == "text":
            return f"{hdr.what} is not a table or array, so it cannot be the {declared} modality '{name}'"
        got = hdr.item_shape
        if got == shape or (got == () and shape == (1,)):
            return ("vector", None)
        size = got[0] if len(got) == 1 else _fmt_shape(got)
        what = "columns" if hdr.fmt == "table" else "values per item"
        return f"{hdr.what} gives {size} {what}; the spec declares {declared}"
    length, vocab = shape
    if hdr.dtype == "text":
        return ("captions", hdr.source.mode)
    if hdr.fmt == "images":
        return f"{hdr.path} is a folder of images, not the {declared} modality '{name}'"
    if hdr.item_shape == (length,) and hdr.dtype in ("u", "i"):
        return ("tokens", None)
    if hdr.item_shape == (length, vocab):
        return ("onehot", None)
    return (f"{hdr.what} has items of shape {_fmt_shape(hdr.item_shape)} ({hdr.dtype}); the spec declares "
            f"{declared}: integer tokens {length}, one-hot {length}x{vocab}, or a caption file")


def _header(plan: DataPlan, source: Source) -> Header | None:
    try:
        return formats.header(source, plan.folder)
    except DataFileError as err:
        plan.fail(err.message, err.span or source.span)
        return None


def inspect_data(decl: DataDecl, declared: dict[str, Declared], data_root=None) -> DataPlan:
    """Headers of every source, checked against the declared modalities (see the module docstring)."""
    try:
        folder = formats.data_folder(decl, data_root)
    except DataFileError as err:
        plan = DataPlan(decl, Path("."))
        plan.fail(err.message, err.span)
        return plan
    plan = DataPlan(decl, folder)
    if decl.layout is not None:
        return _inspect_layout(plan, declared)
    _modalities(plan, declared)
    for label in decl.labels:
        hdr = _header(plan, label.source)
        if hdr is not None and _label_ok(plan, label, hdr):
            plan.labels.append((label, hdr))
    _split_headers(plan)
    _item_count(plan)
    return plan


def _inspect_layout(plan: DataPlan, declared: dict[str, Declared]) -> DataPlan:
    """A known layout (mimic.py): its modalities, labels and items come from the layout's files."""
    from . import mimic

    for message, span, hint in mimic.check_declared(plan.decl, declared):
        plan.fail(message, span, hint)
    if plan.problems:
        return plan
    try:
        plan.index = mimic.build_index(plan.decl, plan.folder)
    except DataFileError as err:
        plan.fail(err.message, err.span)
        return plan
    plan.n_items = len(plan.index.studies)
    if plan.decl.split is not None:
        _split_headers(plan)
    return plan


def _modalities(plan: DataPlan, declared: dict[str, Declared]) -> None:
    decl = plan.decl
    for m in decl.modalities:
        if m.name not in declared:
            import difflib
            near = difflib.get_close_matches(m.name, list(declared), n=1)
            plan.fail(f"the data block names modality '{m.name}', which the spec does not declare",
                      m.span, f"did you mean '{near[0]}'?" if near else None)
            continue
        hdr = _header(plan, m.source)
        if hdr is None:
            continue
        result = _layout(m.name, hdr, declared[m.name])
        if isinstance(result, str):
            plan.fail(result, m.source.span,
                      f"the modality is declared on line {declared[m.name].span.line}")
        else:
            plan.layouts[m.name] = Layout(m.name, hdr, declared[m.name], *result)
    for name, want in declared.items():
        if decl.modality(name) is None:
            plan.fail(f"modality '{name}' has no source in the data block on line {decl.span.line}",
                      want.span, f"add `modality {name} from \"FILE\"` to the data block")


def _label_ok(plan: DataPlan, label: LabelDecl, hdr: Header) -> bool:
    if hdr.dtype in ("image", "text") or hdr.dtype == "O":
        plan.fail(f"{hdr.what} cannot be a label (it is not a column or array of values)", label.source.span)
        return False
    if label.multi:
        if len(hdr.item_shape) != 1 or hdr.dtype == "U":
            plan.fail(f"attributes need one 0/1 column per attribute; {hdr.what} has items of shape "
                      f"{_fmt_shape(hdr.item_shape)} ({hdr.dtype})", label.source.span)
            return False
    elif hdr.item_shape not in ((), (1,)):
        plan.fail(f"a label is one value per item; {hdr.what} has items of shape "
                  f"{_fmt_shape(hdr.item_shape)}", label.source.span,
                  "several binary labels are `attributes from ...`")
        return False
    return True


def _split_headers(plan: DataPlan) -> None:
    split = plan.decl.split
    if split is None:
        return
    if split.kind == "column":
        if split.source.by is not None:
            plan.fail("a split column is read in item order; `by` matches rows by name for labels and "
                      "modalities only", split.source.span)
            return
        hdr = _header(plan, split.source)
        if hdr is not None:
            if hdr.item_shape not in ((), (1,)) or hdr.dtype in ("image", "text", "f", "O"):
                plan.fail(f"a split column holds one of train/validation/test (or 0/1/2) per item; "
                          f"{hdr.what} has items of shape {_fmt_shape(hdr.item_shape)} ({hdr.dtype})",
                          split.source.span)
            else:
                plan.split_headers["column"] = hdr
        return
    names = [name for name, _ in split.parts]
    for name in names:
        if name not in SPLIT_NAMES:
            plan.fail(f"unknown split '{name}'", split.span, "one of: " + ", ".join(SPLIT_NAMES))
        elif names.count(name) > 1:
            plan.fail(f"split '{name}' is given twice", split.span)
    for needed in ("train", "test"):
        if needed not in names:
            plan.fail(f"the split has no '{needed}' part", split.span)
    if split.kind == "fractions":
        fractions = [float(f) for _, f in split.parts]
        if any(not 0 < f <= 1 for f in fractions):
            plan.fail("split fractions must be between 0 and 1", split.span)
        elif sum(fractions) > 1 + 1e-9:
            plan.fail(f"the split fractions add up to {sum(fractions):g} > 1: the splits would overlap",
                      split.span)
        return
    for name, source in split.parts:
        hdr = _header(plan, source)
        if hdr is not None:
            if hdr.item_shape != () or hdr.dtype not in ("u", "i"):
                plan.fail(f"a split index file holds one integer item index per row; {hdr.what} has "
                          f"items of shape {_fmt_shape(hdr.item_shape)} ({hdr.dtype})", source.span)
            else:
                plan.split_headers[name] = hdr


def _item_count(plan: DataPlan) -> None:
    """Every source has one row per item; image folders must hold the same file names."""
    folders = [l.header for l in plan.layouts.values() if l.how == "images"]
    if folders:
        first = folders[0]
        plan.item_ids = first.item_ids
        for other in folders[1:]:
            if other.item_ids != first.item_ids:
                a, b = set(first.item_ids), set(other.item_ids)
                only = sorted(a - b)[:3] or sorted(b - a)[:3]
                where = first.path if only and only[0] in a else other.path
                plan.fail(f"image folders {first.path.name}/ and {other.path.name}/ do not hold the same "
                          f"file names (e.g. {', '.join(only)} only in {where.name}/); items are matched "
                          f"by name", other.source.span)
    rows: list[tuple[Header, Span | None]] = [(l.header, l.header.source.span) for l in plan.layouts.values()
                                              if l.how != "images"]
    rows += [(hdr, label.source.span) for label, hdr in plan.labels if label.source.by is None]
    if "column" in plan.split_headers:
        rows.append((plan.split_headers["column"], plan.decl.split.source.span))
    n = len(plan.item_ids) if plan.item_ids is not None else None
    reference = folders[0].what if folders else None
    for hdr, span in rows:
        if hdr.source.by is not None:
            continue
        if n is None:
            n, reference = hdr.n_items, hdr.what
        elif hdr.n_items != n:
            blank = (" (a CSV's blank lines are skipped, so an empty cell in a one-column CSV is a lost row)"
                     if hdr.fmt == "table" and hdr.path.suffix.lower() in (".csv", ".tsv") else "")
            plan.fail(f"{hdr.what} has {hdr.n_items} items, but {reference} has {n}: every source needs "
                      f"one row per item, in the same order{blank}", span)
    plan.n_items = n


def split_rows(plan: DataPlan) -> dict[str, np.ndarray]:
    """Item indices of each split, in increasing order; problems raise a located DataFileError."""
    split, n = plan.decl.split, int(plan.n_items or 0)
    if split is None:
        raise DataFileError("the data block has no `split`: add `split train 0.8, test 0.2 seed 0`, "
                            "a split column or index files", plan.decl.span)
    if plan.index is not None:
        from .mimic import split_by_subject
        return split_by_subject(plan.index, plan.decl)
    if split.kind == "fractions":
        order = np.random.default_rng(split.seed).permutation(n)
        out, start = {}, 0
        for name, fraction in split.parts:
            count = int(round(float(fraction) * n))
            out[name] = np.sort(order[start:start + count])
            start += count
        return _nonempty(out, split.span)
    if split.kind == "column":
        values = formats.read(split.source, plan.folder)
        codes = np.array([SPLIT_CODES.get(str(v).strip().lower(), "") for v in values.reshape(-1)])
        bad = np.flatnonzero(codes == "")
        if bad.size:
            raise DataFileError(f"{plan.split_headers['column'].what}: row {int(bad[0])} has split value "
                                f"{values.reshape(-1)[bad[0]]!r}; use train/validation/test (or 0/1/2)",
                                split.source.span)
        return _nonempty({s: np.flatnonzero(codes == s) for s in SPLIT_NAMES if (codes == s).any()},
                         split.span)
    out = {}
    for name, source in split.parts:
        rows = np.asarray(formats.read(source, plan.folder)).reshape(-1).astype(np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            raise DataFileError(f"{source.describe()}: item index {int(rows.max() if rows.max() >= n else rows.min())} "
                                f"is outside 0..{n - 1}", source.span)
        if np.unique(rows).size != rows.size:
            raise DataFileError(f"{source.describe()}: an item index appears twice in the {name} split",
                                source.span)
        out[name] = np.sort(rows)
    names = list(out)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = np.intersect1d(out[a], out[b])
            if shared.size:
                raise DataFileError(f"the {a} and {b} splits overlap: {shared.size} item(s) are in both "
                                    f"(e.g. item {int(shared[0])})", split.span)
    return _nonempty(out, split.span)


def _nonempty(out: dict[str, np.ndarray], span: Span) -> dict[str, np.ndarray]:
    for name in ("train", "test"):
        if name not in out or out[name].size == 0:
            raise DataFileError(f"the {name} split is empty", span)
    return out
