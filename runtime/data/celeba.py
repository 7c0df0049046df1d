"""Bimodal CelebA ("celeba"): modalities image (3x64x64) and text (256 x 71 character one-hot).

Real data: the layout of the MoPoE/MMJSD release (github.com/thomassutter/MoPoE, CelebaDataset),
under the data root as CelebA/ (or celeba/):

    CelebA/img_align_celeba/000001.jpg ...          aligned CelebA images (178x218)
    CelebA/list_eval_partition.csv                  image_id,partition (0 train, 1 val, 2 test)
    CelebA/list_attr_celeba.csv                     image_id + 40 attributes in {-1, 1}
    CelebA/list_attr_text_256_False_True_celeba.csv image_id,text (the attribute text; any
                                                    list_attr_text_*_celeba.csv is accepted)
    CelebA/alphabet.json                            optional: the alphabet as a JSON list of
                                                    characters (default: the 71-character one)

As in MoPoE, "train" is partition 0 and "test" is partition 1 (their evaluation split). Images
are centre-cropped to 148x148 (offsets 35 from the top, 15 from the left of a 178x218 image) and
resized to 64x64 (bicubic). Text is lower-cased, padded with spaces / truncated to 256 characters
and one-hot encoded over the alphabet; a character outside the alphabet becomes a space (MoPoE
leaves an all-zero row). Rows of the three CSV files are joined by image_id.
Label: the attribute `Male` (class_names ["not male", "male"]); `attributes()` gives all 40 as
0/1 columns named by `attribute_names`.

Stand-in: coloured shapes (`standin/shapes.py`) with a comma-separated attribute line each
(`standin/captions.py`); label: the shape; attributes: shape, colour, size, background.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from runtime.data.cache import cached, fingerprint, standin_key
from runtime.data.dataset import SPLITS, DataModality, MultimodalDataset, SplitData
from runtime.data.errors import DataError
from runtime.data.images import read_many
from runtime.data.sources import LoadContext, candidate_dirs, resolve
from runtime.data.standin import captions, shapes
from runtime.data.stores import ImageStore, TokenStore
from runtime.data.text import ALPHABET, encode_strings

SUBDIRS = ("CelebA", "celeba")
TEXT_NAME = "list_attr_text_256_False_True_celeba.csv"
LENGTH = 256
CROP = 148
PARTITION = {"train": "0", "test": "1"}
LABEL_ATTRIBUTE = "Male"
DEFAULT_SIZE = 20000
EXPECTED = ["CelebA/img_align_celeba/*.jpg, CelebA/list_eval_partition.csv, "
            f"CelebA/list_attr_celeba.csv and CelebA/{TEXT_NAME} (the MoPoE Bimodal CelebA layout)"]


def _text_file(folder: Path) -> Path | None:
    if (folder / TEXT_NAME).is_file():
        return folder / TEXT_NAME
    others = sorted(folder.glob("list_attr_text_*_celeba.csv"))
    return others[0] if others else None


def find_celeba(root) -> dict[str, Path] | None:
    """Paths of the four parts; a folder with some but not all of them is an error."""
    for folder in candidate_dirs(root, *SUBDIRS):
        if not folder.is_dir():
            continue
        parts = {"images": folder / "img_align_celeba",
                 "partition": folder / "list_eval_partition.csv",
                 "attributes": folder / "list_attr_celeba.csv",
                 "text": _text_file(folder) or folder / TEXT_NAME}
        missing = [p.name for p in parts.values() if not p.exists()]
        if not missing:
            return parts
        if len(missing) < len(parts):
            raise DataError(f"CelebA folder {folder} is incomplete: missing {', '.join(missing)} "
                            f"(expected {EXPECTED[0]}).")
    return None


def _read_csv(path: Path, needed: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """(header, row by image_id); missing columns or an unreadable file are located errors."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            missing = [c for c in needed if c not in header]
            if missing:
                raise DataError(f"{path}: missing column(s) {', '.join(missing)}; "
                                f"found {', '.join(header) or 'no header'}.")
            key = header.index("image_id")
            return header, {row[key]: row for row in reader if len(row) == len(header)}
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read this CSV file ({exc}).") from None


def _alphabet(folder: Path) -> str:
    path = folder / "alphabet.json"
    if not path.is_file():
        return ALPHABET
    try:
        chars = json.loads(path.read_text(encoding="utf-8"))
        return "".join(chars)
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: not a JSON list of characters ({exc}).") from None


