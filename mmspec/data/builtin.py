"""The built-in datasets' modalities, known without loading them.

`mmspec check` compares a spec's `modality` declarations with this table, so a `data mst` spec with
`modality rna: vector(50)` fails at check time, located, instead of at run time. The runtime's
loaders produce exactly these names, kinds and shapes (tests/test_owndata_check.py compares the two
on the stand-ins). A size of None depends on the files: CUB's word vocabulary is built from the
captions found under the data root, CelebA's alphabet may come with its files.
"""
from __future__ import annotations

BUILTIN: dict[str, dict[str, tuple[str, tuple[int | None, ...]]]] = {
    "mst": {"mnist": ("image", (1, 28, 28)), "svhn": ("image", (3, 32, 32)), "text": ("text", (8, 71))},
    "polymnist": {f"m{i}": ("image", (3, 28, 28)) for i in range(5)},
    "tpolymnist": {f"m{i}": ("image", (3, 28, 28)) for i in range(5)},
    "cub": {"image": ("image", (3, 64, 64)), "caption": ("text", (32, None))},
    "celeba": {"image": ("image", (3, 64, 64)), "text": ("text", (256, None))},
}


# The built-in datasets whose items carry several attributes (the `attribute_probe` metric reads
# them): CelebA's 40 binary attributes (the stand-in's shape, colour, size and background). CUB's
# items have one class label, the species; MNIST-SVHN-Text's and PolyMNIST's the digit.
ATTRIBUTES: dict[str, str] = {"celeba": "the 40 CelebA attributes"}


def builtin_names() -> list[str]:
    return list(BUILTIN)


def shape_fits(declared: tuple[int, ...], known: tuple[int | None, ...]) -> bool:
    return len(declared) == len(known) and all(k is None or d == k for d, k in zip(declared, known))


def describe(kind: str, shape: tuple[int | None, ...]) -> str:
    return f"{kind}({', '.join('V' if s is None else str(s) for s in shape)})"
