"""The classifiers that judge coherence: class-balanced accuracy against scikit-learn, the papers'
architectures trained with early stopping reaching their targets (stand-ins here, real MNIST and
PolyMNIST in slow tests), and the mark on every coherence judged by a classifier below target."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score

from runtime.data.dataset import DataModality
from runtime.evaluate.classifier_nets import build_classifier
from runtime.evaluate.classifiers import (accuracy_target, balanced_accuracy, load_or_train, scores,
                                          train_classifier)
from runtime.evaluate.coherence import CoherenceSink

def _shared_data() -> Path:
    """The team's offline real data (../shared/data of the checkout, or $MMSPEC_SHARED_DATA)."""
    if os.environ.get("MMSPEC_SHARED_DATA"):
        return Path(os.environ["MMSPEC_SHARED_DATA"])
    here = Path(__file__).resolve()
    return next((p / "shared" / "data" for p in here.parents if (p / "shared" / "data").is_dir()),
                here.parents[2] / "shared" / "data")


SHARED = _shared_data()


@pytest.mark.parametrize("seed", range(5))
def test_balanced_accuracy_is_sklearns(seed):
    rng = np.random.default_rng(seed)
    true = rng.choice(10, size=300, p=np.r_[0.4, np.full(9, 0.6 / 9)])      # one class dominates
    pred = np.where(rng.random(300) < 0.7, true, rng.integers(0, 10, 300))
    ours = balanced_accuracy(torch.from_numpy(pred), torch.from_numpy(true))
    assert ours == pytest.approx(balanced_accuracy_score(true, pred), abs=1e-12)


def test_balanced_coherence_is_sklearns_over_the_chunks():
    rng = np.random.default_rng(0)
    true = rng.choice(4, size=200, p=[0.7, 0.1, 0.1, 0.1])
    pred = np.where(rng.random(200) < 0.6, true, 0)                         # a judge that says "0" when unsure
    calls = iter([torch.from_numpy(pred[:120]), torch.from_numpy(pred[120:])])
    sink = CoherenceSink({"t": lambda x: next(calls)})
    for part in (slice(0, 120), slice(120, 200)):
        sink.add(("s",), "t", None, None, torch.from_numpy(true[part]))
    assert sink.cross()["t"]["s"] == pytest.approx(float((pred == true).mean()))
    assert sink.cross(balanced=True)["t"]["s"] == pytest.approx(balanced_accuracy_score(true, pred))
    assert sink.cross(balanced=True)["t"]["s"] < sink.cross()["t"]["s"]     # the frequent class carried it


@pytest.mark.parametrize("kind,shape,width", [("image", (1, 28, 28), 128), ("image", (3, 28, 28), 128),
                                              ("image", (3, 32, 32), 128), ("image", (3, 64, 64), 128),
                                              ("image", (1, 8, 8), 128), ("text", (8, 71), 128),
                                              ("text", (32, 30), 128)])
def test_the_papers_architectures_take_any_size(kind, shape, width):
    net = build_classifier(kind, shape, 10).eval()
    x = torch.rand(3, *shape)
    assert net(x).shape == (3, 10) and net.features(x).shape == (3, width)


def test_the_wide_net_is_mopoes_mnist_net_on_three_channel_digits_only():
    """`wide` swaps PolyMNIST's 10-20 net for MNIST's 32-64-128 one on 3 x 28 x 28 images; SVHN-sized
    and non-square images keep the SVHN net (BatchNorm), one-channel images the MNIST net."""
    convs = lambda net: [(c.in_channels, c.out_channels) for c in net.trunk if isinstance(c, torch.nn.Conv2d)]
    assert convs(build_classifier("image", (3, 28, 28), 10, net="wide")) == [(3, 32), (32, 64), (64, 128)]
    assert convs(build_classifier("image", (3, 28, 28), 10)) == [(3, 10), (10, 20)]
    assert convs(build_classifier("image", (1, 28, 28), 10, net="wide")) == [(1, 32), (32, 64), (64, 128)]
    for shape in ((3, 32, 32), (3, 20, 28)):
        assert any(isinstance(m, torch.nn.BatchNorm2d) for m in build_classifier("image", shape, 10, net="wide").trunk)
    with pytest.raises(ValueError, match="no classifier net 'resnet'; nets: paper, wide, pooled"):
        build_classifier("image", (3, 28, 28), 10, net="resnet")


