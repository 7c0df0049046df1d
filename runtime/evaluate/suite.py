"""The evaluation suite: which metrics a run gets, computed in as few passes as possible.

The spec's `evaluate` line chooses the metrics (all of them when it has none); `mmspec eval
--metrics` overrides it. Every metric reaches the model through the `CompiledModel` contract only.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import classifiers as clf
from .coherence import CoherenceSink, mean_by_given_size
from .common import (EvalData, conditional_pairs, cross_pairs, given_names, headline_pairs, nonempty_subsets,
                     posterior_means)
from .fid import INCEPTION, ImageSink, resolve_weights
from .frechet import FeatureSink
from .generation import sweep
from .grids import grid_examples
from .likelihood import elbo_and_nll
from .multilabel import attribute_names, attribute_probe
from .probe import PROTOCOL, probe_subsets
from .reconstruction import reconstruction_error
from .refinement_curve import applies as applies_refinement, refinement_curve
from .similarity import cosine_pairs
from .text import LevenshteinSink

ALL_METRICS = ("coherence", "latent_probe", "fid", "elbo", "reconstruction_error", "cosine", "refinement_curve",
               "attribute_probe")
# Not in the default list (see chosen_metrics); the reconstruction error comes with `elbo` anyway.
ON_REQUEST = ("refinement_curve", "attribute_probe", "reconstruction_error")
ALIASES = {"joint_coherence": "coherence", "cross_coherence": "coherence", "levenshtein": "coherence",
           "probe": "latent_probe", "linear_probe": "latent_probe", "nll": "elbo", "iwnll": "elbo",
           "likelihood": "elbo", "similarity": "cosine", "cosine_similarity": "cosine",
           "frechet": "fid", "classifier_frechet": "fid", "elbo_vs_steps": "refinement_curve",
           "multilabel": "attribute_probe", "attributes": "attribute_probe",
           "reconstruction": "reconstruction_error", "rec_error": "reconstruction_error"}


@dataclass
class EvalConfig:
    metrics: list[str] | None = None       # overrides the spec's `evaluate` list
    n_test: int | None = None              # test items for every metric (None: the whole split)
    n_probe: int = 10000                   # training items the probe is fitted on, unless the spec says
    n_probe_override: int | None = None    # ... or the command line does
    iw_k_override: int | None = None       # importance samples (spec's nll(k=...), else 12)
    fid_weights: str | Path | None = None
    fid_samples: int = 5000
    fid_extractor: str = INCEPTION
    cache_dir: Path | None = None
    seed: int | None = 0                   # None: the run's seed (`mmspec eval`)
    chunk: int = 500
    classifier_steps: int = clf.MAX_STEPS     # cap; early stopping on a validation split ends sooner
    grid_items: int = 10


@dataclass
class Evaluation:
    results: dict
    grids: dict = field(default_factory=dict)     # (given, target) -> examples, for the plots


def chosen_metrics(model, cfg: EvalConfig) -> tuple[dict[str, dict], list[str]]:
    """{canonical metric: params} from the override or the spec, and notes on unknown names."""
    requests = [(name, {}) for name in cfg.metrics] if cfg.metrics else \
        [(r.name, dict(r.params)) for r in getattr(model, "evaluate", [])]
    if not requests:          # the curve against refinement steps only where the spec refines a posterior
        requests = [(name, {}) for name in ALL_METRICS if name not in ON_REQUEST or
                    (name == "refinement_curve" and applies_refinement(model))]
    chosen, notes = {}, []
    for name, params in requests:
        canonical = ALIASES.get(name, name)
        if canonical not in ALL_METRICS:
            notes.append(f"unknown metric {name!r} ignored (known: {', '.join(ALL_METRICS)})")
            continue
        chosen.setdefault(canonical, {}).update(params)
    return chosen, notes


def _kinds(model, kind: str) -> list[str]:
    return [m for m, info in model.modalities.items() if info.kind == kind]


def evaluate(model, dataset, cfg: EvalConfig, log: Callable[[str], None] = print) -> Evaluation:
    """Run the chosen metrics on the test split; returns JSON-ready results and grid examples."""
    chosen, notes = chosen_metrics(model, cfg)
    names = list(model.modalities)
    data = EvalData(dataset, names + given_names(model), seed=cfg.seed, chunk=cfg.chunk)   # + a CVAE's given data
    n_test = data.size("test", cfg.n_test)
    res: dict = {"model": model.name, "dataset": model.dataset, "modalities": names,
                 "metrics": sorted(chosen), "notes": notes, "test_items": n_test, "timing_s": {}}
    if given_names(model):           # a CVAE: say what its numbers are of
        given = ", ".join(given_names(model))
        res["notes"].append(f"conditional spec: the model reads {given} and never generates it; every likelihood, "
                            f"reconstruction and generation is of {', '.join(names)} given {given} (the ELBO and NLL "
                            f"bound log p({', '.join('x_' + m for m in names)} | {', '.join('x_' + c for c in given_names(model))})); coherence {given} -> target decodes z from "
                            f"the infer rule for {given} alone (the prior), given {given}'s data")
    device = data.device()
    was_training = model.module.training
    model.module.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(cfg.seed)
            _generation_metrics(model, dataset, data, cfg, chosen, res, log)
            grids = _timed(res, "grids", lambda: grid_examples(
                model, data, headline_pairs(names) + conditional_pairs(model), items=cfg.grid_items))
            if "latent_probe" in chosen or "cosine" in chosen:
                _latent_metrics(model, data, cfg, chosen, res, log)
            if "attribute_probe" in chosen:
                _attribute_metrics(model, data, cfg, chosen, res, log)
            if "elbo" in chosen:
                k = int(_param(chosen, "elbo", "k", cfg.iw_k_override, 12))
                log(f"test ELBO and importance-weighted NLL (K={k})")
                res["likelihood"] = _timed(res, "likelihood", lambda: elbo_and_nll(model, data, "test", n_test, k))
            if "reconstruction_error" in chosen or "elbo" in chosen:    # the ELBO's first term, per modality
                k = int(_param(chosen, "reconstruction_error", "k", None, 1))
                log("reconstruction error given all modalities and given each modality alone")
                res["reconstruction_error"] = _timed(res, "reconstruction_error", lambda: reconstruction_error(
                    model, data, "test", n_test, k))
            if "refinement_curve" in chosen:        # MIAI Fig. 4; says so when the spec has no refine(...)
                steps, k = (int(_param(chosen, "refinement_curve", key, None, d)) for key, d in (("steps", 16), ("k", 1)))
                if applies_refinement(model):
                    log(f"ELBO against refinement steps T = 1..{steps}")
                res["refinement_curve"] = _timed(res, "refinement_curve", lambda: refinement_curve(
                    model, data, "test", n_test, steps=steps, k=k))
    finally:
        model.module.train(was_training)
    return Evaluation(res, grids)


def _param(chosen: dict, metric: str, key: str, override, default):
    """A metric setting: the command line's value, else the spec's, else the default."""
    if override is not None:
        return override
    value = chosen.get(metric, {}).get(key)
    return default if value is None else int(value)


def _timed(res: dict, name: str, fn):
    start = time.perf_counter()
    value = fn()
    res["timing_s"][name] = round(time.perf_counter() - start, 2)
    return value


def _classifiers(dataset, model, cfg: EvalConfig, res: dict, log) -> dict:
    labels = dataset.labels("test")
    if labels.dim() != 1:
        res["notes"].append("coherence needs one class label per item; this dataset has none")
        return {}
    out = {}
    for m in model.modalities:
        trained = clf.load_or_train(dataset, model.dataset, m, cfg.cache_dir, seed=cfg.seed,
                                    steps=cfg.classifier_steps, log=log)
        info = dataset.modalities[m]
        target = clf.accuracy_target(model.dataset, m, info.source)
        res.setdefault("classifiers", {})[m] = dict(trained.summary(target), source=str(info.source),
                                                    origin=str(info.origin))
        out[m] = trained.model
    return out


def _generation_metrics(model, dataset, data, cfg, chosen, res, log) -> None:
    """Coherence, Levenshtein, classifier Fréchet and FID share one cross-generation sweep."""
    want_fid = "fid" in chosen
    if "coherence" not in chosen and not want_fid:
        return
    names = list(model.modalities)
    nets = _timed(res, "classifiers", lambda: _classifiers(dataset, model, cfg, res, log))
    pairs = cross_pairs(names) + conditional_pairs(model)     # a CVAE: each target given its given data
    if model.can_generate:
        pairs += [((), t) for t in names]
    else:
        res["joint_coherence_note"] = f"no joint coherence or unconditional generation: {model.generation_note}"
    sinks = []
    coherence = CoherenceSink({m: n.predict for m, n in nets.items()}) if "coherence" in chosen and nets else None
    text = LevenshteinSink(dataset.text_to_strings, _kinds(model, "text")) if "coherence" in chosen else None
    features = FeatureSink({m: n.features for m, n in nets.items() if model.modalities[m].kind == "image"}) \
        if want_fid and nets else None
    weights, why = resolve_weights(cfg.fid_weights) if want_fid else (None, "")
    fid_pairs = headline_pairs(names) + conditional_pairs(model) + [p for p in pairs if not p[0]]
    limit = int(_param(chosen, "fid", "samples", None, cfg.fid_samples))
    images = ImageSink(fid_pairs, _kinds(model, "image"), limit) if weights is not None else None
    sinks = [s for s in (coherence, text, features, images) if s is not None]
    if not sinks:
        return
    n = _param(chosen, "coherence", "samples", cfg.n_test, None)
    log(f"cross-generation over {data.size('test', n)} test items, {len(pairs)} (given -> target) pairs")
    _timed(res, "generation", lambda: sweep(model, data, "test", n, pairs, sinks))
    if coherence is not None:
        cross = coherence.cross()
        balanced = coherence.cross(balanced=True)
        res["coherence"] = {"cross": cross, "by_given_count": mean_by_given_size(cross), "joint": coherence.joint(),
                            "cross_balanced": balanced, "by_given_count_balanced": mean_by_given_size(balanced)}
    if text is not None and text.total:
        res["levenshtein"] = text.result()
    if features is not None:
        res["classifier_frechet"] = features.result()
    if want_fid:
        if images is None:
            res["fid"] = {"skipped": why}
        else:
            log("FID (torch-fidelity)")
            res["fid"] = _timed(res, "fid", lambda: images.compute(weights, data.device(), cfg.fid_extractor))


def _latent_metrics(model, data, cfg, chosen, res, log) -> None:
    """The probe and the cosine similarity read the same posterior means of the test set."""
    names = list(model.modalities)
    subsets = nonempty_subsets(names) if "latent_probe" in chosen else [(m,) for m in names]
    n_test = data.size("test", cfg.n_test)
    log(f"posterior means of {len(subsets)} subsets")
    test_means, test_y = _timed(res, "posterior_means", lambda: posterior_means(model, data, "test", n_test, subsets))
    if "latent_probe" in chosen:
        n_train = data.size("train", _param(chosen, "latent_probe", "samples", cfg.n_probe_override, cfg.n_probe))
        train_means, train_y = posterior_means(model, data, "train", n_train, subsets)
        log(f"latent probes on {n_train} training means")
        acc = _timed(res, "latent_probe", lambda: probe_subsets(train_means, train_y, test_means, test_y, seed=cfg.seed))
        res["latent_probe"] = {"accuracy": acc, "n_train": n_train, "n_test": n_test,
                               "protocol": PROTOCOL.format(n_train=n_train, n_test=n_test)}
    if "cosine" in chosen and len(names) > 1:
        res["cosine"] = cosine_pairs({m: test_means[(m,)] for m in names}, seed=cfg.seed)


def _attribute_metrics(model, data, cfg, chosen, res, log) -> None:
    """Seed 004 Figure 14: a probe per attribute (multilabel.py); a note when the data has none."""
    names = attribute_names(data.dataset)
    if not names:
        res["notes"].append(f"attribute_probe needs items with attributes; dataset {model.dataset!r} has none")
        return
    n_train = data.size("train", _param(chosen, "attribute_probe", "samples", cfg.n_probe_override, cfg.n_probe))
    n_test = data.size("test", cfg.n_test)
    log(f"attribute probes ({len(names)} attributes) on {n_train} training means")
    res["attribute_probe"] = _timed(res, "attribute_probe", lambda: attribute_probe(
        model, data, n_train=n_train, n_test=n_test, seed=cfg.seed))
