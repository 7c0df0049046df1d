"""A researcher's own data, declared in the spec: each format from files the test writes, through
`mmspec check`, a few training steps with `mmspec run`, `mmspec eval` and `mmspec data show`; the
loaded batches equal what was written; a streamed dataset gives the same batches as the resident one."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from owndata_helpers import check_ok, cli, own_spec, run_and_eval

N = 40
CLASSES = np.array(["b_cell", "t_cell", "nk"])


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def _labels(rng) -> np.ndarray:
    return CLASSES[rng.integers(0, 3, N)]


def _load(spec, **kw):
    """The spec's dataset through the runtime's loader, as `mmspec run` loads it."""
    from mmspec import compile_spec
    from runtime.data import load_dataset
    from runtime.data.owndata import spec_data

    model = compile_spec(spec)
    name, declared = spec_data(model)
    return load_dataset(name, declared=declared, **kw)


def _all(ds, split: str) -> dict:
    return ds.batch(split, torch.arange(ds.split_size(split)))


def test_npz_vectors_end_to_end(tmp_path, cache):
    rng = np.random.default_rng(0)
    rna, protein = rng.normal(size=(N, 12)).astype(np.float32), rng.normal(size=(N, 5))
    labels = rng.integers(0, 3, N)
    np.savez(tmp_path / "cite.npz", rna=rna, protein=protein, cell=labels)
    spec = own_spec(tmp_path / "cite.mms", """
    modality rna     from "cite.npz"["rna"]
    modality protein from "cite.npz"["protein"]
    label cell       from "cite.npz"["cell"]
    split train 0.75, test 0.25 seed 3""", """
modality rna:     vector(12) ~ gaussian(scale=1), net mlp(hidden=[8])
modality protein: vector(5)  ~ gaussian(scale=1), net mlp(hidden=[8])""",
        evaluate="coherence, latent_probe, elbo")
    check_ok(spec)
    ds = _load(spec, cache_dir=cache)
    order = np.random.default_rng(3).permutation(N)      # the documented fraction split
    train = np.sort(order[:30])
    got = _all(ds, "train")
    assert torch.equal(got["rna"], torch.from_numpy(rna[train]))
    assert torch.allclose(got["protein"], torch.from_numpy(protein[train]).float())
    assert ds.labels("train").tolist() == labels[train].tolist()
    assert ds.split_size("test") == 10 and ds.class_names == ["0", "1", "2"]
    info = run_and_eval(spec, tmp_path / "run", cache)
    assert info["data"]["folder"] == str(tmp_path) and info["data"]["train_items"] == 30
    shown = cli("data", "show", spec)
    assert shown.exit_code == 0 and "train: 30 items" in shown.output and "resident" in shown.output


def test_csv_columns_and_split_column(tmp_path, cache):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(1)
    genes, adt = rng.normal(size=(N, 6)), rng.normal(size=(N, 3))
    labels = _labels(rng)
    split = np.where(np.arange(N) % 4 == 0, "test", "train")
    columns = {f"g{i}": genes[:, i] for i in range(6)} | {f"adt_{i}": adt[:, i] for i in range(3)}
    pcsv.write_csv(pa.table(columns | {"cell_type": labels, "split": split}), tmp_path / "cells.csv")
    spec = own_spec(tmp_path / "cells.mms", """
    modality genes from "cells.csv"["g?"]
    modality adt   from "cells.csv"["adt_*"]
    label cell_type from "cells.csv"["cell_type"]
    split from "cells.csv"["split"]""", """