def test_every_pixel_reaches_the_pooled_nets_head_but_not_the_mnist_nets():
    """Why translated digits need the pooled net: MoPoE's MNIST stack (28 -> 13 -> 5 -> 1, kernel 4,
    stride 2, no padding) drops the last row and column of its 13 and 5 maps, so input rows and columns
    22-27 never reach its head (row 21 does), where a translated 21-pixel digit can sit. Every pixel
    reaches the pooled net's."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 28, 28)
    for net in ("wide", "pooled"):
        model = build_classifier("image", (3, 28, 28), 10, net=net).eval()
        changed = lambda rows, cols: not torch.equal(model.features(x), model.features(_repainted(x, rows, cols)))
        edge = [changed(slice(r, r + 1), slice(None)) or changed(slice(None), slice(r, r + 1)) for r in range(22, 28)]
        assert changed(slice(21, 22), slice(None)) and changed(slice(None), slice(21, 22))
        assert edge == [net == "pooled"] * 6
    pooled = build_classifier("image", (3, 64, 48), 10, net="pooled").eval()
    assert pooled(torch.rand(3, 3, 64, 48)).shape == (3, 10) and pooled.features(torch.rand(1, 3, 64, 48)).shape == (1, 128)


def _repainted(x: torch.Tensor, rows: slice, cols: slice) -> torch.Tensor:
    y = x.clone()
    y[:, :, rows, cols] = torch.rand_like(y[:, :, rows, cols])
    return y


def test_authors_layer_sizes_on_their_own_data():
    """The MNIST net leaves 1 x 1 x 128 after three unpadded convs; PolyMNIST's flattens 20 x 7 x 7."""
    mnist = build_classifier("image", (1, 28, 28), 10)
    convs = [m for m in mnist.trunk if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.padding) for c in convs] == [(32, (0, 0)), (64, (0, 0)), (128, (0, 0))]
    poly = build_classifier("image", (3, 28, 28), 10)
    linears = [m for m in poly.trunk if isinstance(m, torch.nn.Linear)]
    assert linears[0].in_features == 980 and linears[0].out_features == 128


# ------------------------------------------------------------------ accuracy on the stand-ins
def _standin(name: str, size: int):
    from runtime.data import load_dataset
    return load_dataset(name, source="standin", standin_size=size, seed=0)


# A regression guard on the training recipe at the default suite's scale: the small stand-ins, their
# step caps, and the floor each judge reached there (a little below the lowest of seeds 0-2,
# docs/evaluation.md). These are not the targets that mark coherences: those are measured at the
# default stand-in and budget a run uses (classifiers.TARGETS; the slow test below).
# Of a PolyMNIST's five modalities the suite trains the one that scored lowest at seed 0.
# MNIST-SVHN-Text's image stand-ins take minutes to generate and train under load: slow-marked.
SMALL_BUDGETS = {("mst", "mnist"): (4000, 800, 0.94), ("mst", "svhn"): (2000, 300, 0.95),
                 ("mst", "text"): (300, 200, 0.99), ("polymnist", "m1"): (3000, 600, 0.89),
                 ("tpolymnist", "m3"): (3000, 600, 0.93)}
SLOW_STANDINS = {("mst", "mnist"), ("mst", "svhn")}


@pytest.mark.parametrize("name,modality", [pytest.param(*key, marks=[pytest.mark.slow] if key in SLOW_STANDINS else [])
                                           for key in SMALL_BUDGETS])
def test_standin_classifiers_reach_their_floor_at_a_small_budget(name, modality):
    """Every stand-in judge at the small budget its floor was measured at (seed 0)."""
    size, steps, floor = SMALL_BUDGETS[name, modality]
    data = _standin(name, size)
    model, record = train_classifier(data, modality, seed=0, steps=steps)
    acc = scores(model.predict, data, modality)
    print(f"stand-in {name} {modality}: accuracy {acc['accuracy']:.4f} (floor {floor}), training {record}")
    assert record["validation_items"] > 0
    assert acc["accuracy"] >= floor, (acc, record)


