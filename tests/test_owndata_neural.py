"""MMVM's five-rat setting as a spec over own data: the stand-in generator has the recordings'
structure (sliding windows over Poisson bins, trials aligned across rats, split by trial), and
specs/owndata/mmvm_neural.mms checks and trains a step on it, found under --data-root."""
from __future__ import annotations

import numpy as np

from owndata_helpers import FAST, cli
from spec_helpers import ROOT

SPEC = ROOT / "specs" / "owndata" / "mmvm_neural.mms"


def test_generator_structure():
    from runtime.data.standin.neural import BINS, NEURONS, WINDOWS, make_neural

    d = make_neural(trials=6, seed=1)
    assert [d[f"rat{r}"].shape for r in range(1, 6)] == [(6 * WINDOWS, n * BINS) for n in NEURONS]
    for r, n in enumerate(NEURONS, start=1):
        x = d[f"rat{r}"].reshape(6, WINDOWS, BINS, n)
        assert np.array_equal(x[:, 1:, :-1], x[:, :-1, 1:])          # windows slide by one 10 ms bin
        assert (x >= 0).all() and np.array_equal(x, np.round(x))      # spike counts
    assert np.array_equal(d["odor"].reshape(6, WINDOWS), np.repeat(np.arange(6) % 4, WINDOWS).reshape(6, -1))
    train, test = (set(d["trial"][d["split"] == s]) for s in ("train", "test"))
    assert train and test and not train & test


def test_odor_is_in_the_counts():
    """A nearest-class-mean decoder on the raw counts of one rat beats chance by far."""
    from runtime.data.standin.neural import make_neural

    d = make_neural(trials=80, seed=2)
    x, y, test = d["rat1"], d["odor"], d["split"] == "test"
    means = np.stack([x[~test & (y == k)].mean(0) for k in range(4)])
    pred = ((x[test][:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
    assert (pred == y[test]).mean() > 0.6


def test_mmvm_neural_spec_trains_on_the_standin(tmp_path):
    made = cli("data", "standin", "neural", "--out", tmp_path / "neural", "--trials", "8")
    assert made.exit_code == 0, made.output
    assert cli("check", SPEC, "--data-root", tmp_path).exit_code == 0
    missing = cli("check", SPEC)
    assert missing.exit_code == 1 and 'data folder "neural" not found' in missing.output
    out = tmp_path / "run"
    result = cli("run", SPEC, "--data-root", tmp_path, "--out", out, "--cache-dir", tmp_path / "cache",
            *FAST, "--metrics", "latent_probe")
    assert result.exit_code == 0, result.output
    assert (out / "results.json").exists()
