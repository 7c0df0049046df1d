"""The end of `mmspec run` / `mmspec eval`: the report's numbers as terminal tables that fit.

report.md uses seed 001's wide layout (one row per method); a single run reads better transposed:
one row per given subset, one column per generated modality.
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from .tables import MARK, MARK_NOTE, below_target, classifier_accuracy


def _matrix(title: str, pairs: dict[str, dict[str, float]], fmt: str, modalities: list[str],
            judges: dict[str, str] | None = None) -> Table:
    targets = [t for t in modalities if t in pairs] + [t for t in pairs if t not in modalities]
    givens: list[str] = []
    for t in targets:
        for g in pairs[t]:
            if g not in givens:
                givens.append(g)
    givens.sort(key=lambda g: (g == "prior", len(g.split("+"))))
    table = Table(title=title, title_justify="left")
    table.add_column("given")
    for t in targets:
        table.add_column(f"→ {t}" + (f" {judges[t]}" if judges and t in judges else ""), justify="right")
    for g in givens:
        table.add_row(g, *[format(pairs[t][g], fmt) if g in pairs[t] else "" for t in targets])
    return table


def print_summary(console: Console, results: dict, run_dir: Path) -> None:
    mods = results.get("modalities", [])
    for note in results.get("notes", []):
        console.print(f"note: {note}")
    classifiers, low = results.get("classifiers", {}), below_target(results)
    if classifiers:
        console.print("classifier test accuracy (judges of coherence): " + ", ".join(
            f"{m} {classifier_accuracy(c):.3f}" + (f" (target {c['target']}{MARK if m in low else ''})"
                                                   if c.get("target") is not None else "") + f" ({c['source']})"
            for m, c in classifiers.items()))
    if results.get("coherence"):
        coh = results["coherence"]
        judges = {m: f"(clf {classifier_accuracy(c):.3f}{MARK if m in low else ''})" for m, c in classifiers.items()}
        console.print(_matrix("cross-coherence (plain accuracy; clf: its judge's test accuracy)", coh["cross"], ".3f",
                              mods, judges))
        joint = coh.get("joint")
        console.print(f"joint coherence (prior samples): {joint:.3f}{MARK if low else ''}" if joint is not None
                      else results.get("joint_coherence_note", "no joint coherence"))
        if low:
            console.print(MARK_NOTE)
    if results.get("levenshtein"):
        console.print(_matrix("text: Levenshtein distance (lower is better)", results["levenshtein"], ".2f", mods))
    if results.get("latent_probe"):
        probe = results["latent_probe"]
        table = Table(title="latent linear probe", title_justify="left", caption=probe["protocol"])
        table.add_column("input modalities")
        table.add_column("accuracy", justify="right")
        for s, acc in probe["accuracy"].items():
            table.add_row(s, f"{acc:.3f}")
        console.print(table)
    if results.get("attribute_probe"):
        attrs = results["attribute_probe"]
        console.print(f"attribute probes, mean over {len(attrs['attributes'])} attributes (accuracy / AUROC): " + ", ".join(
            f"{s} {a:.3f}/{'n/a' if attrs['mean_auroc'][s] is None else format(attrs['mean_auroc'][s], '.3f')}"
            for s, a in attrs["mean_accuracy"].items()))
    if results.get("likelihood"):
        lik = results["likelihood"]
        console.print(f"test ELBO {lik['elbo']:.2f} nats, IW-NLL {lik['nll']:.2f} nats (K={lik['k']})")
    if results.get("reconstruction_error"):
        rec = results["reconstruction_error"]
        console.print(f"reconstruction error (nats, summed over modalities): given all {rec['all_total']:.2f}, "
                      f"each given alone {rec['self_total']:.2f}")
    if results.get("cosine"):
        console.print("cosine similarity of latent means (matched / shuffled): " + ", ".join(
            f"{k} {v['matched']:.3f}/{v['shuffled']:.3f}" for k, v in results["cosine"].items()))
    fid = results.get("fid", {})
    if "skipped" in fid:
        console.print(fid["skipped"])
    elif fid:
        console.print(_matrix("FID (torch-fidelity)", fid, ".2f", mods))
    console.print(f"full report: {Path(run_dir) / 'report.md'} (plots, classifier Fréchet distances, tables)")
