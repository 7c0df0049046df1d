"""The multi-label metric `attribute_probe` (seed 004 Figure 14): per-attribute probe accuracy and AUROC.

Oracles: on a one-dimensional latent, a logistic regression is a monotone function of the latent,
so its AUROC is the AUROC of the latent itself, computed here by counting pairs by hand (the
Mann-Whitney statistic) and by `sklearn.metrics.roc_auc_score`; a separable attribute has accuracy 1;
the means are the averages of the per-attribute numbers.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from mmspec.compiled import ModalityInfo
from runtime.evaluate import EvalConfig, evaluate
from runtime.evaluate.multilabel import attribute_scores, probe_attributes
from runtime_fakes import DiagNormal

NAMES = ["sep", "noisy", "flat"]


def pair_count_auroc(y: np.ndarray, score: np.ndarray) -> float:
    """P(score of a positive > score of a negative) + half the ties, over all pairs."""
    pos, neg = score[y == 1], score[y == 0]
    wins = sum(float(p > n) + 0.5 * float(p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def hand_average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Mean over the positives of the precision among the items scored at least as high (no ties here)."""
    order = np.argsort(-score)
    hits = np.cumsum(y[order])
    return float(np.mean([hits[i] / (i + 1) for i in range(len(y)) if y[order][i] == 1]))


def _attributes(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """[N, 3]: x > 0 (separable), x plus noise > 0 (overlapping), a constant."""
    noisy = (x + rng.normal(0, 1.0, x.shape) > 0).astype(np.int64)
    return np.stack([(x > 0).astype(np.int64), noisy, np.zeros_like(noisy)], 1)


def _separated(n: int, rng) -> np.ndarray:
    """Latents away from 0, so `x > 0` is separable with a margin."""
    return rng.choice([-1.0, 1.0], n) * rng.uniform(0.3, 2.0, n)


def test_auroc_of_a_one_dimensional_probe_is_the_latent_s_own_auroc():
    rng = np.random.default_rng(0)
    x_train, x_test = _separated(400, rng), _separated(300, rng)
    a_train, a_test = _attributes(x_train, rng), _attributes(x_test, rng)
    acc, auc, ap = attribute_scores(x_train[:, None], a_train[:, 1], x_test[:, None], a_test[:, 1])
    assert auc == pytest.approx(pair_count_auroc(a_test[:, 1], x_test), abs=1e-12)
    assert ap == pytest.approx(hand_average_precision(a_test[:, 1], x_test), abs=1e-12)
    assert auc == pytest.approx(roc_auc_score(a_test[:, 1], x_test), abs=1e-12)
    assert 0.6 < auc < 0.95 and 0.5 < acc < 0.95            # noisy: neither chance nor perfect
    acc, auc, ap = attribute_scores(x_train[:, None], a_train[:, 0], x_test[:, None], a_test[:, 0])
    assert acc == 1.0 and auc == 1.0 and ap == pytest.approx(1.0)


def test_a_constant_attribute_has_no_auroc_and_is_left_out_of_the_mean():
    rng = np.random.default_rng(1)
    x_train, x_test = _separated(200, rng), _separated(200, rng)
    a_train, a_test = _attributes(x_train, rng), _attributes(x_test, rng)
    out = probe_attributes({("v",): torch.tensor(x_train)[:, None]}, a_train,
                           {("v",): torch.tensor(x_test)[:, None]}, a_test, NAMES)
    assert out["auroc"]["v"]["flat"] is None and out["accuracy"]["v"]["flat"] == 1.0
    assert out["undefined_auroc"] == {"v": ["flat"]} and out["average_precision"]["v"]["flat"] is None
    accs, aucs = out["accuracy"]["v"], out["auroc"]["v"]
    assert out["mean_accuracy"]["v"] == pytest.approx(sum(accs.values()) / 3)
    assert out["mean_auroc"]["v"] == pytest.approx((aucs["sep"] + aucs["noisy"]) / 2)


def test_a_many_valued_attribute_gets_the_one_vs_rest_macro_auroc():
    """Three well separated values on a line: every one-vs-rest AUROC is 1, so the macro mean is 1;
    with the middle value's items shuffled among the others it drops below 1."""
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], 50)
    x = (y * 4.0 + rng.normal(0, 0.3, y.size))[:, None]
    acc, auc, ap = attribute_scores(x, y, x, y)
    assert acc == 1.0 and auc == pytest.approx(1.0) and ap == pytest.approx(1.0)
    y_mixed = y.copy()
    y_mixed[rng.choice(150, 40, replace=False)] = 1
    acc, auc, ap = attribute_scores(x, y_mixed, x, y_mixed)
    assert auc < 0.99 and ap < 0.99


