"""`rec(mix -> *, sampling=stratified)`: the reconstruction of a mixture by one component per item.

    rec(mix -> *)                          every component decodes every target, weighted (exact)
    rec(mix -> *, sampling=stratified)     the batch is split among the components, in proportion to
                                           their weights; each item decodes one sample of its own
                                           component (the MoPoE code's estimator)

Both are the same objective, sum_j w_j E_{q_j}[log p(x_t | z)] per item; the stratified form is an
unbiased estimate of it that decodes N latents per target instead of J·N (J components). Which
component each item gets is drawn afresh every step from the step's noise (mmspec/lower/stratified.py).
This module checks the option and says what it means in `explain`; the maths is in the lowering.
"""
from __future__ import annotations

from ..model import ir
from ..model.graph import mixture_parts
from ..syntax import ast

SAMPLING = ("exact", "stratified")
STRATIFIED_NOTE = "stratified: one component per item"


def rec_sampling(builder, opts: dict, q: str, call: ast.Call) -> str:
    """The `sampling=` option of rec(...): `exact` (default) or `stratified`, which needs a mixture
    whose components describe one latent (one sample per item is one latent vector)."""
    sampling = ast.word_option(opts, "sampling", SAMPLING, "exact", builder.fail, "for rec")
    if sampling != "stratified":
        return sampling
    g = builder.g
    if g.nodes[q].family != "mixture":
        builder.fail(f"sampling=stratified splits the batch among a mixture's components, but "
                     f"{g.label(q)} is a single distribution", opts["sampling"],
                     hint="drop `sampling=` (a single distribution is sampled directly), or reconstruct "
                          "from a mixture: moe(...) or mopoe(...)")
    latents = sorted({g.nodes[c].latent for c, _ in mixture_parts(g, q)} - {None})
    if len(latents) > 1:
        builder.fail(f"sampling=stratified gives each item one sample of one component, but the "
                     f"components of {g.label(q)} are over different latents ({', '.join(latents)})", call,
                     hint="use the exact estimator (drop `sampling=`), or build the mixture from "
                          "distributions over one latent")
    return sampling


def describe(program, leaf: ir.Rec) -> str:
    """explain's note after a stratified rec term: which components share the batch, and how."""
    parts = mixture_parts(program.graph, leaf.dist)
    weights = {round(w, 12) for _, w in parts}
    split = "equal slices" if len(weights) == 1 else "slices ∝ their weights"
    return f"  [{STRATIFIED_NOTE} ({len(parts)} components, {split} of the shuffled batch)]"
