"""MIAI's Fig. 4 (seed 000): the multimodal ELBO against the number of refinement steps.

For every refined posterior of the spec (`posterior r[m] = refine(...)`), named by the modalities its
initial posterior sees, the test ELBO over all modalities,
    ELBO_T = E_{z ~ q^T}[ sum_m log p(x_m | z) + log p(z) - log q^T(z) ]   (K samples, unweighted),
for T = 0 (the initial posterior) .. steps (16 by default), and as the reference line the same ELBO of
the posterior the spec infers from all modalities (MIAI's PoE source model). The refinement's gradients
read every modality, as in training; the curve is the paper's measure of how far T steps close the gap
between a unimodal posterior and the multimodal one.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .common import EvalData, encode, subset_label
from .likelihood import log_weights

DEFAULT_STEPS = 16
NOT_APPLICABLE = "not applicable: the spec has no refined posterior (refine(...))"


def applies(model) -> bool:
    return bool(getattr(model, "refined_posteriors", lambda: {})())


def refinement_curve(model, data: EvalData, split: str = "test", n: int | None = None,
                     steps: int = DEFAULT_STEPS, k: int = 1) -> dict:
    """{"steps": [0..T], "elbo": {input modalities: [ELBO_0..ELBO_T]}, "reference": {...}, ...} in nats
    per item; {"skipped": why} for a spec without refined posteriors."""
    refined = getattr(model, "refined_posteriors", lambda: {})()
    if not refined:
        return {"skipped": NOT_APPLICABLE}
    names = tuple(model.modalities)
    sums = {name: torch.zeros(steps + 1, dtype=torch.float64) for name in refined}
    reference = torch.zeros((), dtype=torch.float64)
    items = 0
    for batch, labels in data.chunks(split, n):
        for name in refined:
            with torch.enable_grad():
                path = model.refinement_trajectory(batch, name, steps)
            with torch.no_grad():
                for t, q in enumerate(path):
                    sums[name][t] += log_weights(model, batch, q.detach(), k).mean(0).sum().cpu()
        joint = encode(model, batch, names)
        with torch.no_grad():
            reference += log_weights(model, batch, joint, k).mean(0).sum().cpu()
        items += labels.shape[0]
    curves = {subset_label(refined[name]) or name: (sums[name] / items).tolist() for name in refined}
    return {"steps": list(range(steps + 1)), "elbo": curves, "posteriors": {subset_label(v) or n: n for n, v in refined.items()},
            "reference": {"label": f"infer({subset_label(names)})", "elbo": float(reference) / items},
            "k": k, "items": items, "split": split}


def plot(curve: dict, path: Path) -> Path | None:
    """The figure: one line per input modality, the reference as a dashed horizontal line."""
    if not curve or "elbo" not in curve:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for label, values in curve["elbo"].items():
        ax.plot(curve["steps"][1:], values[1:], "o-", ms=3, label=f"refined from {label}")
    ref = curve["reference"]
    ax.axhline(ref["elbo"], ls="--", color="k", lw=1, label=f"{ref['label']} (reference)")
    ax.set_xlabel("refinement steps T")
    ax.set_ylabel("multimodal ELBO (nats)")
    ax.set_title("ELBO against refinement steps (MIAI Fig. 4)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def markdown(curve: dict) -> str:
    if "skipped" in curve:
        return f"Refinement curve: {curve['skipped']}."
    rows = ["| input | " + " | ".join(f"T={t}" for t in curve["steps"]) + " |",
            "|---|" + "---|" * len(curve["steps"])]
    rows += [f"| {label} | " + " | ".join(f"{v:.1f}" for v in values) + " |" for label, values in curve["elbo"].items()]
    ref = curve["reference"]
    return (f"Multimodal ELBO (nats, {curve['items']} {curve['split']} items, K = {curve['k']}) after T refinement "
            f"steps (T = 0: the initial posterior); reference {ref['label']}: {ref['elbo']:.1f}.\n\n" + "\n".join(rows))
