"""Streamed data (a DataLoader's workers reading each batch from disk) against resident data: the
same items in the same order, bit for bit, with 0 and 2 workers, for every lazily read format
(.npy memory maps, HDF5 read by rows, decoded image folders, npz copied to the cache); and a short
training run gives the same losses streamed as resident. The oracle is the resident dataset, whose
batches test_owndata.py compares with the arrays the test wrote."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from owndata_helpers import own_spec

N = 44


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def _load(spec, **kw):
    from mmspec import compile_spec
    from runtime.data import load_dataset
    from runtime.data.owndata import spec_data

    model = compile_spec(spec)
    name, declared = spec_data(model)
    return model, load_dataset(name, declared=declared, **kw)


def _write(tmp_path, layout: str):
    """Files of one layout and the spec reading them (a vector, a token text and an image modality
    where the format allows)."""
    import h5py
    from PIL import Image

    rng = np.random.default_rng(11)
    x, tokens = rng.normal(size=(N, 4)), rng.integers(0, 5, (N, 3))
    images = rng.integers(0, 256, (N, 6, 8, 3), dtype=np.uint8)
    mods = ("modality x: vector(4) ~ gaussian(scale=1), net mlp(hidden=[8])\n"
            "modality t: text(3, 5) ~ categorical, net mlp(hidden=[8])\n"
            "modality im: image(3, 6, 8) ~ laplace(scale=0.75), net mlp(hidden=[8])")
    if layout == "npy":
        np.save(tmp_path / "x.npy", x), np.save(tmp_path / "t.npy", tokens), np.save(tmp_path / "im.npy", images)
        block = 'modality x from "x.npy"\n    modality t from "t.npy"\n    modality im from "im.npy"'
    elif layout == "hdf5":
        with h5py.File(tmp_path / "d.h5", "w") as f:
            f["g/x"], f["g/t"], f["g/im"] = x, tokens, images
        block = ('modality x from "d.h5"["g/x"]\n    modality t from "d.h5"["g/t"]\n'
                 '    modality im from "d.h5"["g/im"]')
    elif layout == "npz":
        np.savez(tmp_path / "d.npz", x=x, t=tokens, im=images)
        block = ('modality x from "d.npz"["x"]\n    modality t from "d.npz"["t"]\n'
                 '    modality im from "d.npz"["im"]')
    else:                                       # an image folder next to a vector array
        (tmp_path / "photos").mkdir()
        for i in range(N):
            Image.fromarray(images[i]).save(tmp_path / "photos" / f"p{i:03d}.png")
        np.save(tmp_path / "x.npy", x)
        block = 'modality x from "x.npy"\n    modality im from "photos"'
        mods = "\n".join(line for line in mods.splitlines() if not line.startswith("modality t"))
    block += "\n    label y from \"y.npy\"\n    split train 0.75, test 0.25 seed 4"
    np.save(tmp_path / "y.npy", rng.integers(0, 2, N))
    return own_spec(tmp_path / f"{layout}.mms", block, mods, evaluate="elbo")


@pytest.mark.parametrize("layout", ["npy", "hdf5", "images", "npz"])
def test_streamed_epoch_equals_resident_epoch(tmp_path, cache, layout):
    from runtime.data.streaming import StreamedStore, read_ahead, streamed_stores

    spec = _write(tmp_path, layout)
    _, resident = _load(spec, cache_dir=cache, memory="resident")
    _, streamed = _load(spec, cache_dir=cache, memory="stream")
    assert not streamed_stores(resident, "train")
    assert all(isinstance(s, StreamedStore) for s in streamed.splits["train"].stores.values())
    n, size = resident.split_size("train"), 5
    order = torch.randperm(n, generator=torch.Generator().manual_seed(9))
    want = [resident.batch("train", order[b * size:(b + 1) * size]) for b in range(n // size)]
    for workers in (0, 2):
        with read_ahead(streamed, "train", order, size, start=1, workers=workers):
            for b in range(1, n // size):
                got = streamed.batch("train", order[b * size:(b + 1) * size])
                assert got.keys() == want[b].keys()
                for m in got:
                    assert got[m].dtype == want[b][m].dtype and torch.equal(got[m], want[b][m]), (workers, b, m)
    test = torch.arange(streamed.split_size("test"))        # outside read_ahead: read directly
    a, b = resident.batch("test", test), streamed.batch("test", test)
    assert all(torch.equal(a[m], b[m]) for m in a)


def test_read_ahead_never_serves_a_batch_it_was_not_asked_for(tmp_path, cache):
    """Asking for other indices than those read ahead still gives the right rows (read directly)."""
    from runtime.data.streaming import read_ahead

    spec = _write(tmp_path, "npy")
    _, resident = _load(spec, cache_dir=cache, memory="resident")
    _, streamed = _load(spec, cache_dir=cache, memory="stream")
    order = torch.arange(resident.split_size("train"))
    other = torch.tensor([7, 3, 3, 0])
    with read_ahead(streamed, "train", order, 4, workers=2):
        got = streamed.batch("train", other)
    want = resident.batch("train", other)
    assert all(torch.equal(got[m], want[m]) for m in want)


def test_training_streamed_with_workers_equals_resident(tmp_path, cache):
    """One epoch of training on the CPU (deterministic): identical losses, step by step."""
    from runtime.train.loop import LoopConfig, Trainer

    spec = _write(tmp_path, "npy")
    histories = []
    for memory, workers in (("resident", None), ("stream", 2)):
        torch.manual_seed(0)                                 # the same initial weights
        model, data = _load(spec, cache_dir=cache, memory=memory)
        if workers is not None:
            for split in data.splits.values():
                for store in split.stores.values():
                    store.workers = workers
        trainer = Trainer(model, data, LoopConfig(epochs=2, batch=6, seed=3, log_every=1), run_dir=None, meta={})
        outcome = trainer.fit()
        assert outcome.status == "finished"
        histories.append([s["loss"] for s in outcome.steps])
    assert len(histories[0]) == 2 * (33 // 6) and histories[0] == histories[1]


def test_workers_clause_and_banner(tmp_path, cache, monkeypatch):
    from runtime.data.streaming import WORKERS_ENV, default_workers

    spec = _write(tmp_path, "npy")
    spec.write_text(spec.read_text().replace("seed 4\n", "seed 4\n    memory stream workers 3\n"))
    _, data = _load(spec, cache_dir=cache)
    assert "`memory stream` in the spec" in data.banner() and "3 DataLoader worker(s)" in data.banner()
    assert {s.workers for s in data.splits["train"].stores.values()} == {3}
    monkeypatch.setenv(WORKERS_ENV, "0")
    assert default_workers() == 0
    monkeypatch.setenv("MMSPEC_DATA_BUDGET", "100")          # automatic: too big for 100 bytes
    spec.write_text(spec.read_text().replace("    memory stream workers 3\n", ""))
    _, data = _load(spec, cache_dir=cache)
    assert "streamed from disk" in data.banner() and "> 100 B" in data.banner()
    assert "no DataLoader workers" in data.banner()


def test_image_rows_decode_what_was_written_in_threads_and_in_a_worker(tmp_path):
    """ImageRows against the pixels written (PNG is lossless): a large read (threads), a read in
    DataLoader workers (one thread each), a centre crop of a wider image."""
    from PIL import Image

    from runtime.data.streaming import THREADED_READ, ImageRows

    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (THREADED_READ + 6, 4, 6), dtype=np.uint8)
    files = []
    for i, p in enumerate(pixels):
        files.append(tmp_path / f"i{i:03d}.png")
        Image.fromarray(p).save(files[-1])
    rows = ImageRows(files, 1, (4, 6))
    order = rng.permutation(len(files))
    assert np.array_equal(rows[order], pixels[order][:, None])
    loader = torch.utils.data.DataLoader(rows, batch_size=None, sampler=[order[:9], order[9:20]], num_workers=2)
    assert np.array_equal(torch.cat(list(loader)).numpy(), pixels[order[:20]][:, None])
    wide = ImageRows(files[:3], 1, (4, 4), fit="center_crop")          # 6 wide -> columns 1..4
    assert np.array_equal(wide[np.arange(3)], pixels[:3, None, :, 1:5])
