"""Tables in the layout of seed 001: rows are methods (runs), columns are grouped by the generated
modality with the given subsets under each group; and the latent-probe table (one column per
subset of input modalities). Used for one run's report.md and for `mmspec report RUN_DIR...`.
"""
from __future__ import annotations

import csv
import io
from typing import Sequence

Table = tuple[list[str], list[str], list[list[str]]]      # (group row, header row, body rows)

MARK = "†"
MARK_NOTE = (f"{MARK} judged by a classifier below its accuracy target (classifier table): not comparable "
             "with the papers' numbers")
SHOWN = "plain accuracy (fraction of test items); class-balanced values are in results.json"


def classifier_accuracy(c: dict) -> float | None:
    """A classifier's test accuracy (older results.json files call it `test_accuracy`)."""
    return c.get("accuracy", c.get("test_accuracy"))


def below_target(res: dict) -> set[str]:
    """Modalities whose coherence classifier misses its accuracy target."""
    return {m for m, c in res.get("classifiers", {}).items() if c.get("meets_target") is False}


def marked(tables_runs: Sequence[dict]) -> bool:
    """Whether any coherence of these runs carries the mark."""
    return any(below_target(r) and r.get("coherence") for r in tables_runs)


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _row_name(res: dict) -> str:
    return res.get("label") or res.get("model", "?")


def _subset_order(label: str, modalities: Sequence[str]) -> tuple:
    parts = label.split("+")
    return (len(parts), [modalities.index(p) if p in modalities else 99 for p in parts])


def coherence_table(runs: Sequence[dict], digits: int = 2, mark: bool = True) -> Table:
    """Cross-coherence per (target, given) plus joint coherence, one row per run; a value judged by a
    classifier below its target carries MARK (the joint one when any classifier is below)."""
    targets: list[str] = []
    givens: dict[str, list[str]] = {}
    for res in runs:
        mods = res.get("modalities", [])
        for t, row in res.get("coherence", {}).get("cross", {}).items():
            if t not in targets:
                targets.append(t)
            for g in sorted(row, key=lambda lab: _subset_order(lab, mods)):
                if g not in givens.setdefault(t, []):
                    givens[t].append(g)
    group = ["method"] + [t for t in targets for _ in givens[t]] + ["joint"]
    header = ["method"] + [g for t in targets for g in givens[t]] + ["random"]
    body = []
    for res in runs:
        coh, low = res.get("coherence", {}), below_target(res) if mark else set()
        cells = [_marked(coh.get("cross", {}).get(t, {}).get(g), digits, t in low) for t in targets for g in givens[t]]
        body.append([_row_name(res)] + cells + [_marked(coh.get("joint"), digits, bool(low))])
    return group, header, body


def _marked(value, digits: int, low: bool) -> str:
    return _fmt(value, digits) + (MARK if low and value is not None else "")


def probe_table(runs: Sequence[dict], digits: int = 2) -> Table:
    """Latent linear-probe accuracy per subset of input modalities, one row per run."""
    subsets: list[str] = []
    for res in runs:
        mods = res.get("modalities", [])
        for s in sorted(res.get("latent_probe", {}).get("accuracy", {}), key=lambda lab: _subset_order(lab, mods)):
            if s not in subsets:
                subsets.append(s)
    header = ["method"] + subsets
    body = [[_row_name(r)] + [_fmt(r.get("latent_probe", {}).get("accuracy", {}).get(s), digits) for s in subsets]
            for r in runs]
    return ["method"] + ["latent probe"] * len(subsets), header, body


def pair_table(runs: Sequence[dict], key: str, digits: int = 2) -> Table:
    """Any {target: {given: value}} result (Levenshtein, Fréchet, FID) in the coherence layout."""
    as_coherence = [dict(r, coherence={"cross": r.get(key, {}) if "skipped" not in r.get(key, {}) else {}})
                    for r in runs]
    group, header, body = coherence_table(as_coherence, digits, mark=False)
    return group[:-1], header[:-1], [row[:-1] for row in body]


def to_markdown(table: Table) -> str:
    """Markdown with the group row folded into the header ('mnist ← svhn+text')."""
    group, header, body = table
    names = [h if g in ("method", "latent probe", h) else f"{g} ← {h}" for g, h in zip(group, header)]
    if header and header[-1] == "random" and group[-1] == "joint":
        names[-1] = "joint (random)"
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def to_csv(table: Table) -> str:
    """CSV with both header rows, so spreadsheet users can merge the group cells themselves."""
    group, header, body = table
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(group)
    writer.writerow(header)
    writer.writerows(body)
    return buf.getvalue()
