"""PNG plots: a cross-generation grid per (given -> target) pair, and the loss curves.

matplotlib with the Agg backend, so plots are written on machines with no display.
"""
from __future__ import annotations

import textwrap

from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def _image_row(items: torch.Tensor, pad: int = 2) -> np.ndarray:
    """[N, C, H, W] in [0, 1] -> one RGB strip [H, N * (W + pad), 3] (a single artist per row)."""
    x = items.float().clamp(0, 1)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    x = torch.nn.functional.pad(x[:, :3], (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2), value=1.0)
    return x.permute(2, 0, 3, 1).reshape(x.shape[2], -1, 3).numpy()


def _vector_row(items: torch.Tensor) -> np.ndarray:
    """[N, D] -> one strip [1, N * (D + 1)] of values with a NaN gap between items (drawn blank)."""
    x = items.float().reshape(items.shape[0], -1)
    gap = torch.full((x.shape[0], 1), float("nan"))
    return torch.cat([x, gap], dim=1).reshape(1, -1).numpy()


def cross_generation_grid(example: dict, given: tuple, target: str, kinds: dict[str, str],
                          to_text: Callable | None, path: Path, note: str = "") -> Path:
    """Rows: each given modality, then the samples generated for the target, then the true target.

    One axes for the whole grid, one image artist per image row and one text per text cell: a
    grid of 50 cells draws in a fraction of a second, where 50 subplots take seconds.
    """
    items = example["truth"].shape[0]
    rows = [(f"given {m}", m, example["given"][m]) for m in given]
    rows += [(f"{target} #{i + 1}", target, g) for i, g in enumerate(example["generated"])]
    rows += [(f"true {target}", target, example["truth"])]
    fig, ax = plt.subplots(figsize=(0.8 * items + 1.2, 0.8 * len(rows) + 0.4))
    # vectors: one diverging colour scale per modality, shared by its rows, so rows compare by eye
    scale = {m: max(float(t.abs().max()) for lbl, mm, t in rows if mm == m) or 1.0
             for _, m, _ in rows if kinds[m] == "vector"}
    for r, (label, modality, tensor) in enumerate(rows):
        kind = kinds[modality]
        if kind == "image":
            ax.imshow(_image_row(tensor), extent=(0, items, len(rows) - r - 1, len(rows) - r), aspect="auto")
        elif kind == "vector":
            ax.imshow(_vector_row(tensor), extent=(0, items, len(rows) - r - 0.9, len(rows) - r - 0.1),
                      aspect="auto", cmap="coolwarm",
                      vmin=-scale[modality], vmax=scale[modality], interpolation="nearest")
        else:
            texts = to_text(modality, tensor) if kind == "text" and to_text else \
                [" ".join(f"{v:.1f}" for v in t.flatten()[:4].tolist()) for t in tensor]
            for c, text in enumerate(texts):      # wrapped to its cell: long captions must not run into the next
                ax.text(c + 0.5, len(rows) - r - 0.5, _cell_text(text), ha="center", va="center",
                        fontsize=6, family="monospace")
        ax.text(-0.1, len(rows) - r - 0.5, label, ha="right", va="center", fontsize=7)
    ax.set_xlim(0, items)
    ax.set_ylim(0, len(rows))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{'+'.join(given) or 'prior'} → {target}{note}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _cell_text(text: str, width: int = 14, lines: int = 5) -> str:
    """A caption folded to a grid cell (about 14 monospace characters of 6 pt in a 0.8-inch cell)."""
    folded = textwrap.wrap(text.strip(), width) or ["·"]
    return "\n".join(folded[:lines - 1] + [folded[lines - 1][:width - 1] + "…"] if len(folded) > lines else folded)


MAX_PANELS = 12


def _panels(names: list[str]) -> list[tuple[str, list[str]]]:
    """One panel per term while they fit; beyond MAX_PANELS, one panel per kind of term (`rec`,
    `kl`, ...) with every term of that kind drawn in it, so MoPoE's 188 terms stay readable."""
    if len(names) <= MAX_PANELS:
        return [(n, [n]) for n in names]
    groups: dict[str, list[str]] = {}
    for name in names:
        kind = name.split("(", 1)[0] if "(" in name else name
        groups.setdefault(kind, []).append(name)
    return [(kind if len(members) == 1 else f"{kind}: {len(members)} terms", members)
            for kind, members in groups.items()]


def _term_names(history: list[dict], steps: list[dict]) -> list[str]:
    """Every term logged, in first-seen order (a staged run's stages log different terms)."""
    names: dict[str, None] = {}
    for values in [h["terms"] for h in history] + steps:
        names.update((k, None) for k in values if k != "step")
    return list(names)


def loss_curves(history: list[dict], steps: list[dict], path: Path) -> Path | None:
    """Logged step values and epoch means of every named term, one panel per term (scales differ)
    or per kind of term when there are many."""
    if not history and not steps:
        return None
    names = _term_names(history, steps)
    panels = _panels(names)
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 2.8 * rows), squeeze=False)
    for i, (title, members) in enumerate(panels):
        ax = axes[i // cols][i % cols]
        single = len(members) == 1
        for name in members:
            logged = [s for s in steps if name in s]              # a staged run logs each term in its stage only
            means = [h for h in history if name in h["terms"]]
            if logged:
                ax.plot([s["step"] for s in logged], [s[name] for s in logged], lw=0.8, alpha=0.5 if single else 0.3,
                        label="logged steps" if single else None)
            if means:
                ax.plot([h["step"] for h in means], [h["terms"][name] for h in means], "o-" if single else "-",
                        ms=3, lw=1 if single else 0.6, label="epoch mean" if single else None)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    for j in range(len(panels), rows * cols):
        axes[j // cols][j % cols].axis("off")
    if len(panels[0][1]) == 1:
        axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def grid_filename(given: tuple, target: str) -> str:
    return f"grid_{'+'.join(given) or 'prior'}_to_{target}.png"
