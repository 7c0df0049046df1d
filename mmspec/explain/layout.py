"""A layered drawing of the model graph with matplotlib (no Graphviz needed).

Ranks are columns, left to right. Within a column each node sits at the mean height of the nodes it
is drawn from (the barycentre heuristic: edges run as straight as the ranks allow), pushed apart just
enough that boxes never overlap; nodes with nothing before them (priors) sit by what they feed.
Everything is measured in inches, so a bigger model gives a bigger picture, never smaller text.
"""
from __future__ import annotations

from pathlib import Path

import networkx as nx

ROW = 0.5               # inches between the centres of two boxes of one column (a two-line box fits)
CHAR = 0.066            # inches per character at FONT points
FONT = 7.5
GAP = 0.75              # inches between two columns
MARGIN = 0.4


def positions(g: nx.DiGraph, columns: list[list[str]]) -> dict[str, float]:
    """Each node's height (inches from the top)."""
    y: dict[str, float] = {}
    for i, n in enumerate(columns[0]):
        y[n] = i * ROW
    for column in columns[1:]:
        _place(column, y, lambda n: [y[p] for p in g.predecessors(n) if p in y])
    for column in columns:                       # nodes fed by nothing: beside what they feed
        if any(not [p for p in g.predecessors(n) if p in y and p not in column] for n in column):
            _place(column, y, lambda n: [y[p] for p in g.predecessors(n) if p in y and p not in column]
                   or [y[s] for s in g.successors(n) if s in y])
    low = min(y.values(), default=0.0)
    return {n: v - low for n, v in y.items()}


def _place(column: list[str], y: dict[str, float], anchors) -> None:
    """Heights for one column: at the mean of each node's anchors, then spread to ROW apart with the
    column's mean displacement zero (so a column does not drift down)."""
    wanted = {}
    for i, n in enumerate(column):
        seen = anchors(n)
        wanted[n] = sum(seen) / len(seen) if seen else max(y.values(), default=0.0) + (i + 1) * ROW
    order = sorted(column, key=lambda n: (wanted[n], column.index(n)))
    placed: list[float] = []
    for n in order:
        placed.append(max(wanted[n], placed[-1] + ROW) if placed else wanted[n])
    shift = sum(wanted[n] - h for n, h in zip(order, placed)) / max(len(order), 1)
    for n, h in zip(order, placed):
        y[n] = h + shift


def render(g: nx.DiGraph, columns: list[list[str]], out: Path, title: str, notes: list[str],
           headings: dict[str, str], color) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = positions(g, columns)
    widths = [max((CHAR * max(len(line) for line in g.nodes[n]["label"].split("\n")) for n in c), default=0.5) + 0.2
              for c in columns]
    x, left = [], MARGIN
    for w in widths:
        x.append(left + w / 2)
        left += w + GAP
    top = 0.55 + 0.2 * len(notes)                # title, notes and column headings
    width, height = left - GAP + MARGIN, top + max(y.values(), default=0) + ROW + MARGIN
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    ax.text(MARGIN, 0.25, f"{title}: data → encoders → posteriors → latents → terms → decoders",
            fontsize=FONT + 3, va="center")
    for i, note in enumerate(notes):
        ax.text(MARGIN, 0.5 + 0.2 * i, note, fontsize=FONT, va="center", color="#555555")
    boxes, previous = {}, None
    for c, column in enumerate(columns):
        kind = g.nodes[column[0]]["kind"] if column else None
        if kind is not None and kind != previous:        # one heading over consecutive columns of a kind
            ax.text(x[c], top, headings.get(kind, ""), fontsize=FONT, ha="center", va="bottom",
                    color="#555555", style="italic")
        previous = kind
        for n in column:
            data = g.nodes[n]
            boxes[n] = ax.text(x[c], top + ROW / 2 + y[n], data["label"], ha="center", va="center",
                               fontsize=FONT, zorder=3, bbox=dict(
                                   boxstyle="round,pad=0.3", fc=color(data), ec="#777777",
                                   ls="--" if data.get("evaluation_only") else "-"))
    for a, b in g.edges():
        ax.annotate("", xy=(0, 0.5), xycoords=boxes[b], xytext=(1, 0.5), textcoords=boxes[a], zorder=1,
                    arrowprops=dict(arrowstyle="-|>", color="#555555", alpha=0.55, lw=0.8,
                                    shrinkA=3, shrinkB=3, mutation_scale=8))
    fig.savefig(out, format=out.suffix[1:], dpi=120)
    plt.close(fig)
