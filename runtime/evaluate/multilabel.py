"""Multi-label evaluation (seed 004, Figure 14): one linear probe per attribute, accuracy and AUROC.

Bimodal CelebA's items carry 40 binary attributes, and one class label says little about what a
latent space knows about a face. Seed 004 trains "linear binary classifiers on inferred
representations of the training set and evaluate[s] them on representations of the test set",
reports every classifier (Figure 14) and, in the main text, their average (Figures 2b, 2e). Here:
for every non-empty subset of input modalities (the unimodal ones are the paper's), one logistic
regression per attribute on the posterior means of training items (the latent probe's pipeline:
standardised means, scikit-learn lbfgs), scored on the test means by accuracy and by AUROC of the
predicted probability (`sklearn.metrics.roc_auc_score`; an attribute with more than two values,
as the stand-ins' colour, gets the one-vs-rest macro average), and by average precision
(`average_precision_score`, one-vs-rest macro likewise; seed 002 Table 3 reports its mean over the
attributes). The means over attributes are what the experiments plot
(`attribute_probe.mean_auroc.image|text`, `attribute_probe.mean_average_precision.image`).

An attribute that takes one value on the training items has no classifier to fit: it predicts
that value and its AUROC is undefined; an attribute with one value among the test items has no
AUROC either. Undefined AUROCs (and average precisions) are listed (`undefined_auroc`) and left
out of the means instead of being counted as 0.5.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from .common import EvalData, nonempty_subsets, posterior_means, subset_label
from .probe import as_numpy as _np, fit_probe

PROTOCOL = ("one scikit-learn LogisticRegression (lbfgs, max_iter=2000) per attribute on standardised "
            "posterior means; fit on {n_train} training samples, accuracy, AUROC and average precision (one-vs-rest macro for "
            "attributes with more than two values) on {n_test} test samples; means over attributes with a "
            "defined AUROC")


def attribute_scores(train_x, train_y, test_x, test_y, *, seed: int = 0) -> tuple[float, float | None, float | None]:
    """(test accuracy, AUROC, average precision; None where undefined) of a logistic regression
    fitted on one attribute."""
    train_y, test_y = _np(train_y).astype(np.int64), _np(test_y).astype(np.int64)
    classes = np.unique(train_y)
    if classes.size < 2:
        return float(np.mean(test_y == classes[0])), None, None
    clf = fit_probe(train_x, train_y, seed=seed)
    test_x = _np(test_x).astype(np.float64)
    accuracy = float(clf.score(test_x, test_y))
    seen = np.isin(test_y, classes)                 # a test value never seen in training has no score
    if np.unique(test_y[seen]).size < 2:
        return accuracy, None, None
    proba, y = clf.predict_proba(test_x[seen]), test_y[seen]
    if classes.size == 2:
        return accuracy, float(roc_auc_score(y, proba[:, 1])), float(average_precision_score(y, proba[:, 1]))
    present = np.isin(classes, y)                     # AP of a value absent from the test items is undefined
    onehot = (y[:, None] == classes[None, :]).astype(np.int64)
    auroc = roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
    ap = average_precision_score(onehot[:, present], proba[:, present], average="macro")
    return accuracy, float(auroc), float(ap)


def probe_attributes(train_means: dict, train_attrs, test_means: dict, test_attrs, names: list[str],
                     *, seed: int = 0) -> dict:
    """Per subset and attribute: accuracy and AUROC, and their means over attributes."""
    train_attrs, test_attrs = _np(train_attrs), _np(test_attrs)
    accuracy, auroc, precision, undefined = {}, {}, {}, {}
    for subset in train_means:
        label = subset_label(subset)
        scores = [attribute_scores(train_means[subset], train_attrs[:, a], test_means[subset], test_attrs[:, a],
                                   seed=seed) for a in range(len(names))]
        accuracy[label] = {n: s[0] for n, s in zip(names, scores)}
        auroc[label] = {n: s[1] for n, s in zip(names, scores)}
        precision[label] = {n: s[2] for n, s in zip(names, scores)}
        undefined[label] = [n for n, s in zip(names, scores) if s[1] is None]
    return {"attributes": list(names), "accuracy": accuracy, "auroc": auroc, "average_precision": precision,
            "mean_accuracy": {s: float(np.mean(list(v.values()))) for s, v in accuracy.items()},
            "mean_auroc": {s: _mean_defined(v.values()) for s, v in auroc.items()},
            "mean_average_precision": {s: _mean_defined(v.values()) for s, v in precision.items()},
            "undefined_auroc": {s: v for s, v in undefined.items() if v}}


def _mean_defined(values) -> float | None:
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def attribute_names(dataset) -> list[str]:
    """The dataset's attribute columns; [] when its items carry no attributes."""
    return list(getattr(dataset, "attribute_names", None) or [])


def attribute_probe(model, data: EvalData, *, n_train: int, n_test: int, seed: int) -> dict:
    """The metric `attribute_probe` (see the module docstring) on `n_train` / `n_test` items."""
    names = attribute_names(data.dataset)
    subsets = nonempty_subsets(list(model.modalities))
    train_means, _ = posterior_means(model, data, "train", n_train, subsets)
    test_means, _ = posterior_means(model, data, "test", n_test, subsets)
    train_attrs = data.dataset.attributes("train")[data.indices("train", n_train)]
    test_attrs = data.dataset.attributes("test")[data.indices("test", n_test)]
    out = probe_attributes(train_means, train_attrs, test_means, test_attrs, names, seed=seed)
    out.update(n_train=n_train, n_test=n_test, protocol=PROTOCOL.format(n_train=n_train, n_test=n_test))
    return out


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def markdown(result: dict) -> str:
    """The report's table: one row per attribute, accuracy / AUROC / AP per input subset, means last."""
    subsets = list(result["accuracy"])
    rows = [f"| attribute | {' | '.join(subsets)} |", "|---|" + "---|" * len(subsets)]
    for a in result["attributes"]:
        rows.append(f"| {a} | " + " | ".join(" / ".join(_fmt(result[k][s][a]) for k in ("accuracy", "auroc", "average_precision"))
                                          for s in subsets) + " |")
    means = ("mean_accuracy", "mean_auroc", "mean_average_precision")
    rows.append("| **mean** | " + " | ".join("**" + " / ".join(_fmt(result[k][s]) for k in means) + "**"
                                          for s in subsets) + " |")
    return f"{result['protocol']}. Each cell: accuracy / AUROC / average precision.\n\n" + "\n".join(rows) + "\n"
