"""How the model is written down: numbers, a distribution with what it is conditioned on, and the
LaTeX names of distributions and latents. Shared by explain, the constructs' explain text, and the
term names the runtime shows, so one thing is always printed one way.
"""
from __future__ import annotations

import re

from .graph import Conditional, LaplacePrior, NormalPrior, given_read


def fmt(x, digits: int = 6) -> str:
    """A number as explain prints it (`digits` significant digits); anything else as str()."""
    return f"{x:.{digits}g}" if isinstance(x, (int, float)) else str(x)


def conditioned(program, key: str, latex: bool = False) -> str:
    """`q[mnist](z | x_mnist)`: a distribution's name with what it is conditioned on."""
    g = program.graph
    node = g.nodes[key]
    z = node.latent or "z"
    if g.has_layout:                    # several latents: every one the distribution describes
        latents = g.node_latents(key)
        z = ", ".join(latex_latent(l) if latex else l for l in latents) if latents else "·"
        if latex:
            z = z.replace("·", "\\cdot")
    if isinstance(node, Conditional):             # normal(given=...): a hierarchy
        return latent_conditioned(g, key, z, latex)
    sees = g.sees(key)
    seen = [m for m in g.modalities if m in sees] + list(given_read(g, key))    # then given data (CVAE)
    name = g.label(key)
    if latex:
        name = latex_name(g, key)
        xs = ", ".join(f"x_{{\\mathrm{{{m}}}}}" for m in seen)
        return f"{name}({z if g.has_layout else latex_latent(z)}" + (f" \\mid {xs})" if xs else ")")
    xs = ", ".join(f"x_{m}" for m in seen)
    return f"{name}({z}" + (f" | {xs})" if xs else ")")


def latent_condition(g, key: str, latex: bool = False) -> str:
    """What a normal(given=...) is conditioned on: `s`, or `msg(sg(z[m0]), sg(z[m1]))` (messages of draws);
    in LaTeX with square brackets (`\\mathrm{msg}[\\mathrm{sg}[z_{m0}], ...]`), so that the
    distribution's name is what precedes its last parenthesis, as for every other distribution."""
    node = g.nodes[key]
    name = latex_latent if latex else (lambda l: l)
    wrap = (lambda f, x: f"\\mathrm{{{f}}}[{x}]") if latex else (lambda f, x: f"{f}({x})")
    draws = []
    for k in node.inputs:
        member = getattr(g.nodes[k], "member", None)
        latents = ", ".join(name(l) for l in g.node_latents(member or k))
        draws.append(wrap("sg", latents) if member else latents)
    if latex and len(draws) > 3:            # a page's width: the first, dots, the last
        draws = [draws[0], "\\dots", draws[-1]]
    return ", ".join([name(l) for l in node.reads_latents] + ([wrap("msg", ", ".join(draws))] if node.message else draws))


def latent_conditioned(g, key: str, z: str, latex: bool) -> str:
    """`pz[m0](z[m0] | s)`, `top[{m0,m1}](s | msg(sg(z[m0]), sg(z[m1])))`."""
    cond = latent_condition(g, key, latex)
    return f"{latex_name(g, key)}({latex_latent(z)} \\mid {cond})" if latex else f"{g.label(key)}({z} | {cond})"


def latex_name(g, key: str) -> str:
    """A distribution's LaTeX name: a prior is a p (`p`, a data-free Gaussian or Laplace, or a named
    one as p_{name}: a mog(...) prior `pz` -> p_{pz}); a posterior as `latex_dist_name` writes it."""
    label = g.label(key)
    if isinstance(g.nodes[key], (NormalPrior, LaplacePrior)) or (key in g.prior_keys and label == "p"):
        return "p"
    if key in g.prior_keys and re.fullmatch(r"\w+", label):
        return "p_{\\mathrm{" + label.replace("_", "\\_") + "}}"
    return latex_dist_name(label)


def latex_dist_name(label: str) -> str:
    """`q[mnist]` -> q_{mnist}, `qs[{m0,m1}]` -> \\mathrm{qs}_{m0,m1} (a name of several letters upright,
    not a product of italic symbols); `joint` -> q_{joint}; anything else in upright text."""
    iterate = latex_iterate(label)     # r[m]ᵗ, ql(z0)
    if iterate:
        return iterate
    m = re.fullmatch(r"(\w+)\[(.+)\]", label)
    if m:
        index = m.group(2)[1:-1] if m.group(2).startswith("{") and m.group(2).endswith("}") else m.group(2)
        base = m.group(1) if len(m.group(1)) == 1 else "\\mathrm{" + m.group(1).replace("_", "\\_") + "}"
        return f"{base}_{{\\mathrm{{{index}}}}}"             # qs[{mnist,svhn}] -> \mathrm{qs}_{mnist,svhn}
    if re.fullmatch(r"\w+", label):
        return "q_{\\mathrm{" + label.replace("_", "\\_") + "}}"
    return operator_name(label, latex_dist_name) or "\\mathrm{" + label.replace("_", "\\_") + "}"


def latex_iterate(label: str) -> str | None:
    """LaTeX for the label of an iterate of refine(...)/gradient_origin(...) (`r[mnist]ᵗ` ->
    r_{mnist}^{(t)}, `ql(z0)` -> q_{ql}^{(z_0)}), or None for any other label."""
    if label.endswith("ᵗ"):
        return latex_dist_name(label[:-1]) + "^{(t)}"
    if label.endswith("(z0)"):
        return latex_dist_name(label[:-4]) + "^{(z_0)}"
    return None


def latex_latent(z: str) -> str:
    """`z[mnist]` -> z_{\\mathrm{mnist}}; `z` stays."""
    return re.sub(r"\[(.+)\]", lambda m: "_{\\mathrm{" + m.group(1) + "}}", z)


def operator_name(label: str, name) -> str | None:
    """An unnamed aggregate, `moe(q[a], q[b]) on z[a]` -> \\operatorname{moe}(q_{a}, q_{b}); None if not one."""
    m = re.fullmatch(r"(\w+)\((.*)\)(?: on (.+))?", label)
    if not m:
        return None
    args, depth, start = [], 0, 0
    text = m.group(2)
    for i, c in enumerate(text + ","):
        depth += (c in "([{") - (c in ")]}")
        if c == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
    shown = ", ".join("p" if a == "p" else name(a) for a in args if a)
    on = f"\\big|_{{{latex_latent(m.group(3))}}}" if m.group(3) else ""
    return f"\\operatorname{{{m.group(1)}}}({shown}){on}"


def decoder_args(g, target: str, latex: bool = False) -> str:
    """What the decoder of `target` reads, as written after the bar: `z`, or `z, w[m0]` (several latents)."""
    reads = g.modalities[target].reads if g.has_layout else ()
    latents = ", ".join(latex_latent(l) if latex else l for l in reads) if reads else "z"
    given = g.modalities[target].given           # a conditional decoder: p(x_m0 | z, x_m1)
    xs = [f"x_{{\\mathrm{{{c}}}}}" if latex else f"x_{c}" for c in given]
    return ", ".join([latents, *xs])


def from_priors(g, source: str, target: str) -> list[str]:
    """`w[m1] ~ r[m1]` for each latent the decoder of `target` reads that `source` does not describe."""
    if not g.has_layout:
        return []
    own = g.node_latents(source)
    return [f"{l} ~ {g.label(g.latent_priors[l])}" for l in g.modalities[target].reads
            if l not in own and l in g.latent_priors]
