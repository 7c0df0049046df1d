"""A spec's own data: the `data NAME { ... }` block read into a `MultimodalDataset`.

The compiler's `mmspec.data` package knows the formats (numpy, pyarrow, h5py, Pillow) and checks the
block against the files' headers; this module turns what it reads into the same stores the built-in
datasets use (`stores.py`), so training, evaluation and `data show` cannot tell the difference:

- image folders are decoded once (in threads) and cached under the cache folder, keyed by the
  files' fingerprint; image arrays (uint8 0..255, or floats in [0, 1]) may be channels first or last;
- tables and arrays become float vectors; integer arrays [N, L] are text tokens;
- caption files get a vocabulary built from the training split only (`captions.py`), saved with
  the run (run.json) through `DataModality.vocabulary`;
- labels: one class label (any values; classes are the sorted distinct values) and/or binary
  attributes (0/1, or -1/1 as CelebA's); with attributes only, the first is the label.

Resident or streamed is decided by `residency.choose` and said in the banner. Every problem is a
`DataError` that starts with the spec location of the clause that named the file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mmspec.data import formats
from mmspec.data.decl import DataDecl
from mmspec.data.formats import DataFileError
from mmspec.data.plan import DataPlan, Declared, Layout, inspect_data, split_rows

from runtime.data import caption_vocab as caption_text
from runtime.data import residency, streaming
from runtime.data.cache import cache_root, fingerprint
from runtime.data.dataset import DataModality, MultimodalDataset, SplitData
from runtime.data.errors import DataError
from runtime.data.images import read_many
from runtime.data.stores import ImageStore, TokenStore, VectorStore


def located(decl: DataDecl, err: DataFileError) -> DataError:
    return DataError(f"{decl.where(err.span)}: {err.message}")


def plan_for(decl: DataDecl, declared: dict[str, Declared], data_root=None, folder=None) -> DataPlan:
    """The checked plan, or a DataError listing every problem at its spec location."""
    if folder is not None:
        from dataclasses import replace
        decl = replace(decl, files=str(folder))
    plan = inspect_data(decl, declared, data_root)
    if plan.problems:
        lines = [f"{decl.where(p.span)}: {p.message}" + (f" ({p.hint})" if p.hint else "")
                 for p in plan.problems]
        raise DataError("\n".join(lines))
    return plan


def spec_data(model, data_root=None, folder=None):
    """What `load_dataset` takes for a compiled spec's data: (name or DataDecl, declared modalities).
    The spec is checked against its data first (`mmspec.data.check`): a mismatch is a located
    SpecError before anything is loaded or written."""
    program = getattr(model, "program", None)
    if program is not None:
        from mmspec.data.check import check_program_data
        check_program_data(program, data_root, folder)
    decl = getattr(model, "data_decl", None)
    if decl is None:
        return model.dataset, None
    return decl, {m: Declared(i.kind, tuple(i.shape)) for m, i in model.modalities.items()}


def load_own(decl: DataDecl, declared: dict[str, Declared], *, data_root=None, folder=None,
             device="cpu", cache_dir=None, memory: str | None = None) -> MultimodalDataset:
    """Load the block's files (see the module docstring) onto `device`, resident or streamed."""
    device = torch.device(device)
    plan = plan_for(decl, declared, data_root, folder)
    try:
        if plan.index is not None:                   # a known file layout (`layout mimic_cxr`)
            from runtime.data.mimic import load_mimic
            return load_mimic(plan, declared, device, memory or decl.memory)
        return _Loader(plan, cache_dir).load(device, memory or decl.memory)
    except DataFileError as err:
        raise located(decl, err) from None


