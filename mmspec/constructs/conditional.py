"""How conditional networks (CVAE: `given m1: ...`, `modality m0: ..., given m1`, `encoder(m0, given=m1)`;
checked in mmspec/check/conditional.py) are described by explain: the given data, what each decoder is
also given, and the model family."""
from __future__ import annotations


def given_lines(g) -> list[str]:
    """explain's `Given data` block: data the model reads and never generates."""
    if not g.givens:
        return []
    out = ["Given data (read, never generated; not among the M modalities)"]
    for c in g.givens.values():
        readers = [m.name for m in g.modalities.values() if c.name in m.given]
        net = f"   net {c.net.name} (encoder body)" if c.net is not None else ""
        shown = f"   read by the decoder of {', '.join(readers)}" if readers else ""
        out.append(f"  {c.name:<8} {c.kind}{c.shape}{net}{shown}")
    return out


def decoder_note(g, modality: str) -> str:
    """`   decoder also given (m1)` beside a modality whose decoder reads given data."""
    given = g.modalities[modality].given
    return f"   decoder also given ({', '.join(given)})" if given else ""


def encoder_inputs(node) -> str:
    """What a joint encoder (a JointExpert) reads: `over a, b`, `over m0, given m1`, or `of the given
    data m1` (a prior)."""
    given = ", ".join(node.given)
    if not node.modalities:
        return f"of the given data {given}"
    return f"over {', '.join(node.modalities)}" + (f", given {given}" if given else "")


def family_notes(program) -> tuple[list[str], list[str]]:
    """A spec whose decoders read given data is a conditional model p(x | z, c) (CVAE)."""
    from ..model.graph import given_read
    g = program.graph
    pairs = [(m.name, m.given) for m in g.modalities.values() if m.given]
    if not pairs:
        return [], []
    shown = "; ".join(f"p(x_{m} | z, {', '.join('x_' + c for c in given)})" for m, given in pairs)
    reasons = [f"conditional generation (CVAE, Sohn et al. 2015): {shown}; the given data is read, never generated"]
    priors = [k for k in g.nodes if k in g.prior_keys and not g.sees(k) and given_read(g, k)]
    reasons += [f"the prior {g.label(k)} is conditional: p(z | {', '.join('x_' + c for c in given_read(g, k))}), "
                "learned" for k in priors]
    return ["conditional"], reasons


def infer_order(g) -> list[str]:
    """The order subsets are printed in: the modalities, then the given data (`infer (m1) = p`)."""
    return list(g.modalities) + list(g.givens)
