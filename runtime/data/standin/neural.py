"""A stand-in for MMVM's hippocampal recordings (seed 004, section 5.2 and Appendix B.8).

The real data (Allen et al. 2016; Shahbaba et al. 2022) are spike trains of dorsal CA1 neurons of
five rats presented with a repeated sequence of four odors; each rat is one modality. A data point
is a 100 ms sub-window (ten 10 ms bins) of a trial, slid in 10 ms steps (16 windows per trial), so a
rat with n neurons gives a vector of n x 10 spike counts. The papers' rats have 92, 79, 104, 49 and
46 neurons (inputs of 920, 790, 1040, 490 and 460).

This generator mimics that structure, not the recordings: every neuron of every rat has a baseline
rate and an odor-dependent gain (some neurons prefer one odor, most do not care), a trial's rate
rises after port entry with a rat-specific latency, and the counts of each 10 ms bin are Poisson.
Trials are aligned across rats by index (trial t of every rat presents the same odor), as the
modalities of one item must be. Written as an .npz with arrays rat1..rat5 [N, n_r * 10] (float32
counts, bin-major: neuron j of bin b at b * n_r + j), odor [N] (0..3), trial [N], window [N], and
split [N] ("train"/"test" by trial, so the windows of a trial never straddle the split).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

NEURONS = (92, 79, 104, 49, 46)
ODORS = ("A", "B", "C", "D")
BINS, WINDOWS, STEP = 10, 16, 1          # 10 bins of 10 ms per window, 16 windows 10 ms apart
LATENCY_BINS = (0, 0, 2, 2, 0)           # rats 3 and 4 react later (the papers' 500 ms starts)


def make_neural(trials: int = 400, seed: int = 0, test_fraction: float = 0.2) -> dict[str, np.ndarray]:
    """The arrays of the .npz (see the module docstring); trials x 16 items."""
    rng = np.random.default_rng(seed)
    odor_of_trial = np.arange(trials) % len(ODORS)
    span = BINS + (WINDOWS - 1) * STEP                     # bins one trial needs: 25
    out: dict[str, np.ndarray] = {}
    for r, (n, latency) in enumerate(zip(NEURONS, LATENCY_BINS), start=1):
        base = rng.gamma(2.0, 0.05, n)                     # spikes per 10 ms bin
        gain = np.exp(rng.normal(0.0, 0.8, (len(ODORS), n)) * (rng.random(n) < 0.4))
        onset = 1 / (1 + np.exp(-(np.arange(span) - latency - 4)))          # rise after port entry
        rate = base[None, None, :] * (1 + (gain[odor_of_trial][:, None, :] - 1) * onset[None, :, None])
        counts = rng.poisson(rate).astype(np.float32)      # [trials, span, n]
        windows = np.stack([counts[:, w * STEP: w * STEP + BINS] for w in range(WINDOWS)], axis=1)
        out[f"rat{r}"] = windows.reshape(trials * WINDOWS, BINS * n)
    test_trials = rng.permutation(trials)[: int(round(test_fraction * trials))]
    trial = np.repeat(np.arange(trials), WINDOWS)
    out["odor"] = np.repeat(odor_of_trial, WINDOWS)
    out["trial"], out["window"] = trial, np.tile(np.arange(WINDOWS), trials)
    out["split"] = np.where(np.isin(trial, test_trials), "test", "train")
    return out


def write_neural(folder: Path, trials: int = 400, seed: int = 0) -> Path:
    """Write neural.npz into `folder` (created); returns its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "neural.npz"
    np.savez(path, **make_neural(trials, seed))
    return path
