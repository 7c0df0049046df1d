"""Pieces of `explain --latex` that make it pasteable into a paper: a relation symbol in every
definition (∝ for products, = for mixtures), long mixtures broken over lines, each member shown
on the latent it is evaluated at (`on z[m]`: q_svhn(z_mnist | x_svhn)), the estimator named on
every KL, and the posteriors only evaluation uses (`infer`) kept apart from the objective's.

The output needs amsmath and amssymb (\\mathbb); tests/test_explain_latex.py compiles every
shipped spec's output with a real TeX engine when one is installed.
"""
from __future__ import annotations

import re
from fractions import Fraction

from ..constructs import iwae, schedules
from ..model import ir
from ..model.graph import Joint, Mixture, PoE, WeightedPoE, closure
from ..model.notation import latex_dist_name, latex_latent as latent, latex_name, operator_name  # noqa: F401  (this module's vocabulary)

CONTINUATION = 6        # `&\\quad + ` before a continued row
PAGE_WIDTH = 60         # `visible_width` of an align* row (left side, relation, right side) that fits a page
PREAMBLE = "% needs \\usepackage{amsmath,amssymb}"
EVALUATION_ONLY = ("\\noindent\\textit{Evaluation only: the posteriors the \\texttt{infer} rules give "
                   "for other subsets of modalities; the objective does not use them.}")


def prior_draws_note(program) -> list[str]:
    """A sentence saying which prior each latent is drawn from when a decoder reads it and the decoded
    distribution does not describe it (MMVAE+'s cross-generation); none without such latents."""
    g = program.graph
    if not g.latent_priors:
        return []
    pairs = ", ".join(f"${latent(l)} \\sim {_prior_name(g.label(k))}$" for l, k in g.latent_priors.items())
    return ["\\noindent\\textit{A latent a decoder reads that the decoded distribution does not describe "
            f"is drawn from its prior:}} {pairs}."]


def _prior_name(label: str) -> str:
    """A prior by its declared name (`r[m0]` -> r_{m0}, `pz` -> p_{pz}, `p`), so priors that all print
    as p in a density (a Laplace with a learned scale among them) stay apart."""
    if label == "p":
        return "p"
    return latex_dist_name(label) if "[" in label else "p_{\\mathrm{" + label.replace("_", "\\_") + "}}"


def simple_fraction(x: float) -> Fraction | None:
    """x as a fraction with a denominator of at most 64 (1/7, -1/31), when it is exactly one."""
    frac = Fraction(x).limit_denominator(64)
    return frac if frac.denominator > 1 and abs(float(frac) - x) < 1e-12 else None


def number(x: float) -> str:
    """A weight as a paper writes it: 1/7 as \\tfrac{1}{7}, others to 6 significant digits."""
    frac = simple_fraction(x)
    if frac is not None:
        sign = "-" if frac < 0 else ""
        return f"{sign}\\tfrac{{{abs(frac.numerator)}}}{{{frac.denominator}}}"
    return f"{x:.6g}"


def coefficient(t: ir.LinearTerm, i: int) -> str:
    """` - 0.25\\, ` before a term (nothing for the first +, no 1), a scheduled weight as `0.25 \\cdot \\beta`."""
    sign, weight = schedules.coefficient_text(t, True) if t.scheduled else (
        "-" if t.coefficient < 0 else "+", number(abs(t.coefficient)))
    weight = "" if weight == "1" else weight + "\\, "
    return f"{' - ' if sign == '-' else (' + ' if i else '')}{weight}"


def terms(program, linear_terms: list[ir.LinearTerm], leaf_text) -> list[str]:
    """Each term of an objective with its coefficient (a stop-gradient marked), to be joined into rows."""
    return [f"{coefficient(t, i)}{leaf_text(program, t.leaf, True)}" + (" \\text{ (sg)}" if t.detached else "")
            for i, t in enumerate(linear_terms)]


def objective_rows(program, sym: str, linear_terms: list[ir.LinearTerm], leaf_text) -> list[str]:
    """align* rows of an objective: its terms broken into rows that fit the page; an importance-weighted
    term too wide for a row names its weight (\\omega_{jk}) and defines it on rows of its own below."""
    width = right_side_width([sym])
    texts = terms(program, linear_terms, leaf_text)
    where: list[str] = []
    named = 0
    for i, t in enumerate(linear_terms):
        if isinstance(t.leaf, ir.IWAE) and visible_width(texts[i]) > width:
            name = "\\omega" + "'" * named + f"_{{{iwae.draw_index(t.leaf)}}}"    # not w: a latent may be w
            named += 1
            texts[i] = f"{coefficient(t, i)}{iwae.describe_latex(program, t.leaf, name)}"
            where += weight_rows(program, t.leaf, name, right_side_width([sym, name]))
    first, *rest = rows(texts, "", width)
    return [f"{sym} &= {first} \\\\"] + [f"  &\\quad{row} \\\\" for row in rest] + where


