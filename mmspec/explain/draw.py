"""`mmspec graph`: the model graph as DOT text, or drawn to SVG/PNG with matplotlib.

The drawing reads left to right like the model, one rank per stage:

    data -> encoders -> posteriors (by depth) -> latents -> terms -> decoders

A rec or iwae term reads its posterior through the latent it samples (q -> z -> rec -> decoder); a KL
reads both of its distributions directly. Two things keep a five-modality spec readable: the
posteriors only evaluation uses (`infer` rules the objective never reads) are hidden unless asked
(`show_infer`), and a family of more than FOLD_ABOVE nodes of one declaration (MoPoE's 31 subset
posteriors, their 31 KL terms) is drawn as one node that says how many it stands for (`expand`
draws every member).
"""
from __future__ import annotations

import re
from pathlib import Path

import networkx as nx

from ..check import Program
from ..constructs import hierarchy, schedules
from ..model import ir
from ..model.graph import JointExpert, LadderPosterior, ModelGraph, closure, members_of, mixture_parts
from .latex import simple_fraction, used_by_objectives
from .leaves import leaf_name

FOLD_ABOVE = 8          # a family with more members than this is drawn as one node unless expanded
KINDS = ("data", "encoder", "distribution", "latent", "term", "decoder")
HEADINGS = {"data": "data", "encoder": "encoders", "distribution": "posteriors and priors",
            "latent": "latents", "term": "objective terms", "decoder": "decoders"}
COLORS = {"data": "#cfe8ff", "encoder": "#ffe2b8", "distribution": "#d9f2d0", "latent": "#fff7b0",
          "term": "#f6d0d0", "decoder": "#e6d8f5", "evaluation": "#eeeeee"}
_NETWORK_ROLES = {"encoders": "encoder", "joint_encoders": "joint encoder", "refiners": "update network",
                  "origins": "gradient-origin heads"}


def model_graph(program: Program, show_infer: bool = False, expand: bool = False) -> nx.DiGraph:
    """The drawn graph: every node has `kind`, `label` and `rank`; folded nodes have `members`."""
    g = _full_graph(program, show_infer)
    if not expand:
        g = _fold(g, program.graph)
    _assign_ranks(g)
    return g


def hidden_posteriors(program: Program) -> list[str]:
    """The evaluation-only posteriors: what the infer rules give that no objective reads."""
    used = used_by_objectives(program)
    return [k for k in closure(program.graph, program.ir.infer.values()) if k not in used]


# ---- the graph --------------------------------------------------------------------------------

def _full_graph(program: Program, show_infer: bool) -> nx.DiGraph:
    graph, g = program.graph, nx.DiGraph()
    for m in graph.modalities.values():
        g.add_node(f"x:{m.name}", kind="data", label=f"x_{m.name}\n{m.kind}{m.shape}")
    for c in graph.givens.values():             # conditioning data (CVAE): read, never generated
        g.add_node(f"x:{c.name}", kind="data", label=f"x_{c.name} (given)\n{c.kind}{c.shape}")
    used = used_by_objectives(program)
    evaluation = set(hidden_posteriors(program)) if show_infer else set()
    for key in graph.nodes:
        if key in used or key in evaluation:
            _add_distribution(g, graph, key, evaluation_only=key not in used)
    for key in list(g.nodes):
        if g.nodes[key]["kind"] == "distribution":
            for member in members_of(graph.nodes[g.nodes[key]["key"]]):
                if f"d:{member}" in g:
                    g.add_edge(f"d:{member}", key)
    _add_terms(g, program)
    for m in graph.modalities.values():
        lik = m.likelihood
        scale = f"({lik.scale:g})" if lik.scale else ("(learned scale)" if lik.learned else "")
        reads = f"\nreads ({', '.join(m.reads)})" if m.reads else ""
        reads += f"\ngiven ({', '.join(m.given)})" if m.given else ""
        g.add_node(f"dec:{m.name}", kind="decoder", reads=m.reads,
                   label=f"decoder {m.name}: {m.net.name}{reads}\n→ x_{m.name} ~ {lik.name}{scale}")
        for c in m.given:                       # a conditional decoder p(x_m | z, x_c)
            g.add_edge(f"x:{c}", f"dec:{m.name}")
    return g


