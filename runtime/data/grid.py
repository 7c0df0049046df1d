"""A picture of a few aligned samples: one column per item, one row per modality.

Images are drawn; text is decoded (argmax) and printed as a string, wrapped to the cell, with
spaces shown as '·' for character text so the random word position of MNIST-SVHN-Text is visible.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import torch

from runtime.data.dataset import MultimodalDataset


def _text_cell(ax, text: str) -> None:
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(text, 18)[:6]) or "(empty)", ha="center",
            va="center", fontsize=7, family="monospace", transform=ax.transAxes)


def save_grid(ds: MultimodalDataset, path, split: str = "train", count: int = 8,
              seed: int = 0) -> Path:
    """Write a PNG of `count` random aligned items of `split`; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = torch.Generator().manual_seed(seed)
    n = ds.split_size(split)
    index = torch.randperm(n, generator=g)[: min(count, n)]
    batch = ds.batch(split, index, torch.Generator(device=ds.device).manual_seed(seed))
    labels = ds.labels(split)[index.to(ds.device)].tolist()
    names = list(ds.modalities)
    fig, axes = plt.subplots(len(names), len(index), squeeze=False,
                             figsize=(1.4 * len(index), 1.5 * len(names)))
    for row, name in enumerate(names):
        mod = ds.modalities[name]
        texts = ds.text_to_strings(name, batch[name]) if mod.kind == "text" else None
        for col in range(len(index)):
            ax = axes[row][col]
            ax.set_xticks([])
            ax.set_yticks([])
            if mod.kind == "image":
                ax.imshow(batch[name][col].permute(1, 2, 0).clamp(0, 1).cpu().numpy(),
                          cmap="gray" if mod.shape[0] == 1 else None, vmin=0, vmax=1)
            elif texts is not None:
                shown = texts[col].replace(" ", "·") if isinstance(mod.vocabulary, str) else texts[col]
                _text_cell(ax, shown.rstrip("·") if len(shown) > 32 else shown)
            if col == 0:
                ax.set_ylabel(f"{name}\n({mod.source})", fontsize=8)
            if row == 0:
                ax.set_title(str(ds.class_names[labels[col]]), fontsize=8)
    fig.suptitle(f"{ds.name}: {split} samples (title: {ds.label_name})", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
