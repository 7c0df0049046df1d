"""MNIST-SVHN-Text ("mst"): modalities mnist (1x28x28), svhn (3x32x32), text (8x71).

Real: MNIST (`mnist.py`) and SVHN (`svhn.py`) paired by label with the official scheme
(`pairing.py`, dm = 20: 1,121,360 train and 200,000 test triples); only the two index vectors are
stored and every batch gathers from the MNIST and SVHN tensors. The text is the digit's English
word at a random position, regenerated for every batch (`text.py`).

Stand-in: MNIST-like and SVHN-like digits (`standin/`), with balanced labels, ceil(size / 2) images
per image modality, paired by the same scheme with dm = 2, so a stand-in of `standin_size` items
has (about) that many training triples from twice fewer distinct images per modality.

With --source auto each image modality falls back on its own: real MNIST with a stand-in SVHN
works (pairs by label across them; dm = 2 unless both are real). The text is marked real only
when both image modalities are.
"""
from __future__ import annotations

import math


from runtime.data import mnist, svhn
from runtime.data.cache import cached, standin_key
from runtime.data.dataset import SPLITS, DataModality, MultimodalDataset, SplitData
from runtime.data.pairing import OFFICIAL_DM, OFFICIAL_MAX_PER_CLASS, pair_by_label
from runtime.data.sources import LoadContext, resolve
from runtime.data.standin import digits, svhn_like
from runtime.data.standin.common import generator
from runtime.data.stores import DigitTextStore, ImageStore
from runtime.data.text import ALPHABET, MST_TEXT_LENGTH

DEFAULT_SIZE = 60000
STANDIN_DM = 2
CLASS_NAMES = [str(d) for d in range(10)]


def _standin_images(ctx: LoadContext, part: str, make, version: int, split: str, n: int):
    key = standin_key(f"{part}-{split}", version, ctx.seed, n)
    data = cached(key, lambda: make(n, ctx.seed, split), ctx.cache_dir)
    return data["images"], data["labels"]


def _standin_count(ctx: LoadContext, split: str) -> int:
    items = ctx.size(DEFAULT_SIZE) if split == "train" else ctx.test_size(DEFAULT_SIZE)
    return max(10, math.ceil(items / STANDIN_DM))


def _mnist(ctx, files, split):
    if files is not None:
        return mnist.load_split(files, split)
    n = _standin_count(ctx, split)
    return _standin_images(ctx, "mnist-like", digits.make_mnist_like, digits.VERSION, split, n)


def _svhn(ctx, files, split):
    if files is not None:
        return svhn.load_split(files[split])
    n = _standin_count(ctx, split)
    return _standin_images(ctx, "svhn-like", svhn_like.make_svhn_like, svhn_like.VERSION, split, n)


def _modalities(ctx, mnist_files, svhn_files) -> dict[str, DataModality]:
    gen = f"generator v{{}}, seed {ctx.seed}"
    m_origin = (mnist.describe(mnist_files) if mnist_files else
                "procedural MNIST-like digits: warped scikit-learn handwriting ("
                + gen.format(digits.VERSION) + ")")
    s_origin = (f"{svhn_files['train'].parent}/{{train_32x32.mat, test_32x32.mat}}" if svhn_files
                else "procedural SVHN-like crops: font digits on photo crops ("
                + gen.format(svhn_like.VERSION) + ")")
    both = mnist_files is not None and svhn_files is not None
    return {
        "mnist": DataModality("mnist", "image", (1, 28, 28), "real" if mnist_files else "standin",
                              m_origin),
        "svhn": DataModality("svhn", "image", (3, 32, 32), "real" if svhn_files else "standin",
                             s_origin),
        "text": DataModality("text", "text", (MST_TEXT_LENGTH, len(ALPHABET)),
                             "real" if both else "standin",
                             "the digit's English word at a random position, regenerated every "
                             "batch from the pair labels (official MNIST-SVHN-Text scheme)",
                             ALPHABET),
    }


def load_mst(ctx: LoadContext) -> MultimodalDataset:
    """MNIST-SVHN-Text from the data root and/or the stand-ins (see the module docstring)."""
    mnist_files = resolve(ctx, "MNIST", mnist.find_mnist, mnist.EXPECTED,
                          mnist.looked_in(ctx.root))
    svhn_files = resolve(ctx, "SVHN", svhn.find_svhn, svhn.EXPECTED, svhn.looked_in(ctx.root))
    dm = OFFICIAL_DM if (mnist_files and svhn_files) else STANDIN_DM
    splits = {}
    for split in SPLITS:
        m_images, m_labels = _mnist(ctx, mnist_files, split)
        s_images, s_labels = _svhn(ctx, svhn_files, split)
        ia, ib = pair_by_label(m_labels, s_labels, max_per_class=OFFICIAL_MAX_PER_CLASS, dm=dm,
                               generator=generator(ctx.seed, f"mst-pairs/{split}"))
        labels = m_labels[ia]
        splits[split] = SplitData(labels, {"mnist": ImageStore(m_images, ia),
                                           "svhn": ImageStore(s_images, ib),
                                           "text": DigitTextStore(labels)})
    notes = ctx.notes + [f"pairs: per digit min(#MNIST, #SVHN, {OFFICIAL_MAX_PER_CLASS}) indices "
                         f"of each, {dm} random permutations (index pairs, gathered per batch)"]
    return MultimodalDataset("mst", _modalities(ctx, mnist_files, svhn_files), CLASS_NAMES,
                             splits, notes=notes, label_name="digit",
                             description="MNIST-SVHN-Text")