def _add_distribution(g: nx.DiGraph, graph: ModelGraph, key: str, evaluation_only: bool) -> None:
    node = graph.nodes[key]
    label = graph.label(key)
    heads = getattr(node, "latents", ()) if node.parameter_group() else ()   # an encoder over several latents
    own = node.latent or ", ".join(heads)
    on = f"  on {own if ',' not in own else f'({own})'}" if own and _several_latents(graph) else ""
    g.add_node(f"d:{key}", kind="distribution", key=key, label=label + on, family=_family(label),
               evaluation_only=evaluation_only, type=type(node).__name__)
    group = node.parameter_group()
    reads = node.view()
    if group and reads:
        role, _, net = group.partition(".")
        g.add_node(f"enc:{net}", kind="encoder", label=f"{_NETWORK_ROLES.get(role, role)} {net}",
                   family=_family(net))
        given_data = node.given if isinstance(node, JointExpert) else ()     # a conditional encoder's (CVAE)
        for m in [*graph.modalities, *given_data]:
            if m in reads or m in graph.givens:
                g.add_edge(f"x:{m}", f"enc:{net}")
        g.add_edge(f"enc:{net}", f"d:{key}")


def _add_terms(g: nx.DiGraph, program: Program) -> None:
    graph = program.graph
    objectives = list(program.ir.objectives.values())
    for obj in objectives:
        stage = f"[{obj.name}] " if len(objectives) > 1 else ""
        for t in obj.linear_terms():
            name = leaf_name(graph, t.leaf)
            node = f"t:{obj.name}:{name}" if len(objectives) > 1 else f"t:{name}"
            g.add_node(node, kind="term", label=f"{stage}{weight_text(t)} {name}", stage=stage,
                       weight=weight_text(t), leaf=t.leaf)
            if isinstance(t.leaf, ir.LatentRec):
                _add_latent_rec(g, graph, t.leaf, node)
                continue
            decoded = {d.dist for d in t.leaf.decoded()}
            for dist in t.leaf.distributions():
                if dist not in decoded:
                    g.add_edge(f"d:{dist}", node)
            for d in t.leaf.decoded():
                for source, latent in latent_sources(graph, d.dist, d.target):
                    if f"d:{source}" not in g:          # a prior only drawn for cross-generation
                        _add_distribution(g, graph, source, evaluation_only=False)
                    z = _latent_node(g, graph, latent)
                    g.add_edge(f"d:{source}", z)
                    g.add_edge(z, node)
                g.add_edge(node, f"dec:{d.target}")
                if isinstance(graph.nodes[d.dist], LadderPosterior):
                    _add_ladder_levels(g, graph, d.dist)


def _add_ladder_levels(g: nx.DiGraph, graph: ModelGraph, key: str) -> None:
    """A ladder's levels, drawn top down (z3 -> z2 -> z1): the decoded latent is its lowest level."""
    latents = graph.nodes[key].latents
    g.add_edge(f"d:{key}", _latent_node(g, graph, latents[0]))
    for upper, lower in zip(latents, latents[1:]):
        g.add_edge(_latent_node(g, graph, upper), _latent_node(g, graph, lower), hierarchy=True)


def _add_latent_rec(g: nx.DiGraph, graph: ModelGraph, leaf: ir.LatentRec, node: str) -> None:
    """rec(top -> sg(q[m])): top's draw of s and q[m]'s draw of z[m] into the term, scored by the
    conditional prior; an edge s -> z[m] between the latents says p(z[m] | s)."""
    lower = graph.node_latents(leaf.target)[0]
    for upper in graph.node_latents(leaf.dist):
        z = _latent_node(g, graph, upper)
        g.add_edge(f"d:{leaf.dist}", z)
        g.add_edge(z, node)
    z = _latent_node(g, graph, lower)
    g.nodes[z]["label"] += f"\n~ {graph.label(leaf.prior)}(· | {', '.join(graph.node_latents(leaf.dist))})"
    g.add_edge(f"d:{leaf.target}", z)
    g.add_edge(z, node)
    g.add_edge(f"d:{leaf.prior}", node)
    for a, b in hierarchy.latent_edges(graph, priors=True):
        if f"z:{a}" in g and f"z:{b}" in g:
            g.add_edge(f"z:{a}", f"z:{b}", hierarchy=True)


