"""Data-parallel training (runtime/train/distributed.py) on the CPU with gloo and two processes.

Oracle: a single-process run of the same spec with the same global batch. Two ranks that each see
half of every batch (and their rows of the batch's reparameterisation noise), with DDP averaging
their gradients, must end on the same parameters up to float summation order — here after an
interruption and a resume, so exact resume under DDP is checked by the same comparison.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from runtime.errors import RunError
from runtime.session import DataOptions, RunOptions, run
from runtime.train.distributed import ShardedNoise, launch

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "specs" / "crmvae_mst.mms"    # PoE joint + unimodal posteriors, three modalities, no BatchNorm
OVERRIDES = {"batch": "16", "lr": "1e-5"}


@pytest.fixture
def spec(tmp_path) -> Path:
    """crmvae_mst trained by SGD: Adam divides by sqrt(v), which turns the float noise of near-zero
    gradient entries into parameter differences of up to ~1% of lr; SGD keeps the comparison tight."""
    text = SHIPPED.read_text()
    assert "optimizer adam(lr=lr)" in text
    path = tmp_path / "crmvae_sgd.mms"
    path.write_text(text.replace("optimizer adam(lr=lr)", "optimizer sgd(lr=lr, momentum=0.9)"))
    return path


def _opts(spec: Path, out: Path, cache: Path, **kw) -> RunOptions:
    return RunOptions(spec=spec, overrides=dict(OVERRIDES), device="cpu", epochs=2, out=out, evaluate=False,
                      progress=False, log_every=1,
                      data=DataOptions(source="standin", standin_size=32, cache_dir=str(cache)), **kw)


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "checkpoint" / "model.safetensors"))


def _gap(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def _log(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "run.json").read_text())["log_steps"]


@pytest.fixture
def single(tmp_path, spec):
    """The oracle: one process, the same global batch of 16, 2 epochs of 2 steps."""
    result = run(_opts(spec, tmp_path / "one", tmp_path / "cache"), log=lambda *_: None)
    assert result.status == "finished" and result.outcome.step == 4
    return tmp_path / "one"


def test_two_gloo_processes_follow_a_single_process_run(tmp_path, spec, single):
    """Steps 1-3 on two ranks (stopped mid-epoch, rank 0 checkpoints), step 4 resumed in one process
    from that checkpoint: the DDP steps and the DDP checkpoint both have to be exact."""
    first = launch(_opts(spec, tmp_path / "ddp", tmp_path / "cache", stop_after_steps=3), 2)
    assert first.status == "interrupted" and first.outcome.step == 3
    rest = run(RunOptions(spec=spec, overrides=dict(OVERRIDES), device="cpu", resume=tmp_path / "ddp",
                          evaluate=False, progress=False, log_every=1), log=lambda *_: None)
    assert rest.status == "finished" and rest.outcome.step == 4
    gap = _gap(_weights(single), _weights(tmp_path / "ddp"))
    print(f"largest parameter gap DDP vs single process: {gap:.3g}")
    assert gap < 1e-6, f"DDP parameters differ from the single-process run by {gap}"

    # the comparison can fail: four SGD steps move the weights far beyond that gap
    torch.manual_seed(0)
    from mmspec import compile_spec
    moved = _gap(_weights(single), compile_spec(spec, dict(OVERRIDES)).module.state_dict())
    print(f"largest parameter change over the run: {moved:.3g}")
    assert moved > 1000 * gap and moved > 1e-3

    # the losses rank 0 logged are the global batch's (averaged over ranks), as in the single run
    one_log, ddp_log = _log(single), _log(tmp_path / "ddp")
    assert [s["step"] for s in ddp_log] == [s["step"] for s in one_log] == [1, 2, 3, 4]
    assert [s["loss"] for s in ddp_log] == pytest.approx([s["loss"] for s in one_log], rel=1e-6)


@pytest.mark.slow
def test_a_ddp_run_resumes_exactly_under_ddp(tmp_path, spec, single):
    first = launch(_opts(spec, tmp_path / "ddp", tmp_path / "cache", stop_after_steps=3), 2)
    assert first.status == "interrupted"
    rest = launch(RunOptions(spec=spec, overrides=dict(OVERRIDES), device="cpu", resume=tmp_path / "ddp",
                             evaluate=False, progress=False, log_every=1), 2)
    assert rest.status == "finished" and rest.outcome.step == 4
    assert _gap(_weights(single), _weights(tmp_path / "ddp")) < 1e-6


class _Ctx:
    def __init__(self, rank, world):
        self.rank, self.world = rank, world


def test_sharded_noise_gives_each_rank_its_rows_of_the_global_draw():
    like = torch.zeros(())
    torch.manual_seed(3)
    full = torch.randn(2, 6, 4)
    parts = []
    for rank in range(3):
        torch.manual_seed(3)
        parts.append(ShardedNoise(_Ctx(rank, 3), 2).normal("q", (2, 2, 4), like))
    assert torch.equal(torch.cat(parts, 1), full)
    torch.manual_seed(3)
    assert ShardedNoise(_Ctx(1, 3), 2).uniform("mix/offset", (1,), like).shape == (1,)


def test_a_batch_that_does_not_split_over_the_processes_is_refused(tmp_path, spec):
    opts = _opts(spec, tmp_path / "odd", tmp_path / "cache")
    opts.overrides = {"batch": "15"}
    with pytest.raises(RunError, match="does not split evenly over 2 processes"):
        launch(opts, 2)                  # refused before any process is spawned
    assert not (tmp_path / "odd" / "checkpoint").exists()


def test_run_cli_takes_nproc_and_refuses_bad_values(tmp_path, spec):
    """`mmspec run --nproc N` reaches the launcher (an uneven split is its located refusal) and a
    count below 1 is a usage error naming the flag."""
    from click.testing import CliRunner
    from mmspec.cli import main
    bad = CliRunner().invoke(main, ["run", str(spec), "--nproc", "0"])
    assert bad.exit_code == 2 and "--nproc" in bad.output and "Traceback" not in bad.output
    odd = CliRunner().invoke(main, ["run", str(spec), "--nproc", "2", "--set", "batch=15", "--standin-size", "32",
                                    "--out", str(tmp_path / "odd"), "--cache-dir", str(tmp_path / "cache")])
    assert odd.exit_code == 1 and "does not split evenly over 2 processes" in odd.output, odd.output