class _Loader:
    def __init__(self, plan: DataPlan, cache_dir):
        self.plan, self.decl, self.cache_dir = plan, plan.decl, cache_dir
        self.rows = split_rows(plan)
        self.n = int(plan.n_items)

    # -- item alignment: tables with `by` follow the image folders' file names
    def _align(self, source) -> np.ndarray | None:
        if source.by is None:
            return None
        if self.plan.item_ids is None:
            raise DataFileError(f"{source.describe()}: `by \"{source.by}\"` matches rows to image file "
                                f"names, and the data block has no image folder", source.span)
        ids = formats.table_item_ids(source, self.plan.folder)
        where = {stem: i for i, stem in enumerate(ids)}
        missing = [s for s in self.plan.item_ids if s not in where]
        if missing:
            raise DataFileError(f"{source.describe()}: no row for image {missing[0]!r} in column "
                                f"{source.by!r} ({len(missing)} image(s) have none)", source.span)
        return np.array([where[s] for s in self.plan.item_ids])

    def _read(self, source) -> np.ndarray:
        array = formats.read(source, self.plan.folder)
        order = self._align(source)
        return array if order is None else array[order]

    def _rows_source(self, source):
        """A modality's rows without loading them: a memory map (.npy) or an HDF5 dataset read by
        rows (streaming.py); other formats are read whole."""
        where = formats.lazy_location(source, self.plan.folder)
        if where is None or source.by is not None:
            return self._read(source)
        fmt, path, name = where
        return streaming.NpyRows(path) if fmt == "npy" else streaming.H5Rows(path, name)

    # -- modalities
    def _image_folder(self, layout: Layout) -> np.ndarray:
        """The decoded folder as a memory-mapped uint8 [N, C, H, W], cached by the files' fingerprint."""
        files = formats.image_files(layout.header.source, self.plan.folder)
        c, h, w = layout.declared.shape
        path = (cache_root(self.cache_dir) / "own" /
                f"{self.decl.name}-{layout.modality}-{c}x{h}x{w}-{fingerprint(files)}.npy")
        if not path.exists():
            _decode_folder(files, c, (h, w), layout.header.source, path)
        return np.load(path, mmap_mode="r")

    def _array(self, layout: Layout):
        """(array [N, ...] in the stored layout, store kind) for one modality."""
        src, how = layout.header.source, layout.how
        if how == "images":
            return self._image_folder(layout), "image", ""
        if how == "captions":
            return self._captions(layout), "tokens", ""
        array = self._rows_source(src)
        path = layout.header.path
        bad, low, high = _scan(array)
        if bad is not None:
            raise DataFileError(f"{path}: {layout.header.what} has a NaN or infinite value (item "
                                f"{bad}); a modality must be finite", src.span)
        if how == "tokens":
            vocab = layout.declared.shape[1]
            if len(array) and (low < 0 or high >= vocab):
                raise DataFileError(f"{path}: {layout.header.what} holds token ids "
                                    f"{int(low)}..{int(high)}; the spec declares a "
                                    f"vocabulary of {vocab} (ids 0..{vocab - 1})", src.span)
            return array, "tokens", ""
        if layout.declared.kind == "image":
            if array.dtype == np.uint8:
                return array, "image", how
            if array.dtype.kind in "iub" or (len(array) and (low < 0 or high > 1)):
                raise DataFileError(f"{path}: {layout.header.what} holds values "
                                    f"{low:g}..{high:g}; images are uint8 (0..255) or "
                                    f"floats in [0, 1]", src.span)
            return array, "float", how
        return array, "float", ""

    def _captions(self, layout: Layout) -> np.ndarray:
        lines = self._read_lines(layout)
        length, vocab_size = layout.declared.shape
        train = [lines[i] for i in self.rows["train"]]
        vocabulary = caption_text.build(train, layout.mode, vocab_size)
        self.vocabularies[layout.modality] = vocabulary
        return caption_text.encode(lines, layout.mode, vocabulary, length)

    def _read_lines(self, layout: Layout) -> list[str]:
        return list(formats.read(layout.header.source, self.plan.folder))

    # -- labels
    def _labels(self):
        label, attrs = self.decl.label, self.decl.attributes
        class_names, labels, label_name = ["all"], np.zeros(self.n, dtype=np.int64), "none"
        attribute_names: list[str] = []
        attributes = None
        headers = {l.name: h for l, h in self.plan.labels}
        if attrs is not None:
            values = self._finite(self._read(attrs.source), headers[attrs.name], attrs.source)
            values = values.reshape(self.n, -1)
            if not np.isin(values, (-1, 0, 1)).all():
                raise DataFileError(f"{headers[attrs.name].what}: attributes must be 0/1 (or -1/1)",
                                    attrs.source.span)
            attributes = (values > 0).astype(np.int64)
            hdr = headers[attrs.name]
            attribute_names = list(hdr.columns) if hdr.columns else [f"{attrs.name}[{i}]"
                                                                    for i in range(values.shape[1])]
            labels, class_names, label_name = attributes[:, 0], ["0", "1"], f"attribute {attribute_names[0]}"
        if label is not None:
            values = self._finite(self._read(label.source), headers[label.name], label.source).reshape(-1)
            classes, labels = np.unique(values, return_inverse=True)
            class_names = [_class_name(c) for c in classes]
            label_name = label.name
        return labels.astype(np.int64), class_names, label_name, attributes, attribute_names

    @staticmethod
    def _finite(values: np.ndarray, hdr, source) -> np.ndarray:
        if values.dtype.kind == "S":                 # HDF5 byte strings: class names, not b'...'
            values = np.char.decode(values, "utf-8", "replace")
        if values.dtype.kind == "f":
            bad = np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))
            if bad.size:
                raise DataFileError(f"{hdr.path}: {hdr.what} has {bad.size} missing (NaN) value(s), "
                                    f"first at row {int(bad[0])}; every item needs a label", source.span)
        elif values.dtype.kind == "O":
            bad = [i for i, v in enumerate(values.reshape(-1)) if v is None]
            if bad:
                raise DataFileError(f"{hdr.path}: {hdr.what} has {len(bad)} empty value(s), first at "
                                    f"row {bad[0]}; every item needs a label", source.span)
            values = values.astype(str)
        return values

    # -- the dataset
    def load(self, device: torch.device, memory: str) -> MultimodalDataset:
        self.vocabularies: dict[str, object] = {}
        arrays = {m: self._array(layout) for m, layout in self.plan.layouts.items()}
        labels, class_names, label_name, attributes, attribute_names = self._labels()
        total = sum(_resident_bytes(a, kind, self.plan.layouts[m]) for m, (a, kind, _) in arrays.items())
        resident, why = residency.choose(total, device, memory)
        self.workers = self.decl.workers if self.decl.workers is not None else streaming.default_workers()
        if not resident:
            why += (f"; {self.workers} DataLoader worker(s) read ahead" if self.workers else
                    "; read by the training process (no DataLoader workers)")
        splits = {}
        for split, rows in self.rows.items():
            stores = {m: (_resident_store(a, kind, how, rows, self.plan.layouts[m]) if resident else
                          self._streamed(m, a, kind, how, rows))
                      for m, (a, kind, how) in arrays.items()}
            attrs = None if attributes is None else torch.from_numpy(attributes[rows])
            splits[split] = SplitData(torch.from_numpy(labels[rows]), stores, attrs)
        modalities = {m: self._modality(m, layout) for m, layout in self.plan.layouts.items()}
        notes = [why, f"split: " + ", ".join(f"{s} {len(r)}" for s, r in self.rows.items())
                 + f" of {self.n} items ({_split_origin(self.decl)})"]
        ds = MultimodalDataset(self.decl.name, modalities, class_names, splits, notes=notes,
                               label_name=label_name, attribute_names=attribute_names,
                               description=f"own data from {self.plan.folder}",
                               folder=str(self.plan.folder))
        return ds.to(device)

    def _streamed(self, modality, array, kind, how, rows):
        """A store that reads each batch from disk: the file itself when it can be read by rows,
        else a .npy copy in the cache (written once)."""
        layout = self.plan.layouts[modality]
        if not isinstance(array, (streaming.NpyRows, streaming.H5Rows)):
            files = [layout.header.path] if layout.header.path.is_file() else []
            path = (cache_root(self.cache_dir) / "own" /
                    f"{self.decl.name}-{modality}-{kind}-{fingerprint(files)}-{_digest(layout, self.decl)}.npy")
            array = _as_npy(array, path)
        vocab = layout.declared.shape[-1] if kind == "tokens" else 0
        return streaming.StreamedStore(array, rows, kind, how, vocab, workers=self.workers)

    def _modality(self, name: str, layout: Layout) -> DataModality:
        hdr = layout.header
        files = [hdr.path] if hdr.path.is_file() else formats.image_files(hdr.source, self.plan.folder)
        stamp = f" [{fingerprint(files)}]"     # in the origin, so cached classifiers follow the files
        origin = str(hdr.path.parent / hdr.what) if hdr.fmt in ("npz", "hdf5", "table") else str(hdr.path)
        return DataModality(name, layout.declared.kind, tuple(layout.declared.shape), "real",
                            origin + stamp, self.vocabularies.get(name))