# ---- through the evaluation suite ------------------------------------------------------------

class AttributeData:
    """Two one-dimensional vector modalities a, b; the attributes of `_attributes` over a's value."""

    def __init__(self, n_train=300, n_test=200, seed=0, with_attributes=True):
        rng = np.random.default_rng(seed)
        self.modalities = {m: ModalityInfo(m, "vector", (1,), "gaussian", 1.0) for m in ("a", "b")}
        self.attribute_names = list(NAMES) if with_attributes else []
        self._splits = {}
        for split, n in (("train", n_train), ("test", n_test)):
            x = _separated(n, rng)
            attrs = torch.tensor(_attributes(x, rng))
            self._splits[split] = {"a": torch.tensor(x, dtype=torch.float32)[:, None],
                                   "b": torch.tensor(rng.normal(size=n), dtype=torch.float32)[:, None],
                                   "labels": attrs[:, 0], "attributes": attrs}

    def split_size(self, split):
        return self._splits[split]["labels"].shape[0]

    def labels(self, split):
        return self._splits[split]["labels"]

    def attributes(self, split):
        return self._splits[split]["attributes"]

    def batch(self, split, index, generator=None):
        return {m: self._splits[split][m][index] for m in self.modalities}


class MeanOfInputs:
    """q(z | X_S) = N(mean of the given inputs, 1): the posterior mean is a known function of the data."""

    name, dataset, evaluate, can_generate, generation_note = "identity", "attrs", [], True, ""

    def __init__(self):
        self.modalities = {m: ModalityInfo(m, "vector", (1,), "gaussian", 1.0) for m in ("a", "b")}
        self.module = torch.nn.Linear(1, 1)

    def encode(self, batch, subset):
        mean = torch.stack([batch[m] for m in subset]).mean(0)
        return DiagNormal(mean, torch.zeros_like(mean))

    def encode_subsets(self, batch, subsets):
        return [self.encode(batch, s) for s in subsets]

    def decode(self, modality, z):
        return torch.zeros(*z.shape[:-1], 1)

    def sample_prior(self, n):
        return torch.zeros(n, 1)


def test_the_suite_reports_per_attribute_accuracy_auroc_and_means():
    data = AttributeData()
    cfg = EvalConfig(metrics=["attribute_probe"], n_probe=250, n_test=150, seed=0)
    res = evaluate(MeanOfInputs(), data, cfg, log=lambda s: None).results["attribute_probe"]
    assert res["attributes"] == NAMES and set(res["auroc"]) == {"a", "b", "a+b"}
    assert res["n_train"] == 250 and res["n_test"] == 150
    test_idx = torch.randperm(200, generator=torch.Generator().manual_seed(0))[:150].sort().values
    y = data.attributes("test")[test_idx].numpy()
    x = data.batch("test", test_idx)
    assert res["auroc"]["a"]["noisy"] == pytest.approx(roc_auc_score(y[:, 1], x["a"][:, 0].numpy()), abs=1e-12)
    both = ((x["a"] + x["b"]) / 2)[:, 0].numpy()
    assert res["auroc"]["a+b"]["noisy"] == pytest.approx(roc_auc_score(y[:, 1], both), abs=1e-12)
    assert res["accuracy"]["a"]["sep"] == 1.0
    assert 0.35 < res["auroc"]["b"]["sep"] < 0.65          # b is noise: chance
    assert res["mean_auroc"]["a"] == pytest.approx((res["auroc"]["a"]["sep"] + res["auroc"]["a"]["noisy"]) / 2)
    assert not math.isnan(res["mean_accuracy"]["b"])


def test_the_suite_notes_a_dataset_without_attributes_instead_of_failing():
    res = evaluate(MeanOfInputs(), AttributeData(with_attributes=False), EvalConfig(metrics=["multilabel"]),
                   log=lambda s: None).results
    assert "attribute_probe" not in res
    assert any("attribute_probe needs items with attributes" in n for n in res["notes"])


# ---- check: located errors ----------------------------------------------------------------

SPEC = """model probe_attrs
data {data}
latent z: 8
prior p = normal()
{modalities}
posterior q[m] = encoder(m)
posterior joint = poe(p, q[*])
maximize elbo(joint)
infer S = poe(p, q[S])
evaluate elbo, attribute_probe(samples=500)
"""
CELEBA = ("modality image: image(3, 64, 64) ~ laplace(scale=0.75), net conv64\n"
          "modality text: text(256, 71) ~ categorical, net text_conv")