def weight_text(t) -> str:
    """A term's weight as the drawing shows it: +1, -1/31, -0.25·beta (a schedule)."""
    if t.scheduled:
        return "".join(schedules.coefficient_text(t))
    frac = simple_fraction(t.coefficient)
    if frac is not None:
        return f"{'-' if frac < 0 else '+'}{abs(frac.numerator)}/{frac.denominator}"
    return f"{t.coefficient:+.4g}"


def latent_sources(graph: ModelGraph, dist: str, target: str) -> list[tuple[str, str]]:
    """(distribution, latent) for each latent `target`'s decoder reads when it decodes `dist`: `dist`
    where it (one of its mixture components) describes the latent, the latent's prior where one does
    not (MMVAE+'s cross-generation draws w[m] from r[m]); both for a mixture that does either."""
    reads = graph.decoder_reads(target)
    if not reads:                                 # one latent: what the distribution lives on
        return [(dist, graph.nodes[dist].latent or next(iter(graph.latents), "z"))]
    components = [c for c, _ in mixture_parts(graph, dist)]
    out = []
    for latent in reads:
        describe = [c for c in components if not graph.node_latents(c) or latent in graph.node_latents(c)]
        if describe:
            out.append((dist, latent))
        if len(describe) < len(components) and latent in graph.latent_priors:
            out.append((graph.latent_priors[latent], latent))
    return out


def _latent_node(g: nx.DiGraph, graph: ModelGraph, z: str) -> str:
    """A latent's own node, labelled with its size (`w[m0] ∈ R^32`)."""
    base = graph.latents.get(z.split("[", 1)[0])
    size = f" ∈ R^{base.dim}" if base is not None and isinstance(getattr(base, "dim", None), int) else ""
    if f"z:{z}" not in g:                   # once: a hierarchy's term adds its prior to the label
        g.add_node(f"z:{z}", kind="latent", label=f"{z}{size}", family=_family(z))
    return f"z:{z}"


def _several_latents(graph: ModelGraph) -> bool:
    return len({n.latent for n in graph.nodes.values() if n.latent}) > 1


def _family(label: str) -> str:
    """The declaration a node belongs to: `qs` for qs[{m0,m1}], `poe(…)` for an unnamed poe(...)."""
    found = re.match(r"(\w+)\[", label) or re.match(r"(\w+)\(", label)
    if found is None:
        return label
    return found.group(1) + ("[·]" if found.group(0).endswith("[") else "(…)")


# ---- folding families --------------------------------------------------------------------------

class _Relabelled:
    """The model graph with some distributions named by their family: a leaf's name under it is the
    name its whole family of terms shares."""

    def __init__(self, graph: ModelGraph, names: dict[str, str]):
        self._graph, self._names = graph, names

    def label(self, key: str) -> str:
        return self._names.get(key) or self._graph.label(key)

    def __getattr__(self, name: str):
        return getattr(self._graph, name)


def _fold(g: nx.DiGraph, graph: ModelGraph) -> nx.DiGraph:
    """Each family of more than FOLD_ABOVE distributions, and each family of terms that differ only
    in such a family's member, becomes one node standing for all of them."""
    groups: dict[tuple, list[str]] = {}
    for n, data in g.nodes(data=True):
        if data["kind"] == "distribution":
            groups.setdefault((data["family"], data["evaluation_only"]), []).append(n)
    folded = {n: f"fold:{fam}{' (infer)' if ev else ''}" for (fam, ev), ns in groups.items()
              if len(ns) > FOLD_ABOVE for n in ns}
    family_of = {g.nodes[n]["key"]: g.nodes[n]["family"] for n in folded}
    terms: dict[tuple, list[str]] = {}
    for n, data in g.nodes(data=True):
        if data["kind"] == "term":
            template = data["leaf"].name(_Relabelled(graph, family_of))
            terms.setdefault((data["stage"], data["weight"], template), []).append(n)
    for (stage, weight, template), ns in terms.items():
        if len(ns) > 1:
            folded.update({n: f"fold:t:{stage}{weight} {template}" for n in ns})
    out = nx.DiGraph()
    for n, data in g.nodes(data=True):
        target = folded.get(n, n)
        if target == n:
            out.add_node(n, **{k: v for k, v in data.items() if k != "leaf"})
        elif target not in out:
            out.add_node(target, **{k: v for k, v in data.items() if k != "leaf"}, members=[])
        if target != n:
            out.nodes[target]["members"].append(n)
    for target, data in out.nodes(data=True):
        if "members" in data:
            data["label"] = _folded_label(g, data["members"], target)
    for a, b in g.edges():
        a, b = folded.get(a, a), folded.get(b, b)
        if a != b:
            out.add_edge(a, b)
    return out


