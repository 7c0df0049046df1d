"""CUB image-captions (MMVAE layout) and Bimodal CelebA (MoPoE layout) on small written files."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from data_fixtures.writers import solid, write_csv, write_jpeg
from runtime.data import DataError, load_dataset

COLOURS = {"a": (200, 30, 30), "b": (30, 30, 200), "c": (30, 200, 30), "d": (200, 200, 30)}


def _cub(root, test_lines=10):
    cub = root / "cub"
    for split, cls, name in (("train", "001.A", "a"), ("train", "001.A", "b"),
                             ("train", "002.B", "c"), ("test", "003.C", "d")):
        write_jpeg(cub / split / cls / f"{name}.jpg", solid(60, 80, COLOURS[name]))
    lines = ["This bird is red."] * 10 + ["A blue bird, with wings."] * 10
    lines += ["green" + (" four" if i < 4 else "") + (" three" if i < 3 else "")
              + (" once" if i == 0 else "") for i in range(10)]
    (cub / "text_trainvalclasses.txt").write_text("\n".join(lines) + "\n")
    (cub / "text_testclasses.txt").write_text("\n".join(["this bird is yellow ."] * test_lines))
    return cub


def test_cub_real(tmp_path):
    _cub(tmp_path)
    ds = load_dataset("cub", data_root=tmp_path, source="real", cache_dir=tmp_path / "c")
    vocab = ds.modalities["caption"].vocabulary
    assert vocab == ["<exc>", "<pad>", "<eos>", "this", "bird", "is", "red", ".", "a", "blue", ",",
                     "with", "wings", "green", "four"]
    assert ds.modalities["caption"].shape == (32, 15)
    assert ds.split_size("train") == 30 and ds.split_size("test") == 10
    assert ds.class_names == ["001.A", "002.B", "003.C"]
    assert ds.labels("train").tolist() == [0] * 20 + [1] * 10 and ds.labels("test").tolist() == [2] * 10
    batch = ds.batch("train", torch.arange(30))
    assert batch["image"].shape == (30, 3, 64, 64)
    for i in range(30):  # caption i belongs to image i // 10
        colour = COLOURS["abc"[i // 10]]
        assert np.allclose(batch["image"][i].mean((1, 2)).numpy() * 255, colour, atol=4)
    text = ds.text_to_strings("caption", batch["caption"])
    assert text[0] == "this bird is red ." and text[10] == "a blue bird , with wings ."
    assert text[20] == "green four <exc> <exc>" and text[29] == "green"
    assert batch["caption"][0].argmax(-1)[:7].tolist() == [3, 4, 5, 6, 7, 2, 1]
    test_text = ds.text_to_strings("caption", ds.batch("test", torch.arange(1))["caption"])
    assert test_text == ["this bird is <exc> ."]


def test_cub_errors(tmp_path):
    _cub(tmp_path, test_lines=9)
    with pytest.raises(DataError, match="9 captions for 1 images.*exactly 10 per image"):
        load_dataset("cub", data_root=tmp_path, cache_dir=tmp_path / "c")
    cub = _cub(tmp_path)
    (cub / "test" / "003.C" / "d.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(DataError, match=r"d\.jpg: cannot read this image"):
        load_dataset("cub", data_root=tmp_path, cache_dir=tmp_path / "c")
    (cub / "text_testclasses.txt").unlink()
    with pytest.raises(DataError, match="incomplete: missing text_testclasses.txt"):
        load_dataset("cub", data_root=tmp_path, cache_dir=tmp_path / "c")


ATTRS = ["5_o_Clock_Shadow", "Male", "Smiling"]


def _celeba(root, drop_text=False):
    folder = root / "CelebA"
    ids = [f"{i:06d}.jpg" for i in range(1, 5)]
    colours = [(200, 30, 30), (30, 30, 200), (200, 200, 200), (10, 10, 10)]
    for name, colour in zip(ids, colours):
        image = solid(218, 178, colour)
        image[:30] = (0, 255, 0)  # above the 148x148 centre crop (rows 35..182)
        write_jpeg(folder / "img_align_celeba" / name, image)
    write_csv(folder / "list_eval_partition.csv", ["image_id", "partition"],
              [[i, p] for i, p in zip(ids, [0, 0, 1, 2])])
    write_csv(folder / "list_attr_celeba.csv", ["image_id"] + ATTRS,
              [[ids[0], -1, 1, 1], [ids[1], 1, -1, -1], [ids[2], -1, 1, -1], [ids[3], 1, 1, 1]])
    texts = ["Male, Smiling", "5 o clock shadow", "Male, café", "all"]
    rows = [[k, i, t] for k, (i, t) in enumerate(zip(ids, texts)) if not (drop_text and k == 2)]
    write_csv(folder / "list_attr_text_256_False_True_celeba.csv", ["", "image_id", "text"], rows)
    return folder


def test_celeba_real(tmp_path):
    _celeba(tmp_path)
    ds = load_dataset("celeba", data_root=tmp_path, source="real", cache_dir=tmp_path / "c")
    assert ds.split_size("train") == 2 and ds.split_size("test") == 1  # test = partition 1
    assert ds.labels("train").tolist() == [1, 0] and ds.labels("test").tolist() == [1]
    assert ds.class_names == ["not male", "male"] and ds.attribute_names == ATTRS
    assert ds.attributes("train").tolist() == [[0, 1, 1], [1, 0, 0]]
    batch = ds.batch("train", torch.arange(2))
    assert batch["image"].shape == (2, 3, 64, 64) and batch["text"].shape == (2, 256, 71)
    green = (batch["image"][:, 1] > 0.8) & (batch["image"][:, 0] < 0.3)
    assert not green.any()  # the top rows were cropped away
    assert np.allclose(batch["image"][0].mean((1, 2)).numpy() * 255, (200, 30, 30), atol=4)
    text = ds.text_to_strings("text", batch["text"])
    assert text[0] == "male, smiling".ljust(256) and text[1].rstrip() == "5 o clock shadow"
    test_text = ds.text_to_strings("text", ds.batch("test", torch.arange(1))["text"])
    assert test_text[0].rstrip() == "male, caf"  # é is outside the alphabet -> space


def test_celeba_errors(tmp_path):
    _celeba(tmp_path, drop_text=True)
    with pytest.raises(DataError, match="no text for image 000003.jpg"):
        load_dataset("celeba", data_root=tmp_path, cache_dir=tmp_path / "c")
    folder = _celeba(tmp_path)
    (folder / "img_align_celeba" / "000002.jpg").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"000002\.jpg: cannot read this image"):
        load_dataset("celeba", data_root=tmp_path, cache_dir=tmp_path / "c")
    write_csv(folder / "list_attr_celeba.csv", ["image_id", "Smiling"], [])
    with pytest.raises(DataError, match="list_attr_celeba.csv: missing column.*Male"):
        load_dataset("celeba", data_root=tmp_path, cache_dir=tmp_path / "c")
    (folder / "list_eval_partition.csv").unlink()
    with pytest.raises(DataError, match="incomplete: missing list_eval_partition.csv"):
        load_dataset("celeba", data_root=tmp_path, source="real")
