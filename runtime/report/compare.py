"""`mmspec report RUN_DIR...`: several evaluated runs side by side, as markdown and CSV.

Runs on different datasets are never merged into one table: each dataset gets its own tables (and
its own CSV files), since their columns mean different things.
"""
from __future__ import annotations

import json
import numbers
from pathlib import Path

from ..errors import RunError
from .tables import (MARK, MARK_NOTE, SHOWN, below_target, classifier_accuracy, coherence_table, marked, pair_table,
                     probe_table, to_csv, to_markdown)

TITLES = {"coherence": f"Cross-coherence (columns: generated ← given) and joint coherence; {SHOWN}",
          "probe": "Latent linear probe accuracy (rows: methods; columns: input modalities)",
          "levenshtein": "Text Levenshtein distance (lower is better)"}


def _is_number(value) -> bool:
    return value is None or (isinstance(value, numbers.Real) and not isinstance(value, bool))


def _table_of_numbers(value, depth: int) -> bool:
    """{name: number} (depth 1) or {name: {name: number}} (depth 2)."""
    if not isinstance(value, dict):
        return False
    return all(_is_number(v) if depth == 1 else _table_of_numbers(v, depth - 1) for v in value.values())


def structure_problem(res) -> str | None:
    """What is wrong with the shape of a results.json, or None (only the parts a report reads)."""
    if not isinstance(res, dict):
        return f"it holds a JSON {type(res).__name__}, not an object"
    checks = {"modalities": isinstance(res.get("modalities", []), list)
              and all(isinstance(m, str) for m in res.get("modalities", [])),
              "coherence": isinstance(res.get("coherence", {}), dict)
              and _table_of_numbers(res.get("coherence", {}).get("cross", {}), 2)
              and _is_number(res.get("coherence", {}).get("joint")),
              "latent_probe": isinstance(res.get("latent_probe", {}), dict)
              and _table_of_numbers(res.get("latent_probe", {}).get("accuracy", {}), 1),
              "classifiers": isinstance(res.get("classifiers", {}), dict)
              and all(isinstance(c, dict) and _is_number(classifier_accuracy(c))
                      for c in res.get("classifiers", {}).values()),
              "levenshtein": _table_of_numbers(res.get("levenshtein", {}), 2),
              "dataset": isinstance(res.get("dataset", ""), str)}
    wrong = [key for key, ok in checks.items() if not ok]
    return f"its {', '.join(wrong)} entr{'y has' if len(wrong) == 1 else 'ies have'} the wrong structure" \
        if wrong else None


def load_results(run_dir: Path) -> dict:
    path = Path(run_dir) / "results.json"
    if not path.exists():
        raise RunError(f"{run_dir} has no results.json; evaluate it first with `mmspec eval {run_dir}`")
    try:
        res = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        problem = f"it is not valid JSON ({type(exc).__name__}: {exc})"
    else:
        problem = structure_problem(res)
    if problem:
        raise RunError(f"{path} is damaged: {problem}. Write it again with `mmspec eval {run_dir}` "
                       "(the weights in the checkpoint are not affected).")
    res.setdefault("label", res.get("model", Path(run_dir).name))
    return res


def _labels(runs: list[dict], dirs: list[Path]) -> None:
    """Rows are methods; two runs of one model are told apart by their directory names."""
    names = [r["label"] for r in runs]
    for r, d in zip(runs, dirs):
        if names.count(r["label"]) > 1:
            r["label"] = f"{r['label']} ({Path(d).name})"


def _dataset(res: dict) -> str:
    return res.get("dataset") or "+".join(res.get("modalities", [])) or "unknown"


def _tables(runs: list[dict], digits: int) -> dict:
    tables = {"coherence": coherence_table(runs, digits), "probe": probe_table(runs, digits)}
    if any(r.get("levenshtein") for r in runs):
        tables["levenshtein"] = pair_table(runs, "levenshtein", digits)
    return tables


def _section(runs: list[dict], tables: dict, level: str) -> str:
    parts = [f"{level} {TITLES[name]}\n\n{to_markdown(table)}\n" for name, table in tables.items()]
    if marked(runs):
        parts.append(MARK_NOTE + "\n")
    classifier_lines = [f"- {r['label']}: " + ", ".join(
        f"{m} {classifier_accuracy(c):.3f}{MARK if m in below_target(r) else ''}"
        for m, c in r.get("classifiers", {}).items()) for r in runs]
    parts.append("Classifier test accuracy per run:\n\n" + "\n".join(classifier_lines) + "\n")
    return "\n".join(parts)


def compare(run_dirs: list[Path], *, out: Path | None = None, digits: int = 2) -> str:
    runs = [load_results(d) for d in run_dirs]
    _labels(runs, run_dirs)
    groups: dict[str, list[dict]] = {}
    for r in runs:
        groups.setdefault(_dataset(r), []).append(r)
    files, parts = {}, []
    for name, members in groups.items():
        tables = _tables(members, digits)
        suffix = f"-{name}" if len(groups) > 1 else ""
        files.update({f"{table}{suffix}.csv": to_csv(t) for table, t in tables.items()})
        if len(groups) > 1:
            parts.append(f"# Dataset {name} ({len(members)} run{'s' if len(members) > 1 else ''})\n\n"
                         + _section(members, tables, "##"))
        else:
            parts.append(_section(members, tables, "##"))
    if len(groups) > 1:
        parts.insert(0, f"The runs are on {len(groups)} different datasets ({', '.join(groups)}); "
                        "each gets its own tables.\n")
    text = "\n".join(parts)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.md").write_text(text)
        for name, content in files.items():
            (out / name).write_text(content)
    return text
