"""results.json, report.md and the PNG plots of one evaluated run."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from ..evaluate import multilabel, refinement_curve
from . import plots
from .tables import (MARK, MARK_NOTE, SHOWN, below_target, classifier_accuracy, coherence_table, pair_table,
                     probe_table, to_markdown)


def write_all(run_dir: Path, results: dict, grids: dict, *, kinds: dict[str, str],
              to_text: Callable | None, history: list[dict], steps: list[dict]) -> dict[str, Path]:
    """Write every artefact of an evaluated run; returns {name: path}."""
    run_dir = Path(run_dir)
    out: dict[str, Path] = {}
    curve = plots.loss_curves(history, steps, run_dir / "loss_curves.png")
    if curve is not None:
        out["loss_curves"] = curve
    for (given, target), example in grids.items():
        name = plots.grid_filename(given, target)
        out[name] = plots.cross_generation_grid(example, given, target, kinds, to_text, run_dir / name,
                                                note=_grid_note(results, given, target))
    fig4 = refinement_curve.plot(results.get("refinement_curve"), run_dir / "refinement_curve.png")
    if fig4 is not None:
        out["refinement_curve"] = fig4
    results = dict(results, plots=sorted(p.name for p in out.values()))
    (run_dir / "results.json").write_text(json.dumps(results, indent=2, sort_keys=False, default=str))
    (run_dir / "report.md").write_text(markdown(results))
    out["results"], out["report"] = run_dir / "results.json", run_dir / "report.md"
    return out


def _grid_note(res: dict, given: tuple, target: str) -> str:
    """The pair's coherence (and its mark) for the title of its cross-generation grid."""
    value = res.get("coherence", {}).get("cross", {}).get(target, {}).get("+".join(given))
    if value is None:
        return ""
    mark = f"{MARK} classifier below target" if target in below_target(res) else ""
    return f"  (coherence {value:.3f}{mark})"


def _section(title: str, body: str) -> str:
    return f"## {title}\n\n{body.strip()}\n"


def _run_section(res: dict) -> str:
    run = res.get("run", {})
    lines = [f"- spec: `{run.get('spec_file', 'spec.mms')}` (hash `{str(run.get('spec_hash', '?'))[:12]}`)",
             f"- data: {run.get('data_banner', res.get('dataset', '?'))}",
             f"- device: {run.get('device', '?')}",
             f"- epochs trained: {run.get('epochs_trained', '?')} ({run.get('steps', '?')} steps), "
             f"training wall time {run.get('train_wall_s', 0):.0f} s, evaluation {run.get('eval_wall_s', 0):.0f} s",
             f"- evaluated on {res.get('test_items', '?')} test items; metrics: {', '.join(res.get('metrics', []))}"]
    if run.get("params"):
        lines.append("- params: " + ", ".join(f"{k} = {v}" for k, v in run["params"].items()))
    lines += [_stage_line(i, s) for i, s in enumerate(run.get("stages") or [], 1)]
    lines += [f"- note: {n}" for n in res.get("notes", [])]
    return _section("Run", "\n".join(lines))


def _stage_line(index: int, stage: dict) -> str:
    """One training stage: its objective, length and, with model selection, the epoch it kept."""
    epochs, steps = stage["epochs"], stage["steps"]
    line = (f"- stage {index}, {stage['name']} (objective {stage['objective']}): {epochs} epoch{'s' * (epochs != 1)}, "
            f"{steps} step{'s' * (steps != 1)}")
    if stage.get("selected_epoch") is not None:
        line += (f"; kept epoch {stage['selected_epoch']} (validation value {stage['selected_value']:.6g}, "
                 f"on {stage.get('validation_split')})")
    return line


def _classifier_section(res: dict) -> str:
    rows = ["| modality | data | test accuracy | balanced accuracy | target | meets target | training | cached |",
            "|---|---|---|---|---|---|---|---|"]
    for m, c in res.get("classifiers", {}).items():
        target = c.get("target")
        meets = {True: "yes", False: f"**no** {MARK}", None: "–"}[c.get("meets_target")]
        t = c.get("training", {})
        training = f"{t['steps']} steps, {t['stopped']}" if t else "–"
        balanced = c.get("balanced_accuracy")
        rows.append(f"| {m} | {c['source']} | {classifier_accuracy(c):.4f} | "
                    f"{'–' if balanced is None else f'{balanced:.4f}'} | {'–' if target is None else target} | "
                    f"{meets} | {training} | {'yes' if c.get('cached') else 'no'} |")
    return _section("Classifiers that judge coherence",
                    "The papers' classifier architectures (or a stronger net where theirs falls short of the target: "
                    "real PolyMNIST-like and translated digits, docs/evaluation.md), trained by the runtime on the "
                    "training split of each modality with early stopping on a held-out slice of it; a coherence is only as meaningful "
                    "as the accuracy of its classifier. Target: the accuracy the papers' classifiers reach on "
                    "that data (docs/evaluation.md).\n\n" + "\n".join(rows))


