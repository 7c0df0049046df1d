"""Embedded stand-ins: same shapes as the real datasets, deterministic for a seed, cached, and
recognisable (logistic regression > 90% on every stand-in image modality, a small CNN > 90% on
the SVHN-like one), with many distinct images per class."""
from __future__ import annotations

import time

import pytest
import torch

from data_fixtures.classifiers import logistic_regression_accuracy, small_cnn_accuracy
from runtime.data import dataset_names, load_dataset
from runtime.data.standin import make_mnist_like, make_shapes, make_svhn_like
from runtime.data.text import DIGIT_WORDS

@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: the same results, and steady timings on a busy 2-core machine
    (OpenMP threads spin badly when the cores are shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SHAPES = {
    "mst": {"mnist": (1, 28, 28), "svhn": (3, 32, 32), "text": (8, 71)},
    "polymnist": {f"m{m}": (3, 28, 28) for m in range(5)},
    "tpolymnist": {f"m{m}": (3, 28, 28) for m in range(5)},
    "cub": {"image": (3, 64, 64)},
    "celeba": {"image": (3, 64, 64), "text": (256, 71)},
}


@pytest.mark.parametrize("name", dataset_names())
def test_shapes_and_determinism(name, tmp_path):
    ds = load_dataset(name, source="standin", seed=3, standin_size=300, cache_dir=tmp_path / "a")
    for mod, shape in SHAPES[name].items():
        assert ds.modalities[mod].shape == shape and ds.modalities[mod].source == "standin"
    assert 290 <= ds.split_size("train") <= 310 and ds.split_size("test") >= 100
    idx = torch.arange(ds.split_size("train"))
    first = ds.batch("train", idx, torch.Generator().manual_seed(0))
    for mod, x in first.items():
        assert x.shape == (len(idx), *ds.modalities[mod].shape) and x.dtype == torch.float32
    fresh = load_dataset(name, source="standin", seed=3, standin_size=300, cache_dir=tmp_path / "b")
    cached = load_dataset(name, source="standin", seed=3, standin_size=300, cache_dir=tmp_path / "a")
    other = load_dataset(name, source="standin", seed=4, standin_size=300, cache_dir=tmp_path / "a")
    for again in (fresh, cached):
        assert torch.equal(again.labels("train"), ds.labels("train"))
        second = again.batch("train", idx, torch.Generator().manual_seed(0))
        assert all(torch.equal(first[m], second[m]) for m in first)
    image_mod = next(m for m, d in ds.modalities.items() if d.kind == "image")
    assert not torch.equal(other.batch("train", idx)[image_mod], first[image_mod])
    assert any((tmp_path / "a" / "data").glob("standin-*.pt"))
    assert "STAND-IN" in ds.banner()


def test_mst_standin_text_matches_labels(tmp_path):
    ds = load_dataset("mst", source="standin", standin_size=200, cache_dir=tmp_path)
    idx = torch.arange(ds.split_size("test"))
    text = ds.text_to_strings("text", ds.batch("test", idx)["text"])
    assert [t.strip() for t in text] == [DIGIT_WORDS[i] for i in ds.labels("test").tolist()]


def test_many_distinct_images_per_class():
    digits = make_mnist_like(500, 0, "train")
    flat = digits["images"].flatten(1)
    assert len(torch.unique(flat, dim=0)) == 500
    svhn = make_svhn_like(200, 0, "train")["images"].flatten(1)
    assert len(torch.unique(svhn, dim=0)) == 200


def _float(images):
    return images.float() / 255


def test_mnist_like_logistic_regression():
    train, test = make_mnist_like(4000, 0, "train"), make_mnist_like(1000, 0, "test")
    acc = logistic_regression_accuracy(_float(train["images"]), train["labels"],
                                       _float(test["images"]), test["labels"])
    assert acc > 0.90, acc


def test_svhn_like_logistic_regression_and_cnn():
    train, test = make_svhn_like(4000, 0, "train"), make_svhn_like(1000, 0, "test")
    args = (_float(train["images"]), train["labels"], _float(test["images"]), test["labels"])
    acc = logistic_regression_accuracy(*args)
    assert acc > 0.90, acc
    cnn = small_cnn_accuracy(args[0][:3000], args[1][:3000], args[2], args[3], epochs=3)
    assert cnn > 0.90, cnn


def test_polymnist_logistic_regression(tmp_path):
    ds = load_dataset("polymnist", source="standin", standin_size=4000, cache_dir=tmp_path)
    train = ds.batch("train", torch.arange(ds.split_size("train")))
    test = ds.batch("test", torch.arange(ds.split_size("test")))
    for m in train:
        acc = logistic_regression_accuracy(train[m], ds.labels("train"), test[m], ds.labels("test"))
        assert acc > 0.90, (m, acc)


def test_shapes_logistic_regression():
    """The cub and celeba stand-in images (label: the shape)."""
    train, test = make_shapes(3000, 0, "train"), make_shapes(1000, 0, "test")
    acc = logistic_regression_accuracy(_float(train["images"]), train["attributes"][:, 0],
                                       _float(test["images"]), test["attributes"][:, 0])
    assert acc > 0.90, acc


@pytest.mark.slow
@pytest.mark.parametrize("name", dataset_names())
def test_default_sizes_build_in_under_a_minute(name, tmp_path):
    start = time.perf_counter()
    ds = load_dataset(name, source="standin", cache_dir=tmp_path)
    assert time.perf_counter() - start < 60
    expected = {"mst": 60000, "polymnist": 60000, "tpolymnist": 60000, "cub": 40000, "celeba": 20000}
    per_image = 5 if name == "cub" else 1  # cub items come in whole images of 5 captions
    assert 0 <= ds.split_size("train") - expected[name] < per_image
    assert 0 <= ds.split_size("test") - expected[name] // 6 < per_image
