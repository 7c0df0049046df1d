"""The shipped specs and what their header comments say (for `mmspec list`)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..check import check_file
from .render import Explanation, render_text


def specs_dir() -> Path:
    """specs/ beside the package (an editable install or a source checkout)."""
    return Path(__file__).resolve().parents[2] / "specs"


@dataclass
class SpecEntry:
    path: Path
    method: str
    dataset: str
    paper: str


def header_field(text: str, name: str) -> str:
    m = re.search(rf"^#\s*{name}:\s*(.+)$", text, flags=re.MULTILINE | re.IGNORECASE)
    return m.group(1).strip() if m else ""


def shipped_specs(directory: Path | None = None) -> list[SpecEntry]:
    out = []
    for path in sorted((directory or specs_dir()).glob("*.mms")):
        text = path.read_text()
        method, _, dataset = path.stem.rpartition("_")
        out.append(SpecEntry(path, method or path.stem, dataset, header_field(text, "paper")))
    return out


def render_methods_doc(directory: Path | None = None) -> str:
    """docs/methods.md, made from the shipped specs and `explain` (a test keeps the file in sync)."""
    entries = shipped_specs(directory)
    out = ["# Methods", "",
           "Every method of the catalogue is a spec in `specs/`; nothing below is method-specific Python.",
           "For each: the paper, what the spec reproduces, where it follows the authors' code, the spec",
           "itself, and the objective exactly as `mmspec explain` derives it (the numbers the loss uses).",
           "This file is generated from the specs (`mmspec list --methods-doc > docs/methods.md`);",
           "a test fails when it is out of date.", "",
           "| spec | method | data | paper |", "|---|---|---|---|"]
    out += [f"| [{e.path.stem}](#{e.path.stem}) | {e.method} | {e.dataset} | {e.paper} |" for e in entries]
    for e in entries:
        text = e.path.read_text()
        explained = render_text(Explanation.of(check_file(e.path), with_m=False))
        first = re.search(r"^Objective( \S+)?, expanded", explained, flags=re.MULTILINE).start()   # named with stages
        objective = explained[first:explained.index("Cost per training step")]
        out += ["", f"## {e.path.stem}", "", f"- paper: {e.paper}",
                f"- reproduces: {header_field(text, 'reproduces')}",
                f"- setting: {header_field(text, 'setting')}"]
        out += [f"- note: {n}" for n in re.findall(r"^#\s*note:\s*(.+)$", text, flags=re.MULTILINE)]
        body = "\n".join(l for l in text.splitlines() if not l.startswith("#")).strip()
        out += ["", "```", body, "```", "", "```", objective.strip(), "```"]
    return "\n".join(out) + "\n"
