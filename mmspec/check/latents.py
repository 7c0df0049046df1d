"""Several latents: what each decoder reads, joints over several latents, and the prior a decoder
draws a latent from when the distribution it decodes does not describe it.

    latent z: 32
    latent w[m]: 32
    modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from (z, w[m0])
    prior r[m] = laplace(scale=learned) on w[m]
    posterior q[m] = (qz[m], qw[m])          # q(z, w_m | x_m) = q(z | x_m)·q(w_m | x_m)

A spec whose decoders say what they read (`from ...`) may declare latents of any sizes; each
decoder is built for the size of what it reads. `rec(q -> t)` decodes t from q's sample of the
latents q describes and, for each latent t's decoder reads that q does not describe, a draw from
that latent's prior (MMVAE+'s cross-generation: the target's private latent from its prior).
"""
from __future__ import annotations

from ..errors import one_of
from ..model.graph import Conditional, Expert, Joint, LadderPrior, Marginal
from ..model.sets import Env
from ..syntax import ast


def decoder_reads(elab, stmt: ast.ModalityStmt) -> tuple[str, ...]:
    """`from z`, `from (z, w[m0])` -> latent ids, in the order the decoder concatenates them."""
    if stmt.reads is None:
        return ()
    items = stmt.reads.items if isinstance(stmt.reads, ast.Tuple) else [stmt.reads]
    for item in items:
        if isinstance(item, ast.Name) and item.id in elab.g.givens and item.id not in elab.g.latents:
            elab.fail(f"'{item.id}' is given data: after 'from' a decoder reads latents", item,
                      one_of(elab.g.layout()), f"a decoder also reads given data with `, given {item.id}`")
        if isinstance(item, ast.Name) and item.id in elab.g.modalities and item.id not in elab.g.latents:
            elab.fail(f"'{item.id}' is a modality: a decoder reads latents", item, one_of(elab.g.layout()),
                      "a decoder that also reads data (a CVAE) reads data declared `given NAME: KIND`: "
                      "write `, given NAME` (docs/language.md, 'Conditional networks')")
    reads = tuple(elab.latent_ref(item, Env({}), "after 'from'") for item in items)
    if len(set(reads)) != len(reads):
        elab.fail("a latent appears twice in what this decoder reads", stmt.reads)
    return reads


def check_layout(checker) -> None:
    """Latents of different sizes need every decoder to say what it reads; once one decoder says so,
    every decoder must (a decoder's input is a choice, not a default)."""
    g, sink = checker.graph, checker.sink
    sizes = {l.dim for l in g.latents.values()}
    stated = [m for m in g.modalities.values() if m.reads]
    missing = [m for m in g.modalities.values() if not m.reads]
    if stated and missing:
        for m in missing:
            sink.error(f"the decoder of '{m.name}' does not say which latents it reads, but other decoders do",
                       m.span, "', from LATENT' or ', from (LATENT, ...)' at the end of the modality",
                       "e.g. from (" + ", ".join(stated[0].reads) + ")")
    elif len(sizes) > 1 and missing:
        sink.error("latents of different sizes: each decoder must say which latents it reads",
                   missing[0].span, "', from (z, w[" + missing[0].name + "])' at the end of each modality",
                   "docs/language.md, 'Several latents'")


def latent_priors(checker, decls) -> None:
    """Each latent's prior, for decoding a latent the decoded distribution does not describe: the
    data-free prior declared `on` that latent, else the spec's data-free prior valid on every latent."""
    g, elab = checker.graph, checker.elab
    if not g.has_layout:
        return
    general = None
    for name, decl in decls.items():
        if decl.stmt.role != "prior":
            continue
        values = elab.decl_values(name) if decl.indexed else [None]
        for value in values:
            key = checker.guard(elab.declared, name, value, decl.stmt)
            if key is None or g.sees(key):
                continue
            latents = g.node_latents(key)
            if len(latents) == 1 or isinstance(g.nodes[key], LadderPrior):     # a ladder: each of its levels
                for latent in latents:
                    g.latent_priors.setdefault(latent, key)
            elif not latents and general is None:
                general = key
    for latent in g.layout():
        if latent not in g.latent_priors and general is not None:
            g.latent_priors[latent] = general


def joint(elab, expr: ast.Tuple, env, on) -> str:
    """`(a, b, ...)` of distributions over different latents: their independent product."""
    if on is not None:
        elab.fail("a joint distribution describes its members' latents; it cannot be put `on` one", expr)
    members: list[str] = []
    for item in expr.items:
        members += elab.dist_list(item, env)
    latents: list[str] = []
    for m in members:
        own = elab.g.node_latents(m)
        if not own:
            elab.fail(f"{elab.g.label(m)} is valid on every latent: in a joint each member must describe its "
                      "own latent", expr, hint=f"write `{elab.g.label(m)} on LATENT` in a prior declaration")
        clash = [l for l in own if l in latents]
        if clash:
            elab.fail(f"two members of this joint describe {clash[0]}", expr,
                      "distributions over different latents, e.g. (qz[m], qw[m])")
        latents += own
    if len(members) == 1:
        return members[0]
    node = Joint(key="(" + ", ".join(members) + ")", members=tuple(members), latents=tuple(latents))
    return elab.add_node(node, "(" + ", ".join(elab.g.label(m) for m in members) + ")")


