"""Reading a researcher's files: NumPy .npy/.npz, CSV/TSV and Parquet tables, HDF5, folders of
images, and text files with one caption per line.

Each format answers two questions through the library that owns it (numpy, pyarrow, h5py, Pillow):
`header()`, what a source holds (item count, per-item shape, dtype) from the file's headers alone,
for `mmspec check`; and `read()`, the data itself, for the runtime's loader. Keeping both in one
place means check and run can never disagree about what a file contains. No torch here: `mmspec
check` must stay fast and free of the runtime.

Every problem is a `DataFileError` naming the file and carrying the span of the spec clause that
named it, so both check and run can point at the spec line.
"""
from __future__ import annotations

import fnmatch
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import Span
from .decl import DataDecl, Source

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
TEXT_SUFFIXES = (".txt",)
ROOT_ENV = "MMSPEC_DATA_ROOT"


class DataFileError(Exception):
    """A problem with a declared file; `span` locates the spec clause that named it."""

    def __init__(self, message: str, span: Span | None = None):
        super().__init__(message)
        self.message = message
        self.span = span


@dataclass(frozen=True)
class Header:
    """What one source holds, read from headers only.

    dtype: a numpy dtype kind ('u', 'i', 'f', 'b'; 'U' strings, 'O' other), "image" for image
    folders, "text" for caption files. item_shape: per-item shape ((C, H, W) for images, () for
    captions and single columns). item_ids: image-folder file stems, in item order.
    """

    source: Source
    path: Path
    fmt: str
    what: str
    n_items: int
    item_shape: tuple[int, ...]
    dtype: str
    columns: tuple[str, ...] = ()
    item_ids: tuple[str, ...] = ()


def data_folder(decl: DataDecl, data_root=None) -> Path:
    """The folder the block's paths are relative to: `files` next to the spec, else under the data
    root (--data-root or $MMSPEC_DATA_ROOT); no `files` clause: the spec's own folder."""
    spec_dir = Path(decl.spec_file).resolve().parent if decl.spec_file != "<spec>" else Path.cwd()
    if decl.files is None:
        return spec_dir
    given = Path(decl.files).expanduser()
    if given.is_absolute():
        candidates = [given]
    else:
        root = data_root if data_root is not None else os.environ.get(ROOT_ENV) or None
        candidates = [spec_dir / given] + ([Path(root).expanduser() / given] if root else [])
    for folder in candidates:
        if folder.is_dir():
            return folder
    looked = " and ".join(str(c) for c in candidates)
    hint = "" if len(candidates) > 1 or given.is_absolute() else (
        f" (no data root was given: --data-root DIR or ${ROOT_ENV})")
    raise DataFileError(f'data folder "{decl.files}" not found: looked in {looked}{hint}',
                        decl.files_span or decl.span)


def file_format(path: Path) -> str:
    """"npy" | "npz" | "table" | "hdf5" | "text" | "images" (a folder), by the name."""
    if path.is_dir():
        return "images"
    name = path.name.lower()
    suffix = Path(name[:-3] if name.endswith(".gz") else name).suffix
    for fmt, suffixes in (("npy", (".npy",)), ("npz", (".npz",)), ("table", TABLE_SUFFIXES),
                          ("hdf5", HDF5_SUFFIXES), ("text", TEXT_SUFFIXES)):
        if suffix in suffixes:
            return fmt
    known = ".npy, .npz, .csv, .tsv, .parquet, .h5/.hdf5, .txt, or a folder of images"
    raise DataFileError(f"{path}: unknown file type {suffix or '(no suffix)'!r}; use {known}")


def _path(source: Source, folder: Path) -> Path:
    path = folder / source.path
    if not path.exists():
        import difflib

        siblings = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
        near = difflib.get_close_matches(path.name, siblings, n=1)
        hint = f'; did you mean "{Path(source.path).parent / near[0]}"?'.replace('"./', '"') if near else ""
        raise DataFileError(f"{path}: file not found{hint}", source.span)
    return path


def header(source: Source, folder: Path) -> Header:
    """What `source` holds, from the file headers (see the module docstring)."""
    path = _path(source, folder)
    try:
        fmt = file_format(path)
    except DataFileError as err:
        raise DataFileError(err.message, source.span) from None
    return _READERS[fmt].header(source, path)