modality genes: vector(6) ~ gaussian(scale=1), net mlp(hidden=[8])
modality adt:   vector(3) ~ gaussian(scale=1), net mlp(hidden=[8])""")
    check_ok(spec)
    ds = _load(spec, cache_dir=cache)
    test = np.flatnonzero(split == "test")
    assert torch.allclose(_all(ds, "test")["adt"], torch.from_numpy(adt[test]).float())
    assert ds.class_names == sorted(set(labels))
    assert [ds.class_names[i] for i in ds.labels("test").tolist()] == labels[test].tolist()
    run_and_eval(spec, tmp_path / "run", cache)


def test_parquet_attributes_and_index_splits(tmp_path, cache):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(N, 4)), rng.normal(size=(N, 2))
    attrs = rng.integers(0, 2, (N, 3))
    table = {f"a{i}": a[:, i] for i in range(4)} | {f"b{i}": b[:, i] for i in range(2)}
    table |= {name: attrs[:, i] for i, name in enumerate(["smiling", "male", "young"])}
    pq.write_table(pa.table(table), tmp_path / "items.parquet")
    np.save(tmp_path / "train.npy", np.arange(0, 30))
    np.save(tmp_path / "test.npy", np.arange(30, 40))
    spec = own_spec(tmp_path / "pq.mms", """
    files "."
    modality a from "items.parquet"["a*"]
    modality b from "items.parquet"["b0", "b1"]
    attributes traits from "items.parquet"["smiling", "male", "young"]
    split train from "train.npy", test from "test.npy\"""", """
modality a: vector(4) ~ gaussian(scale=1), net mlp(hidden=[8])
modality b: vector(2) ~ gaussian(scale=1), net mlp(hidden=[8])""")
    check_ok(spec)
    ds = _load(spec, cache_dir=cache)
    assert ds.attribute_names == ["smiling", "male", "young"]
    assert ds.attributes("test").tolist() == attrs[30:].tolist()
    assert ds.labels("test").tolist() == attrs[30:, 0].tolist()       # the first attribute
    assert torch.allclose(_all(ds, "train")["a"], torch.from_numpy(a[:30]).float())
    run_and_eval(spec, tmp_path / "run", cache)


def test_hdf5_channels_last_images_and_vectors(tmp_path, cache):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (N, 6, 5, 3), dtype=np.uint8)    # N, H, W, C
    spikes = rng.poisson(2.0, (N, 7)).astype(np.float32)
    with h5py.File(tmp_path / "rec.h5", "w") as f:
        f["video/frames"] = images
        f["spikes"] = spikes
        f["odor"] = rng.integers(0, 4, N)
    spec = own_spec(tmp_path / "rec.mms", """
    modality frames from "rec.h5"["video/frames"]
    modality spikes from "rec.h5"["spikes"]
    label odor from "rec.h5"["odor"]
    split train 0.5, test 0.5 seed 0""", """
modality frames: image(3, 6, 5) ~ laplace(scale=0.75), net mlp(hidden=[8])
modality spikes: vector(7)      ~ gaussian(scale=1),   net mlp(hidden=[8])""")
    check_ok(spec)
    ds = _load(spec, cache_dir=cache)
    test = np.sort(np.random.default_rng(0).permutation(N)[20:40])
    expected = torch.from_numpy(images[test]).permute(0, 3, 1, 2).float() / 255
    assert torch.equal(_all(ds, "test")["frames"], expected)
    run_and_eval(spec, tmp_path / "run", cache)


