"""CUB image-captions ("cub"): modalities image (3x64x64) and caption (32 x V word one-hot).

Real data: the MMVAE authors' cleaned archive (cub.zip, github.com/iffsid/mmvae), unpacked under
the data root as cub/ (or CUB/):

    cub/text_trainvalclasses.txt   training captions, one per line, 10 per image
    cub/text_testclasses.txt       test captions
    cub/train/<NNN.Species_Name>/*.jpg   images of the 150 train+val classes
    cub/test/<NNN.Species_Name>/*.jpg    images of the 50 test classes

Images are taken in torchvision ImageFolder order (class folders sorted, files sorted) and resized
to 64x64 (bilinear), as MMVAE's `Resize([64, 64])`. Caption line i belongs to image i // 10
(MMVAE's resampler), so a split has 10 x #images items and stores each image once. MMVAE splits
the caption file with NLTK's sentence tokenizer; here every non-empty line is one caption (the
archive's layout), and a line count other than 10 per image is an error.

Vocabulary (`vocab.py`): `<exc>`=0 (unknown), `<pad>`=1, `<eos>`=2, then the training-caption
tokens seen more than 3 times, in first-appearance order; 32 tokens per caption.
Label: the species (index into the sorted class folder names of train and test together; the
train and test species are disjoint in this split, as in the archive).

Stand-in: coloured shapes (`standin/shapes.py`) with 5 captions per image from templates
(`standin/captions.py`); label: the shape; attributes: shape, colour, size, background.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from runtime.data import vocab
from runtime.data.cache import cached, fingerprint, standin_key
from runtime.data.dataset import SPLITS, DataModality, MultimodalDataset, SplitData
from runtime.data.errors import DataError
from runtime.data.images import IMAGE_EXTENSIONS, read_many
from runtime.data.sources import LoadContext, candidate_dirs, resolve
from runtime.data.standin import captions, shapes
from runtime.data.stores import ImageStore, TokenStore

SUBDIRS = ("cub", "CUB")
TEXT_FILES = {"train": "text_trainvalclasses.txt", "test": "text_testclasses.txt"}
CAPTIONS_PER_IMAGE = 10
STANDIN_CAPTIONS_PER_IMAGE = 5
DEFAULT_SIZE = 40000
EXPECTED = ["cub/text_trainvalclasses.txt, cub/text_testclasses.txt, cub/train/<class>/*.jpg and "
            "cub/test/<class>/*.jpg (the MMVAE cub.zip layout)"]


def find_cub(root) -> Path | None:
    """The cub folder; one with some but not all of the expected parts is an error."""
    for folder in candidate_dirs(root, *SUBDIRS):
        if not folder.is_dir():
            continue
        parts = [folder / TEXT_FILES["train"], folder / TEXT_FILES["test"],
                 folder / "train", folder / "test"]
        missing = [p.name for p in parts if not p.exists()]
        if not missing:
            return folder
        if len(missing) < len(parts):
            raise DataError(f"CUB folder {folder} is incomplete: missing {', '.join(missing)} "
                            f"(expected {EXPECTED[0]}).")
    return None


def _image_folder(folder: Path) -> tuple[list[Path], list[str]]:
    """ImageFolder order: (files, class name of each file)."""
    files, classes = [], []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for f in sorted(class_dir.iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS:
                files.append(f)
                classes.append(class_dir.name)
    if not files:
        raise DataError(f"{folder}: no images found (expected <class>/*.jpg sub-folders).")
    return files, classes


def _read_captions(path: Path) -> list[list[str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the caption file ({exc}).") from None
    return [vocab.tokenize(line) for line in lines if line.strip()]


def _resize64(image):
    from PIL import Image

    return image.resize((64, 64), Image.BILINEAR)


def _load_real(ctx: LoadContext, folder: Path):
    found = {s: _image_folder(folder / s) for s in SPLITS}
    class_names = sorted({c for _, classes in found.values() for c in classes})
    texts = {s: _read_captions(folder / TEXT_FILES[s]) for s in SPLITS}
    vocabulary = vocab.build_vocabulary(texts["train"])
    splits = {}
    for split in SPLITS:
        files, classes = found[split]
        if len(texts[split]) != CAPTIONS_PER_IMAGE * len(files):
            raise DataError(f"{folder / TEXT_FILES[split]}: {len(texts[split])} captions for "
                            f"{len(files)} images in {folder / split}; expected exactly "
                            f"{CAPTIONS_PER_IMAGE} per image, in image order.")
        key = f"real-cub-{split}-{fingerprint(files)}"
        images = cached(key, lambda: {"images": read_many(files, _resize64)}, ctx.cache_dir)
        image_index = torch.arange(len(texts[split])) // CAPTIONS_PER_IMAGE
        per_image = torch.tensor([class_names.index(c) for c in classes])
        labels = per_image[image_index]
        splits[split] = SplitData(labels, {
            "image": ImageStore(images["images"], image_index),
            "caption": TokenStore(vocab.encode(texts[split], vocabulary), len(vocabulary))},
            attributes=labels[:, None])
    return splits, class_names, vocabulary


def _load_standin(ctx: LoadContext):
    vocabulary = captions.vocabulary()
    per = STANDIN_CAPTIONS_PER_IMAGE
    splits = {}
    for split in SPLITS:
        items = ctx.size(DEFAULT_SIZE) if split == "train" else ctx.test_size(DEFAULT_SIZE)
        n = max(1, math.ceil(items / per))
        key = standin_key(f"cub-{split}", shapes.VERSION, ctx.seed, n)
        data = cached(key, lambda: _standin_part(n, ctx.seed, split), ctx.cache_dir)
        image_index = torch.arange(n * per) // per
        attrs = data["attributes"][image_index]
        splits[split] = SplitData(attrs[:, 0], {
            "image": ImageStore(data["images"], image_index),
            "caption": TokenStore(data["captions"], len(vocabulary))}, attributes=attrs)
    return splits, list(shapes.SHAPES), vocabulary


def _standin_part(n: int, seed: int, split: str) -> dict:
    data = shapes.make_shapes(n, seed, f"cub-{split}")
    data["captions"] = captions.cub_captions(data["attributes"], STANDIN_CAPTIONS_PER_IMAGE, seed,
                                             split)
    return data


def load_cub(ctx: LoadContext) -> MultimodalDataset:
    """CUB image-captions from the data root or the shape stand-in (see the module docstring)."""
    folder = resolve(ctx, "CUB image-captions", find_cub, EXPECTED,
                     candidate_dirs(ctx.root, *SUBDIRS))
    if folder is not None:
        splits, class_names, vocabulary = _load_real(ctx, folder)
        origins = (f"{folder}/{{train,test}}/<class>/*.jpg, resized to 64x64",
                   f"{folder}/{{{', '.join(TEXT_FILES.values())}}}")
        label_name, attribute_names = "species", ["species"]
    else:
        splits, class_names, vocabulary = _load_standin(ctx)
        gen = f"(generator v{shapes.VERSION}, seed {ctx.seed})"
        origins = (f"procedural coloured shapes on photo crops {gen}",
                   f"template captions describing shape, colour, size and background {gen}")
        label_name, attribute_names = "shape", list(shapes.ATTRIBUTES)
    source = "real" if folder is not None else "standin"
    modalities = {
        "image": DataModality("image", "image", (3, 64, 64), source, origins[0]),
        "caption": DataModality("caption", "text", (vocab.MAX_LENGTH, len(vocabulary)), source,
                                origins[1], vocabulary),
    }
    return MultimodalDataset("cub", modalities, class_names, splits, notes=list(ctx.notes),
                             label_name=label_name, attribute_names=attribute_names,
                             description="CUB image-captions")