@pytest.mark.slow
@pytest.mark.parametrize("name,modality", [("mst", "mnist"), ("mst", "svhn"), ("mst", "text"),
                                           ("polymnist", "m1"), ("tpolymnist", "m3")])
def test_standin_classifiers_reach_their_targets_at_the_default_budget(name, modality, tmp_path):
    """The default stand-in (60,000 items) and the default budget (early stopping, 20,000-step cap):
    the targets that mark a run's coherences."""
    from runtime.data import load_dataset
    data = load_dataset(name, source="standin", seed=0, cache_dir=str(tmp_path))
    trained = load_or_train(data, name, modality, tmp_path, log=print)
    target = accuracy_target(name, modality, "standin")
    print(f"stand-in {name} {modality}: accuracy {trained.accuracy:.4f} (target {target}), training {trained.training}")
    assert target is not None and trained.accuracy >= target


def test_copies_of_one_source_show_the_same_image_and_other_sources_differ():
    """The oracle for `source_items`: the pixels. MNIST-SVHN-Text shows each image in two pairs."""
    data = _standin("mst", 400)
    for m in ("mnist", "svhn"):
        sources = data.source_items("train", m)
        images = data.batch("train", torch.arange(sources.shape[0]))[m].flatten(1)
        same = sources[:, None] == sources[None, :]
        identical = (images[:, None] == images[None, :]).all(-1)
        assert torch.equal(same, identical)
        assert int(same.sum()) > sources.shape[0]           # some images really are in several pairs


@pytest.mark.parametrize("name,modality", [("mst", "mnist"), ("mst", "text"), ("polymnist", "m0")])
def test_the_validation_slice_holds_out_sources_and_keeps_every_class(name, modality):
    from runtime.evaluate.classifiers import _holdout
    data = _standin(name, 2000)
    n = data.split_size("train")
    sources, labels = data.source_items("train", modality), data.labels("train")
    train, val = _holdout(data, modality, n, seed=0, device="cpu")
    assert not set(sources[train].tolist()) & set(sources[val].tolist())     # no source on both sides
    assert val.shape[0] == sources[val].unique().shape[0]                     # one item per held-out source
    n_sources = sources.unique().shape[0]
    assert val.shape[0] == n_sources // 10
    every = set(labels.tolist())
    assert set(labels[train].tolist()) == every and set(labels[val].tolist()) == every
    held = torch.isin(sources, sources[val])
    assert torch.equal(torch.sort(train).values, torch.nonzero(~held)[:, 0])  # every copy of a held-out source is out


def test_the_weight_average_is_its_closed_form():
    """The averaged weights after T updates, written as a sum: the initial weights times every decay,
    plus each update's weights times (1 - its decay) times the decays after it."""
    from runtime.evaluate.classifiers import _Average
    net = torch.nn.Linear(3, 2)
    rng = np.random.default_rng(0)
    history = [net.weight.detach().double().numpy().copy()]
    average = _Average(net, 0.8)
    for _ in range(40):
        with torch.no_grad():
            net.weight.copy_(torch.from_numpy(rng.normal(size=(2, 3))))
        history.append(net.weight.detach().double().numpy().copy())
        average.update(net)
    decay = np.array([1.0] + [min(0.8, (1 + t) / (10 + t)) for t in range(1, 41)])
    later = [np.prod(decay[t + 1:]) for t in range(41)]
    expected = history[0] * later[0] + sum(history[t] * (1 - decay[t]) * later[t] for t in range(1, 41))
    assert np.allclose(average.model.weight.detach().double().numpy(), expected, atol=1e-6)
    assert decay[40] == 0.8 and decay[1] < 0.2                  # warmed up; the start fades fast