def _coherence_section(res: dict) -> str:
    coh = res["coherence"]
    body = ("Cross-coherence: accuracy of the target's classifier on the modality generated from one "
            "posterior sample given the listed modalities (columns `target ← given`); joint coherence: "
            f"all classifiers agree on modalities decoded from one prior sample. Shown: {SHOWN} "
            "(`cross_balanced`). Judged by classifiers of test accuracy "
            + ", ".join(f"{m} {classifier_accuracy(c):.3f}{MARK if m in below_target(res) else ''}"
                        for m, c in res.get("classifiers", {}).items()) + ".\n\n")
    body += to_markdown(coherence_table([res], digits=3))
    if below_target(res):
        body += f"\n\n{MARK_NOTE}"
    if res.get("joint_coherence_note"):
        body += f"\n\n{res['joint_coherence_note']}"
    by_k = coh.get("by_given_count", {})
    if len(by_k) > 1:
        body += "\n\nMean over pairs with k given modalities: " + ", ".join(
            f"k={k}: {v:.3f}" for k, v in by_k.items())
        balanced = coh.get("by_given_count_balanced", {})
        if balanced:
            body += "; class-balanced (MultiVae's convention): " + ", ".join(
                f"k={k}: {v:.3f}" for k, v in balanced.items())
    return _section("Coherence", body)


def _likelihood_section(res: dict) -> str:
    lik = res["likelihood"]
    return _section("Likelihood", f"Over all modalities, unweighted likelihoods, {lik['items']} test items: "
                    f"test ELBO {lik['elbo']:.2f} nats, importance-weighted NLL {lik['nll']:.2f} nats "
                    f"(K = {lik['k']} importance samples).")


def _reconstruction_section(res: dict) -> str:
    rec = res["reconstruction_error"]
    rows = ["| given | " + " | ".join(rec["all"]) + " | total |", "|---" * (len(rec["all"]) + 2) + "|"]
    for which, title in (("all", "all modalities"), ("self", "the modality alone")):
        rows.append(f"| {title} | " + " | ".join(f"{v:.2f}" for v in rec[which].values())
                    + f" | {rec[which + '_total']:.2f} |")
    return _section("Reconstruction error", f"-log p(x_m | z), z from the posterior of the given modalities "
                    f"(unweighted likelihoods, nats per item, {rec['items']} test items, {rec['samples']} sample(s) "
                    f"of z; lower is better). Seed 004 Figure 2 plots the total given all modalities, Figure 7 "
                    f"the total given each modality alone.\n\n" + "\n".join(rows))


def _frechet_section(res: dict) -> str:
    body = ""
    if res.get("classifier_frechet"):
        body += ("Classifier Fréchet distance (Fréchet distance between Gaussians fitted to the features of "
                 "the runtime's own classifiers, generated vs. real test images; **not FID**):\n\n"
                 + to_markdown(pair_table([res], "classifier_frechet", digits=2)) + "\n\n")
    fid = res.get("fid", {})
    if "skipped" in fid:
        body += fid["skipped"] + "\n"
    elif fid:
        body += "FID (torch-fidelity, Inception-v3):\n\n" + to_markdown(pair_table([res], "fid", digits=2)) + "\n"
    return _section("Fréchet distances", body) if body else ""


def markdown(res: dict) -> str:
    """The human-readable report of one run."""
    parts = [f"# {res.get('model', '?')} on {res.get('dataset', '?')}\n", _run_section(res)]
    if res.get("classifiers"):
        parts.append(_classifier_section(res))
    if res.get("coherence"):
        parts.append(_coherence_section(res))
    if res.get("levenshtein"):
        parts.append(_section("Text: Levenshtein distance",
                              "Mean edit distance between the decoded and the true string, spaces removed "
                              "(lower is better):\n\n" + to_markdown(pair_table([res], "levenshtein"))))
    if res.get("latent_probe"):
        probe = res["latent_probe"]
        parts.append(_section("Latent linear probe", f"{probe['protocol']}.\n\n" + to_markdown(probe_table([res], 3))))
    if res.get("attribute_probe"):
        parts.append(_section("Attribute probes (seed 004 Figure 14)", multilabel.markdown(res["attribute_probe"])))
    if res.get("likelihood"):
        parts.append(_likelihood_section(res))
    if res.get("reconstruction_error"):
        parts.append(_reconstruction_section(res))
    if res.get("cosine"):
        rows = ["| pair | matched | shuffled |", "|---|---|---|"] + [
            f"| {k} | {v['matched']:.3f} | {v['shuffled']:.3f} |" for k, v in res["cosine"].items()]
        parts.append(_section("Cosine similarity of latent means",
                              "Matched: the same test item through two modalities; shuffled: paired with "
                              "another item (the baseline).\n\n" + "\n".join(rows)))
    if res.get("refinement_curve"):
        parts.append(_section("ELBO against refinement steps (MIAI Fig. 4)", refinement_curve.markdown(res["refinement_curve"])))
    parts.append(_frechet_section(res))
    if res.get("plots"):
        parts.append(_section("Plots", "\n".join(f"![{p}]({p})" for p in res["plots"])))
    return "\n".join(p for p in parts if p)
