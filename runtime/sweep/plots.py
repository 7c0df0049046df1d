"""An experiment's plots: a metric against a varied param, against another metric (one line per
method, points in the param's order with arrows from small to large values, as seed 004 Figure 2),
or against the number of given modalities (seed 001 / 002 Figure 2). Mean over seeds, spread as a
band or error bars. The plotted series are saved beside each PNG as JSON, so tests and readers can
check the numbers, not the pixels.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mmspec.experiment import format_value  # noqa: E402

from .aggregate import ExperimentData, Row  # noqa: E402


def _row_label(row: Row, skip: str | None = None) -> str:
    extra = ", ".join(f"{k}={format_value(v)}" for k, v in row.varied if k != skip)
    return f"{row.label} ({extra})" if extra else row.label


def _lines(data: ExperimentData, along: str | None) -> list[tuple[str, list[Row]]]:
    """Rows grouped into lines: one per method (and per value of any other varied param)."""
    groups: dict[tuple, list[Row]] = {}
    for row in data.rows:
        key = (row.spec,) + tuple((k, v) for k, v in row.varied if k != along)
        groups.setdefault(key, []).append(row)
    out = []
    for rows in groups.values():
        if along:
            rows = sorted(rows, key=lambda r: dict(r.varied)[along])
        out.append((_row_label(rows[0], along), rows))
    return out


def series(data: ExperimentData, plot) -> list[dict]:
    """The numbers a plot draws, one dict per line."""
    along = plot.x.value if plot.x.kind == "param" else next(iter(data.exp.vary), None)
    out = []
    for label, rows in _lines(data, along):
        line = {"label": label, "x": [], "y": [], "x_std": [], "y_std": [], "seeds": [], "order": [],
                "below_target": False}
        if plot.x.kind == "index":
            for row in rows:
                out += _curves(row, plot.y.value)
            continue
        if plot.x.kind == "size":
            for row in rows:                             # one line per row when x is the subset size
                stats = row.stat_by_size(plot.y.value)
                line = {"label": _row_label(row), "x": list(stats), "y": [s[0] for s in stats.values()],
                        "y_std": [s[1] for s in stats.values()], "x_std": [None] * len(stats),
                        "seeds": [s[2] for s in stats.values()], "order": [], "below_target": row.below_target(plot.y.value)}
                out.append(line)
            continue
        for row in rows:
            y, y_std, n = row.stat(plot.y.value)
            if plot.x.kind == "param":
                x, x_std = dict(row.varied)[plot.x.value], None
            else:
                x, x_std, _ = row.stat(plot.x.value)
            if x is None or y is None:
                continue
            line["x"].append(x)
            line["y"].append(y)
            line["x_std"].append(x_std)
            line["y_std"].append(y_std)
            line["seeds"].append(n)
            line["order"].append(dict(row.varied).get(along) if along else None)
            line["below_target"] |= row.below_target(plot.y.value) or row.below_target(plot.x.value)
        out.append(line)
    return out


def _curves(row: Row, path: str) -> list[dict]:
    """One line per matched list (e.g. per refined posterior), mean ± std over seeds at each index."""
    from mmspec.experiment.results import curves, mean_std
    per_run = [curves(r, path) for r in row.runs]
    out = []
    for key in dict.fromkeys(k for c in per_run for k in c):
        length = max(len(c.get(key, [])) for c in per_run)
        stats = [mean_std([c[key][i] for c in per_run if key in c and i < len(c[key])]) for i in range(length)]
        out.append({"label": f"{_row_label(row)}: {key}", "x": list(range(length)), "y": [s[0] for s in stats],
                    "y_std": [s[1] for s in stats], "x_std": [None] * length, "seeds": [s[2] for s in stats],
                    "order": [], "below_target": False})
    return out


def draw(data: ExperimentData, plot, folder: Path) -> tuple[Path, Path]:
    lines = series(data, plot)
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    along = next(iter(data.exp.vary), None)
    names = _value_names(data.exp, along)
    empty = [line["label"] for line in lines if not line["x"]]
    for i, line in enumerate(lines):
        color = colors[i % len(colors)]
        label = line["label"] + (" †" if line["below_target"] else "")
        if not line["x"]:
            continue
        if plot.x.kind == "metric":
            _trajectory(ax, line, color, label, along, names)
        else:
            ys = line["y"]
            ax.plot(line["x"], ys, "o-", color=color, label=label, ms=4,
                    mfc="none" if line["below_target"] else color)
            lo = [y - (s or 0) for y, s in zip(ys, line["y_std"])]
            hi = [y + (s or 0) for y, s in zip(ys, line["y_std"])]
            ax.fill_between(line["x"], lo, hi, color=color, alpha=0.15, lw=0)
    _axes(ax, plot, data)
    notes = []
    if len(empty) == len(lines):
        ax.text(0.5, 0.5, f"no trial has {plot.y.value}" + (f" and {plot.x.value}" if plot.x.kind == "metric" else "")
                + "\n(e.g. FID without Inception weights, or no finished trial yet)", ha="center", va="center",
                transform=ax.transAxes, fontsize=8, color="0.4")
    elif empty:
        notes.append("no results: " + ", ".join(empty))
    if any(line["below_target"] for line in lines):
        notes.append("† coherence judged by a classifier below its target accuracy")
    if notes:
        fig.text(0.01, 0.01, "; ".join(notes), fontsize=7, color="0.3")
    if len(empty) < len(lines):
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout(rect=(0, 0.03, 1, 1) if notes else None)
    png, js = folder / f"{plot.name}.png", folder / f"{plot.name}.json"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    js.write_text(json.dumps({"plot": plot.name, "title": plot.title, "x": plot.x.value, "y": plot.y.value,
                              "x_kind": plot.x.kind, "series": lines}, indent=2))
    return png, js


def _value_names(exp, along: str | None) -> dict[float, str]:
    """How the experiment wrote each value of the varied param (`2^-8` rather than 0.00390625)."""
    if not along:
        return {}
    return dict(zip(exp.vary[along], exp.vary_text[along]))


def _trajectory(ax, line: dict, color: str, label: str, along: str | None, names: dict) -> None:
    """Points in the varied param's order, error bars for the spread, arrows from small to large."""
    xs, ys = line["x"], line["y"]
    ax.errorbar(xs, ys, xerr=[s or 0 for s in line["x_std"]], yerr=[s or 0 for s in line["y_std"]], fmt="o",
                color=color, ms=4, capsize=2, lw=0.8, label=label, mfc="none" if line["below_target"] else color)
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops={"arrowstyle": "->", "color": color, "lw": 1.0, "shrinkA": 3, "shrinkB": 3})
    if along and line["order"] and len(xs) > 1:
        for idx in (0, len(xs) - 1):
            value = line["order"][idx]
            ax.annotate(f"{along}={names.get(value, f'{value:g}')}", (xs[idx], ys[idx]), fontsize=6, color=color,
                        xytext=(3, 3), textcoords="offset points")


def _axes(ax, plot, data: ExperimentData) -> None:
    ax.set_title(plot.title, fontsize=9)
    default = {"size": "number of given modalities", "index": "step"}.get(plot.x.kind, plot.x.value)
    ax.set_xlabel(plot.x.label or default, fontsize=8)
    ax.set_ylabel(plot.y.label or plot.y.value, fontsize=8)
    if plot.x.kind == "param":
        values = data.exp.vary.get(plot.x.value, [])
        if plot.log_x or (values and min(values) > 0 and max(values) / min(values) >= 16):
            ax.set_xscale("log", base=2)
    elif plot.log_x:
        ax.set_xscale("log")
    if plot.x.kind in ("size", "index"):
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if plot.log_y:
        ax.set_yscale("log")
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