def weight_rows(program, leaf: ir.IWAE, name: str, width: float) -> list[str]:
    """`\\omega_{jk} &= \\frac{p(z_jk) ...}{q(z_jk | X)}`: one fraction where it fits, else p/q and the
    likelihoods as factors broken over rows."""
    whole, factors = iwae.weight_latex(program, leaf)
    if visible_width(whole) <= width:
        return [f"{name} &= {whole} \\\\"]
    first, *rest = rows(factors, " \\, ", width)
    return [f"{name} &= {first} \\\\"] + [f"  &\\quad \\cdot {row} \\\\" for row in rest]


def hanging_rows(head: str, parts: list[str], joiner: str = "", follow: str = "") -> list[str]:
    """align* rows starting at the left margin: `head` on a row of its own (when it is more than a
    name), `parts` below it indented, broken into rows that fit the page; `follow` starts each
    continued row. For a block of its own (its left column empty)."""
    chunks = rows(parts, joiner, PAGE_WIDTH - 2 * CONTINUATION)
    return [f"& {head} \\\\"] + [f"  &\\qquad {follow + ' ' if follow and i else ''}{c.lstrip()} \\\\"
                                   for i, c in enumerate(chunks)]


def kl_estimator(leaf: ir.KL) -> str:
    """The estimator tag after a KL: closed form, Jensen bound or Monte Carlo with its K."""
    text = {"closed": "\\text{closed form}", "jensen": "\\text{Jensen bound}",
            "mc": f"\\text{{Monte Carlo}}, K{{=}}{leaf.k}"}[leaf.estimator]
    return f"\\;[{text}]"


def used_by_objectives(program) -> set[str]:
    """Every distribution node an objective reads (directly or through a member)."""
    keys = [k for obj in program.ir.objectives.values() for leaf in obj.leaves() for k in leaf.distributions()]
    return closure(program.graph, keys)


def definition_rows(program, key: str, conditioned, width: float = PAGE_WIDTH / 2, hanging: bool = False) -> list[str]:
    """align* rows defining a product or a mixture, broken into rows whose right side fits `width`;
    members shown on the latent the node describes. `hanging`: aligned at the left margin, the
    continued rows indented (for a definition too wide to align after its left side)."""
    found = _relation_and_parts(program, key, conditioned)
    if found is None:
        return []
    relation, parts, product = found
    joiner = " \\, " if product else " + "
    follow = "\\cdot" if product else "+"
    left = conditioned(program, key, True)
    if hanging:
        chunks = rows(parts, joiner, PAGE_WIDTH - 2 * CONTINUATION)
        return ([f"& {left} {relation} \\\\", f"  &\\qquad {chunks[0]} \\\\"]
                + [f"  &\\qquad {follow} {c} \\\\" for c in chunks[1:]])
    chunks = rows(parts, joiner, width)
    return ([f"{left} &{relation} {chunks[0]} \\\\"]
            + [f"  &\\quad {follow} {c} \\\\" for c in chunks[1:]])


def definition_blocks(program, keys: list[str], conditioned, extra=lambda key: []) -> list[list[str]]:
    """The definitions of `keys` as align* blocks (lists of rows). One block aligns them all at its
    longest left side; a definition whose widest member would then run off the page starts a new
    block. `extra(key)` gives rows that follow a key's definition (a refinement's update); keys whose
    rows start at the left margin share one block after the others (nothing to align them with)."""
    blocks: list[list[str]] = []
    groups: list[list[str]] = [[]]
    hanging: set[str] = set()
    margin = [k for k in keys if any(row.startswith("& ") for row in extra(k))]   # rows from the left margin:
    left = 0.0                                                                     # one block of them, last
    for key in keys:
        if key in margin:
            continue
        found = _relation_and_parts(program, key, conditioned)
        if found is not None:
            own = visible_width(conditioned(program, key, True))
            widest = max(visible_width(part) for part in found[1])
            if own + widest + CONTINUATION > PAGE_WIDTH:           # too wide even alone: its own block
                hanging.add(key)
                groups += [[key], []]
                left = 0.0
                continue
            if groups[-1] and max(left, own) + widest + CONTINUATION > PAGE_WIDTH:
                groups.append([])
                left = 0.0
            left = max(left, own)
        groups[-1].append(key)
    for group in groups + [margin]:
        width = right_side_width([conditioned(program, k, True) for k in group
                                  if _relation_and_parts(program, k, conditioned) is not None])
        rows_ = [row for k in group
                 for row in definition_rows(program, k, conditioned, width, k in hanging) + extra(k)]
        if rows_:
            blocks.append(rows_)
    return blocks


