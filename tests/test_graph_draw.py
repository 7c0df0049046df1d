"""`mmspec graph`: the structure of the drawn graph (ranks, what is hidden or folded, which edges),
derived by hand from the specs, not from the drawing code."""
from __future__ import annotations

from itertools import combinations

import pytest
from click.testing import CliRunner

from mmspec.check import check_file
from mmspec.cli import main
from mmspec.explain.draw import hidden_posteriors, model_graph, ranks, to_dot
from spec_helpers import ROOT

MODS5 = ["m0", "m1", "m2", "m3", "m4"]


def program(name: str):
    return check_file(str(ROOT / "specs" / f"{name}.mms"), {})


def by_kind(g, kind):
    return {n for n, d in g.nodes(data=True) if d["kind"] == kind}


def rank_of(g, n):
    return g.nodes[n]["rank"]


@pytest.fixture(scope="module")
def mopoe():
    return program("mopoe_polymnist")


def test_mopoe_five_modalities_is_drawn_in_ranks_with_its_subset_family_folded(mopoe):
    g = model_graph(mopoe)
    assert {rank_of(g, f"x:{m}") for m in MODS5} == {0}
    assert {rank_of(g, f"enc:q[{m}]") for m in MODS5} == {1}
    experts = {f"d:encoder:q[{m}]" for m in MODS5}
    assert {rank_of(g, n) for n in experts} == {2}
    (subsets,) = [n for n in by_kind(g, "distribution") if "members" in g.nodes[n]]
    assert len(g.nodes[subsets]["members"]) == 2 ** 5 - 1 and rank_of(g, subsets) == 3
    assert "× 31" in g.nodes[subsets]["label"]
    mix = next(n for n in by_kind(g, "distribution") if g.nodes[n]["label"] == "mix")
    assert rank_of(g, mix) == 4 and g.has_edge(subsets, mix)
    assert all(g.has_edge(e, subsets) for e in experts)
    assert by_kind(g, "latent") == {"z:z"} and rank_of(g, "z:z") == 5 and g.has_edge(mix, "z:z")
    terms = by_kind(g, "term")
    assert {rank_of(g, t) for t in terms} == {6}
    assert {rank_of(g, f"dec:{m}") for m in MODS5} == {7}
    # five reconstructions (one per target, through the latent) and ONE node for the 31 KL terms
    recs = {t for t in terms if "rec(" in g.nodes[t]["label"]}
    assert len(recs) == 5 and all(g.has_edge("z:z", t) for t in recs)
    assert {b for t in recs for b in g.successors(t)} == {f"dec:{m}" for m in MODS5}
    (kls,) = terms - recs
    assert len(g.nodes[kls]["members"]) == 31 and g.nodes[kls]["label"].startswith("-1/31 kl(qs[·]||p)")
    assert g.has_edge(subsets, kls) and g.has_edge("d:normal()", kls)
    assert len(g) == 5 + 5 + 5 + 1 + 1 + 1 + 1 + 6 + 5          # data, enc, q, qs, mix, p, z, terms, dec


def test_expand_draws_every_subset_posterior_and_kl_term(mopoe):
    g = model_graph(mopoe, expand=True)
    subsets = [n for n in by_kind(g, "distribution") if g.nodes[n]["label"].startswith("qs[")]
    assert len(subsets) == 31 and {rank_of(g, n) for n in subsets} == {3}
    kls = [t for t in by_kind(g, "term") if "kl(" in t]
    assert len(kls) == 31
    for size in (1, 3, 5):          # each KL reads its own subset's product and the prior, nothing else
        for subset in combinations(MODS5, size):
            label = "qs[{" + ",".join(subset) + "}]"
            (node,) = [n for n in subsets if g.nodes[n]["label"] == label]
            (kl,) = [t for t in g.successors(node) if g.nodes[t]["kind"] == "term"]
            assert set(g.predecessors(kl)) == {node, "d:normal()"}
            assert set(g.predecessors(node)) == {f"d:encoder:q[{m}]" for m in subset}