def check_decodable(builder, q: str, target: str, node: ast.Node) -> None:
    """rec(q -> target) in a spec whose decoders read several latents: q describes some of them; each
    one it does not describe needs a prior to draw it from."""
    g = builder.g
    reads = g.decoder_reads(target)
    own = g.node_latents(q)
    if not own:
        builder.fail(f"{g.label(q)} is valid on every latent, so it says nothing about the latents the "
                     f"decoder of {target} reads ({', '.join(reads)})", node)
    if not set(own) & set(reads):
        builder.fail(f"rec decodes {target} from {g.label(q)}, which describes {', '.join(own)}, none of the "
                     f"latents the decoder of {target} reads ({', '.join(reads)})", node)
    for latent in reads:
        if latent not in own and latent not in g.latent_priors:
            builder.fail(f"decoding {target} from {g.label(q)} needs {latent}, which {g.label(q)} does not "
                         f"describe, and {latent} has no data-free prior to draw it from", node,
                         f"a prior on {latent}, e.g. `prior r[m] = normal() on {latent.split('[')[0]}[m]`")
        prior = g.nodes[g.latent_priors[latent]]
        upper = prior.reads_latents if isinstance(prior, Conditional) and latent not in own else ()
        if set(upper) - set(own):             # p(z | s) needs a draw of s from the decoded distribution
            builder.fail(f"decoding {target} from {g.label(q)} draws {latent} from {g.label(g.latent_priors[latent])}"
                         f", which is conditioned on {', '.join(upper)}, which {g.label(q)} does not describe", node)


def check_same_latents(builder, q: str, p: str, node: ast.Node) -> None:
    """A divergence between distributions over several latents compares them latent by latent: both
    must describe the same ones (a latent-free prior such as N(0, I) fits any)."""
    g = builder.g
    lq, lp = g.node_latents(q), g.node_latents(p)
    if lq and lp and set(lq) != set(lp):
        builder.fail(f"these distributions describe different latents: {g.label(q)} is over "
                     f"{', '.join(lq)}, {g.label(p)} over {', '.join(lp)}", node)


def is_joint(g, key: str) -> bool:
    return isinstance(g.nodes[key], Joint) or len(g.node_latents(key)) > 1


def expected_latents(g) -> str:
    return one_of(g.layout())


def declared_on(elab, stmt, env):
    """A declaration's `on`: one latent id, a tuple of them (`encoder(m) on (z, w[m])`), or None."""
    if stmt.on is None:
        return None
    if not isinstance(stmt.on, ast.Tuple):
        return elab.latent_ref(stmt.on, env)
    if not elab.g.has_layout:
        elab.fail("a distribution over several latents needs decoders that say what they read", stmt.on,
                  hint="add `from (...)` to each modality (docs/language.md, 'Several latents')")
    is_encoder = isinstance(stmt.expr, ast.Call) and stmt.expr.func == "encoder" and len(stmt.expr.args) == 1
    if not is_encoder:
        elab.fail("only an encoder(m) can be declared on several latents (one network, heads for each)",
                  stmt.on, hint="a joint of distributions over different latents is written (a, b)")
    latents = tuple(elab.latent_ref(item, env) for item in stmt.on.items)
    if len(set(latents)) != len(latents):
        elab.fail("a latent appears twice here", stmt.on)
    return latents


def marginal_if_asked(elab, key: str, on, stmt) -> str:
    """`posterior qw[m] = q[m] on w[m]` with q[m] over several latents: its factor on w[m]."""
    g = elab.g
    own = g.node_latents(key)
    if not isinstance(on, str) or len(own) < 2:
        return key
    if on not in own:
        elab.fail(f"{g.label(key)} describes {', '.join(own)}, not {on}", stmt.on)
    node = g.nodes[key]
    if isinstance(node, Joint):           # a joint's factor is its member
        return next(m for m in node.members if g.node_latents(m) == (on,))
    if not isinstance(node, Expert):
        elab.fail(f"the factor on one latent is defined for an encoder over several latents or a joint; "
                  f"{g.label(key)} is neither", stmt.on)
    marginal = Marginal(key=f"{key} on {on}", members=(key,), latent=on, family=node.family)
    return elab.add_node(marginal, f"{g.label(key)} on {on}")
