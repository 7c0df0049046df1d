"""The shipped specs and what their header comments say (for `mmspec list`)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


def specs_dir() -> Path:
    """specs/ beside the package (an editable install or a source checkout)."""
    return Path(__file__).resolve().parent.parent / "specs"


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
