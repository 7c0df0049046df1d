"""The dataset API other code relies on, the source policy, and the `data` CLI."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from runtime.data import DataError, DataModality, MultimodalDataset, dataset_names, load_dataset
from runtime.data.cli import data
from runtime.data.errors import RunError


def test_names_and_errors(tmp_path, monkeypatch):
    assert dataset_names() == ["mst", "polymnist", "tpolymnist", "cub", "celeba"]
    with pytest.raises(DataError, match="unknown dataset 'polymnst'.*Did you mean 'polymnist'"):
        load_dataset("polymnst")
    with pytest.raises(DataError, match="unknown data source"):
        load_dataset("mst", source="files")
    with pytest.raises(DataError, match="is not a directory"):
        load_dataset("mst", data_root=tmp_path / "nope")
    monkeypatch.setenv("MMSPEC_DATA_ROOT", str(tmp_path / "gone"))
    with pytest.raises(DataError, match=r"from \$MMSPEC_DATA_ROOT"):
        load_dataset("mst")
    assert issubclass(DataError, RunError)


def test_env_root_and_cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MMSPEC_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("MMSPEC_CACHE", str(tmp_path / "cache"))
    ds = load_dataset("polymnist", standin_size=100)
    assert "PolyMNIST not found under " + str(tmp_path) in ds.banner()
    assert any((tmp_path / "cache" / "data").iterdir())


def test_batch_contract(tmp_path):
    ds = load_dataset("mst", source="standin", standin_size=300, cache_dir=tmp_path)
    assert isinstance(ds, MultimodalDataset) and ds.name == "mst"
    assert list(ds.modalities) == ["mnist", "svhn", "text"]
    assert isinstance(ds.modalities["text"], DataModality) and ds.class_names == list("0123456789")
    assert ds.device == torch.device("cpu")
    labels = ds.labels("train")
    assert labels.dtype == torch.long and labels.shape == (ds.split_size("train"),)
    idx = torch.tensor([5, 0, 5])
    b = ds.batch("train", idx)
    assert b["mnist"].shape == (3, 1, 28, 28) and b["text"].shape == (3, 8, 71)
    assert torch.equal(b["mnist"][0], b["mnist"][2]) and torch.all(b["text"].sum(-1) == 1)
    assert 0.0 <= float(b["svhn"].min()) and float(b["svhn"].max()) <= 1.0
    moved = ds.to("cpu")
    assert moved is not ds and torch.equal(moved.labels("test"), ds.labels("test"))
    with pytest.raises(DataError, match="no split 'val'"):
        ds.split_size("val")
    with pytest.raises(DataError, match="not a text modality"):
        ds.text_to_strings("mnist", b["mnist"])
    probs = torch.softmax(torch.randn(2, 8, 71), -1)
    assert all(len(s) == 8 for s in ds.text_to_strings("text", probs))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_batch_on_gpu(tmp_path):
    ds = load_dataset("polymnist", source="standin", standin_size=200, cache_dir=tmp_path,
                      device="cuda")
    b = ds.batch("train", torch.arange(8, device="cuda"), torch.Generator("cuda").manual_seed(0))
    assert all(x.is_cuda for x in b.values())


def test_cli_show_standin(tmp_path):
    out = tmp_path / "grid.png"
    result = CliRunner().invoke(data, ["show", "mst", "--source", "standin", "--standin-size",
                                       "200", "--cache-dir", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for text in ("mnist", "image (1, 28, 28)", "text (8, 71)", "train: 200 items", "STAND-IN",
                 "labels (digit): 0: 20"):
        assert text in result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_errors_are_clean(tmp_path, monkeypatch):
    monkeypatch.delenv("MMSPEC_DATA_ROOT", raising=False)
    runner = CliRunner()
    result = runner.invoke(data, ["show", "svhn"])
    assert result.exit_code == 1 and "unknown dataset 'svhn'" in result.output
    result = runner.invoke(data, ["show", "cub", "--data-root", str(tmp_path), "--source", "real"])
    assert result.exit_code == 1
    assert "CUB image-captions not found" in result.output and "Traceback" not in result.output
    assert str(tmp_path / "cub") in result.output
    result = runner.invoke(data, ["list"])
    assert result.output.split() == dataset_names()
