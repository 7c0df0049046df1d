"""Conditional networks (CVAE, Sohn et al. 2015): data the model reads and never generates.

    given m1: image(3, 28, 28), net polymnist_conv       # the conditioning data, with a net for encoders
    modality m0: image(3, 28, 28) ~ gaussian, net polymnist_conv, given m1    # p(x_m0 | z, x_m1)
    posterior q = encoder(m0, given=m1, hidden=[512, 512])                     # q(z | x_m0, x_m1)

A `given` name is not one of the M modalities: `*`, `sum m` and M range over the generated ones, no
rec or likelihood reads it, and every batch carries it. A decoder reads its given data flattened
after its latents, in the order written (MultiVae's ConditionalDecoderMLP: cat([z, x_c.view(B, -1)]));
a conditional encoder is a joint encoder (each input's encoder body, concatenated, an MLP, Gaussian
heads; MultiVae's MultipleHeadJointEncoder) over the modality and its given data.
"""
from __future__ import annotations

from ..errors import did_you_mean, one_of
from ..model.graph import Given, JointExpert
from ..model.sets import Env
from ..syntax import ast


def declare_givens(checker) -> None:
    """`given NAME: KIND [, net NET]` statements -> graph.givens (names, kinds, shapes, networks)."""
    g, sink = checker.graph, checker.sink
    elab = checker.plain_elaborator()
    for s in checker.spec.of_type(ast.GivenStmt):
        if s.name in g.givens:
            sink.error(f"given data '{s.name}' is declared twice", s.name_span,
                       hint=f"first declared on line {g.givens[s.name].span.line}")
            continue
        if s.name in checker.modality_statements():
            sink.error(f"'{s.name}' is declared both as a modality and as given data", s.name_span,
                       hint="a modality is generated (it has a likelihood); given data is only read: keep one")
            continue
        if not checker.kind_ok(s.kind):
            continue
        net = checker.guard(checker.net, s, elab) if s.net is not None else None
        if s.net is not None and net is None:
            continue
        g.givens[s.name] = Given(s.name, s.kind.name, tuple(s.kind.dims), net, s.span)


def given_names(elab, expr: ast.Expr, where: str) -> tuple[str, ...]:
    """`m1` or `(m1, m2)` after `given` -> given data names in the order written (located errors)."""
    items = expr.items if isinstance(expr, ast.Tuple) else [expr]
    g = elab.g
    out: list[str] = []
    for item in items:
        if not isinstance(item, ast.Name):
            elab.fail(f"expected the name of given data {where}", item, one_of(g.givens) if g.givens else None)
        name = item.id
        if name in g.modalities and name not in g.givens:
            elab.fail(f"'{name}' is a modality the model generates; {where} names data declared with "
                      f"`given {name}: KIND`", item,
                      hint=f"declare `given {name}: ...` instead of `modality {name}: ...` (a CVAE reads the "
                           "conditioning data, it does not reconstruct it)")
        if name not in g.givens:
            elab.fail(f"unknown given data '{name}'", item, one_of(g.givens) if g.givens else
                      "a name declared with `given NAME: KIND(...)`", did_you_mean(name, list(g.givens)))
        if name in out:
            elab.fail(f"'{name}' is given twice here", item)
        out.append(name)
    return tuple(out)


def decoder_given(elab, stmt: ast.ModalityStmt) -> tuple[str, ...]:
    """`modality m0: ..., given m1`: the data the decoder of m0 reads after its latents."""
    if stmt.given is None:
        return ()
    items = stmt.given.items if isinstance(stmt.given, ast.Tuple) else [stmt.given]
    for item in items:
        if isinstance(item, ast.Name) and item.id == stmt.name:
            elab.fail(f"the decoder of '{stmt.name}' cannot be given '{stmt.name}' itself: it would copy "
                      "its input", item, "other data, declared with `given NAME: KIND`")
    return given_names(elab, stmt.given, "after 'given'")


def encoder(elab, call: ast.Call, env: Env, owner: str, on, hidden: tuple[int, ...], family: str) -> str:
    """`encoder(m0, given=m1)`: q(z | x_m0, x_m1), a joint encoder over m0's data and the given data;
    `encoder(given=m1)`: a distribution of the given data alone, the conditional prior p(z | x_m1)."""
    given = given_names(elab, call.kwarg("given"), "in given=")
    if len(call.args) > 1:
        elab.fail("encoder takes at most one modality or set of modalities besides given=", call.args[1])
    mods = tuple(elab.modality_set(call.args[0], env)) if call.args else ()
    for name in given:
        if elab.g.givens[name].net is None:
            elab.fail(f"an encoder reads given data '{name}' through a network, and '{name}' has none", call,
                      hint=f"add a net to its declaration: `given {name}: ..., net NET`")
    if isinstance(on, tuple):
        elab.fail("a conditional encoder describes one latent", call)
    latent = on or elab.latent_for(mods[0] if len(mods) == 1 else None, owner, call)
    decl = elab.decls.get(owner.split("[")[0])          # the declaration that owns the network
    if not mods and decl is not None and decl.stmt.role != "prior":
        elab.fail("an encoder of given data alone is a conditional prior p(z | x_c): declare it with `prior`",
                  call, hint=f"prior {owner} = encoder(given={', '.join(given)})")
    node = JointExpert(key=f"encoder:{owner}", modalities=mods, network=owner, hidden=hidden, latent=latent,
                       family=family, given=given)
    return elab.add_node(node, owner)


def infer_given(checker, rules, program_ir) -> None:
    """`infer (m1) = p`: the distribution of the latent when only given data is observed (conditional
    generation: z from it, decoded given x_m1). A rule names modalities or given data, not both (the
    given data is part of every item, so `(m0, m1)` would mean `(m0)`)."""
    g = checker.graph
    for rule in rules:
        if rule.pattern != "exact" or not set(rule.names) & set(g.givens):
            continue
        mixed = [n for n in rule.names if n not in g.givens]
        if mixed:
            checker.sink.error(f"this rule names modalities ({', '.join(mixed)}) and given data together; "
                               "given data is read with every modality", rule.span,
                               hint=f"infer ({', '.join(mixed)}) = ... for the modalities; "
                                    f"infer ({', '.join(n for n in rule.names if n in g.givens)}) = ... for the "
                                    "given data alone")
            continue
        key = checker.guard(checker.elab.dist, rule.expr, Env({}))
        if key is None:
            continue
        if g.sees(key):
            checker.sink.error(f"with only the given data ({', '.join(rule.names)}) this rule reads "
                               f"{', '.join(sorted(g.sees(key)))}, which is not observed", rule.expr.span,
                               hint="the prior, or a distribution that reads given data only")
            continue
        program_ir.infer[frozenset(rule.names)] = key
    everything = frozenset(g.givens)
    if g.givens and everything not in program_ir.infer:      # default: the spec's data-free prior
        free = [k for k in g.nodes if k in g.prior_keys and not g.sees(k)]
        if free:
            program_ir.infer[everything] = free[0]
        else:
            first = next(iter(g.givens.values()))
            checker.sink.error("evaluation needs the latent's distribution when only the given data is observed, "
                               "and the spec has no data-free prior to default to", first.span,
                               hint=f"add `infer ({', '.join(g.givens)}) = ...` (e.g. a prior that reads the given data)")
