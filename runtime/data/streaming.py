"""Streamed data: batches read from disk, ahead of the training step by a torch DataLoader's workers.

Data that does not fit the memory budget (`residency.choose`) is not loaded. Each modality of each
split is a `StreamedStore`: a lazy row source on disk (`NpyRows`, a memory-mapped .npy; `H5Rows`, an
HDF5 dataset read by rows; `ImageRows`, image files decoded per batch) and the split's item -> row
map. `store.read(items)` returns the raw rows (uint8 images, integer tokens, numbers) and
`store.convert(raw)` makes the float batch on the device exactly as the resident stores do
(`stores.py`: images / 255, one-hot tokens, float vectors), so both paths give the same tensors.

During training, `read_ahead(dataset, split, order, batch, start)` runs a DataLoader over the
epoch's batches: its workers call the same `read` for batch b+1, b+2, ... while the step for batch b
runs, in order (`in_order`), and each store's `gather` takes its rows from there when the indices
asked for are the ones read ahead (they always are in the training loop; anything else, such as
evaluation, reads synchronously). The items and their order therefore cannot depend on the number
of workers: the DataLoader only changes who reads, not what. It draws its workers' seeds from its own generator,
so the global RNG (the model's sampling noise) advances exactly as in a resident run.

Row sources pickle as their paths (a worker opens its own memory map or HDF5 handle), never as data.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from runtime.data.errors import DataError
from runtime.data.text import one_hot

WORKERS_ENV = "MMSPEC_DATA_WORKERS"
PREFETCH_BATCHES = 2                  # batches each worker reads ahead
THREADED_READ = 64                    # ImageRows reads of this many files decode in threads (not in workers)


def default_workers() -> int:
    """$MMSPEC_DATA_WORKERS, else one worker per spare core, at most 4 (0: read in the training process)."""
    env = os.environ.get(WORKERS_ENV)
    if env:
        return max(0, int(env))
    return max(0, min(4, (os.cpu_count() or 1) - 1))


# ---- row sources: lazy, picklable as their paths ----------------------------------------------

class _Lazy:
    """A row source opened on first use in each process (a DataLoader worker opens its own)."""

    _handle = None
    _pid = None

    def _opened(self):
        if self._handle is None or self._pid != os.getpid():
            self._handle, self._pid = self._open(), os.getpid()
        return self._handle

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_handle", None)
        state.pop("_pid", None)
        return state

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._opened().shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._opened().dtype)

    def __len__(self) -> int:
        return self.shape[0]


class NpyRows(_Lazy):
    """A .npy file, memory-mapped."""

    def __init__(self, path):
        self.path = Path(path)

    def _open(self):
        return np.load(self.path, mmap_mode="r", allow_pickle=False)

    def __getitem__(self, rows) -> np.ndarray:
        return np.asarray(self._opened()[rows])


class H5Rows(_Lazy):
    """One HDF5 dataset, read by rows (h5py reads increasing, unique indices: sorted, then restored)."""

    def __init__(self, path, name: str):
        self.path, self.name = Path(path), name

    def _open(self):
        import h5py

        return h5py.File(self.path, "r")[self.name]

    def __getitem__(self, rows) -> np.ndarray:
        ds = self._opened()
        if isinstance(rows, slice):
            return ds[rows]
        unique, inverse = np.unique(np.asarray(rows, dtype=np.int64), return_inverse=True)
        return ds[unique][inverse.reshape(-1)] if unique.size else np.zeros((0, *ds.shape[1:]), ds.dtype)


class ImageRows:
    """Image files decoded per read into uint8 [n, C, H, W]: grey (C = 1) or RGB, either of the
    declared size exactly (`fit` "exact": another size is an error naming the file) or centre-cropped
    to a square and resized to it (`fit` "center_crop", Pillow's bilinear filter). An unreadable file
    is a DataError naming it and `where` (the spec line), also when a DataLoader worker read it."""

    def __init__(self, files, channels: int, size: tuple[int, int], fit: str = "exact", where: str = ""):
        self.files, self.channels, self.size, self.fit = [Path(f) for f in files], channels, tuple(size), fit
        self.where = where          # the spec location that declared the images, for error messages

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.files), self.channels, *self.size)

    dtype = np.dtype(np.uint8)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, rows) -> np.ndarray:
        picked = self.files[rows] if isinstance(rows, slice) else [self.files[int(r)] for r in np.asarray(rows)]
        out = np.empty((len(picked), self.channels, *self.size), dtype=np.uint8)

        def one(i: int) -> None:
            try:
                out[i] = decode_image(picked[i], self.channels, self.size, self.fit)
            except DataError as err:
                raise DataError(f"{self.where}: {err}" if self.where else str(err)) from None

        threads = 1 if torch.utils.data.get_worker_info() is not None else min(8, os.cpu_count() or 1)
        if threads > 1 and len(picked) >= THREADED_READ:     # evaluation, resident loading: decode in threads
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(one, range(len(picked))))
        else:                                                  # a DataLoader worker: one process, one thread
            for i in range(len(picked)):
                one(i)
        return out


def decode_image(path: Path, channels: int, size: tuple[int, int], fit: str = "exact") -> np.ndarray:
    """uint8 [C, H, W] of one image file (see `ImageRows`); a bad file is a DataError naming it."""
    from PIL import Image

    h, w = size
    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path}: cannot read this image ({exc}); the file is truncated or corrupt") from None
    if fit == "center_crop":
        side = min(im.width, im.height)
        left, top = (im.width - side) // 2, (im.height - side) // 2
        im = im.crop((left, top, left + side, top + side))
        if im.size != (w, h):
            im = im.resize((w, h), Image.BILINEAR)
    elif im.size != (w, h):
        raise DataError(f"{path}: image is {im.width}x{im.height} pixels, expected {w}x{h}.")
    array = np.asarray(im, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


# ---- the store ---------------------------------------------------------------------------------

class StreamedStore:
    """One modality of one split, read from a row source per batch (see the module docstring).

    rows: the split's item -> source row map; kind "image" (uint8 -> [0, 1]), "tokens" (-> one-hot
    over `vocab_size`) or "float"; layout "nhwc" / "nhw" arrays are made channels first; workers:
    the DataLoader workers that read ahead during training (0: the training process reads).
    """

    def __init__(self, source, rows: np.ndarray, kind: str, layout: str = "", vocab_size: int = 0,
                 device=torch.device("cpu"), workers: int = 0):
        self.source, self.rows, self.kind, self.layout = source, np.asarray(rows), kind, layout
        self.vocab_size, self.device, self.workers = vocab_size, torch.device(device), workers
        self._ahead: _ReadAhead | None = None

    def read(self, items: np.ndarray) -> Tensor:
        """The raw rows of `items` (split item indices), on the CPU, as stored."""
        return torch.from_numpy(np.ascontiguousarray(self.source[self.rows[items]]))

    def convert(self, raw: Tensor) -> Tensor:
        """Raw rows -> the float batch on the device, as the resident stores make it."""
        block = raw.to(self.device, non_blocking=True)
        if self.layout == "nhwc":
            block = block.permute(0, 3, 1, 2)
        elif self.layout == "nhw":
            block = block.unsqueeze(1)
        if self.kind == "image" and block.dtype == torch.uint8:
            return block.float().div_(255.0)
        if self.kind == "tokens":
            return one_hot(block, self.vocab_size)
        return block.float()

    def gather(self, index: Tensor, generator=None) -> Tensor:
        items = index.detach().cpu().numpy()
        raw = self._ahead.take(self, items) if self._ahead is not None else None
        return self.convert(self.read(items) if raw is None else raw)

    def sources(self, index: Tensor) -> Tensor:
        """The source row each item shows: items sharing a row are copies of one source item."""
        return torch.from_numpy(self.rows[index.detach().cpu().numpy()])

    def to(self, device, memo=None) -> "StreamedStore":
        return StreamedStore(self.source, self.rows, self.kind, self.layout, self.vocab_size,
                             torch.device(device), self.workers)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_ahead"] = None
        return state


# ---- reading ahead with a DataLoader -----------------------------------------------------------

class _EpochReads(torch.utils.data.Dataset):
    """Batch b of an epoch: every streamed modality's raw rows for order[b * size:(b + 1) * size]."""

    def __init__(self, stores: dict[str, StreamedStore], order: np.ndarray, size: int):
        self.stores, self.order, self.size = stores, order, size

    def __len__(self) -> int:
        return len(self.order) // self.size

    def __getitem__(self, b: int) -> tuple[np.ndarray, dict[str, Tensor] | DataError]:
        items = self.order[b * self.size:(b + 1) * self.size]
        try:
            return torch.from_numpy(items), {m: s.read(items) for m, s in self.stores.items()}
        except DataError as err:              # raised again by the training process, message intact
            return torch.from_numpy(items), err


