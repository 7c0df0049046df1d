"""PolyMNIST and Translated-PolyMNIST: modalities m0..m4, each 3x28x28, one shared digit label.

Real, from PNG folders (the official release): <root>/PolyMNIST/{train,test}/m0..m4/{i}.{label}.png
(also polymnist/, MMNIST/; Translated-PolyMNIST: TranslatedPolyMNIST/, translated_polymnist/,
tpolymnist/). File names are sorted; the same name in every mX folder is one aligned tuple, and
the label is the part before ".png".

Real, built from MNIST and background photographs (the official recipe, `_create_mmnist_dataset`
of the MoPoE code): <root>/polymnist_backgrounds/ (or PolyMNIST/backgrounds/, backgrounds/) holds
the photographs; modality m uses the m-th image in sorted file-name order (the official script's
order), so of the eight images in ../shared/data/polymnist_backgrounds the five used are
00flowers, 03milky-way, 04poppies, 05tree and 06woman. Per digit class and modality a random
permutation of that class's MNIST images; each item binarises its digit at > 128, takes a random
28x28 crop of the background (corner uniform in [0, W-28) x [0, H-28)) and inverts the crop's
colours where the digit is. Translated-PolyMNIST first shrinks the digit to 21x21 (bilinear,
antialiased) and pastes it at offsets drawn from 0..6 on each axis. Items are composed per batch
from the digits, the backgrounds and the stored offsets (`stores.PolyStore`).

Stand-in: the same recipe with MNIST-like digits (`standin/digits.py`) and five scikit-image
photographs, tone-mapped so each modality's background is either dark or bright (digit polarity
is then consistent within a modality): `STANDIN_BACKGROUNDS`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from runtime.data import mnist
from runtime.data.cache import cached, fingerprint, standin_key
from runtime.data.dataset import SPLITS, DataModality, MultimodalDataset, SplitData
from runtime.data.errors import DataError
from runtime.data.images import image_files, read_many
from runtime.data.sources import LoadContext, candidate_dirs, resolve
from runtime.data.standin import digits
from runtime.data.standin.assets import photo
from runtime.data.standin.common import generator, to_uint8
from runtime.data.stores import ImageStore, PolyStore

M = 5
DEFAULT_SIZE = 60000
SMALL = 21
MAX_SHIFT = 7  # offsets drawn from 0..6
PNG_DIRS = {False: ("PolyMNIST", "polymnist", "MMNIST"),
            True: ("TranslatedPolyMNIST", "translated_polymnist", "tpolymnist")}
BACKGROUND_DIRS = ("polymnist_backgrounds", "PolyMNIST/backgrounds", "backgrounds")
STANDIN_BACKGROUNDS = (("hubble_deep_field", 0.0, 0.45), ("chelsea", 0.55, 1.0),
                       ("rocket", 0.0, 0.45), ("immunohistochemistry", 0.55, 1.0),
                       ("retina", 0.0, 0.45))
CLASS_NAMES = [str(d) for d in range(10)]


@dataclass(frozen=True)
class Found:
    """Real PolyMNIST: PNG folders (png: the dataset folder) or MNIST + backgrounds."""

    png: Path | None = None
    mnist_files: mnist.MnistFiles | None = None
    backgrounds: tuple[Path, ...] = ()


def _find_png(root, translated) -> Path | None:
    for folder in candidate_dirs(root, *PNG_DIRS[translated]):
        if any((folder / s / f"m{m}").is_dir() for s in SPLITS for m in range(M)):
            return folder
    return None


def _find_backgrounds(root) -> tuple[Path, ...]:
    for folder in candidate_dirs(root, *BACKGROUND_DIRS):
        if folder.is_dir():
            files = image_files(folder)
            if files:
                return tuple(files)
    return ()


def _finder(translated: bool):
    def find(root) -> Found | None:
        png = _find_png(root, translated)
        if png is not None:
            return Found(png=png)
        backgrounds = _find_backgrounds(root)
        files = mnist.find_mnist(root) if backgrounds else None
        if files is None:
            return None
        if len(backgrounds) < M:
            raise DataError(f"PolyMNIST needs {M} background images, found only "
                            f"{len(backgrounds)} in {backgrounds[0].parent}.")
        return Found(mnist_files=files, backgrounds=backgrounds[:M])
    return find


def _expected(translated: bool) -> list[str]:
    png = PNG_DIRS[translated][0]
    return [f"{png}/train/m0..m4/*.png and {png}/test/m0..m4/*.png (the official PNG folders)",
            "or MNIST (" + mnist.EXPECTED[0] + ") plus 5 photographs in polymnist_backgrounds/"]


# ---- PNG folders --------------------------------------------------------------------------------

def _png_split(folder: Path, split: str) -> tuple[list[list[Path]], Tensor]:
    """Sorted files of m0..m4 (same names in each) and the labels parsed from the names."""
    lists = []
    for m in range(M):
        sub = folder / split / f"m{m}"
        if not sub.is_dir():
            raise DataError(f"PolyMNIST folder {sub} is missing (found other modality folders in "
                            f"{folder}); expected {split}/m0..m{M - 1}.")
        lists.append(sorted(p for p in sub.iterdir() if p.suffix.lower() == ".png"))
    names = [p.name for p in lists[0]]
    for m, files in enumerate(lists[1:], 1):
        if [p.name for p in files] != names:
            raise DataError(f"{folder / split / f'm{m}'} and {folder / split / 'm0'} hold "
                            f"different file names ({len(files)} vs {len(names)} files); the "
                            f"modalities must be aligned by file name.")
    return lists, torch.tensor([_label_of(p) for p in lists[0]], dtype=torch.long)


def _label_of(path: Path) -> int:
    parts = path.name.split(".")
    if len(parts) < 3 or not parts[-2].isdigit() or not 0 <= int(parts[-2]) <= 9:
        raise DataError(f"{path}: PolyMNIST file names must be {{index}}.{{label}}.png with a "
                        f"digit label, e.g. 0.7.png.")
    return int(parts[-2])


def _load_png(ctx: LoadContext, folder: Path) -> dict[str, SplitData]:
    splits = {}
    for split in SPLITS:
        lists, labels = _png_split(folder, split)
        key = f"real-polymnist-{split}-{fingerprint(p for files in lists for p in files)}"
        data = cached(key, lambda: {f"m{m}": read_many(files, shape=(28, 28))
                                    for m, files in enumerate(lists)}, ctx.cache_dir)
        splits[split] = SplitData(labels, {f"m{m}": ImageStore(data[f"m{m}"]) for m in range(M)})
    return splits


# ---- built from digits and backgrounds ----------------------------------------------------------

def shrink(images: Tensor) -> Tensor:
    """uint8 digits [N, 1, 28, 28] -> [N, 21, 21], bilinear with antialiasing."""
    small = F.interpolate(images.float(), size=(SMALL, SMALL), mode="bilinear",
                          align_corners=False, antialias=True)
    return small[:, 0].round_().clamp_(0, 255).to(torch.uint8)


def _item_order(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Items (i, label) for i < count(label), in the sorted order of the official names
    '{i}.{label}.png': returns (i, label) per item."""
    counts = torch.bincount(labels, minlength=10).tolist()
    items = sorted(((i, c) for c in range(10) for i in range(counts[c])),
                   key=lambda t: f"{t[0]}.{t[1]}.png")
    pairs = torch.tensor(items, dtype=torch.long).view(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def _compose(images: Tensor, labels: Tensor, backgrounds: list[Tensor], translated: bool,
             g: torch.Generator) -> SplitData:
    """PolyStores for m0..m4 over one split's digits (see the module docstring)."""
    rank, item_labels = _item_order(labels)
    digits_small = shrink(images) if translated else images[:, 0].contiguous()
    by_class = [torch.nonzero(labels == c)[:, 0] for c in range(10)]
    n = len(rank)
    stores = {}
    for m, background in enumerate(backgrounds):
        perm = [pool[torch.randperm(len(pool), generator=g)] for pool in by_class]
        digit_index = torch.empty(n, dtype=torch.long)
        for c in range(10):
            sel = torch.nonzero(item_labels == c)[:, 0]
            digit_index[sel] = perm[c][rank[sel]]
        h, w = background.shape[1:]
        crop = torch.stack([torch.randint(0, h - 28, (n,), generator=g),
                            torch.randint(0, w - 28, (n,), generator=g)], 1)
        shift = (torch.randint(0, MAX_SHIFT, (n, 2), generator=g) if translated else None)
        stores[f"m{m}"] = PolyStore(digits_small, digit_index, background, crop, shift)
    return SplitData(item_labels, stores)


def _read_backgrounds(paths) -> list[Tensor]:
    from runtime.data.images import read_rgb

    out = []
    for path in paths:
        array = torch.from_numpy(read_rgb(path)).permute(2, 0, 1).contiguous()
        if min(array.shape[1:]) <= 28:
            raise DataError(f"{path}: a PolyMNIST background must be larger than 28x28 pixels.")
        out.append(array)
    return out


def standin_backgrounds() -> list[Tensor]:
    """The five tone-mapped scikit-image photographs of the stand-in, uint8 [3, H, W]."""
    return [to_uint8(lo + (hi - lo) * photo(name)) for name, lo, hi in STANDIN_BACKGROUNDS]


def _digits(ctx: LoadContext, found: Found | None, split: str) -> tuple[Tensor, Tensor]:
    if found is not None:
        return mnist.load_split(found.mnist_files, split)
    n = ctx.size(DEFAULT_SIZE) if split == "train" else ctx.test_size(DEFAULT_SIZE)
    key = standin_key(f"mnist-like-{split}", digits.VERSION, ctx.seed, n)
    data = cached(key, lambda: digits.make_mnist_like(n, ctx.seed, split), ctx.cache_dir)
    return data["images"], data["labels"]


def _built(ctx: LoadContext, found: Found | None, translated: bool) -> dict[str, SplitData]:
    backgrounds = (_read_backgrounds(found.backgrounds) if found is not None
                   else standin_backgrounds())
    name = "tpolymnist" if translated else "polymnist"
    return {split: _compose(*_digits(ctx, found, split), backgrounds, translated,
                            generator(ctx.seed, f"{name}-build/{split}")) for split in SPLITS}


def _origins(found: Found | None, translated: bool, seed: int) -> list[str]:
    recipe = "translated digit, " if translated else ""
    if found is not None and found.png is not None:
        return [f"{found.png}/{{train,test}}/m{m}/*.png" for m in range(M)]
    if found is not None:
        where = mnist.describe(found.mnist_files)
        return [f"built: {recipe}{where} on {found.backgrounds[m]}" for m in range(M)]
    return [f"built: {recipe}MNIST-like stand-in digits (generator v{digits.VERSION}, seed {seed}) "
            f"on scikit-image '{STANDIN_BACKGROUNDS[m][0]}'" for m in range(M)]


def load_polymnist(ctx: LoadContext, translated: bool = False) -> MultimodalDataset:
    """PolyMNIST (or Translated-PolyMNIST) from PNG folders, MNIST + backgrounds, or stand-in."""
    title = "Translated-PolyMNIST" if translated else "PolyMNIST"
    found = resolve(ctx, title, _finder(translated), _expected(translated),
                    candidate_dirs(ctx.root, *PNG_DIRS[translated], *BACKGROUND_DIRS))
    if found is not None and found.png is not None:
        splits = _load_png(ctx, found.png)
    else:
        splits = _built(ctx, found, translated)
    source = "real" if found is not None else "standin"
    modalities = {f"m{m}": DataModality(f"m{m}", "image", (3, 28, 28), source, origin)
                  for m, origin in enumerate(_origins(found, translated, ctx.seed))}
    return MultimodalDataset("tpolymnist" if translated else "polymnist", modalities, CLASS_NAMES,
                             splits, notes=list(ctx.notes), label_name="digit",
                             description=title)