MST = ("modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist\n"
       "modality text: text(8, 71) ~ categorical, net mst_text")


def _evaluate_line(text: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("evaluate"))


def _check(tmp_path, text):
    from click.testing import CliRunner

    from mmspec.cli import main
    path = tmp_path / "spec.mms"
    path.write_text(text)
    return CliRunner().invoke(main, ["check", str(path)])


def test_check_accepts_attribute_probe_on_celeba(tmp_path):
    got = _check(tmp_path, SPEC.format(data="celeba", modalities=CELEBA))
    assert got.exit_code == 0, got.output


def test_check_locates_attribute_probe_on_a_dataset_without_attributes(tmp_path):
    text = SPEC.format(data="mst", modalities=MST)
    got = _check(tmp_path, text)
    assert got.exit_code == 1
    assert f"spec.mms:{_evaluate_line(text)}:16: error: attribute_probe needs several attributes per item, and dataset 'mst' " \
           "has one class label" in got.output
    assert "celeba" in got.output


def test_check_locates_attribute_probe_on_own_data_without_attributes(tmp_path):
    np.savez(tmp_path / "d.npz", v=np.zeros((10, 3), np.float32), y=np.arange(10) % 2)
    block = ('d {\n    modality v from "d.npz"["v"]\n    label y from "d.npz"["y"]\n'
             '    split train 0.5, test 0.5 seed 0\n}')
    text = SPEC.format(data=block, modalities="modality v: vector(3) ~ gaussian, net mlp")
    got = _check(tmp_path, text)
    assert got.exit_code == 1
    assert f"spec.mms:{_evaluate_line(text)}:16: error: attribute_probe needs several attributes per item, and the data block " \
           "declares none" in got.output
    assert "attributes from" in got.output


def test_the_report_shows_every_attribute_and_the_means():
    from runtime.report.writer import markdown
    data = AttributeData()
    res = evaluate(MeanOfInputs(), data, EvalConfig(metrics=["attribute_probe"], n_probe=250),
                   log=lambda s: None).results
    text = markdown(res)
    probe = res["attribute_probe"]
    assert "Attribute probes (seed 004 Figure 14)" in text
    assert (f"| noisy | {probe['accuracy']['a']['noisy']:.3f} / {probe['auroc']['a']['noisy']:.3f} / "
            f"{probe['average_precision']['a']['noisy']:.3f} |") in text
    assert "| flat | 1.000 / n/a / n/a |" in text


def test_own_data_attributes_run_end_to_end(tmp_path):
    """A spec's own files with `attributes from ...`: the metric probes those columns, by name; the
    attributes are read off modality v, so v's latent knows them and w's (noise) does not."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    from owndata_helpers import cli, own_spec

    rng = np.random.default_rng(0)
    n = 400
    v = rng.normal(size=(n, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", v=v, w=rng.normal(size=(n, 2)).astype(np.float32))
    pcsv.write_csv(pa.table({"a1": (v[:, 0] > 0).astype(int), "a2": np.where(v[:, 1] > 0, 1, -1),
                             "a3": (v[:, 2] > 0.5).astype(int)}), tmp_path / "meta.csv")
    block = ('    modality v from "d.npz"["v"]\n    modality w from "d.npz"["w"]\n'
             '    attributes from "meta.csv"["a1", "a2", "a3"]\n    split train 0.5, test 0.5 seed 0')
    spec = own_spec(tmp_path / "own.mms", block, "modality v: vector(3) ~ gaussian(scale=1), net mlp(hidden=[32])\n"
                    "modality w: vector(2) ~ gaussian(scale=1), net mlp(hidden=[32])", evaluate="attribute_probe, elbo",
                    batch=32)
    got = cli("run", spec, "--out", tmp_path / "run", "--cache-dir", tmp_path / "cache", "--device", "cpu",
              "--epochs", "3", "--iw-samples", "2", "--log-every", "1")
    assert got.exit_code == 0, got.output + repr(got.exception)
    probe = json.loads((tmp_path / "run" / "results.json").read_text())["attribute_probe"]
    assert probe["attributes"] == ["a1", "a2", "a3"] and probe["n_test"] == 200
    assert probe["mean_auroc"]["v"] > 0.75 and probe["mean_auroc"]["w"] < 0.65