def _as_read(batch):
    """The DataLoader's collate step: a batch is already read whole (module level: picklable)."""
    return batch


class _ReadAhead:
    """The DataLoader's batches in order; each store takes its rows when the indices match."""

    def __init__(self, loader):
        self.batches = iter(loader)
        self.items: np.ndarray | None = None
        self.raw: dict[str, Tensor] = {}
        self.names: dict[int, str] = {}

    def take(self, store: StreamedStore, items: np.ndarray) -> Tensor | None:
        name = self.names.get(id(store))
        if name is None:
            return None
        if self.items is None or name not in self.raw:
            nxt = next(self.batches, None)
            if nxt is None:
                return None
            if isinstance(nxt[1], DataError):
                raise nxt[1]
            self.items, self.raw = nxt[0].numpy(), dict(nxt[1])
        if self.items.shape != items.shape or not np.array_equal(self.items, items):
            return None               # not the batch read ahead: read it directly (never a wrong batch)
        return self.raw.pop(name)

    def close(self) -> None:
        shutdown = getattr(self.batches, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


def streamed_stores(dataset, split: str) -> dict[str, StreamedStore]:
    """The split's streamed stores (empty for resident data, or for a wrapper around a dataset)."""
    from runtime.data.dataset import MultimodalDataset

    if not isinstance(dataset, MultimodalDataset) or split not in dataset.splits:
        return {}
    return {m: s for m, s in dataset.splits[split].stores.items() if isinstance(s, StreamedStore)}


@contextlib.contextmanager
def read_ahead(dataset, split: str, order: Tensor, size: int, start: int = 0, workers: int | None = None):
    """Within the block, the streamed stores of `split` are fed by a DataLoader reading the batches
    order[b * size:(b + 1) * size] for b = start, start + 1, ... in order (see the module docstring).
    Resident data: nothing happens (the fast path is untouched)."""
    stores = streamed_stores(dataset, split)
    if not stores:
        yield
        return
    workers = max(s.workers for s in stores.values()) if workers is None else workers
    reads = _EpochReads(stores, order.detach().cpu().numpy(), size)
    device = next(iter(stores.values())).device
    loader = torch.utils.data.DataLoader(
        reads, batch_size=None, sampler=range(start, len(reads)), num_workers=workers,
        pin_memory=device.type == "cuda", prefetch_factor=PREFETCH_BATCHES if workers else None,
        collate_fn=_as_read, generator=torch.Generator().manual_seed(0))   # never the global RNG
    ahead = _ReadAhead(loader)
    ahead.names = {id(s): m for m, s in stores.items()}
    for store in stores.values():
        store._ahead = ahead
    try:
        yield
    finally:
        for store in stores.values():
            store._ahead = None
        ahead.close()