def test_classifiers_are_cached_with_their_scores(tmp_path):
    data = _standin("mst", 300)
    log: list[str] = []
    first = load_or_train(data, "mst", "text", tmp_path, steps=100, log=log.append)
    again = load_or_train(data, "mst", "text", tmp_path, steps=100, log=log.append)
    assert not first.cached and again.cached and len(log) == 1
    assert (again.accuracy, again.balanced_accuracy) == (first.accuracy, first.balanced_accuracy)
    assert again.training == first.training
    x = data.batch("test", torch.arange(20))["text"]
    assert torch.equal(again.model.predict(x), first.model.predict(x))
    longer = load_or_train(data, "mst", "text", tmp_path, steps=101, log=log.append)
    assert not longer.cached                       # a higher step cap is another classifier
    summary = first.summary(0.99)
    assert summary["meets_target"] == (first.accuracy >= 0.99) and summary["target"] == 0.99


def test_real_data_gets_the_real_recipe_and_its_cached_judge_reloads(tmp_path):
    """A judge of real data is the wide net with averaged weights (RECIPES["real"]), cached under
    another key than the stand-in's judge of the same images, and reloads into the same net; real
    translated digits get the pooled net, real or stand-in."""
    from dataclasses import replace
    from runtime.evaluate.classifiers import RECIPES, recipe_for
    data = _standin("polymnist", 300)
    standin = load_or_train(data, "polymnist", "m0", tmp_path, steps=20, log=lambda _: None)
    data.modalities = {k: replace(v, source="real") for k, v in data.modalities.items()}
    first = load_or_train(data, "polymnist", "m0", tmp_path, steps=20, log=lambda _: None)
    again = load_or_train(data, "polymnist", "m0", tmp_path, steps=20, log=lambda _: None)
    assert not first.cached and again.cached and first.key != standin.key
    assert first.training["recipe"] == RECIPES["real"]["*"] == {"net": "wide", "ema": 0.999}
    assert standin.training["recipe"] == RECIPES["standin"]["*"] == {"net": "paper", "ema": None}
    assert recipe_for("tpolymnist", "real") == {"net": "pooled", "ema": 0.999}
    assert recipe_for("tpolymnist", "standin") == {"net": "pooled", "ema": None}
    assert recipe_for("polymnist", "standin") == recipe_for("mst", "standin") == {"net": "paper", "ema": None}
    assert first.model.trunk[0].out_channels == 32 and standin.model.trunk[0].out_channels == 10
    x = data.batch("test", torch.arange(20))["m0"]
    assert torch.equal(again.model.predict(x), first.model.predict(x))
    translated = _standin("tpolymnist", 300)
    translated.modalities = {k: replace(v, source="real") for k, v in translated.modalities.items()}
    pooled = [load_or_train(translated, "tpolymnist", "m0", tmp_path, steps=20, log=lambda _: None) for _ in range(2)]
    assert [p.cached for p in pooled] == [False, True] and pooled[0].training["recipe"]["net"] == "pooled"
    assert any(isinstance(m, torch.nn.AdaptiveMaxPool2d) for m in pooled[1].model.trunk)
    x = translated.batch("test", torch.arange(20))["m0"]
    assert torch.equal(pooled[1].model.predict(x), pooled[0].model.predict(x))


# ------------------------------------------------------------------ real data (slow)
class _RealMnist:
    """Real MNIST as a one-modality dataset, straight from the IDX files (no pairing)."""

    class_names = [str(d) for d in range(10)]

    def __init__(self, root: Path):
        from runtime.data import mnist
        files = mnist.find_mnist(root)
        if files is None:
            pytest.skip(f"no MNIST under {root}")
        self._split = {s: mnist.load_split(files, s) for s in ("train", "test")}
        self.modalities = {"mnist": DataModality("mnist", "image", (1, 28, 28), "real", mnist.describe(files))}

    def split_size(self, split):
        return self._split[split][1].shape[0]

    def labels(self, split):
        return self._split[split][1]

    def batch(self, split, index, generator=None):
        return {"mnist": self._split[split][0][index].float() / 255}

    def source_items(self, split, modality):
        return torch.arange(self.split_size(split))          # every MNIST image once


