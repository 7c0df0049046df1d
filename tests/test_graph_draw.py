"""`mmspec graph`: the structure of the drawn graph (ranks, what is hidden or folded, which edges),
derived by hand from the specs, not from the drawing code."""
from __future__ import annotations

from itertools import combinations

import pytest
from click.testing import CliRunner

from mmspec.check import check_file
from mmspec.cli import main
from mmspec.explain.draw import hidden_posteriors, latent_sources, model_graph, ranks, to_dot
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


def latents_into(g, term):
    return {n for n in g.predecessors(term) if g.nodes[n]["kind"] == "latent"}


def test_mmvaeplus_draws_shared_and_private_latents_and_the_priors_cross_generation_draws():
    """MMVAE+: decoder m reads (z, w[m]); the mixture's component q[j] describes z and w[mj] only, so
    decoding m from q[j], j != m, draws w[m] from r[m]; z is described by every component."""
    p = program("mmvaeplus_polymnist")
    g = model_graph(p)
    assert by_kind(g, "latent") == {"z:z"} | {f"z:w[{m}]" for m in MODS5}
    assert g.nodes["z:w[m3]"]["label"] == "w[m3] ∈ R^32" and g.nodes["z:z"]["label"] == "z ∈ R^32"
    assert len({rank_of(g, n) for n in by_kind(g, "latent")}) == 1
    (mix,) = [n for n in by_kind(g, "distribution") if g.nodes[n]["label"] == "mix"]
    (iwae,) = by_kind(g, "term")
    assert latents_into(g, iwae) == by_kind(g, "latent")
    assert g.has_edge("d:laplace(scale=1)", iwae)                   # the bound's prior: read, not sampled
    for m in MODS5:
        assert g.has_edge(mix, f"z:w[{m}]") and g.has_edge(f"d:laplace:r[{m}]", f"z:w[{m}]")
        assert set(g.successors(f"d:laplace:r[{m}]")) == {f"z:w[{m}]"}
        assert g.nodes[f"dec:{m}"]["reads"] == ("z", f"w[{m}]") and f"reads (z, w[{m}])" in g.nodes[f"dec:{m}"]["label"]
        assert g.nodes[f"d:encoder:q[{m}]"]["label"] == f"q[{m}]  on (z, w[{m}])"
    assert set(g.predecessors("z:z")) == {mix}                     # no prior for z: every component has it
    graph = p.graph
    assert latent_sources(graph, "encoder:q[m0]", "m1") == [("encoder:q[m0]", "z"), ("laplace:r[m1]", "w[m1]")]
    assert latent_sources(graph, "encoder:q[m1]", "m1") == [("encoder:q[m1]", "z"), ("encoder:q[m1]", "w[m1]")]


def test_dmvae_reconstructions_read_the_latents_their_decoder_reads_and_no_prior():
    """DMVAE's c = (joint, qw[*]) and u[m] = (qz[m], qw[*]) describe every latent: nothing is drawn
    from a prior, and rec(. -> m0) reads exactly z and w[m0]."""
    g = model_graph(program("dmvae_polymnist"))
    recs = {t for t in by_kind(g, "term") if "rec(" in t}
    assert len(recs) == 5 + 25
    for t in recs:
        target = t.split("->")[1].rstrip(")")
        assert latents_into(g, t) == {"z:z", f"z:w[{target}]"} and set(g.successors(t)) == {f"dec:{target}"}
    c = next(n for n, d in g.nodes(data=True) if d["label"] == "c")
    us = {n for n, d in g.nodes(data=True) if d["label"] in {f"u[{m}]" for m in MODS5}}
    for m in MODS5:
        assert set(g.predecessors(f"z:w[{m}]")) == {c} | us
    kls = by_kind(g, "term") - recs                               # KLs read distributions, not latents
    assert len(kls) == 11 and not any(latents_into(g, t) for t in kls)


def test_cmvae_mog_prior_and_jnf_flows_are_drawn():
    g = model_graph(program("cmvae_polymnist"))
    (iwae,) = by_kind(g, "term")
    pz = next(n for n, d in g.nodes(data=True) if d["label"].startswith("pz"))
    prior = next(n for n, d in g.nodes(data=True) if d["label"] == "p")
    assert g.has_edge(pz, prior) and g.has_edge(prior, iwae)       # p = (pz, pw[*]) weighs the draws
    assert set(g.predecessors("z:z")) == {next(n for n, d in g.nodes(data=True) if d["label"] == "mix")}
    assert all(g.has_edge(f"d:laplace:r[{m}]", f"z:w[{m}]") for m in MODS5)
    jnf = model_graph(program("jnf_polymnist"))
    assert by_kind(jnf, "latent") == {"z:z"}
    flows = {n for n, d in jnf.nodes(data=True) if d["label"].startswith("qf[")}
    assert len(flows) == 5 and all(len(list(jnf.successors(f))) == 1 for f in flows)   # each one KL term


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
