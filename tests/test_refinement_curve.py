"""MIAI's Fig. 4 (runtime metric `refinement_curve`): the multimodal ELBO against the number of
refinement steps, checked on the linear-Gaussian model of test_refine.py, whose ELBO is a closed form."""
from __future__ import annotations

import pytest
import torch

from mmspec import check_spec, compile_spec
from spec_helpers import ROOT
from test_refine import BIAS, GON, W, closed_elbo, lg_batch, lg_model, lg_spec

class _VectorData:
    """The smallest dataset EvalData reads: one vector modality x, no labels that matter."""

    def __init__(self, x):
        self.x = x

    def split_size(self, split):
        return self.x.shape[0]

    def labels(self, split):
        return torch.zeros(self.x.shape[0], dtype=torch.long)

    def batch(self, split, idx, generator=None):
        return {"x": self.x[idx]}


def test_refinement_curve_is_the_elbo_of_each_iterate_with_the_source_as_reference(tmp_path):
    """Each point is the item-weighted mean, over the evaluation chunks (16, 16, 8 items), of the
    closed-form ELBO of the iterates the curve refined. The iterates are random (each step follows a
    one-sample gradient), so the oracle records the very iterates the curve evaluated rather than
    refining again with other noise. K = 4096 samples: Monte Carlo error well under 0.05 nats here.
    The reference is the closed-form ELBO of the infer(*) posterior."""
    from runtime.evaluate.common import EvalData
    from runtime.evaluate.refinement_curve import plot, refinement_curve
    source = lg_spec("posterior r = refine(q, maximize=elbo(r -> *), steps=2)").replace("infer * = r", "infer * = q")
    torch.manual_seed(0)
    model = compile_spec(source)
    model.module.double()
    with torch.no_grad():
        model.module.decoders["x"][0].weight.copy_(W)
        model.module.decoders["x"][0].bias.copy_(BIAS)
    model.module.eval()
    refined, paths = model.refinement_trajectory, []

    def recording(batch, name, steps):
        paths.append((batch["x"], refined(batch, name, steps)))
        return paths[-1][1]
    model.refinement_trajectory = recording
    x = lg_batch(40, seed=3)["x"]
    curve = refinement_curve(model, EvalData(_VectorData(x), ["x"], seed=0, chunk=16), steps=5, k=4096)
    assert curve["steps"] == [0, 1, 2, 3, 4, 5] and list(curve["elbo"]) == ["x"] and curve["items"] == 40
    assert [len(xs) for xs, _ in paths] == [16, 16, 8] and torch.equal(torch.cat([xs for xs, _ in paths]), x)
    assert all(len(path) == 6 for _, path in paths)
    want = [sum(closed_elbo(xs, path[t].mu, path[t].logvar).sum().item() for xs, path in paths) / 40 for t in range(6)]
    assert curve["elbo"]["x"] == pytest.approx(want, abs=0.05)
    assert max(abs(a - b) for a, b in zip(want[1:], want[:-1])) > 0.5      # the iterates do differ
    init = model.evaluation({"x": x}).gaussian("encoder:q")
    assert curve["elbo"]["x"][0] == pytest.approx(closed_elbo(x, init.mu, init.logvar).mean().item(), abs=0.05)
    assert curve["reference"]["elbo"] == pytest.approx(closed_elbo(x, init.mu, init.logvar).mean().item(), abs=0.05)
    assert plot(curve, tmp_path / "fig4.png").stat().st_size > 1000


def test_refinement_curve_says_when_it_does_not_apply_and_is_a_known_metric(tmp_path):
    from runtime.evaluate.common import EvalData
    from runtime.evaluate.refinement_curve import refinement_curve
    from runtime.evaluate.suite import EvalConfig, chosen_metrics
    from runtime.report.writer import markdown
    model = compile_spec((ROOT / "specs" / "poe_mst.mms"), {"dim": "4"})
    out = refinement_curve(model, EvalData(_VectorData(torch.zeros(4, 3)), [], seed=0))
    assert "not applicable" in out["skipped"] and "refine" in out["skipped"]
    assert "not applicable" in markdown({"refinement_curve": out})
    chosen, notes = chosen_metrics(compile_spec(ROOT / "specs" / "miai_mst.mms", {"dim": "4"}), EvalConfig())
    assert chosen["refinement_curve"] == {"steps": 16} and not notes
    assert "refinement_curve" in check_spec(ROOT / "specs" / "miai_cub.mms").evaluate[-1].name
    # a spec that asks for no metrics gets every metric, the curve only when it refines a posterior
    assert "refinement_curve" in chosen_metrics(lg_model("posterior r = refine(q, maximize=elbo(r -> *), steps=2)"),
                                                EvalConfig())[0]
    assert "refinement_curve" not in chosen_metrics(lg_model(GON, "elbo(g)"), EvalConfig())[0]
