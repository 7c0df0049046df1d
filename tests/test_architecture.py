"""The compiler's architecture (docs/architecture.md), enforced: the import-linter contracts in
pyproject.toml hold, mmspec/ has no import cycle, and checking and explaining never import torch."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def test_mmspec_has_no_import_cycle():
    graph = grimp.build_graph("mmspec", cache_dir=None, exclude_type_checking_imports=True)
    imports = nx.DiGraph()
    for module in graph.modules:
        imports.add_node(module)
        imports.add_edges_from((module, other) for other in graph.find_modules_directly_imported_by(module))
    assert len(imports) > 40                # the whole package was read
    cycle = next(nx.simple_cycles(imports), None)
    assert cycle is None, "import cycle: " + " -> ".join(cycle + cycle[:1])


CHECK_AND_EXPLAIN = """
import sys
from click.testing import CliRunner
from mmspec.cli import main
runner = CliRunner()
outputs = [runner.invoke(main, ["check", *sys.argv[1:]])]
for spec in sys.argv[1:]:
    outputs += [runner.invoke(main, ["explain", *flag, spec]) for flag in ([], ["--latex"], ["--json"])]
print(json.dumps({"codes": [r.exit_code for r in outputs], "chars": sum(len(r.output) for r in outputs),
                  "heavy": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "runtime", "networkx"))}))
"""


def test_checking_and_explaining_leave_torch_unimported():
    """A fresh interpreter checks and explains shipped specs (one per construct family: mixtures,
    refine, iwae, stages, stratified sampling) through the CLI and never imports torch or runtime."""
    specs = [str(ROOT / "specs" / f"{name}.mms") for name in
             ("crmvae_mst", "miai_mst", "mmvae_dreg_mst", "alignment_mst", "mopoe_polymnist", "smvgon_mst")]
    done = subprocess.run([sys.executable, "-c", "import json" + CHECK_AND_EXPLAIN, *specs],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["codes"] == [0] * (1 + 3 * len(specs))
    assert report["chars"] > 10_000          # the explanations were printed
    assert report["heavy"] == []
