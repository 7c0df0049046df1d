"""PolyMNIST / Translated-PolyMNIST: PNG folders, the build recipe from MNIST + backgrounds, and
clean errors for broken folders."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from data_fixtures.writers import solid, write_jpeg, write_mnist, write_png
from runtime.data import DataError, load_dataset

NAMES = ["0.3.png", "0.7.png", "1.3.png", "10.3.png", "2.3.png"]  # sorted as strings


def _write_pngs(root, names=NAMES, size=28):
    arrays = {}
    for split in ("train", "test"):
        for m in range(5):
            for k, name in enumerate(names):
                a = np.full((size, size, 3), 10 * m + k, dtype=np.uint8)
                marker = name.split(".")[1]
                a[0, 0] = (int(marker) if marker.isdigit() else 0, 0, 0)
                write_png(root / "PolyMNIST" / split / f"m{m}" / name, a)
                arrays[(split, m, name)] = a
    return arrays


def test_png_folders(tmp_path):
    arrays = _write_pngs(tmp_path)
    ds = load_dataset("polymnist", data_root=tmp_path, source="real", cache_dir=tmp_path / "c")
    assert ds.split_size("train") == 5 and list(ds.modalities) == ["m0", "m1", "m2", "m3", "m4"]
    assert ds.labels("train").tolist() == [3, 7, 3, 3, 3]
    batch = ds.batch("train", torch.arange(5))
    for m in range(5):
        for k, name in enumerate(NAMES):
            expected = torch.from_numpy(arrays[("train", m, name)]).permute(2, 0, 1).float() / 255
            assert torch.equal(batch[f"m{m}"][k], expected)
    again = load_dataset("polymnist", data_root=tmp_path, source="real", cache_dir=tmp_path / "c")
    assert torch.equal(again.batch("test", torch.arange(5))["m4"], ds.batch("test", torch.arange(5))["m4"])


def test_png_misaligned_names(tmp_path):
    _write_pngs(tmp_path)
    (tmp_path / "PolyMNIST" / "train" / "m3" / "2.3.png").rename(
        tmp_path / "PolyMNIST" / "train" / "m3" / "9.3.png")
    with pytest.raises(DataError, match="m3.*different file names"):
        load_dataset("polymnist", data_root=tmp_path, cache_dir=tmp_path / "c")


def test_png_corrupt_and_wrong_size(tmp_path):
    _write_pngs(tmp_path)
    bad = tmp_path / "PolyMNIST" / "test" / "m2" / "1.3.png"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(DataError, match=r"m2/1\.3\.png: cannot read this image"):
        load_dataset("polymnist", data_root=tmp_path, cache_dir=tmp_path / "c")
    write_png(bad, np.zeros((30, 30, 3), np.uint8))
    with pytest.raises(DataError, match="30x30 pixels, expected 28x28"):
        load_dataset("polymnist", data_root=tmp_path, cache_dir=tmp_path / "c")


def test_png_bad_name_and_missing_modality(tmp_path):
    _write_pngs(tmp_path, names=["0.3.png", "x.png"])
    with pytest.raises(DataError, match=r"x\.png.*\{index\}\.\{label\}\.png"):
        load_dataset("polymnist", data_root=tmp_path, cache_dir=tmp_path / "c")
    import shutil
    root = tmp_path / "other"
    _write_pngs(root)
    shutil.rmtree(root / "PolyMNIST" / "test" / "m4")
    with pytest.raises(DataError, match="m4 is missing"):
        load_dataset("polymnist", data_root=root, cache_dir=tmp_path / "c")


def _build_root(tmp_path, n_backgrounds=6):
    labels = {"train": np.array([0, 1, 0, 2, 1, 0, 1, 2, 2, 0]), "test": np.array([1, 0, 2])}
    mnist = write_mnist(tmp_path / "mnist", labels)
    for i in range(n_backgrounds):  # sorted names: the first five are used, in order
        write_jpeg(tmp_path / "polymnist_backgrounds" / f"{i:02d}bg.jpg", solid(40, 50, (20 * i, 100, 200)))
    return mnist


def _recompute(store, mnist_images, k, translated):
    """The official recipe for item k, from the stored draws (digit, crop and paste offsets)."""
    digit = mnist_images[store.digit_index[k]].astype(np.float32)
    if translated:
        small = torch.nn.functional.interpolate(torch.tensor(digit)[None, None], size=(21, 21),
                                                mode="bilinear", antialias=True)[0, 0]
        canvas = np.zeros((28, 28), np.float32)
        oy, ox = store.digit_offset[k].tolist()
        assert 0 <= oy <= 6 and 0 <= ox <= 6
        canvas[oy:oy + 21, ox:ox + 21] = small.round().numpy()
        digit = canvas
    y, x = store.crop_offset[k].tolist()
    crop = store.background[:, y:y + 28, x:x + 28].numpy().astype(np.int64)
    mask = digit > 128
    crop[:, mask] = 255 - crop[:, mask]
    return crop


@pytest.mark.parametrize("translated", [False, True])
def test_built_from_mnist_and_backgrounds(tmp_path, translated):
    mnist = _build_root(tmp_path)
    name = "tpolymnist" if translated else "polymnist"
    ds = load_dataset(name, data_root=tmp_path, source="real", cache_dir=tmp_path / "c")
    assert ds.split_size("train") == 10 and ds.split_size("test") == 3
    assert "04bg.jpg" in ds.modalities["m4"].origin and "05bg" not in ds.banner()
    images, labels = mnist["train"]
    batch = ds.batch("train", torch.arange(10))
    for m in range(5):
        store = ds.splits["train"].stores[f"m{m}"]
        assert torch.equal(torch.tensor(labels)[store.digit_index], ds.labels("train"))
        for c in range(3):  # per class, a permutation of that class's MNIST images
            sel = store.digit_index[ds.labels("train") == c]
            assert sorted(sel.tolist()) == np.flatnonzero(labels == c).tolist()
        for k in range(10):
            got = (batch[f"m{m}"][k] * 255).round().long().numpy()
            assert np.array_equal(got, _recompute(store, images, k, translated))


def test_too_few_backgrounds(tmp_path):
    _build_root(tmp_path, n_backgrounds=3)
    with pytest.raises(DataError, match="needs 5 background images, found only 3"):
        load_dataset("polymnist", data_root=tmp_path, cache_dir=tmp_path / "c")


def test_missing_everything(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("tpolymnist", data_root=tmp_path, source="real")
    assert "TranslatedPolyMNIST/train/m0..m4" in str(err.value) and "polymnist_backgrounds" in str(err.value)
