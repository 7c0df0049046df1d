"""README's two commands are the product's front door: the test command must be the one CI runs,
and the main job's command line must parse and apply to the shipped spec."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    blocks = re.findall(r"```\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)
    return [b.strip() for b in blocks if "pip install -e" in b]


def test_readme_test_command_is_what_ci_runs():
    test_cmd = next(c for c in _commands() if "pytest" in c)
    ci_lines = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()
                if l.strip() and not l.startswith("#")]
    assert test_cmd.split("&&")[-1].strip() == ci_lines[-1]


def test_readme_main_job_parses_and_its_overrides_reach_the_spec(monkeypatch):
    from runtime.cli import run
    from runtime.session import compile_model
    main = next(c for c in _commands() if "mmspec run" in c)
    args = shlex.split(main.split("&&")[-1])
    assert args[:2] == ["mmspec", "run"]
    monkeypatch.chdir(ROOT)
    ctx = run.make_context("run", args[2:])          # parses and validates every option, runs nothing
    p = ctx.params
    assert p["spec"] == Path("specs/crmvae_mst.mms") and p["epochs"] >= 1
    overrides = dict(s.split("=", 1) for s in p["sets"])
    model = compile_model(p["spec"], overrides, "cpu", 0)
    assert model.train.batch == int(overrides["batch"])
    assert model.train.optimizer.params["lr"] == float(overrides["lr"])
