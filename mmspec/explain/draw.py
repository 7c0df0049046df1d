"""`mmspec graph`: the model graph as DOT text, or drawn to SVG/PNG with matplotlib.

Edges run data -> encoders -> distributions -> objective terms, and decoders -> data; the layout
puts each kind of node in its own column, so the drawing reads left to right like the model.
"""
from __future__ import annotations

from pathlib import Path

import networkx as nx

from ..check import Program
from ..constructs import schedules
from ..model.graph import Expert, JointExpert, ModelGraph, members_of
from .leaves import leaf_name

COLUMNS = {"data": 0, "encoder": 1, "distribution": 2, "term": 4, "decoder": 5}
COLORS = {"data": "#cfe8ff", "encoder": "#ffe2b8", "distribution": "#d9f2d0", "term": "#f6d0d0", "decoder": "#e6d8f5"}


def distribution_graph(graph: ModelGraph) -> nx.DiGraph:
    """Data -> networks -> distributions, and decoders -> data (objective terms: model_graph)."""
    g = nx.DiGraph()
    for m in graph.modalities.values():
        g.add_node(f"x:{m.name}", kind="data", label=f"x_{m.name}\n{m.kind}{m.shape}")
        g.add_node(f"dec:{m.name}", kind="decoder", label=f"decoder {m.name}\n{m.net.name}")
        g.add_edge(f"dec:{m.name}", f"x:{m.name}")
    for key, node in graph.nodes.items():
        g.add_node(f"d:{key}", kind="distribution", label=graph.label(key),
                   family=node.family, type=type(node).__name__)
        if isinstance(node, (Expert, JointExpert)):
            net = f"enc:{node.network}"
            g.add_node(net, kind="encoder", label=f"encoder {node.network}")
            for m in (node.modalities if isinstance(node, JointExpert) else (node.modality,)):
                g.add_edge(f"x:{m}", net)
            g.add_edge(net, f"d:{key}")
        for member in members_of(node):
            g.add_edge(f"d:{member}", f"d:{key}")
    return g


def model_graph(program: Program) -> nx.DiGraph:
    g = distribution_graph(program.graph)
    for obj in program.ir.objectives.values():
        for t in obj.linear_terms():
            node = f"t:{leaf_name(program.graph, t.leaf)}"
            weight = f"{t.coefficient:+.4g}" if not t.scheduled else "".join(schedules.coefficient_text(t))
            g.add_node(node, kind="term", label=f"{weight} {leaf_name(program.graph, t.leaf)}")
            for dist in t.leaf.distributions():
                g.add_edge(f"d:{dist}", node)
            for decoded in t.leaf.decoded():
                g.add_edge(node, f"dec:{decoded.target}")
    return g


def to_dot(g: nx.DiGraph, name: str) -> str:
    lines = [f'digraph "{name}" {{', "  rankdir=LR;", "  node [style=filled, shape=box, fontname=Helvetica];"]
    for n, data in g.nodes(data=True):
        label = data.get("label", n).replace('"', "'").replace("\n", "\\n")
        lines.append(f'  "{n}" [label="{label}", fillcolor="{COLORS.get(data.get("kind"), "#eeeeee")}"];')
    for a, b in g.edges():
        lines.append(f'  "{a}" -> "{b}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _layout(g: nx.DiGraph) -> dict:
    depth = {}
    for n in nx.topological_sort(g) if nx.is_directed_acyclic_graph(g) else g.nodes:
        kind = g.nodes[n].get("kind")
        if kind == "distribution":
            preds = [depth.get(p, 2) for p in g.predecessors(n) if g.nodes[p].get("kind") == "distribution"]
            depth[n] = 2 + (max(preds) - 1 if preds else 0) * 0.6 if preds else 2
        else:
            depth[n] = COLUMNS.get(kind, 3)
    for n in g.nodes:
        g.nodes[n]["layer"] = round(depth.get(n, 3) * 5)
    return nx.multipartite_layout(g, subset_key="layer")


def draw(program: Program, out: Path) -> None:
    g = model_graph(program)
    suffix = out.suffix.lower()
    if suffix == ".dot":
        out.write_text(to_dot(g, program.graph.name))
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pos = _layout(g)
    height = max(6, 0.45 * max(sum(1 for n in g if g.nodes[n]["layer"] == layer) for layer in {g.nodes[n]["layer"] for n in g}))
    fig, ax = plt.subplots(figsize=(16, height))
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=True, alpha=0.35, arrowsize=8, node_size=1200)
    for n, (x, y) in pos.items():
        data = g.nodes[n]
        ax.text(x, y, data.get("label", n), ha="center", va="center", fontsize=7,
                bbox=dict(boxstyle="round,pad=0.3", fc=COLORS.get(data.get("kind"), "#eee"), ec="#888"))
    ax.set_title(f"{program.graph.name}: data → encoders → distributions → terms → decoders")
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, format=suffix[1:], dpi=110)
    plt.close(fig)
