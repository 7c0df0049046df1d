"""MNIST-SVHN-Text: the official pairing counts, the text modality, and the assembled dataset."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from data_fixtures.writers import write_mnist, write_svhn
from runtime.data import DataError, load_dataset
from runtime.data.pairing import pair_by_label, pair_count
from runtime.data.text import (ALPHABET, DIGIT_WORDS, SPACE_INDEX, decode_chars,
                               digit_text_indices, encode_words)

# Per-class counts of the real sets (published class frequencies).
MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
SVHN_TRAIN = [4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659]
MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
SVHN_TEST = [1744, 5099, 4149, 2882, 2523, 2384, 1977, 2019, 1660, 1595]


def _labels(counts, seed):
    lab = torch.repeat_interleave(torch.arange(10), torch.tensor(counts))
    return lab[torch.randperm(len(lab), generator=torch.Generator().manual_seed(seed))]


def test_official_counts_on_synthetic_labels():
    assert pair_count(_labels(MNIST_TRAIN, 0), _labels(SVHN_TRAIN, 1)) == 1_121_360
    a, b = _labels(MNIST_TEST, 2), _labels(SVHN_TEST, 3)
    ia, ib = pair_by_label(a, b, generator=torch.Generator().manual_seed(0))
    assert len(ia) == len(ib) == 200_000


def test_pairing_structure():
    a = torch.tensor([1, 0, 1, 1, 0, 2, 1])
    b = torch.tensor([0, 1, 1, 0, 0, 0, 2, 2])
    ia, ib = pair_by_label(a, b, max_per_class=2, dm=3, generator=torch.Generator().manual_seed(0))
    # class 0: n = min(2, 4, 2) = 2; class 1: min(4, 2, 2) = 2; class 2: min(1, 2, 2) = 1
    assert len(ia) == 3 * (2 + 2 + 1)
    assert torch.equal(a[ia], b[ib])
    assert sorted(ia[:2].tolist()) == [1, 4] and sorted(ib[:2].tolist()) == [0, 3]
    assert sorted(ia[6:8].tolist()) == [0, 2]  # the first two class-1 items of a, in order
    assert set(ib[a[ia] == 2].tolist()) == {6}  # first class-2 item of b only
    for block in range(3):  # each permutation block uses each chosen index once
        assert sorted(ia[2 * block: 2 * block + 2].tolist()) == [1, 4]


def test_alphabet_facts():
    assert len(ALPHABET) == 71 and SPACE_INDEX == 69 and ALPHABET.index("-") == 36
    assert ALPHABET[:36] == "abcdefghijklmnopqrstuvwxyz0123456789" and ALPHABET[70] == "\n"


def test_word_positions_cover_the_official_range():
    labels = torch.arange(10).repeat(400)
    g = torch.Generator().manual_seed(0)
    idx = digit_text_indices(labels, g)
    text = decode_chars(idx)
    for label, s in zip(labels.tolist(), text):
        word = DIGIT_WORDS[label]
        assert len(s) == 8 and s.strip() == word and set(s.replace(word, "", 1)) <= {" "}
    for label in range(10):
        starts = {s.index(DIGIT_WORDS[label]) for s, lab in zip(text, labels.tolist()) if lab == label}
        assert starts == set(range(0, 8 - len(DIGIT_WORDS[label])))  # [0, 8-1-len], both ends
    onehot = encode_words(labels[:5], torch.Generator().manual_seed(1))
    assert onehot.shape == (5, 8, 71) and torch.all(onehot.sum(-1) == 1)
    again = encode_words(labels[:5], torch.Generator().manual_seed(1))
    assert torch.equal(onehot, again)


@pytest.fixture
def real_root(tmp_path):
    mnist = write_mnist(tmp_path / "mnist", {"train": np.array([0, 1, 1, 2, 0, 1]),
                                             "test": np.array([0, 1])})
    svhn = write_svhn(tmp_path / "SVHN", {"train": np.array([1, 0, 0, 0, 2, 2, 1]),
                                          "test": np.array([1, 0, 1])})
    return tmp_path, mnist, svhn


def test_real_mst(real_root, tmp_path):
    root, mnist, svhn = real_root
    ds = load_dataset("mst", data_root=root, source="real", cache_dir=tmp_path / "c")
    # train: class 0 min(2, 3), class 1 min(3, 2), class 2 min(1, 2) -> 5 x 20
    assert ds.split_size("train") == 100 and ds.split_size("test") == 40
    assert {m.source for m in ds.modalities.values()} == {"real"}
    idx = torch.arange(100)
    batch = ds.batch("train", idx, torch.Generator().manual_seed(0))
    labels = ds.labels("train")
    assert torch.equal((batch["mnist"][:, 0, 0, 0] * 255).round().long(), labels * 20)
    assert torch.equal((batch["svhn"][:, 0, 0, 0] * 255).round().long(), labels * 20)
    words = ds.text_to_strings("text", batch["text"])
    assert [w.strip() for w in words] == [DIGIT_WORDS[i] for i in labels.tolist()]
    assert batch["mnist"].dtype == torch.float32 and 0 <= batch["svhn"].min() <= batch["svhn"].max() <= 1


def test_auto_falls_back_per_modality(real_root, tmp_path):
    root, _, _ = real_root
    for f in (root / "SVHN").iterdir():
        f.unlink()
    ds = load_dataset("mst", data_root=root, standin_size=200, cache_dir=tmp_path / "c")
    assert ds.modalities["mnist"].source == "real"
    assert ds.modalities["svhn"].source == "standin"
    banner = ds.banner()
    assert "STAND-IN" in banner and "SVHN not found" in banner and str(root) in banner
    b = ds.batch("train", torch.arange(ds.split_size("train")))
    assert b["svhn"].shape[1:] == (3, 32, 32)


def test_real_refuses_to_fall_back(real_root, monkeypatch):
    monkeypatch.delenv("MMSPEC_DATA_ROOT", raising=False)
    root, _, _ = real_root
    (root / "SVHN" / "train_32x32.mat").unlink()
    (root / "SVHN" / "test_32x32.mat").unlink()
    with pytest.raises(DataError) as err:
        load_dataset("mst", data_root=root, source="real")
    message = str(err.value)
    assert "train_32x32.mat" in message and str(root / "SVHN") in message
    assert "--source standin" in message
    with pytest.raises(DataError, match="no data root was given"):
        load_dataset("mst", source="real")


def test_encode_decode_roundtrip_property():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from runtime.data.text import encode_strings

    chars = st.sampled_from(sorted(set(ALPHABET)))

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.text(chars, max_size=12), min_size=1, max_size=5))
    def check(strings):
        decoded = decode_chars(encode_strings(strings, 12, lowercase=False))
        assert decoded == [s.ljust(12) for s in strings]

    check()
    assert decode_chars(encode_strings(["Ab-É"], 5)) == ["ab-  "]
    assert encode_strings(["-"], 1).item() == 36
