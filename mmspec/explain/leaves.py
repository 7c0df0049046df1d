"""How an objective term (a leaf of the IR) is written: as math for explain (Unicode or LaTeX), and
as a short name for progress bars, logs and reports."""
from __future__ import annotations

from ..constructs import hierarchy, iwae, ladder, stratified
from ..model import ir
from ..model.notation import conditioned, decoder_args, from_priors
from .latex import kl_estimator, latent


def leaf_text(program, leaf: ir.Leaf, latex: bool = False) -> str:
    g = program.graph
    if isinstance(leaf, ir.Rec):
        k = f" (K={leaf.k})" if leaf.k > 1 else ""
        if latex:
            q = conditioned(program, leaf.dist, True).rsplit("(", 1)[0]
            how = "\\;(\\text{stratified})" if leaf.sampling == "stratified" else ""
            args = (decoder_args(g, leaf.target, True) if g.has_layout or g.modalities[leaf.target].given
                    else latent(g.nodes[leaf.dist].latent or "z"))        # z_{m} where each modality has its own
            return f"\\mathbb{{E}}_{{{q}}}\\left[\\log p(x_{{\\mathrm{{{leaf.target}}}}} \\mid {args})\\right]{k}{how}"
        how = stratified.describe(program, leaf) if leaf.sampling == "stratified" else ""
        drawn = from_priors(g, leaf.dist, leaf.target)
        drawn = f", {', '.join(drawn)}" if drawn else ""
        return f"E_{g.label(leaf.dist)}{drawn}[log p(x_{leaf.target} | {decoder_args(g, leaf.target)})]{k}{how}"
    if isinstance(leaf, ir.IWAE):
        return iwae.describe_latex(program, leaf) if latex else iwae.describe(program, leaf)
    if isinstance(leaf, ir.LatentRec):
        return hierarchy.describe(program, leaf, latex)
    if program.graph.nodes[leaf.q].family == "ladder":
        return ladder.describe_kl(program, leaf.q, leaf.p, latex)
    est = {"closed": "closed form", "jensen": "Jensen bound", "mc": f"Monte Carlo, K={leaf.k}"}[leaf.estimator]
    if latex:
        q = conditioned(program, leaf.q, True).rsplit("(", 1)[0]
        p = conditioned(program, leaf.p, True).rsplit("(", 1)[0]
        return f"\\mathrm{{KL}}\\left({q} \\,\\|\\, {p}\\right){kl_estimator(leaf)}"
    return f"KL({g.label(leaf.q)} ‖ {g.label(leaf.p)})  [{est}]"


def leaf_name(graph, leaf: ir.Leaf) -> str:
    """How a term is named in progress bars, logs and reports."""
    return leaf.name(graph)
