"""SVHN .mat loader: layout, label 10 -> 0, and clean errors for broken files."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from data_fixtures.writers import write_svhn
from runtime.data import DataError
from runtime.data.svhn import find_svhn, load_split

LABELS = {"train": np.array([0, 1, 2, 0, 9]), "test": np.array([0, 7])}


def test_loads_and_transposes(tmp_path):
    written = write_svhn(tmp_path / "SVHN", LABELS)
    files = find_svhn(tmp_path)
    images, labels = load_split(files["train"])
    x, lab = written["train"]
    assert labels.tolist() == [0, 1, 2, 0, 9]  # 10 in the file means 0
    assert images.shape == (5, 3, 32, 32)
    n, c, h, w = 3, 1, 5, 17
    assert images[n, c, h, w].item() == x[h, w, c, n]
    assert np.array_equal(images.numpy(), np.transpose(x, (3, 2, 0, 1)))


def test_lower_case_folder_and_root(tmp_path):
    write_svhn(tmp_path / "svhn", LABELS)
    assert find_svhn(tmp_path)["test"].parent.name == "svhn"
    write_svhn(tmp_path / "flat", LABELS)
    assert find_svhn(tmp_path / "flat")["test"].parent.name == "flat"


def test_missing_returns_none_and_half_is_error(tmp_path):
    assert find_svhn(tmp_path) is None
    write_svhn(tmp_path / "SVHN", LABELS)
    (tmp_path / "SVHN" / "test_32x32.mat").unlink()
    with pytest.raises(DataError, match="incomplete.*test_32x32.mat"):
        find_svhn(tmp_path)


def test_corrupt_and_truncated_mat(tmp_path):
    write_svhn(tmp_path, LABELS)
    path = tmp_path / "train_32x32.mat"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataError, match="train_32x32.mat: cannot read this .mat file"):
        load_split(path)
    path.write_bytes(b"garbage" * 50)
    with pytest.raises(DataError, match="train_32x32.mat"):
        load_split(path)


def test_wrong_contents(tmp_path):
    path = tmp_path / "train_32x32.mat"
    scipy.io.savemat(path, {"X": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(DataError, match="expected variables X and y"):
        load_split(path)
    scipy.io.savemat(path, {"X": np.zeros((28, 28, 3, 2), np.uint8), "y": np.ones((2, 1))})
    with pytest.raises(DataError, match="32 x 32 x 3 x N"):
        load_split(path)
    scipy.io.savemat(path, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.ones((3, 1))})
    with pytest.raises(DataError, match="3 labels for 2 images"):
        load_split(path)
