"""Checkpoints: safetensors weights, optimizer/scheduler/RNG/loop state, and the spec they belong to.

One checkpoint per run directory (`checkpoint/`), replaced as a whole after every epoch and on
Ctrl-C: the new one is written beside the old and swapped in by renames, so an interruption while
writing never leaves a run without a usable checkpoint. The spec's text and hash travel with it, so
`--resume` can refuse a changed spec and say what changed.
"""
from __future__ import annotations

import difflib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

from ..errors import RunError

FOLDER = "checkpoint"


@dataclass
class Checkpoint:
    folder: Path
    meta: dict            # spec hash, epoch, step, overrides, params, ...
    state: dict           # optimizer, scheduler, rng, loop

    @property
    def spec_text(self) -> str:
        return (self.folder / "spec.mms").read_text()

    def load_weights(self, module: torch.nn.Module, device) -> None:
        missing, unexpected = load_model(module, str(self.folder / "model.safetensors"), strict=False,
                                         device=str(device))
        if missing or unexpected:
            raise RunError(f"the checkpoint in {self.folder} does not fit the compiled model: "
                           f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")


def save(run_dir: Path, module: torch.nn.Module, state: dict, *, spec_text: str, meta: dict) -> Path:
    """Write the checkpoint atomically (by folder renames) and return its folder."""
    run_dir = Path(run_dir)
    final, tmp, old = run_dir / FOLDER, run_dir / f"{FOLDER}.tmp", run_dir / f"{FOLDER}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(module, str(tmp / "model.safetensors"))
    torch.save(state, tmp / "state.pt")
    (tmp / "spec.mms").write_text(spec_text)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def load(run_dir: Path) -> Checkpoint:
    """The run's checkpoint, or a RunError that says there is none."""
    folder = Path(run_dir) / FOLDER
    if not (folder / "meta.json").exists():
        old = Path(run_dir) / f"{FOLDER}.old"
        if (old / "meta.json").exists():          # interrupted between the two renames
            folder = old
        else:
            raise RunError(f"{run_dir} holds no checkpoint ({folder} is missing); nothing to resume or evaluate")
    meta = json.loads((folder / "meta.json").read_text())
    state = torch.load(folder / "state.pt", map_location="cpu", weights_only=False)
    return Checkpoint(folder, meta, state)


def _dict_changes(kind: str, old: dict, new: dict) -> list[str]:
    lines = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            lines.append(f"  {kind} {key}: {old.get(key, '(unset)')} -> {new.get(key, '(unset)')}")
    return lines


def spec_change_message(ckpt: Checkpoint, *, new_text: str, new_hash: str, new_params: dict,
                        new_overrides: dict, spec_name: str) -> str | None:
    """None when the spec is the one the checkpoint was trained with; else what changed."""
    if ckpt.meta.get("spec_hash") == new_hash:
        return None
    lines = [f"refusing to resume: the spec differs from the one this run was trained with "
             f"(hash {ckpt.meta.get('spec_hash', '?')[:12]} -> {new_hash[:12]})."]
    diff = list(difflib.unified_diff(ckpt.spec_text.splitlines(), new_text.splitlines(),
                                     fromfile="checkpoint/spec.mms", tofile=spec_name, lineterm="", n=1))
    if diff:
        lines.append("spec text:")
        lines += [f"  {d}" for d in diff]
    lines += _dict_changes("--set", ckpt.meta.get("overrides", {}), new_overrides)
    lines += _dict_changes("param", ckpt.meta.get("params", {}), new_params)
    lines.append("Resume with the original spec and --set values, or start a new run (another --out).")
    return "\n".join(lines)