@pytest.mark.slow
def test_real_mnist_classifier_reaches_0_99(tmp_path):
    data = _RealMnist(SHARED / "mnist")
    trained = load_or_train(data, "mst", "mnist", tmp_path, log=print)
    print(f"real MNIST classifier: accuracy {trained.accuracy:.4f}, balanced {trained.balanced_accuracy:.4f}, "
          f"training {trained.training}")
    assert trained.accuracy >= accuracy_target("mst", "mnist", "real") == 0.99


@pytest.mark.slow
@pytest.mark.parametrize("modality", ["m0", "m1", "m2", "m3", "m4"])
@pytest.mark.parametrize("dataset, shown", [("polymnist", "PolyMNIST-like"), ("tpolymnist", "translated PolyMNIST-like")])
def test_real_polymnist_like_classifiers_reach_0_98(tmp_path, dataset, shown, modality):
    """Each modality its own case (about 10-25 minutes each on one CPU core), so that they can run
    side by side: `pytest -m slow -k "real_polymnist and tpolymnist and (m0 or m1)"` in one shell."""
    from runtime.data import load_dataset
    if not (SHARED / "polymnist_backgrounds").exists():
        pytest.skip("no PolyMNIST backgrounds")
    data = load_dataset(dataset, data_root=str(SHARED), source="real", seed=0, cache_dir=str(tmp_path))
    start = time.perf_counter()
    trained = load_or_train(data, dataset, modality, tmp_path, log=print)
    print(f"real {shown} {modality}: accuracy {trained.accuracy:.4f}, balanced {trained.balanced_accuracy:.4f}, "
          f"{time.perf_counter() - start:.0f} s, training {trained.training}", flush=True)
    assert accuracy_target(dataset, modality, "real") == 0.98
    assert trained.accuracy >= 0.98


# ------------------------------------------------------------------ the mark in reports
def _results(meets_a: bool) -> dict:
    clf = lambda acc, target, meets: {"accuracy": acc, "balanced_accuracy": acc - 0.01, "target": target,
                                      "meets_target": meets, "source": "real", "cached": False}
    return {"model": "m", "dataset": "d", "modalities": ["a", "b"], "metrics": ["coherence"],
            "classifiers": {"a": clf(0.95, 0.99, meets_a), "b": clf(0.995, 0.99, True)},
            "coherence": {"cross": {"a": {"b": 0.5}, "b": {"a": 0.75}}, "joint": 0.25,
                          "by_given_count": {1: 0.625}}}


def test_a_coherence_judged_below_target_is_marked_in_report_terminal_and_plots():
    from rich.console import Console
    from runtime.report.tables import MARK, MARK_NOTE, coherence_table, to_markdown
    from runtime.report.terminal import print_summary
    from runtime.report.writer import _grid_note, markdown
    low, fine = _results(False), _results(True)
    table = to_markdown(coherence_table([low], digits=3))
    assert f"0.500{MARK}" in table and f"0.750{MARK}" not in table and f"0.250{MARK}" in table
    assert MARK not in to_markdown(coherence_table([fine], digits=3))
    report = markdown(low)
    assert MARK_NOTE in report and "plain accuracy" in report and "| a | real | 0.9500 | 0.9400 | 0.99 | **no**" in report
    assert MARK_NOTE not in markdown(fine)
    console = Console(record=True, width=200)
    print_summary(console, low, Path("run"))
    text = console.export_text()
    assert "(clf 0.950†)" in text and "(clf 0.995)" in text and MARK_NOTE in text
    assert _grid_note(low, ("b",), "a") == f"  (coherence 0.500{MARK} classifier below target)"
    assert _grid_note(low, ("a",), "b") == "  (coherence 0.750)"


def test_compare_marks_runs_whose_judge_misses_its_target(tmp_path):
    import json
    from runtime.report.compare import compare
    from runtime.report.tables import MARK, MARK_NOTE
    for name, res in (("low", _results(False)), ("fine", _results(True))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(res))
    text = compare([tmp_path / "low", tmp_path / "fine"])
    assert MARK_NOTE in text and text.count(f"0.50{MARK}") == 1 and "a 0.950†" in text
