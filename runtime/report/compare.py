"""`mmspec report RUN_DIR...`: several evaluated runs side by side, as markdown and CSV."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import RunError
from .tables import coherence_table, pair_table, probe_table, to_csv, to_markdown


def load_results(run_dir: Path) -> dict:
    path = Path(run_dir) / "results.json"
    if not path.exists():
        raise RunError(f"{run_dir} has no results.json; evaluate it first with `mmspec eval {run_dir}`")
    res = json.loads(path.read_text())
    res.setdefault("label", res.get("model", Path(run_dir).name))
    return res


def _labels(runs: list[dict], dirs: list[Path]) -> None:
    """Rows are methods; two runs of one model are told apart by their directory names."""
    names = [r["label"] for r in runs]
    for r, d in zip(runs, dirs):
        if names.count(r["label"]) > 1:
            r["label"] = f"{r['label']} ({Path(d).name})"


def compare(run_dirs: list[Path], *, out: Path | None = None, digits: int = 2) -> str:
    runs = [load_results(d) for d in run_dirs]
    _labels(runs, run_dirs)
    tables = {"coherence": coherence_table(runs, digits), "probe": probe_table(runs, digits)}
    if any(r.get("levenshtein") for r in runs):
        tables["levenshtein"] = pair_table(runs, "levenshtein", digits)
    titles = {"coherence": "Cross-coherence (columns: generated ← given) and joint coherence",
              "probe": "Latent linear probe accuracy (rows: methods; columns: input modalities)",
              "levenshtein": "Text Levenshtein distance (lower is better)"}
    parts = []
    for name, table in tables.items():
        parts.append(f"## {titles[name]}\n\n{to_markdown(table)}\n")
    classifier_lines = [f"- {r['label']}: " + ", ".join(f"{m} {c['test_accuracy']:.3f}" for m, c in
                                                         r.get("classifiers", {}).items()) for r in runs]
    parts.append("Classifier test accuracy per run:\n\n" + "\n".join(classifier_lines) + "\n")
    text = "\n".join(parts)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.md").write_text(text)
        for name, table in tables.items():
            (out / f"{name}.csv").write_text(to_csv(table))
    return text