def _relation_and_parts(program, key: str, conditioned) -> tuple[str, list[str], bool] | None:
    """How a product, a joint or a mixture is defined: its relation, its members (weighted) and
    whether they multiply, else None. A joint over several latents is the product of its factors."""
    node = program.graph.nodes[key]
    if isinstance(node, Joint):
        return "=", [conditioned(program, m, True) for m in node.members], True
    if not isinstance(node, (PoE, WeightedPoE, Mixture)):
        return None
    own = program.graph.node_latents(key) if program.graph.has_layout else ()
    at = node.latent or (own[0] if len(own) == 1 else None)
    members = [_member(program, m, at, conditioned) for m in node.members]
    if isinstance(node, PoE):
        return "\\propto", members, True
    if isinstance(node, WeightedPoE):
        return "\\propto", [f"{m}^{{{number(w)}}}" for m, w in zip(members, node.weights)], True
    return "=", [m if w == 1 else f"{number(w)}\\, {m}" for m, w in zip(members, node.weights)], False


def visible_width(tex: str) -> float:
    """About how many characters wide a piece of math prints: source spaces print nothing, a binary
    operator takes its spacing, sub- and superscripts print smaller, a fraction as wide as its wider part."""
    tex = _fractions_as_widest_part(tex)
    tex = re.sub(r"\\tfrac\{(\w+)\}\{(\w+)\}", r"\1/\2", tex)
    tex = re.sub(r"\\(mathrm|mathbb|mathcal|operatorname|text|texttt)\{", "{", tex)
    tex = re.sub(r"\\(left|right|[,;!])", "", tex)
    tex = re.sub(r"\\(mid|cdot|propto|\|)", "|", tex)
    tex = re.sub(r"\\quad", "  ", tex)
    tex = re.sub(r"\\(log|exp|min|max|KL)\b", lambda m: m.group(1), tex)
    tex = re.sub(r"\\[A-Za-z]+", "x", tex)
    width, scales, script = 0.0, [1.0], False
    for ch in tex:
        if ch in "_^":
            script = True
            continue
        scale = scales[-1] * (0.7 if script else 1.0)
        if ch == "{":
            scales.append(scale)
        elif ch == "}":
            scales.pop() if len(scales) > 1 else None
        elif ch != " ":
            width += scale * (2.0 if ch in "+-=|" else 1.0)
        script = False
    return width


def _fractions_as_widest_part(tex: str) -> str:
    """`\\frac{A}{B}` replaced by the wider of A and B (displayed, the two are stacked)."""
    start = tex.find("\\frac{")
    if start < 0:
        return tex
    groups, i = [], start + len("\\frac")
    for _ in range(2):
        depth, j = 0, i
        while j < len(tex):
            depth += (tex[j] == "{") - (tex[j] == "}")
            if depth == 0:
                break
            j += 1
        groups.append(tex[i + 1:j])
        i = j + 1
    wider = max(groups, key=visible_width)
    return tex[:start] + "{" + wider + "}" + _fractions_as_widest_part(tex[i:])


def right_side_width(left_sides: list[str]) -> float:
    """What is left of a page's width for the right sides of an align* block with these left sides."""
    return max(20.0, PAGE_WIDTH - max((visible_width(s) for s in left_sides), default=0.0) - CONTINUATION)


def rows(parts: list[str], joiner: str, width: float) -> list[str]:
    """`parts` joined into rows that fit `width` (at least one part a row), in the order written."""
    out: list[list[str]] = [[]]
    for part in parts:
        if out[-1] and visible_width(joiner.join(out[-1] + [part])) > width:
            out.append([])
        out[-1].append(part)
    return [joiner.join(r) for r in out]


def _member(program, key: str, at: str | None, conditioned) -> str:
    """A member density; evaluated at the node's latent when it describes another one (`on z[m]`)."""
    text = conditioned(program, key, True)
    own = program.graph.nodes[key].latent
    if at is not None and text.startswith(f"{latex_name(program.graph, key)}(\\cdot"):
        return text.replace("(\\cdot", f"({latent(at)}", 1)     # a latent-free prior, on the latent it multiplies
    if at is None or own is None or own == at:
        return text
    return text.replace(f"({latent(own)}", f"({latent(at)}", 1)