def _digest(layout: Layout, decl: DataDecl) -> str:
    """What else defines a cached copy: the selection, the declared shape, the layout, the split
    (caption tokens depend on the training split's vocabulary)."""
    import hashlib

    text = f"{layout.header.source}|{layout.declared}|{layout.how}|{layout.mode}|{decl.split}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _class_name(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _split_origin(decl: DataDecl) -> str:
    s = decl.split
    if s.kind == "fractions":
        return "fractions " + ", ".join(f"{n} {f:g}" for n, f in s.parts) + f", seed {s.seed}"
    if s.kind == "column":
        return f"column {s.source.describe()}"
    return "index files " + ", ".join(f"{n} {src.describe()}" for n, src in s.parts)


def _scan(array, chunk: int = 4096) -> tuple[int | None, float, float]:
    """(the first item with a NaN or infinite value, the smallest value, the largest), read in chunks
    so memory maps and HDF5 datasets are never loaded whole."""
    low, high = np.inf, -np.inf
    for start in range(0, len(array), chunk):
        block = np.asarray(array[start:start + chunk])
        if block.size == 0:
            continue
        if block.dtype.kind == "f":
            ok = np.isfinite(block.reshape(len(block), -1)).all(axis=1)
            if not ok.all():
                return start + int(np.flatnonzero(~ok)[0]), low, high
        low, high = min(low, block.min()), max(high, block.max())
    return None, low, high


