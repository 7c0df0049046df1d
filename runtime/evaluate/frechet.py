"""The Fréchet distance between two Gaussians fitted to feature sets.

FID is this distance in Inception-v3 features (see fid.py). The runtime also reports it in the
feature space of its own digit classifiers, always under the name "classifier Fréchet distance":
it is cheap and needs no external weights, but it is not FID and is never called FID.
"""
from __future__ import annotations

import numpy as np
import torch


def gaussian_stats(features: "np.ndarray | torch.Tensor") -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of [N, F] features, in float64."""
    if isinstance(features, torch.Tensor):
        features = features.detach().double().cpu().numpy()
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need [N >= 2, F] features, got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a (numerically) positive semi-definite matrix."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    Tr (S1 S2)^(1/2) = Tr (A S2 A)^(1/2) with A = S1^(1/2): the latter is symmetric PSD, so its
    eigenvalues are real and non-negative and no complex round-off needs discarding (the usual
    scipy.linalg.sqrtm route needs an epsilon fix for singular covariances).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"shapes differ: {mu1.shape}/{sigma1.shape} vs {mu2.shape}/{sigma2.shape}")
    a = _psd_sqrt(sigma1)
    middle = a @ sigma2 @ a
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_sqrt
    return float(max(value, 0.0))


def frechet_from_features(f1, f2) -> float:
    """Fréchet distance between Gaussians fitted to two [N, F] feature sets."""
    return frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2))


class RunningStats:
    """Mean and covariance accumulated in float64 sums, so no feature set is ever stored."""

    def __init__(self):
        self.n = 0
        self.s1: torch.Tensor | None = None
        self.s2: torch.Tensor | None = None

    def update(self, f: torch.Tensor) -> None:
        f = f.detach().double()
        s1, s2 = f.sum(0), f.T @ f
        self.s1 = s1 if self.s1 is None else self.s1 + s1
        self.s2 = s2 if self.s2 is None else self.s2 + s2
        self.n += f.shape[0]

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        mu = (self.s1 / self.n)
        cov = (self.s2 - self.n * torch.outer(mu, mu)) / max(self.n - 1, 1)
        return mu.cpu().numpy(), cov.cpu().numpy()


class FeatureSink:
    """Classifier-feature statistics of generated and real items, for the classifier Fréchet distance.

    The real statistics of a target come from the same test items its generated ones do.
    """

    def __init__(self, features: dict):
        self.features = features              # modality -> (x -> [B, F])
        self.generated: dict[tuple, RunningStats] = {}
        self.real: dict[str, RunningStats] = {}
        self._seen_real: set[str] = set()

    def add(self, given, target, generated, batch, labels) -> None:
        if target not in self.features:
            return
        with torch.no_grad():
            self.generated.setdefault((given, target), RunningStats()).update(self.features[target](generated))
            if target not in self._seen_real:
                self._seen_real.add(target)
                self.real.setdefault(target, RunningStats()).update(self.features[target](batch[target]))

    def end_chunk(self) -> None:
        self._seen_real = set()

    def result(self) -> dict[str, dict[str, float]]:
        """{target: {given label ('prior' for unconditional): distance}}."""
        out: dict[str, dict[str, float]] = {}
        for (given, target), stats in self.generated.items():
            value = frechet_distance(*stats.stats(), *self.real[target].stats())
            out.setdefault(target, {})["+".join(given) or "prior"] = value
        return out
