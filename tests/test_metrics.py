"""Every evaluation metric against an oracle whose answer is known."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from runtime.evaluate.coherence import CoherenceSink
from runtime.evaluate.common import EvalData, cross_pairs, headline_pairs, nonempty_subsets
from runtime.evaluate.frechet import FeatureSink, frechet_distance, frechet_from_features, gaussian_stats
from runtime.evaluate.generation import sweep
from runtime.evaluate.likelihood import elbo_and_nll
from runtime.evaluate.probe import linear_probe
from runtime.evaluate.similarity import cosine_pairs
from runtime.evaluate.text import LevenshteinSink, levenshtein, levenshtein_batch, strip_spaces
from runtime_fakes import ALPHABET, DiagNormal, FakeDataset, _images, _text


# ---------------------------------------------------------------- Levenshtein
@pytest.mark.parametrize("a,b,d", [("kitten", "sitting", 3), ("", "abc", 3), ("abc", "", 3), ("", "", 0),
                                   ("flaw", "lawn", 2), ("seven", "seven", 0), ("seven", "sevne", 2),
                                   ("eight", "night", 1), ("three", "tree", 1), ("intention", "execution", 5), ("a", "b", 1)])
def test_levenshtein_known_pairs(a, b, d):
    assert levenshtein(a, b) == d
    assert levenshtein(b, a) == d


def _reference(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text("abc ", max_size=9), st.text("abc ", max_size=9)), min_size=1, max_size=8))
def test_levenshtein_batch_matches_textbook_dp(pairs):
    a, b = zip(*pairs)
    assert levenshtein_batch(list(a), list(b)).tolist() == [_reference(x, y) for x, y in pairs]


def test_strip_spaces_matches_seed_001_convention():
    assert strip_spaces(" se ven  ") == "seven"


# ---------------------------------------------------------------- Fréchet distance
def test_frechet_of_a_set_with_itself_is_zero():
    x = torch.randn(500, 6, generator=torch.Generator().manual_seed(0))
    assert frechet_from_features(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_of_shifted_samples_is_the_squared_shift():
    x = np.random.default_rng(0).normal(size=(400, 5)) @ np.diag([1, 2, 3, 0.5, 1])
    shift = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    assert frechet_from_features(x, x + shift) == pytest.approx(float(shift @ shift), rel=1e-9)


def test_frechet_of_gaussians_matches_the_closed_form():
    """Commuting covariances R diag(a) R^T, R diag(b) R^T: ||dmu||^2 + sum (sqrt a - sqrt b)^2."""
    rng = np.random.default_rng(1)
    r, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    a, b = np.array([1.0, 4.0, 0.25, 2.0]), np.array([9.0, 1.0, 1.0, 0.5])
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    expected = float((mu1 - mu2) @ (mu1 - mu2) + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    assert frechet_distance(mu1, r @ np.diag(a) @ r.T, mu2, r @ np.diag(b) @ r.T) == pytest.approx(expected, rel=1e-9)


def test_frechet_matches_scipy_sqrtm_on_general_covariances():
    from scipy.linalg import sqrtm
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 5)), rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5)) + 1
    (m1, s1), (m2, s2) = gaussian_stats(x), gaussian_stats(y)
    ref = (m1 - m2) @ (m1 - m2) + np.trace(s1 + s2 - 2 * np.real(sqrtm(s1 @ s2)))
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(ref, rel=1e-6)


def test_feature_sink_running_stats_equal_batch_stats():
    gen = torch.Generator().manual_seed(3)
    feats = torch.randn(300, 4, generator=gen)
    sink = FeatureSink({"t": lambda x: x})
    for chunk in feats.split(70):
        sink.add(("s",), "t", chunk + 1.0, {"t": chunk}, None)
        sink.end_chunk()
    assert sink.result()["t"]["s"] == pytest.approx(4.0, rel=1e-6)


# ---------------------------------------------------------------- FID through torch-fidelity
def _register_tiny_extractor():
    from torch_fidelity import register_feature_extractor
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase

    class Tiny(FeatureExtractorBase):
        """Features: the per-channel means and the mean of the top-left quarter (uint8 -> float)."""

        def __init__(self, name, features_list, **kwargs):
            super().__init__(name, features_list)

        @staticmethod
        def get_provided_features_list():
            return ("tiny",)

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return "tiny"

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return None

        def forward(self, x):
            x = x.float() / 255
            h, w = x.shape[2] // 2, x.shape[3] // 2
            return (torch.cat([x.mean((2, 3)), x[:, :, :h, :w].mean((1, 2, 3))[:, None]], 1).double(),)

    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
    if "mmspec-test-tiny" not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor("mmspec-test-tiny", Tiny)
    return Tiny("mmspec-test-tiny", ["tiny"])


def test_fid_path_through_torch_fidelity_with_a_tiny_registered_extractor():
    from runtime.evaluate.fid import fid, to_uint8_rgb
    tiny = _register_tiny_extractor()
    gen = torch.Generator().manual_seed(0)
    real = torch.rand(120, 1, 8, 8, generator=gen)
    fake = (torch.rand(120, 1, 8, 8, generator=gen) * 0.5 + 0.3)
    assert fid(real, real, feature_extractor="mmspec-test-tiny") == pytest.approx(0.0, abs=1e-6)
    got = fid(fake, real, feature_extractor="mmspec-test-tiny")
    expected = frechet_from_features(tiny(to_uint8_rgb(fake))[0], tiny(to_uint8_rgb(real))[0])
    assert got == pytest.approx(expected, rel=1e-4)


def test_fid_without_weights_says_why_it_is_skipped(monkeypatch, tmp_path):
    from runtime.evaluate.fid import resolve_weights
    monkeypatch.delenv("MMSPEC_FID_WEIGHTS", raising=False)
    path, why = resolve_weights(None)
    assert path is None and "--fid-weights" in why and "MMSPEC_FID_WEIGHTS" in why
    path, why = resolve_weights(tmp_path / "missing.pth")
    assert path is None and "does not exist" in why


# ---------------------------------------------------------------- latent probe
def test_probe_on_separable_latents_is_one():
    gen = torch.Generator().manual_seed(0)
    y_train, y_test = torch.arange(300) % 10, torch.arange(100) % 10
    centers = torch.randn(10, 8, generator=gen) * 10
    x_train = centers[y_train] + 0.1 * torch.randn(300, 8, generator=gen)
    x_test = centers[y_test] + 0.1 * torch.randn(100, 8, generator=gen)
    assert linear_probe(x_train, y_train, x_test, y_test) == 1.0


def test_probe_on_noise_is_near_chance():
    gen = torch.Generator().manual_seed(1)
    acc = linear_probe(torch.randn(500, 4, generator=gen), torch.arange(500) % 10,
                       torch.randn(500, 4, generator=gen), torch.arange(500) % 10)
    assert acc < 0.25


# ---------------------------------------------------------------- coherence
class LabelCopier:
    """An oracle model: the latent is the label (read off the data), decoding renders that label."""

    def __init__(self, mode: str = "copy"):
        self.mode = mode
        self.modalities = {m: i for m, i in _fake_infos().items()}
        self.latent_dim = 10
        self.can_generate, self.generation_note = True, ""

    def _label(self, batch, subset):
        m = subset[0]
        x = batch[m]
        if m == "txt":
            words = ["".join(ALPHABET[i] for i in r) for r in x.argmax(-1).tolist()]
            from runtime_fakes import TEXT_LEN, WORDS
            return torch.tensor([[w[:TEXT_LEN].ljust(TEXT_LEN) for w in WORDS].index(s) for s in words])
        flat = x[:, 0].reshape(x.shape[0], 4, 2, 4, 2).mean((2, 4)).reshape(x.shape[0], 16)
        return flat.argmax(-1)

    def encode(self, batch, subset):
        y = self._label(batch, subset)
        if self.mode == "random":
            y = torch.randint(0, 10, y.shape)
        return DiagNormal(torch.nn.functional.one_hot(y, 10).float() * 100, torch.full((y.shape[0], 10), -20.0))

    def encode_subsets(self, batch, subsets):
        return [self.encode(batch, s) for s in subsets]

    def sample_prior(self, n):
        return torch.nn.functional.one_hot(torch.randint(0, 10, (n,)), 10).float() * 100

    def decode(self, modality, z):
        y = z.argmax(-1)
        return _images(y, torch.Generator().manual_seed(0)) if modality == "img" else _text(y)


def _fake_infos():
    from mmspec.compiled import ModalityInfo
    data = FakeDataset(8, 8)
    return {m: ModalityInfo(m, data.modalities[m].kind, data.modalities[m].shape, "x", 1.0) for m in ("img", "txt")}


def _oracle_classifiers():
    copier = LabelCopier()
    return {m: (lambda x, m=m: copier._label({m: x}, [m])) for m in ("img", "txt")}


@pytest.mark.parametrize("mode,expected", [("copy", 1.0), ("random", 0.1)])
def test_coherence_of_a_label_copier_is_one_and_of_noise_is_chance(mode, expected):
    data = FakeDataset(16, 400)
    model = LabelCopier(mode)
    sink = CoherenceSink(_oracle_classifiers())
    text = LevenshteinSink(data.text_to_strings, ["txt"])
    torch.manual_seed(0)
    pairs = cross_pairs(["img", "txt"]) + [((), "img"), ((), "txt")]
    sweep(model, EvalData(data, ["img", "txt"], seed=0, chunk=128), "test", None, pairs, [sink, text])
    cross = sink.cross()
    assert cross["img"]["txt"] == pytest.approx(expected, abs=0.06)
    assert cross["txt"]["img"] == pytest.approx(expected, abs=0.06)
    assert sink.joint() == 1.0               # one prior sample decodes to the same digit everywhere
    if mode == "copy":
        assert text.result()["txt"]["img"] == 0.0


def test_subsets_and_pairs():
    assert nonempty_subsets("abc") == [("a",), ("b",), ("c",), ("a", "b"), ("a", "c"), ("b", "c"), ("a", "b", "c")]
    assert (("b", "c"), "a") in cross_pairs("abc") and len(cross_pairs("abc")) == 9
    assert len(headline_pairs("abcde")) == 5 * 5       # 4 single givens + the all-others subset, per target


# ---------------------------------------------------------------- likelihood
class LinearGaussian:
    """p(z) = N(0, I), p(x|z) = N(z, s2 I), q(z|x) = the exact posterior: every log w equals log p(x)."""

    s2 = 0.5

    def __init__(self):
        from mmspec.compiled import ModalityInfo
        self.modalities = {"v": ModalityInfo("v", "vector", (3,), "gaussian", 1.0)}

    def encode(self, batch, subset):
        x = batch["v"]
        return DiagNormal(x / (1 + self.s2), torch.full_like(x, math.log(self.s2 / (1 + self.s2))))

    def log_likelihood(self, m, z, x):
        return DiagNormal(x.expand_as(z), torch.full_like(z, math.log(self.s2))).log_prob(z)

    def prior(self, b):
        return DiagNormal(torch.zeros(b, 3), torch.zeros(b, 3))


class _VectorData:
    def __init__(self, x):
        self.x = x
        self.modalities = {}

    def split_size(self, split):
        return self.x.shape[0]

    def labels(self, split):
        return torch.zeros(self.x.shape[0], dtype=torch.long)

    def batch(self, split, idx, generator=None):
        return {"v": self.x[idx]}


def test_elbo_and_iw_nll_of_the_exact_posterior_equal_the_marginal_likelihood():
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0)) * 2
    model = LinearGaussian()
    out = elbo_and_nll(model, EvalData(_VectorData(x), ["v"], seed=0, chunk=16), k=12)
    log_px = DiagNormal(torch.zeros_like(x), torch.full_like(x, math.log(1 + model.s2))).log_prob(x).mean()
    assert out["elbo"] == pytest.approx(float(log_px), abs=1e-4)
    assert out["nll"] == pytest.approx(-float(log_px), abs=1e-4)
    assert out["k"] == 12 and out["items"] == 50


# ---------------------------------------------------------------- reconstruction error
class MeanOfGiven:
    """Two vector modalities a, b; q(z | S) = N(mean of the given x's, var); p(x_m | z) = N(z, s2 I)."""

    s2 = 0.5

    def __init__(self, var: float):
        from mmspec.compiled import ModalityInfo
        self.var = var
        self.modalities = {m: ModalityInfo(m, "vector", (3,), "gaussian", 1.0) for m in ("a", "b")}

    def encode(self, batch, subset):
        mu = sum(batch[m] for m in subset) / len(subset)
        return DiagNormal(mu, torch.full_like(mu, math.log(self.var)))

    def encode_subsets(self, batch, subsets):
        return [self.encode(batch, s) for s in subsets]

    def log_likelihood(self, m, z, x):
        return DiagNormal(z, torch.full_like(z, math.log(self.s2))).log_prob(x.expand_as(z))


class _TwoVectors(_VectorData):
    def __init__(self, a, b):
        super().__init__(a)
        self.b = b

    def batch(self, split, idx, generator=None):
        return {"a": self.x[idx], "b": self.b[idx]}


def test_reconstruction_error_given_all_and_given_self_by_hand():
    """A posterior with (almost) no spread decodes its mean: the error is the Gaussian NLL at the mean.
    Given a alone, q's mean is x_a itself (squared error 0); given a and b, it is (x_a + x_b) / 2."""
    from runtime.evaluate.reconstruction import reconstruction_error
    a = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    b = torch.tensor([[3.0, 2.0, 1.0], [1.0, 1.0, 1.0]])
    out = reconstruction_error(MeanOfGiven(var=1e-24), EvalData(_TwoVectors(a, b), ["a", "b"], seed=0, chunk=1))
    const = 1.5 * math.log(2 * math.pi * 0.5)                 # 3 dims of 0.5 log(2 pi s2)
    # given both: item 1 is off by (1, 0, 1) for a and (1, 0, 1) for b; item 2 by 0.5 in each of 3 dims
    assert out["all"]["a"] == pytest.approx(const + ((1 + 0 + 1) + 3 * 0.25) / (2 * 0.5) / 2, abs=1e-6)
    assert out["all"]["b"] == pytest.approx(out["all"]["a"], abs=1e-6)
    assert out["self"] == pytest.approx({"a": const, "b": const}, abs=1e-6)
    assert out["all_total"] == pytest.approx(2 * out["all"]["a"]) and out["self_total"] == pytest.approx(2 * const)
    assert out["items"] == 2 and out["samples"] == 1


def test_reconstruction_error_averages_over_posterior_samples():
    """With q's variance v, E_q[-log N(x; z, s2)] = sum_d ((x_d - mu_d)^2 + v) / (2 s2) + D/2 log(2 pi s2)."""
    from runtime.evaluate.reconstruction import reconstruction_error
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(40, 3, generator=gen), torch.randn(40, 3, generator=gen)
    torch.manual_seed(0)
    out = reconstruction_error(MeanOfGiven(var=0.3), EvalData(_TwoVectors(a, b), ["a", "b"], seed=0, chunk=16), k=4000)
    closed = lambda x, mu: float((((x - mu) ** 2).sum(1) + 3 * 0.3).mean() / (2 * 0.5)) + 1.5 * math.log(math.pi)
    assert out["all"]["a"] == pytest.approx(closed(a, (a + b) / 2), abs=0.02)
    assert out["self"]["b"] == pytest.approx(closed(b, b), abs=0.02)


# ---------------------------------------------------------------- cosine similarity
def test_cosine_of_identical_means_is_one_and_baseline_is_lower():
    m = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
    out = cosine_pairs({"a": m, "b": m.clone(), "c": -m})
    assert out["a~b"]["matched"] == pytest.approx(1.0)
    assert out["a~c"]["matched"] == pytest.approx(-1.0)
    assert abs(out["a~b"]["shuffled"]) < 0.3


# ---------------------------------------------------------------- classifiers
def test_classifiers_learn_the_fake_data_and_are_cached(tmp_path):
    from runtime.evaluate.classifiers import load_or_train
    data = FakeDataset(400, 200)
    first = {m: load_or_train(data, "fake", m, tmp_path, steps=150, log=lambda s: None) for m in ("img", "txt")}
    assert all(c.accuracy > 0.95 and not c.cached for c in first.values())
    again = load_or_train(data, "fake", "img", tmp_path, steps=150, log=lambda s: None)
    assert again.cached and again.accuracy == first["img"].accuracy
    x = data.batch("test", torch.arange(50))["img"]
    assert torch.equal(again.model.predict(x), first["img"].model.predict(x))
    other = load_or_train(FakeDataset(400, 100), "fake", "img", tmp_path, steps=150, log=lambda s: None)
    assert not other.cached                  # different data, different cache entry


# ---------------------------------------------------------------- seed 004 Figure 7
FIG7 = Path(__file__).resolve().parents[1] / "specs" / "experiments" / "seed004_fig7_tpolymnist.mmx"


def test_seed004_figure7_plots_the_self_reconstruction_error(tmp_path):
    """The shipped Figure 7 over hand-written trial results: each method's line has one point per
    beta, in beta order, at x = that trial's reconstruction_error.self_total."""
    import json
    from mmspec.experiment import check_experiment_file
    from runtime.sweep.report import experiment_report
    exp = check_experiment_file(FIG7)
    (tmp_path / "experiment.mmx").write_text(FIG7.read_text())
    (tmp_path / "experiment.json").write_text(json.dumps({"source": str(FIG7), "budget": "quick"}))
    expected: dict[str, list[tuple[float, float]]] = {}
    for i, trial in enumerate(exp.trials("quick")):
        beta = float(dict(trial.overrides)["beta"])
        own = {"m0": 10.0 + i, "m1": 20.0 - beta, "m2": 5.0}
        results = {"reconstruction_error": {"self": own, "self_total": sum(own.values()), "all": own,
                                            "all_total": sum(own.values())},
                   "latent_probe": {"accuracy": {"m0": 0.5, "m1": 0.7, "m2": 0.9}}}
        (tmp_path / trial.key).mkdir(parents=True)
        (tmp_path / trial.key / "results.json").write_text(json.dumps(results))
        expected.setdefault(trial.spec.label, []).append((beta, sum(own.values())))
    experiment_report(tmp_path)
    series = {s["label"]: s for s in json.loads((tmp_path / "probe_vs_self_rec.json").read_text())["series"]}
    assert set(series) == set(expected) == {"independent", "AVG", "PoE", "MoE", "MoPoE", "MMVM"}
    for label, points in expected.items():
        points.sort()
        assert series[label]["order"] == [b for b, _ in points]
        assert series[label]["x"] == pytest.approx([x for _, x in points], abs=1e-12)
        assert series[label]["y"] == pytest.approx([0.7] * len(points))
    assert (tmp_path / "probe_vs_self_rec.png").stat().st_size > 5000


@pytest.mark.slow
def test_seed004_figure7_trials_run_and_record_the_self_reconstruction_error(tmp_path):
    """Two trials of the shipped experiment (AVG and MMVM at one beta; one step on 64 stand-in items)
    run in-process without Ray; the Figure 7a plot's x is each trial's reconstruction_error.self_total.
    About 100 s on the shared 2-core CPU (2026-12-01)."""
    import json
    from runtime.sweep.driver import SweepOptions, prepare
    from runtime.sweep.report import experiment_report
    from runtime.sweep.trial import execute
    opts = SweepOptions(FIG7, out=tmp_path / "out", device="cpu", cache_dir=str(tmp_path / "cache"), source="standin")
    _, out, jobs = prepare(opts)
    tiny = {"epochs": 1, "standin": 64, "eval_samples": 32, "probe_samples": 64, "iw_samples": 2, "classifier_steps": 10}
    picked = [j for j in jobs if j.label in ("AVG", "MMVM") and j.overrides == {"beta": "8"}]
    assert len(picked) == 2
    for job in picked:
        job.settings, job.threads = {**job.settings, **tiny}, torch.get_num_threads()
        record = execute(job)
        assert record.status == "done", record.error
    experiment_report(out)
    series = {s["label"]: s for s in json.loads((out / "probe_vs_self_rec.json").read_text())["series"]}
    for job in picked:
        rec = json.loads((Path(job.run_dir) / "results.json").read_text())["reconstruction_error"]
        assert rec["self_total"] == pytest.approx(sum(rec["self"].values()))
        assert series[job.label]["x"] == [pytest.approx(rec["self_total"], abs=1e-9)]


def test_specs_may_ask_for_the_reconstruction_error():
    from mmspec import SpecError, check_spec
    spec = (Path(__file__).resolve().parents[1] / "specs" / "mmvm_tpolymnist.mms").read_text()
    line = "evaluate coherence, latent_probe(samples=10000), fid, elbo"
    assert line in spec
    program = check_spec(spec.replace(line, "evaluate reconstruction_error(k=3)"), filename="x.mms")
    assert [(m.name, dict(m.params)) for m in program.evaluate] == [("reconstruction_error", {"k": 3})]
    with pytest.raises(SpecError, match="reconstruction_error"):
        check_spec(spec.replace(line, "evaluate reconstruction_eror"), filename="x.mms")