def test_evaluation_only_posteriors_are_hidden_unless_asked():
    crmvae = program("crmvae_mst")
    # infer S = poe(p, q[S]): the three pairs are the only products the objective never reads
    pairs = {"poe(p, q[mnist], q[svhn])", "poe(p, q[mnist], q[text])", "poe(p, q[svhn], q[text])"}
    assert {crmvae.graph.label(k) for k in hidden_posteriors(crmvae)} == pairs
    shown = model_graph(crmvae)
    assert not pairs & {d["label"] for _, d in shown.nodes(data=True)}
    assert not any(d.get("evaluation_only") for _, d in shown.nodes(data=True))
    every = model_graph(crmvae, show_infer=True)
    extra = {n for n, d in every.nodes(data=True) if d.get("evaluation_only")}
    assert {every.nodes[n]["label"] for n in extra} == pairs
    for n in extra:           # drawn from the prior and two experts, read by no term
        assert len(list(every.predecessors(n))) == 3 and not list(every.successors(n))
    assert len(every) == len(shown) + 3


def test_per_modality_latents_are_drawn_and_decoders_read_through_them():
    g = model_graph(program("mmvm_polymnist"))
    assert by_kind(g, "latent") == {f"z:z[{m}]" for m in MODS5}
    for m in MODS5:
        q, h = f"d:encoder:q[{m}]", next(n for n, d in g.nodes(data=True) if d["label"] == f"h[{m}]  on z[{m}]")
        rec = f"t:rec(q[{m}]->{m})"
        assert g.has_edge(q, f"z:z[{m}]") and g.has_edge(f"z:z[{m}]", rec) and not g.has_edge(q, rec)
        assert set(g.successors(rec)) == {f"dec:{m}"}
        kl = f"t:kl(q[{m}]||h[{m}], jensen)"
        assert set(g.predecessors(kl)) == {q, h}                     # a KL reads both, not a sample
        assert set(g.predecessors(h)) == {f"d:encoder:q[{k}]" for k in MODS5}   # h[m] = moe(q[*]) on z[m]
        assert rank_of(g, h) == rank_of(g, q) + 1


def test_dot_keeps_the_ranks_and_cli_flags_reach_the_graph(tmp_path, mopoe):
    g = model_graph(mopoe)
    dot = to_dot(g, "mopoe_polymnist")
    for column in ranks(g):
        assert "{ rank=same; " + " ".join(f'"{n}";' for n in column) + " }" in dot
    spec = str(ROOT / "specs" / "crmvae_mst.mms")
    plain, shown = tmp_path / "a.dot", tmp_path / "b.dot"
    assert CliRunner().invoke(main, ["graph", spec, "-o", str(plain)]).exit_code == 0
    assert CliRunner().invoke(main, ["graph", spec, "-o", str(shown), "--show-infer"]).exit_code == 0
    assert "poe(p, q[mnist], q[svhn])" not in plain.read_text()
    assert "poe(p, q[mnist], q[svhn])" in shown.read_text() and "dashed" in shown.read_text()
    expanded = tmp_path / "c.dot"
    spec = str(ROOT / "specs" / "mopoe_polymnist.mms")
    assert CliRunner().invoke(main, ["graph", spec, "-o", str(expanded), "--expand"]).exit_code == 0
    assert expanded.read_text().count("qs[{") >= 31


ORDER = ["data", "encoder", "distribution", "latent", "term", "decoder"]


@pytest.mark.parametrize("options", [{}, {"show_infer": True}, {"expand": True}])
def test_every_shipped_spec_draws_left_to_right(options):
    """In every shipped spec's drawing each edge goes to a later rank and the kinds come in the order
    data, encoders, distributions, latents, terms, decoders; hidden nodes are exactly the
    evaluation-only posteriors."""
    from spec_helpers import SPECS
    for path in SPECS:
        p = check_file(str(path), {})
        g = model_graph(p, **options)
        for a, b in g.edges():
            assert rank_of(g, a) < rank_of(g, b), (path.stem, a, b)
        for a in g:
            for b in g:
                ka, kb = ORDER.index(g.nodes[a]["kind"]), ORDER.index(g.nodes[b]["kind"])
                assert ka <= kb or rank_of(g, a) > rank_of(g, b), (path.stem, a, b)
        hidden = hidden_posteriors(p)
        drawn = {d.get("key") for _, d in g.nodes(data=True)} | {
            g.nodes[m]["key"] if m in g else m[2:] for _, d in g.nodes(data=True) for m in d.get("members", [])}
        assert set(hidden).isdisjoint(drawn) != bool(options.get("show_infer") and hidden), path.stem