def _crop_resize(image):
    from PIL import Image

    w, h = image.size
    top, left = (h - CROP) // 2, (w - CROP) // 2
    return image.crop((left, top, left + CROP, top + CROP)).resize((64, 64), Image.BICUBIC)


def _attribute_rows(ids, attributes, header, names, path) -> torch.Tensor:
    cols = [header.index(n) for n in names]
    try:
        return torch.tensor([[int(attributes[i][c]) > 0 for c in cols] for i in ids]).long()
    except KeyError as exc:
        raise DataError(f"{path}: no attributes for image {exc}.") from None
    except ValueError as exc:
        raise DataError(f"{path}: attribute values must be -1 or 1 ({exc}).") from None


def _load_real(ctx: LoadContext, parts: dict[str, Path]):
    p_header, partition = _read_csv(parts["partition"], ["image_id", "partition"])
    header, attributes = _read_csv(parts["attributes"], ["image_id", LABEL_ATTRIBUTE])
    t_header, texts = _read_csv(parts["text"], ["image_id", "text"])
    p_col, t_col = p_header.index("partition"), t_header.index("text")
    names = [c for c in header if c and c != "image_id"]  # the attribute columns, file order
    alphabet = _alphabet(parts["text"].parent)
    splits = {}
    for split in SPLITS:
        ids = [i for i, row in partition.items() if row[p_col].strip() == PARTITION[split]]
        missing = [i for i in ids if i not in texts]
        if missing:
            raise DataError(f"{parts['text']}: no text for image {missing[0]} "
                            f"({len(missing)} images of the {split} split lack text).")
        files = [parts["images"] / i for i in ids]
        key = f"real-celeba-{split}-{fingerprint(files)}"
        images = cached(key, lambda: {"images": read_many(files, _crop_resize)}, ctx.cache_dir)
        attrs = _attribute_rows(ids, attributes, header, names, parts["attributes"])
        text = encode_strings([texts[i][t_col] for i in ids], LENGTH, alphabet)
        splits[split] = SplitData(attrs[:, names.index(LABEL_ATTRIBUTE)], {
            "image": ImageStore(images["images"]), "text": TokenStore(text, len(alphabet))},
            attributes=attrs)
    return splits, names


def _load_standin(ctx: LoadContext) -> dict[str, SplitData]:
    splits = {}
    for split in SPLITS:
        n = ctx.size(DEFAULT_SIZE) if split == "train" else ctx.test_size(DEFAULT_SIZE)
        key = standin_key(f"celeba-{split}", shapes.VERSION, ctx.seed, n)
        data = cached(key, lambda: _standin_part(n, ctx.seed, split), ctx.cache_dir)
        attrs = data["attributes"]
        splits[split] = SplitData(attrs[:, 0], {
            "image": ImageStore(data["images"]),
            "text": TokenStore(data["text"], len(ALPHABET))}, attributes=attrs)
    return splits


def _standin_part(n: int, seed: int, split: str) -> dict:
    data = shapes.make_shapes(n, seed, f"celeba-{split}")
    data["text"] = captions.celeba_text(data["attributes"], seed, split)
    return data


def load_celeba(ctx: LoadContext) -> MultimodalDataset:
    """Bimodal CelebA from the data root or the shape stand-in (see the module docstring)."""
    parts = resolve(ctx, "Bimodal CelebA", find_celeba, EXPECTED,
                    candidate_dirs(ctx.root, *SUBDIRS))
    alphabet = ALPHABET
    if parts is not None:
        splits, attribute_names = _load_real(ctx, parts)
        alphabet = _alphabet(parts["text"].parent)
        class_names, label_name = ["not male", "male"], f"attribute {LABEL_ATTRIBUTE}"
        origins = (f"{parts['images']}/*.jpg, centre crop 148, resized to 64x64",
                   f"{parts['text']}")
    else:
        splits = _load_standin(ctx)
        attribute_names, class_names = list(shapes.ATTRIBUTES), list(shapes.SHAPES)
        label_name = "shape"
        gen = f"(generator v{shapes.VERSION}, seed {ctx.seed})"
        origins = (f"procedural coloured shapes on photo crops {gen}",
                   f"attribute lines describing shape, colour, size and background {gen}")
    source = "real" if parts is not None else "standin"
    modalities = {
        "image": DataModality("image", "image", (3, 64, 64), source, origins[0]),
        "text": DataModality("text", "text", (LENGTH, len(alphabet)), source, origins[1],
                             alphabet),
    }
    return MultimodalDataset("celeba", modalities, class_names, splits, notes=list(ctx.notes),
                             label_name=label_name, attribute_names=attribute_names,
                             description="Bimodal CelebA")
