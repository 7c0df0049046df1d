"""Latent linear probe (methods.md): how linearly the label is readable from posterior means.

A logistic regression (scikit-learn) is fitted on the posterior means of training samples and scored
on the posterior means of test samples, once per subset of input modalities. The protocol (sample
counts, standardisation, solver) is returned with the numbers so the report can state it.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

PROTOCOL = ("scikit-learn LogisticRegression (lbfgs, max_iter=2000) on standardised posterior means; "
            "fit on {n_train} training samples, accuracy on {n_test} test samples")


def as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def fit_probe(train_x, train_y, *, seed: int = 0):
    """The probe of every latent-probe metric (PROTOCOL), fitted on standardised float64 means."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    return clf.fit(as_numpy(train_x).astype(np.float64), train_y)


def linear_probe(train_x, train_y, test_x, test_y, *, seed: int = 0) -> float:
    """Test accuracy of a logistic regression fitted on (train_x, train_y)."""
    train_y, test_y = as_numpy(train_y), as_numpy(test_y)
    if np.unique(train_y).size < 2:
        return float(np.mean(test_y == train_y[0]))
    clf = fit_probe(train_x, train_y, seed=seed)
    return float(clf.score(as_numpy(test_x).astype(np.float64), test_y))


def probe_subsets(train_means: dict, train_y, test_means: dict, test_y, *, seed: int = 0) -> dict[str, float]:
    """{subset label: accuracy} for every subset present in both mean dictionaries."""
    return {"+".join(s): linear_probe(train_means[s], train_y, test_means[s], test_y, seed=seed)
            for s in train_means if s in test_means}
