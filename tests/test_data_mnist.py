"""MNIST loaders: IDX (gz or raw, both spellings), torchvision raw/processed layouts, and
clean errors for corrupt, truncated and incomplete files."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from data_fixtures.writers import idx_images, idx_labels, write_mnist
from runtime.data import DataError
from runtime.data.idx import IMAGES_MAGIC, LABELS_MAGIC, parse_idx, read_idx
from runtime.data.mnist import find_mnist, load_split

LABELS = {"train": np.array([3, 1, 4, 1, 5, 9, 2, 6]), "test": np.array([5, 3, 5])}


def test_idx_known_bytes(tmp_path):
    raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9])
    assert parse_idx(raw, tmp_path / "x", LABELS_MAGIC, "labels").tolist() == [7, 0, 9]
    images = bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4])
    assert parse_idx(images, tmp_path / "x", IMAGES_MAGIC, "images").tolist() == [[[1, 2], [3, 4]]]


@pytest.mark.parametrize("gz,dotted,sub", [(True, False, ""), (False, False, "mnist"),
                                           (True, True, "MNIST/raw"), (False, True, "")])
def test_loads_idx_layouts(tmp_path, gz, dotted, sub):
    written = write_mnist(tmp_path / sub if sub else tmp_path, LABELS, gz=gz, dotted=dotted)
    files = find_mnist(tmp_path)
    assert files is not None
    for split in ("train", "test"):
        images, labels = load_split(files, split)
        assert images.dtype == torch.uint8 and images.shape == (len(LABELS[split]), 1, 28, 28)
        assert labels.tolist() == LABELS[split].tolist()
        assert np.array_equal(images[:, 0].numpy(), written[split][0])


def test_loads_torchvision_processed(tmp_path):
    folder = tmp_path / "MNIST" / "processed"
    folder.mkdir(parents=True)
    for split, name in (("train", "training.pt"), ("test", "test.pt")):
        lab = torch.tensor(LABELS[split])
        img = torch.arange(len(lab) * 784, dtype=torch.int64).remainder(256).to(torch.uint8)
        torch.save((img.view(-1, 28, 28), lab), folder / name)
    files = find_mnist(tmp_path)
    images, labels = load_split(files, "test")
    assert labels.tolist() == [5, 3, 5]
    assert images[0, 0, 0, :3].tolist() == [0, 1, 2]


def test_no_files_returns_none(tmp_path):
    assert find_mnist(tmp_path) is None
    assert find_mnist(None) is None


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_bad_magic_names_file(tmp_path):
    data = bytearray(idx_images(np.zeros((2, 28, 28), np.uint8)))
    data[3] = 0x01
    path = _write(tmp_path, "train-images-idx3-ubyte", bytes(data))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: bad IDX magic number 0x00000801"):
        read_idx(path, IMAGES_MAGIC, "images")


def test_truncated_and_overlong(tmp_path):
    data = idx_images(np.zeros((2, 28, 28), np.uint8))
    short = _write(tmp_path, "short", data[:-10])
    with pytest.raises(DataError, match="truncated.*2 x 28 x 28"):
        read_idx(short, IMAGES_MAGIC, "images")
    long = _write(tmp_path, "long", data + b"xx")
    with pytest.raises(DataError, match="longer than its header"):
        read_idx(long, IMAGES_MAGIC, "images")
    tiny = _write(tmp_path, "tiny", b"\x00\x00")
    with pytest.raises(DataError, match="too short"):
        read_idx(tiny, IMAGES_MAGIC, "images")


def test_truncated_gzip(tmp_path):
    data = gzip.compress(idx_labels(np.arange(100) % 10))
    path = _write(tmp_path, "t10k-labels-idx1-ubyte.gz", data[: len(data) // 2])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: cannot read"):
        read_idx(path, LABELS_MAGIC, "labels")
    garbage = _write(tmp_path, "x.gz", b"this is not gzip at all")
    with pytest.raises(DataError, match="x.gz"):
        read_idx(garbage, LABELS_MAGIC, "labels")


def test_label_count_mismatch(tmp_path):
    write_mnist(tmp_path, LABELS)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_labels(np.zeros(2))))
    with pytest.raises(DataError, match="2 labels for 3 images"):
        load_split(find_mnist(tmp_path), "test")


def test_incomplete_set_names_missing_file(tmp_path):
    write_mnist(tmp_path, LABELS)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"incomplete.*t10k-labels-idx1-ubyte\[\.gz\]"):
        find_mnist(tmp_path)


def test_corrupt_processed_file(tmp_path):
    folder = tmp_path / "MNIST" / "processed"
    folder.mkdir(parents=True)
    (folder / "training.pt").write_bytes(b"not a torch file")
    (folder / "test.pt").write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="training.pt: cannot read"):
        load_split(find_mnist(tmp_path), "train")


def test_idx_roundtrip_property(tmp_path):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=30, deadline=None)
    @given(st.integers(0, 6), st.integers(0, 2**32 - 1), st.booleans())
    def check(n, seed, gz):
        images = np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)
        data = idx_images(images)
        path = tmp_path / ("x.gz" if gz else "x")
        path.write_bytes(gzip.compress(data) if gz else data)
        assert np.array_equal(read_idx(path, IMAGES_MAGIC, "images"), images)

    check()