def _folded_label(g: nx.DiGraph, members: list[str], target: str) -> str:
    first, last = g.nodes[members[0]], g.nodes[members[-1]]
    if first["kind"] == "term":
        return f"{target.split(':', 2)[2]}\n× {len(members)} terms"
    ev = ", evaluation only" if first["evaluation_only"] else ""
    return f"{first['family']} × {len(members)}{ev}\n{first['label']} … {last['label']}"


# ---- ranks ------------------------------------------------------------------------------------

def _assign_ranks(g: nx.DiGraph) -> None:
    """data 0, encoders 1, distributions 2 + their depth among distributions, then latents (a latent
    conditioned on another, p(z[m] | s), one rank after it), terms, decoders, each one rank further."""
    depth = {}
    for kind in ("distribution", "latent"):
        sub = g.subgraph([n for n in g if g.nodes[n]["kind"] == kind])
        for n in nx.topological_sort(sub):
            depth[n] = max((depth[p] + 1 for p in sub.predecessors(n)), default=0)
    dists = [d for n, d in depth.items() if g.nodes[n]["kind"] == "distribution"]
    latents = [d for n, d in depth.items() if g.nodes[n]["kind"] == "latent"]
    last = 2 + max(dists, default=0)
    after = last + 1 + max(latents, default=0)
    fixed = {"data": 0, "encoder": 1, "term": after + 1, "decoder": after + 2}
    for n, data in g.nodes(data=True):
        kind = data["kind"]
        data["rank"] = (2 if kind == "distribution" else last + 1) + depth[n] if n in depth else fixed[kind]


def ranks(g: nx.DiGraph) -> list[list[str]]:
    """The nodes of each rank, in insertion order."""
    out: list[list[str]] = [[] for _ in range(1 + max(d["rank"] for _, d in g.nodes(data=True)))]
    for n, data in g.nodes(data=True):
        out[data["rank"]].append(n)
    return out


# ---- output -------------------------------------------------------------------------------------

def to_dot(g: nx.DiGraph, name: str) -> str:
    lines = [f'digraph "{name}" {{', "  rankdir=LR;", "  node [style=filled, shape=box, fontname=Helvetica];"]
    for n, data in g.nodes(data=True):
        label = data.get("label", n).replace('"', "'").replace("\n", "\\n")
        style = ', style="filled,dashed"' if data.get("evaluation_only") else ""
        lines.append(f'  "{n}" [label="{label}", fillcolor="{_color(data)}"{style}];')
    for rank in ranks(g):
        if rank:
            lines.append("  { rank=same; " + " ".join(f'"{n}";' for n in rank) + " }")
    for a, b in g.edges():
        lines.append(f'  "{a}" -> "{b}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _color(data: dict) -> str:
    return COLORS["evaluation"] if data.get("evaluation_only") else COLORS.get(data.get("kind"), "#eeeeee")


def draw(program: Program, out: Path, show_infer: bool = False, expand: bool = False) -> None:
    g = model_graph(program, show_infer, expand)
    suffix = out.suffix.lower()
    if suffix == ".dot":
        out.write_text(to_dot(g, program.graph.name))
        return
    from .layout import render
    hidden = 0 if show_infer else len(hidden_posteriors(program))
    notes = []
    if hidden:
        notes.append(f"{hidden} evaluation-only posterior{'s' if hidden > 1 else ''} (infer) hidden: --show-infer draws them")
    if any("members" in d for _, d in g.nodes(data=True)):
        notes.append(f"families of more than {FOLD_ABOVE} nodes folded: --expand draws every member")
    render(g, ranks(g), out, title=program.graph.name, notes=notes, headings=HEADINGS, color=_color)