def _decode_folder(files: list[Path], channels: int, shape, source, path: Path, chunk: int = 2048) -> None:
    """Decode the images (threads, `chunk` at a time) into a uint8 [N, C, H, W] .npy at `path`,
    each checked against the declared size; written under a temporary name, then renamed."""
    transform = (lambda im: im.convert("L").convert("RGB")) if channels == 1 else None
    tmp = path.with_suffix(".tmp.npy")
    path.parent.mkdir(parents=True, exist_ok=True)
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(files), channels, *shape))
    try:
        for start in range(0, len(files), chunk):
            block = read_many(files[start:start + chunk], transform, shape=tuple(shape))
            out[start:start + len(block)] = block[:, :channels].numpy()
        out.flush()
    except DataError as err:
        del out
        tmp.unlink(missing_ok=True)
        raise DataFileError(str(err), source.span) from None
    del out
    tmp.replace(path)


def _resident_bytes(array, kind, layout) -> int:
    if kind == "tokens":
        return int(np.prod(array.shape)) * 8
    if kind == "image":
        return int(np.prod(array.shape))
    return int(np.prod(array.shape)) * 4


def _resident_store(array, kind, how, rows, layout):
    """The same stores as the built-in datasets: index gathers on the device."""
    if kind == "tokens":
        return TokenStore(torch.from_numpy(np.ascontiguousarray(array[rows])).long(), layout.declared.shape[1])
    part = torch.from_numpy(np.ascontiguousarray(array[rows]))
    if how == "nhwc":
        part = part.permute(0, 3, 1, 2).contiguous()
    elif how == "nhw":
        part = part.unsqueeze(1)
    if kind == "image":
        return ImageStore(part)
    return VectorStore(part.float() if part.dtype != torch.float32 else part)


def _as_npy(array: np.ndarray, path: Path) -> streaming.NpyRows:
    """`array` as rows of a .npy file: its own file when it is a map of one, else a copy at `path`."""
    if isinstance(array, np.memmap) and array.filename and str(array.filename).endswith(".npy"):
        return streaming.NpyRows(array.filename)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, np.ascontiguousarray(array))
        tmp.replace(path)
    return streaming.NpyRows(path)
