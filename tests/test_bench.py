"""`mmspec bench`: the command runs and reports consistent figures, the timing arithmetic is right,
the MoPoE scaling specs have M modalities, and the MultiVae side is the same model (same networks,
parameter counts and, for crmvae_multivae, the same loss on a fixed batch)."""
from __future__ import annotations

import json
import re

import pytest
import torch
from click.testing import CliRunner

from mmspec import compile_spec
from runtime.bench.cli import bench
from runtime.bench.timing import Timing, time_steps
from spec_helpers import ROOT, tiny_batch

TINY = """
model tiny_bench
data mst
latent z: 4
prior p = normal()
modality a: vector(6) ~ gaussian(scale=0.5), net mlp(hidden=[8])
modality c: text(2, 5) ~ categorical, net mlp(hidden=[8])
posterior q[m] = encoder(m)
posterior joint = poe(p, q[*])
maximize elbo(joint)
infer S = poe(p, q[S])
train epochs 1, batch 8, optimizer adam(lr=1e-3)
"""

LINE = re.compile(r"^\s+(\w+)\s+([\d.]+) samples/s\s+median step\s+([\d.]+) ms .*peak memory\s+(\d+) MiB", re.M)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_bench_cli_times_a_tiny_spec_and_reports_consistent_figures(tmp_path):
    spec = tmp_path / "tiny.mms"
    spec.write_text(TINY)
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(bench, [str(spec), "--device", "cpu", "--batch", "4", "--steps", "3",
                                       "--warmup", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = LINE.findall(result.output)
    assert [r[0] for r in rows] == ["mmspec"]
    _, per_s, median_ms, peak_mib = rows[0]
    # samples per second is the batch over the median step time
    assert float(per_s) == pytest.approx(4 / (float(median_ms) / 1e3), rel=2e-2)
    assert int(peak_mib) > 0
    saved = json.loads(out.read_text())
    timing = saved["timings"]["mmspec"]
    assert saved["batch"] == 4 and saved["device_type"] == "cpu" and timing["steps_timed"] == 3
    assert timing["median_step_ms"] == pytest.approx(float(median_ms), abs=0.01)
    assert "torch" in saved["versions"]


def test_bench_against_the_plain_path_times_both_alternating(tmp_path):
    spec = tmp_path / "tiny.mms"
    spec.write_text(TINY)
    result = CliRunner().invoke(bench, [str(spec), "--device", "cpu", "--batch", "4", "--steps", "2",
                                        "--warmup", "1", "--batched", "--against", "plain"])
    assert result.exit_code == 0, result.output
    assert [r[0] for r in LINE.findall(result.output)] == ["mmspec", "plain"]
    assert "fast path / plain path samples per second" in result.output


def test_bench_is_plugged_into_the_mmspec_cli():
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["mmspec.commands"]["bench"] == "runtime.bench.cli:bench"
    assert any(r.startswith("multivae") for r in project["optional-dependencies"]["bench"])


def test_bench_cli_rejects_bad_options_with_a_message(tmp_path):
    spec = tmp_path / "tiny.mms"
    spec.write_text(TINY)
    result = CliRunner().invoke(bench, [str(spec), "--device", "cpu", "--steps", "0"])
    assert result.exit_code != 0
    assert "--steps" in result.output and "0 is not in the range x>=1" in result.output
    assert "Traceback" not in result.output


def test_timing_summary_is_the_median_and_rounds_alternate():
    t = Timing("x", batch=10, step_s=[0.3, 0.1, 0.2, 10.0])
    assert t.median_s == pytest.approx(0.25)
    assert t.samples_per_s == pytest.approx(40.0)
    order = []
    steps = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    out = time_steps(steps, batch=2, device=torch.device("cpu"), warmup=1, steps=5, round_steps=2)
    # warm-up once each, then rounds of two steps alternating, the last round shorter
    assert "".join(order) == "ab" + "aabb" + "aabb" + "ab"
    assert all(len(t.step_s) == 5 and t.peak_bytes > 0 for t in out.values())


def test_mopoe_scaling_specs_have_m_modalities_and_all_subsets():
    from runtime.bench.scaling import BASE, with_modalities
    for m in (2, 4):
        model = compile_spec(with_modalities(BASE.read_text(), m), {"dim": "4"})
        assert list(model.modalities) == [f"m{i}" for i in range(m)]
        assert model.name == f"mopoe_polymnist_m{m}"
        products = [n for n in model.graph.nodes.values() if type(n).__name__ == "PoE"]
        assert len(products) == 2 ** m - 1          # one product per non-empty subset, singletons included


def test_against_multivae_names_the_supported_methods():
    from runtime.bench.multivae_side import method_of
    from runtime.errors import RunError
    assert method_of("mopoe_polymnist") == "mopoe" and method_of("crmvae_multivae_mst") == "crmvae_multivae"
    assert method_of("mmvae_mst") == "mmvae" and method_of("mvae_mst") == "mvae"
    with pytest.raises(RunError, match="crmvae_multivae"):
        method_of("crmvae_mst")          # the paper's weights are not MultiVae's
    with pytest.raises(RunError, match="supports"):
        method_of("mmvm_mst")


# ---- the MultiVae side (skipped where multivae is not installed) -----------------------------------

@pytest.mark.parametrize("name", ["crmvae_multivae_mst", "mopoe_polymnist", "jmvae_mst", "mmvae_mst"])
def test_multivae_model_has_the_same_networks_and_parameter_count(name):
    pytest.importorskip("multivae")
    from runtime.bench import multivae_side
    torch.manual_seed(0)
    model = compile_spec(ROOT / "specs" / f"{name}.mms", {"dim": "4"})
    mv = multivae_side.build(model)
    assert multivae_side.network_count(mv) == multivae_side.spec_network_count(model)
    # nothing trained beyond the networks on either side (these specs learn no likelihood scales;
    # MultiVae's MMVAE holds a fixed N(0, I) prior as two parameters that are not trained)
    trainable = lambda module: sum(p.numel() for p in module.parameters() if p.requires_grad)
    assert trainable(mv) == trainable(model.module)
    # the same initial weights: deep copies of the spec's networks
    for m, dec in mv.decoders.items():
        for p, q in zip(dec.net.parameters(), model.module.decoders[m].parameters()):
            assert torch.equal(p, q) and p.data_ptr() != q.data_ptr()


class ZeroNoise:
    def normal(self, key, shape, like):
        return torch.zeros(tuple(shape), dtype=like.dtype, device=like.device)


def test_crmvae_multivae_spec_and_multivae_compute_the_same_loss(monkeypatch):
    """With the sampling noise at zero both sides are deterministic: MultiVae's CRMVAE loss (a sum over
    the batch) divided by the batch size equals the spec's (a mean), on the same weights and batch."""
    pytest.importorskip("multivae")
    import multivae.models.crmvae.crmvae_model as crmvae
    from multivae.models.base.base_utils import rsample_from_gaussian
    from runtime.bench import multivae_side
    torch.manual_seed(0)
    model = compile_spec(ROOT / "specs" / "crmvae_multivae_mst.mms", {"dim": "4"})
    mv = multivae_side.build(model)
    monkeypatch.setattr(crmvae, "rsample_from_gaussian",
                        lambda mu, lv, N=1, return_mean=False, flatten=False: rsample_from_gaussian(mu, lv, N, True, flatten))
    batch = tiny_batch(model.modalities, batch=3, dtype=torch.float32)
    ours = model.loss(batch, ZeroNoise()).loss
    theirs = multivae_side.loss(mv, batch) / 3
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
