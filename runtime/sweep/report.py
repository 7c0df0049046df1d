"""`mmspec report EXPERIMENT_DIR`: the experiment's tables (markdown + CSV) and plots (PNG + JSON).

Rows are methods (and each varied param's value, a column of its own), cells mean ± std over
seeds; where the paper gives numbers, a `paper` row and a `Δ` row (ours − paper) follow the
method's rows. The report says which budget made the numbers: `quick` numbers come from shrunk
trials and are not comparable with the paper's.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from mmspec.experiment import format_value

from .aggregate import ExperimentData, Row, load
from .plots import draw

MARK = "†"


def _cell(mean, std, digits: int, mark: bool = False) -> str:
    if mean is None:
        return "–"
    text = f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")
    return text + (f" {MARK}" if mark else "")


def table_rows(data: ExperimentData, table, digits: int) -> tuple[list[str], list[list[str]], list[dict]]:
    """(header, markdown rows, CSV records) of one table."""
    params = list(data.exp.vary)
    header = ["method"] + params + ["seeds"] + [c.title for c in table.columns]
    body, records = [], []
    for spec in data.exp.specs:
        rows = data.rows_of(spec.name)
        for row in rows:
            stats = [row.stat(c.path, table.scale) for c in table.columns]
            marks = [row.below_target(c.path) for c in table.columns]
            body.append([row.label] + [format_value(v) for _, v in row.varied] + [str(len(row.runs))]
                        + [_cell(m, s, digits, mk) for (m, s, _), mk in zip(stats, marks)])
            rec = {"method": row.label, "spec": row.spec, **{k: format_value(v) for k, v in row.varied},
                   "seeds": len(row.runs)}
            paper = table.paper.get(spec.name)
            for i, (col, (m, s, _)) in enumerate(zip(table.columns, stats)):
                rec[f"{col.title} mean"], rec[f"{col.title} std"] = m, s
                rec[f"{col.title} below-target classifier"] = marks[i]
                if paper:
                    p = paper[i].mean
                    rec[f"{col.title} paper"] = p
                    rec[f"{col.title} diff"] = None if p is None or m is None else m - p
            records.append(rec)
        paper = table.paper.get(spec.name)
        if paper:
            pad = [""] * len(params) + [""]
            body.append([f"↳ {spec.label}, paper"] + pad + [_cell(c.mean, c.std, digits) for c in paper])
            for row in rows:
                what = ", ".join(f"{k}={format_value(v)}" for k, v in row.varied)
                stats = [row.stat(c.path, table.scale)[0] for c in table.columns]
                body.append([f"↳ Δ ours − paper" + (f" ({what})" if what else "")] + pad +
                            [f"{m - c.mean:+.{digits}f}" if m is not None and c.mean is not None else "–"
                             for m, c in zip(stats, paper)])
    return header, body, records


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])


def to_csv(records: list[dict]) -> str:
    keys: list[str] = []
    for r in records:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue()


def _budget_line(data: ExperimentData) -> str:
    if data.budget == "paper":
        return "Budget: **paper** — every trial uses its spec's own training settings (and the per-dataset overrides)."
    settings = data.exp.run_settings(data.exp.specs[0], "quick") if data.exp.specs else {}
    return ("Budget: **quick** — trials shrunk to " + ", ".join(f"{k} {v}" for k, v in settings.items()) +
            ". These numbers show that the pipeline runs end to end; they are **not** comparable with the "
            "paper's numbers (run `mmspec sweep --budget paper` for those).")


def _data_line(data: ExperimentData) -> str:
    """What the trials' data banners say, each line once (the seeds' banners differ only in the seed)."""
    lines: dict[str, None] = {}
    for row in data.rows:
        for r in row.runs:
            for line in (r.get("run", {}).get("data_banner") or "").splitlines():
                lines[re.sub(r"seed \d+", "seed …", line.strip())] = None
    if not lines:
        return "Data: no finished trial yet."
    return "Data (from the trials' run directories):\n\n" + "\n".join(f"    {line}" for line in lines)


def _classifier_line(data: ExperimentData) -> str:
    acc: dict[str, list[float]] = {}
    weak = set()
    for row in data.rows:
        for r in row.runs:
            for m, c in (r.get("classifiers") or {}).items():
                a = c.get("accuracy", c.get("test_accuracy"))
                if isinstance(a, (int, float)):
                    acc.setdefault(m, []).append(a)
                if c.get("meets_target") is False:
                    weak.add(m)
    if not acc:
        return ""
    text = "Coherence classifiers (test accuracy, lowest over trials): " + ", ".join(
        f"{m} {min(v):.3f}" + (f" {MARK}" if m in weak else "") for m, v in acc.items())
    if weak:
        text += f". {MARK}: below its target accuracy; coherences it judges are marked {MARK}."
    return text


def _short(error: str) -> str:
    """An error's first line, cut to a table-friendly length (trials.json keeps the whole message)."""
    line = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
    return line if len(line) <= 200 else line[:197] + "..."


def _trials_section(data: ExperimentData) -> str:
    missing = [k for row in data.rows for k in row.missing]
    failed = {k: r for k, r in data.records.items() if r.get("status") in ("failed", "diverged")}
    total = sum(len(r.runs) + len(r.missing) for r in data.rows)
    lines = [f"Trials: {total - len(missing)} of {total} finished."]
    for key in missing:
        rec = data.records.get(key, {})
        lines.append(f"- {key}: {rec.get('status', 'not run')}" + (f" — {_short(rec['error'])}" if rec.get("error") else ""))
    lines += [f"- {k}: earlier {r['status']} — {_short(r.get('error', ''))}" for k, r in failed.items() if k not in missing]
    return "\n".join(lines)


def _accuracy_kind(table) -> str:
    """Which accuracy the table's coherences are: the papers' plain one or MultiVae's class-balanced one."""
    paths = [c.path for c in table.columns if c.path.startswith("coherence.")]
    kinds = sorted({"class-balanced" if p.startswith("coherence.cross_balanced") else "plain" for p in paths})
    return f" Coherence: {' and '.join(kinds)} accuracy of the judges' predictions." if kinds else ""


def experiment_report(folder: Path, digits: int = 3) -> str:
    """Write report.md, one CSV per table, one PNG + JSON per plot into the folder; return the markdown."""
    folder = Path(folder)
    data = load(folder)
    exp = data.exp
    parts = [f"# Experiment {exp.name}", "", _budget_line(data), "", _data_line(data), "",
             _trials_section(data), ""]
    classifier = _classifier_line(data)
    if classifier:
        parts += [classifier, ""]
    for table in exp.tables:
        header, body, records = table_rows(data, table, digits)
        (folder / f"{table.name}.csv").write_text(to_csv(records))
        scale = f" (×{table.scale:g})" if table.scale != 1 else ""
        parts += [f"## {table.title}{scale}", "", "Mean ± sample std over seeds; `paper`: the paper's numbers; "
                  "Δ: our mean − the paper's." + _accuracy_kind(table), "", markdown_table(header, body), "",
                  f"CSV: {table.name}.csv", ""]
    for plot in exp.plots:
        png, js = draw(data, plot, folder)
        parts += [f"## {plot.title}", "", f"![{plot.name}]({png.name})", "", f"Plotted numbers: {js.name}", ""]
    text = "\n".join(parts)
    (folder / "report.md").write_text(text)
    return text


__all__ = ["experiment_report", "table_rows", "Row"]