def _image_folders(tmp_path, rng):
    """Two folders of 8x6 PNGs (RGB and grey) with the same names; labels in a shuffled CSV."""
    from PIL import Image

    names = [f"img{i:03d}" for i in range(N)]
    rgb = rng.integers(0, 256, (N, 6, 8, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (N, 6, 8), dtype=np.uint8)
    for folder in ("photo", "depth"):
        (tmp_path / folder).mkdir()
    for i, name in enumerate(names):
        Image.fromarray(rgb[i]).save(tmp_path / "photo" / f"{name}.png")
        Image.fromarray(grey[i]).save(tmp_path / "depth" / f"{name}.png")
    labels = rng.integers(0, 2, N)
    shuffled = rng.permutation(N)
    lines = ["file,scene"] + [f"{names[i]}.png,{labels[i]}" for i in shuffled]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    return rgb, grey, labels


def test_image_folders_aligned_by_file_name(tmp_path, cache):
    rgb, grey, labels = _image_folders(tmp_path, np.random.default_rng(4))
    spec = own_spec(tmp_path / "img.mms", """
    modality photo from "photo"
    modality depth from "depth"
    label scene from "labels.csv"["scene"] by "file"
    split train 0.5, test 0.5 seed 1""", """
modality photo: image(3, 6, 8) ~ laplace(scale=0.75), net mlp(hidden=[8])
modality depth: image(1, 6, 8) ~ laplace(scale=0.75), net mlp(hidden=[8])""")
    check_ok(spec)
    ds = _load(spec, cache_dir=cache)
    train = np.sort(np.random.default_rng(1).permutation(N)[:20])
    got = _all(ds, "train")
    assert torch.equal(got["photo"], torch.from_numpy(rgb[train]).permute(0, 3, 1, 2).float() / 255)
    assert torch.equal(got["depth"], torch.from_numpy(grey[train])[:, None].float() / 255)
    assert ds.labels("train").tolist() == labels[train].tolist()
    run_and_eval(spec, tmp_path / "run", cache)


def test_captions_word_vocabulary_from_the_training_split(tmp_path, cache):
    rng = np.random.default_rng(5)
    colours = ["red", "green", "blue"]
    labels = rng.integers(0, 3, N)
    captions = [f"a {colours[k]} bird" for k in labels]
    order = np.random.default_rng(0).permutation(N)      # the documented fraction split (seed 0)
    captions[order[-1]] = "a purple bird"            # a test item's word: unknown to the vocabulary
    (tmp_path / "captions.txt").write_text("\n".join(captions) + "\n")
    np.save(tmp_path / "feat.npy", np.eye(3, dtype=np.float32)[labels])
    np.save(tmp_path / "labels.npy", labels)
    spec = own_spec(tmp_path / "cap.mms", """
    modality caption from "captions.txt" words
    modality feat from "feat.npy"
    label colour from "labels.npy"
    split train 0.9, test 0.1 seed 0
    memory stream""", """
modality caption: text(5, 10) ~ categorical,        net mlp(hidden=[8])
modality feat:    vector(3)   ~ gaussian(scale=1), net mlp(hidden=[8])""")
    check_ok(spec)
    ds = _load(spec, cache_dir=cache)
    vocabulary = ds.modalities["caption"].vocabulary
    train_words = {w for i in order[:36] for w in captions[i].split()}
    assert vocabulary[:3] == ["<exc>", "<pad>", "<eos>"] and set(vocabulary[3:3 + len(train_words)]) == train_words
    assert len(vocabulary) == 10 and "purple" not in vocabulary
    test = np.sort(order[36:])
    decoded = ds.text_to_strings("caption", _all(ds, "test")["caption"])
    assert decoded == [captions[i].replace("purple", "<exc>") for i in test]
    info = run_and_eval(spec, tmp_path / "run", cache)
    assert info["data"]["modalities"]["caption"]["vocabulary"] == vocabulary      # saved with the run
    assert "streamed" in info["data"]["banner"]


def test_character_captions():
    from runtime.data import caption_vocab

    alphabet = caption_vocab.build(["abba", "cab"], "chars", 6)
    assert alphabet[:4] == " abc" or alphabet[:4] == " bac"
    assert sorted(alphabet[1:4]) == ["a", "b", "c"] and alphabet[4:] == caption_vocab.UNUSED * 2
    tokens = caption_vocab.encode(["cab!", "a"], "chars", alphabet, 3)
    assert tokens.tolist() == [[alphabet.index(c) for c in "cab"], [alphabet.index("a"), 0, 0]]


@pytest.mark.parametrize("layout", ["npy", "images"])
def test_streamed_batches_equal_resident_batches(tmp_path, cache, layout):
    """The same seeded index draws give identical batches resident and memory-mapped."""
    rng = np.random.default_rng(6)
    if layout == "images":
        _image_folders(tmp_path, rng)
        block = 'modality photo from "photo"\n    modality depth from "depth"'
        mods = ("modality photo: image(3, 6, 8) ~ laplace(scale=0.75), net mlp(hidden=[8])\n"
                "modality depth: image(1, 6, 8) ~ laplace(scale=0.75), net mlp(hidden=[8])")
    else:
        np.save(tmp_path / "x.npy", rng.normal(size=(N, 4)))
        np.save(tmp_path / "t.npy", rng.integers(0, 5, (N, 3)))
        block = 'modality x from "x.npy"\n    modality t from "t.npy"'
        mods = ("modality x: vector(4) ~ gaussian(scale=1), net mlp(hidden=[8])\n"
                "modality t: text(3, 5) ~ categorical, net mlp(hidden=[8])")
    spec = own_spec(tmp_path / "s.mms", block + "\n    split train 0.8, test 0.2 seed 2", mods, evaluate="elbo")
    resident = _load(spec, cache_dir=cache, memory="resident")
    streamed = _load(spec, cache_dir=cache, memory="stream")
    assert "streamed" in streamed.banner() and "resident" in resident.banner()
    gen_a, gen_b = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    for _ in range(3):
        ia = torch.randperm(resident.split_size("train"), generator=gen_a)[:8]
        ib = torch.randperm(streamed.split_size("train"), generator=gen_b)[:8]
        a, b = resident.batch("train", ia), streamed.batch("train", ib)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_residency_is_chosen_by_size(monkeypatch):
    from runtime.data import residency

    monkeypatch.setenv(residency.BUDGET_ENV, "1K")
    assert residency.choose(1000, torch.device("cpu"))[0] is True
    resident, why = residency.choose(5000, torch.device("cpu"))
    assert resident is False and "4.9 KB > 1.0 KB" in why
    assert residency.parse_bytes("2G") == 2 * 2**30
