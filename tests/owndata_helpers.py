"""Helpers for the own-data tests: a small spec around a `data { ... }` block, and the CLI.

The data each test writes is its own oracle: loaded batches are compared with the arrays the test
wrote (images / 255, vectors as written, labels as the sorted distinct values), never with what
the loader itself computed.
"""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mmspec.cli import main

FAST = ["--device", "cpu", "--epochs", "1", "--eval-samples", "16", "--probe-samples", "32",
        "--iw-samples", "2", "--classifier-steps", "5", "--log-every", "1"]


def own_spec(path: Path, block: str, modalities: str, evaluate: str = "latent_probe, elbo",
             batch: int = 8) -> Path:
    """A PoE VAE over the modalities, reading the data block; written to `path`."""
    path.write_text(f"""model own
data mine {{
{block}
}}

latent z: 4
prior p = normal()

{modalities}

posterior q[m] = encoder(m)
posterior j = poe(p, q[*])
maximize rec(j -> *) - kl(j || p)
infer S = poe(p, q[S])

train epochs 1, batch {batch}, optimizer adam(lr=1e-3)
evaluate {evaluate}
""")
    return path


def cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def check_ok(spec: Path) -> None:
    result = cli("check", spec)
    assert result.exit_code == 0, result.output


def run_and_eval(spec: Path, out: Path, cache: Path, *extra: str) -> dict:
    """`mmspec run` (a few steps), then `mmspec eval` on the run; returns run.json."""
    result = cli("run", spec, "--out", out, "--cache-dir", cache, *FAST, *extra)
    assert result.exit_code == 0, result.output + repr(result.exception)
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"] == "mine" and (out / "report.md").exists()
    again = cli("eval", out, "--cache-dir", cache, "--device", "cpu", "--metrics", "latent_probe",
                "--probe-samples", "32")
    assert again.exit_code == 0, again.output + repr(again.exception)
    return json.loads((out / "run.json").read_text())


def check_error(spec: Path, *fragments: str, line: int | None = None) -> str:
    """`mmspec check` fails with a located message containing every fragment."""
    result = cli("check", spec)
    assert result.exit_code == 1, result.output
    text = result.output
    assert "Traceback" not in text
    for fragment in fragments:
        assert fragment in text, text
    if line is not None:
        assert f"{spec.name}:{line}:" in text, text
    return text