def read(source: Source, folder: Path, rows: np.ndarray | None = None):
    """The data: an array [N, ...] for arrays and tables (rows: a subset, in that order), the list
    of caption strings for text, the sorted image files for a folder."""
    path = _path(source, folder)
    return _READERS[file_format(path)].read(source, path, rows)


def lazy_location(source: Source, folder: Path) -> tuple[str, Path, str | None] | None:
    """Where a source can be read row by row without loading it: ("npy", path, None) or
    ("hdf5", path, dataset name); None for formats that are read whole (npz, tables, text)."""
    path = _path(source, folder)
    fmt = file_format(path)
    if fmt == "npy":
        return ("npy", path, None)
    if fmt == "hdf5":
        h5, _, name = _Hdf5._open(source, path)
        h5.close()
        return ("hdf5", path, name)
    return None


def _fail(source: Source, message: str) -> DataFileError:
    return DataFileError(message, source.span)


def _one_key(source: Source, path: Path, keys: list[str], what: str) -> str:
    if not source.select:
        if len(keys) == 1:
            return keys[0]
        raise _fail(source, f"{path} holds {len(keys)} {what}s ({', '.join(keys[:8])}); name one: "
                            f'"{source.path}"["{keys[0] if keys else "name"}"]')
    if len(source.select) > 1:
        raise _fail(source, f"{path}: name one {what}, not {len(source.select)}")
    key = source.select[0]
    if key not in keys:
        import difflib
        near = difflib.get_close_matches(key, keys, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise _fail(source, f"{path} has no {what} {key!r} (it has {', '.join(keys[:12])}){hint}")
    return key


def _npy_header(f) -> tuple:
    """(shape, fortran_order, dtype) from a .npy stream's header, without reading the data."""
    version = np.lib.format.read_magic(f)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    return read_header(f)


class _Npy:
    @staticmethod
    def header(source, path):
        if source.select:
            raise _fail(source, f"{path} is a single array: drop the [{', '.join(source.select)}]")
        try:
            with open(path, "rb") as f:
                shape, _, dtype = _npy_header(f)
        except (ValueError, OSError) as exc:
            raise _fail(source, f"{path}: not a readable .npy file ({exc})") from None
        return _array_header(source, path, "npy", f"{path.name}", shape, dtype)

    @staticmethod
    def read(source, path, rows):
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        return array if rows is None else array[rows]


class _Npz:
    @staticmethod
    def _members(source, path) -> dict[str, str]:
        try:
            with zipfile.ZipFile(path) as zf:
                return {n[:-4]: n for n in zf.namelist() if n.endswith(".npy")}
        except (zipfile.BadZipFile, OSError) as exc:
            raise _fail(source, f"{path}: not a readable .npz file ({exc})") from None

    @classmethod
    def header(cls, source, path):
        members = cls._members(source, path)
        key = _one_key(source, path, list(members), "array")
        try:
            with zipfile.ZipFile(path) as zf, zf.open(members[key]) as f:
                shape, _, dtype = _npy_header(f)
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise _fail(source, f"{path}: array {key!r} is unreadable ({exc})") from None
        return _array_header(source, path, "npz", f"{path.name}[{key!r}]", shape, dtype)

    @classmethod
    def read(cls, source, path, rows):
        key = _one_key(source, path, list(cls._members(source, path)), "array")
        try:
            with np.load(path, allow_pickle=False) as npz:
                array = npz[key]
        except (ValueError, OSError) as exc:
            raise _fail(source, f"{path}: array {key!r} is unreadable ({exc})") from None
        return array if rows is None else array[rows]


class _Hdf5:
    @staticmethod
    def _datasets(h5) -> list[str]:
        import h5py

        names: list[str] = []
        h5.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        return names

    @classmethod
    def _open(cls, source, path):
        import h5py

        try:
            h5 = h5py.File(path, "r")
        except OSError as exc:
            raise _fail(source, f"{path}: not a readable HDF5 file ({exc})") from None
        names = cls._datasets(h5)
        wanted = source.select[0].strip("/") if len(source.select) == 1 else None
        chosen = _one_key(Source(source.path, (wanted,) if wanted else source.select, span=source.span),
                          path, names, "dataset")
        return h5, h5[chosen], chosen

    @classmethod
    def header(cls, source, path):
        h5, ds, name = cls._open(source, path)
        with h5:
            return _array_header(source, path, "hdf5", f"{path.name}[{name!r}]", ds.shape, ds.dtype)

    @classmethod
    def read(cls, source, path, rows):
        h5, ds, name = cls._open(source, path)
        with h5:
            try:
                if rows is None:
                    return ds[()]
                order = np.argsort(rows, kind="stable")     # h5py reads increasing indices only
                out = ds[np.asarray(rows)[order]]
                inverse = np.empty_like(order)
                inverse[order] = np.arange(order.size)
                return out[inverse]
            except (OSError, TypeError, ValueError) as exc:
                raise _fail(source, f"{path}: dataset {name!r} is unreadable ({exc})") from None


def _arrow_kind(arrow_type) -> str:
    import pyarrow as pa

    if pa.types.is_boolean(arrow_type):
        return "b"
    if pa.types.is_integer(arrow_type):
        return "i"
    if pa.types.is_floating(arrow_type) or pa.types.is_null(arrow_type):
        return "f"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "U"
    return "O"


class _Table:
    """CSV/TSV (pyarrow.csv, streamed for the header) and Parquet (the footer's schema). An empty CSV
    cell is a missing value (null) in every column, strings included, so an empty label is reported
    instead of becoming a class named ''. (pyarrow skips blank lines.)"""

    @staticmethod
    def _is_parquet(path: Path) -> bool:
        return path.suffix.lower() in (".parquet", ".pq")

    @staticmethod
    def _csv_options(path: Path):
        import pyarrow.csv as pcsv

        delimiter = "\t" if ".tsv" in path.name.lower() else ","
        return pcsv.ParseOptions(delimiter=delimiter)

    @classmethod
    def _schema_and_rows(cls, source, path):
        import pyarrow as pa

        try:
            if cls._is_parquet(path):
                import pyarrow.parquet as pq

                meta = pq.ParquetFile(path)
                return meta.schema_arrow, meta.metadata.num_rows
            import pyarrow.csv as pcsv

            reader = pcsv.open_csv(path, parse_options=cls._csv_options(path),
                                   convert_options=pcsv.ConvertOptions(strings_can_be_null=True))
            rows = sum(batch.num_rows for batch in reader)
            return reader.schema, rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise _fail(source, f"{path}: not a readable table ({exc})") from None

    @staticmethod
    def columns(source: Source, path: Path, names: list[str]) -> list[str]:
        """The columns `source.select` names, patterns expanded in file order."""
        if not source.select:
            return list(names)
        chosen: list[str] = []
        for pattern in source.select:
            hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
            if not hits:
                import difflib
                near = difflib.get_close_matches(pattern, names, n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                shown = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
                raise _fail(source, f"{path} has no column {pattern!r} (it has {shown}){hint}")
            chosen += [h for h in hits if h not in chosen]
        return chosen

    @classmethod
    def header(cls, source, path):
        schema, rows = cls._schema_and_rows(source, path)
        names = list(schema.names)
        chosen = cls.columns(source, path, names)
        if source.by is not None and source.by not in names:
            raise _fail(source, f"{path} has no column {source.by!r} (named by `by`)")
        kinds = {_arrow_kind(schema.field(c).type) for c in chosen}
        kind = "U" if "U" in kinds else "O" if "O" in kinds else "f" if "f" in kinds else (
            "i" if "i" in kinds else "b")
        shape = () if len(chosen) == 1 and source.select and "*" not in source.select[0] else (len(chosen),)
        what = f"{path.name}[{', '.join(repr(c) for c in chosen[:4])}{' ...' if len(chosen) > 4 else ''}]"
        return Header(source, path, "table", what, rows, shape, kind, tuple(chosen))

    @classmethod
    def read_columns(cls, source, path, columns: list[str]) -> dict[str, np.ndarray]:
        import pyarrow as pa

        try:
            if cls._is_parquet(path):
                import pyarrow.parquet as pq

                table = pq.read_table(path, columns=columns)
            else:
                import pyarrow.csv as pcsv

                table = pcsv.read_csv(path, parse_options=cls._csv_options(path),
                                      convert_options=pcsv.ConvertOptions(include_columns=columns,
                                                                          strings_can_be_null=True))
        except (pa.ArrowInvalid, OSError) as exc:
            raise _fail(source, f"{path}: not a readable table ({exc})") from None
        return {c: table.column(c).to_numpy(zero_copy_only=False) for c in columns}

    @classmethod
    def read(cls, source, path, rows):
        hdr = cls.header(source, path)
        data = cls.read_columns(source, path, list(hdr.columns))
        columns = [data[c] for c in hdr.columns]
        if hdr.dtype in ("U", "O"):
            array = columns[0] if hdr.item_shape == () else np.stack(columns, axis=1)
        else:
            array = np.stack([c.astype(np.float64) if c.dtype == object else c for c in columns], axis=1)
            if hdr.item_shape == ():
                array = array[:, 0]
        return array if rows is None else array[rows]

    @classmethod
    def item_ids(cls, source, path) -> np.ndarray:
        """The `by` column as strings (file stems of image folders)."""
        values = cls.read_columns(source, path, [source.by])[source.by]
        return np.array([Path(str(v)).stem for v in values])


class _Images:
    """A folder of PNG/JPEG files; items are the sorted file names without their suffix."""

    @staticmethod
    def files(source, path) -> list[Path]:
        files = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
                       key=lambda p: p.stem)
        if not files:
            raise _fail(source, f"{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
        stems = [p.stem for p in files]
        dup = next((a for a, b in zip(stems, stems[1:]) if a == b), None)
        if dup is not None:
            raise _fail(source, f"{path}: two images are named {dup!r} (with different suffixes); "
                                f"items are matched by file name, so each name must be unique")
        return files

    @classmethod
    def header(cls, source, path):
        from PIL import Image, UnidentifiedImageError

        files = cls.files(source, path)
        try:
            with Image.open(files[0]) as im:       # reads the header, not the pixels
                width, height, mode = im.width, im.height, im.mode
        except (OSError, UnidentifiedImageError) as exc:
            raise _fail(source, f"{files[0]}: cannot read this image ({exc})") from None
        channels = 1 if mode in ("L", "1", "I", "F", "I;16") else 4 if mode in ("RGBA", "LA") else 3
        return Header(source, path, "images", f"{path.name}/ ({len(files)} images)", len(files),
                      (channels, height, width), "image", item_ids=tuple(p.stem for p in files))

    @classmethod
    def read(cls, source, path, rows):
        files = cls.files(source, path)
        return files if rows is None else [files[int(i)] for i in rows]


class _Text:
    """One caption per line (UTF-8); `mode` chars or words says how it becomes tokens."""

    @staticmethod
    def header(source, path):
        if source.mode is None:
            raise _fail(source, f'{path}: say how the captions become tokens: "{source.path}" chars, '
                                f'or "{source.path}" words')
        with open(path, "rb") as f:
            data = f.read()
        count = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        return Header(source, path, "text", f"{path.name} ({source.mode})", count, (), "text")

    @staticmethod
    def read(source, path, rows):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise _fail(source, f"{path}: not UTF-8 text ({exc})") from None
        return lines if rows is None else [lines[int(i)] for i in rows]


def _array_header(source, path, fmt, what, shape, dtype) -> Header:
    dtype = np.dtype(dtype)
    if len(shape) == 0:
        raise _fail(source, f"{path}: {what} is a scalar, not one row per item")
    if dtype.hasobject or dtype.kind not in "uifb" + "US":
        why = " (a ragged array, or Python objects)" if dtype.hasobject else ""
        raise _fail(source, f"{path}: {what} has dtype {dtype}{why}, which cannot be a modality or "
                            f"label: use a rectangular array of numbers, booleans or strings")
    kind = "U" if dtype.kind == "S" else dtype.kind
    return Header(source, path, fmt, what, int(shape[0]), tuple(int(s) for s in shape[1:]), kind)


_READERS = {"npy": _Npy, "npz": _Npz, "hdf5": _Hdf5, "table": _Table, "images": _Images, "text": _Text}


def table_item_ids(source: Source, folder: Path) -> np.ndarray:
    """The stems in a table's `by` column (aligning its rows with image folders)."""
    path = _path(source, folder)
    if file_format(path) != "table":
        raise DataFileError(f"{path}: `by` names a column, so it needs a CSV or Parquet table", source.span)
    return _Table.item_ids(source, path)


def image_files(source: Source, folder: Path) -> list[Path]:
    return _Images.files(source, _path(source, folder))
