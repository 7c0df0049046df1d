"""Distribution families of latents: Gaussian (the default) and Laplace (MMVAE's posteriors and prior).

What the language allows for each family lives here, so the elaborator and the term builder ask one
place: which aggregators a family admits (a product of Laplace densities is not a Laplace density, so
PoE, weighted PoE and AVG need Gaussians), and which KLs have a closed form (Gaussian-Gaussian and
Laplace-Laplace; a KL across families or with a mixture needs an estimator).
"""
from __future__ import annotations

from ..syntax import ast
from ..errors import did_you_mean, one_of
from ..model.graph import LaplacePrior, mixture_parts

FAMILIES = ("gaussian", "laplace")
GAUSSIAN_ONLY = {"poe": "a product of experts", "wpoe": "a weighted product of experts",
                 "avg": "AVG (mean of means and of standard deviations)"}


def encoder_family(elab, call: ast.Call) -> str:
    """The `family=` option of encoder(...): gaussian (default) or laplace."""
    for kw in call.kwargs:
        if kw.name != "family":
            continue
        name = kw.value.id if isinstance(kw.value, ast.Name) else None
        if name not in FAMILIES:
            elab.fail("unknown posterior family", kw.value, one_of(FAMILIES), did_you_mean(str(name), FAMILIES))
        return name
    return "gaussian"


def laplace_prior(elab, call: ast.Call, env, owner: str | None, on: str | None) -> str:
    """`laplace()` = Laplace(0, 1); `laplace(scale=b)` fixed; `laplace(scale=learned)` MMVAE's learned
    scale, b = D·softmax(lambda), which owns trainable weights and so must be declared by name."""
    if call.args:
        elab.fail("laplace(...) takes named options only", call.args[0], "laplace(), laplace(scale=learned)")
    scale: float | None = 1.0
    eps = 0.0
    for kw in call.kwargs:
        if kw.name not in ("scale", "eps"):
            elab.fail(f"unknown option '{kw.name}' for laplace", kw, "scale=NUMBER or scale=learned",
                      did_you_mean(kw.name, ["scale", "eps"]))
        if kw.name == "eps":            # b = D·softmax(lambda) + eps (MultiVae's MMVAE+ adds 1e-6)
            eps = elab.number(kw.value, env)
            if eps < 0:
                elab.fail("eps must be non-negative", kw.value)
        elif isinstance(kw.value, ast.Name) and kw.value.id == "learned":
            scale = None
        else:
            scale = elab.number(kw.value, env)
            if scale <= 0:
                elab.fail("a scale must be positive", kw.value)
    if scale is None:
        if owner is None:
            elab.fail("laplace(scale=learned) creates a trainable scale, so it must be the whole right-hand "
                      "side of a prior declaration", call, hint="declare `prior p = laplace(scale=learned)` and use p")
        node = LaplacePrior(key=f"laplace:{owner}", scale=None, owner=owner, latent=on, eps=eps)
        return elab.add_node(node, "Laplace(0, D·softmax(λ)" + (f" + {eps:g}" if eps else "") + ")")
    if eps:
        elab.fail("eps is added to a learned scale", next(kw for kw in call.kwargs if kw.name == "eps"),
                  "laplace(scale=learned, eps=1e-6)")
    node = LaplacePrior(key=f"laplace(scale={scale:g})" + (f" on {on}" if on else ""), scale=scale, latent=on)
    return elab.add_node(node, f"Laplace(0, {scale:g})")


def check_aggregable(elab, func: str, members: list[str], call: ast.Call) -> None:
    """PoE, weighted PoE and AVG are defined for Gaussian members only (moe takes any)."""
    if func not in GAUSSIAN_ONLY:
        return
    for m in members:
        family = elab.g.nodes[m].family
        if family == "mixture":
            elab.fail(f"{func}(...) needs Gaussian members; {elab.g.label(m)} is a mixture", call)
        if family != "gaussian":
            elab.fail(f"{func}(...) needs Gaussian members; {elab.g.label(m)} is a {family.capitalize()} "
                      f"distribution", call, "Gaussian experts (encoder(m) without family=laplace)",
                      f"{GAUSSIAN_ONLY[func]} of {family.capitalize()} densities is not a {family.capitalize()} "
                      "density; combine them with moe(...) instead")


def components_family(graph, key: str) -> set[str]:
    """The families of a distribution's mixture components (a non-mixture: its own family)."""
    return {graph.nodes[c].family for c, _ in mixture_parts(graph, key)}


def has_closed_kl(graph, q: str, p: str) -> bool:
    """KL(q || p) has a closed form here: both Gaussian, or both Laplace (not mixtures)."""
    fq, fp = graph.nodes[q].family, graph.nodes[p].family
    return fq == fp and fq in FAMILIES


def jensen_applies(graph, q: str, p: str) -> bool:
    """The Jensen bound needs a mixture and closed-form KLs between every pair of components."""
    mixture = "mixture" in (graph.nodes[q].family, graph.nodes[p].family)
    families = components_family(graph, q) | components_family(graph, p)
    return mixture and len(families) == 1


# ---- flows and learned mixture priors (constructs/flows.py, constructs/mog.py) ---------------------

NAMES = {"flow": "normalizing-flow", "mog": "learned mixture-prior"}


def family_name(family: str) -> str:
    """How a family is named in a message (`a normalizing-flow distribution`)."""
    return NAMES.get(family, family)


def check_sampled(builder, key: str, node: ast.Node) -> None:
    """A term that draws samples of `key` (rec, iwae, a Monte Carlo KL's q) needs reparameterised draws:
    a learned mixture prior has none (the component choice carries no gradient to its weights)."""
    for part, _ in mixture_parts(builder.g, key):
        if builder.g.nodes[part].family == "mog":
            builder.fail(f"{builder.g.label(part)} is a learned mixture prior: a term cannot draw samples of it "
                         "(the choice of component has no reparameterised gradient)", node,
                         hint="use it as the second argument of a KL, kl(q || p, estimator=mc, k=K), where only "
                              "its exact density is evaluated")
