"""Checkpoints: safetensors weights, optimizer/scheduler/RNG/loop state, and the spec they belong to.

One checkpoint per run directory (`checkpoint/`), replaced as a whole after every epoch and on
Ctrl-C. A checkpoint counts only when it is complete and verified: `meta.json` is written last and
records the sha256 of every other file, so a folder left half-written, half-deleted or with flipped
bytes is recognised and ignored. The protocol survives any sequence of crashes:

    recover   keep the newest verified folder as `checkpoint/` (preferring checkpoint/, then
              checkpoint.tmp/, then checkpoint.old/) and delete the others, which are then redundant
    write     the new checkpoint into checkpoint.tmp/ (each file fsynced, meta.json last)
    swap      checkpoint/ -> checkpoint.old/, checkpoint.tmp/ -> checkpoint/, delete checkpoint.old/

At every moment a verified checkpoint exists among the three folders once one has been written,
and `load` picks the same one `recover` would keep. The spec's text and hash travel with the
checkpoint, so `--resume` can refuse a changed spec and say what changed.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_model, save_model

from ..errors import RunError

FOLDER = "checkpoint"
TMP, OLD = f"{FOLDER}.tmp", f"{FOLDER}.old"
PREFERENCE = (FOLDER, TMP, OLD)          # a complete tmp is newer than old (it was being swapped in)
WEIGHTS, STATE, SPEC, META = "model.safetensors", "state.pt", "spec.mms", "meta.json"


class NotFinite(RunError):
    """The weights about to be checkpointed hold NaN or infinity; such a checkpoint is never written."""


@dataclass
class Checkpoint:
    folder: Path
    meta: dict            # spec hash, epoch, step, overrides, params, sha256 of the files, ...
    note: str = ""        # set when a damaged newer folder was passed over for this one

    @property
    def spec_text(self) -> str:
        return (self.folder / SPEC).read_bytes().decode("utf-8", errors="replace")

    @cached_property
    def state(self) -> dict:
        """Optimizer, scheduler, RNG and loop state (only resuming needs it)."""
        try:
            return torch.load(self.folder / STATE, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001 - pickle/zip raise many types for a damaged file
            raise RunError(_damaged(self.folder, {STATE: _reason(exc)})) from None

    def load_weights(self, module: torch.nn.Module, device) -> None:
        try:
            missing, unexpected = load_model(module, str(self.folder / WEIGHTS), strict=False, device=str(device))
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type and OSError
            raise RunError(_damaged(self.folder, {WEIGHTS: _reason(exc)})) from None
        if missing or unexpected:
            raise RunError(f"the checkpoint in {self.folder} does not fit the compiled model: "
                           f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")


# ----------------------------------------------------------------- file operations (crash tests patch these)
def _write(path: Path, writer: Callable[[Path], None]) -> None:
    """Write one file and force it to disk."""
    writer(path)
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _rename(src: Path, dst: Path) -> None:
    os.replace(src, dst)
    _sync_dir(dst.parent)


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------- verification
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _read_meta(folder: Path) -> tuple[dict | None, str]:
    path = folder / META
    if not path.is_file():
        return None, "missing"
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"not valid JSON ({_reason(exc)})"
    if not isinstance(meta, dict):
        return None, f"holds a JSON {type(meta).__name__}, not an object"
    for key, kind in (("spec_hash", str), ("step", int), ("epoch", int)):
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            return None, f"has no valid {key!r}"
    if not isinstance(meta.get("files", {}), dict):
        return None, "has no valid 'files' record"
    return meta, ""


def problems(folder: Path, *, need_state: bool = True) -> tuple[dict | None, dict[str, str]]:
    """The folder's meta and {file: what is wrong}; no problems means complete and verified."""
    meta, why = _read_meta(folder)
    if meta is None:
        return None, {META: why}
    sums = meta.get("files", {})
    found = {}
    for name in (WEIGHTS, SPEC) + ((STATE,) if need_state else ()):
        path = folder / name
        if not path.is_file():
            found[name] = "missing"
        elif path.stat().st_size == 0:
            found[name] = "empty"
        elif name in sums and _sha256(path) != sums[name]:
            found[name] = "checksum mismatch (the file was truncated, changed or corrupted after it was written)"
    return meta, found


def _damaged(folder: Path, found: dict[str, str]) -> str:
    """Which files of a checkpoint are damaged, and what can still be done with the run."""
    run_dir = folder.parent
    lines = [f"the checkpoint in {folder} is damaged:"] + [f"  {name}: {why}" for name, why in found.items()]
    if set(found) == {STATE}:
        lines.append(f"The weights ({WEIGHTS}) are intact: `mmspec eval {run_dir}` still evaluates them, but "
                     "training cannot continue from this checkpoint (its optimizer state is lost); start a new "
                     "run (another --out) to train further.")
    elif META in found:
        lines.append(f"Without {META} (the step reached and the files' checksums) the checkpoint cannot be "
                     "verified, evaluated or resumed; restore the folder from a backup or start a new run.")
    elif WEIGHTS in found:
        lines.append("The trained weights are lost: nothing can be evaluated or resumed from this checkpoint; "
                     "restore the file from a backup or start a new run (another --out).")
    else:
        lines.append("Restore the file from a backup or start a new run (another --out).")
    return "\n".join(lines)


def _label(meta: dict) -> str:
    return f"epoch {meta.get('epoch')}, step {meta.get('step')}"


def _complete(run_dir: Path, need_state: bool) -> tuple[Path | None, dict | None, dict[Path, dict]]:
    """The preferred verified folder, its meta, and the problems of the folders passed over."""
    passed = {}
    for name in PREFERENCE:
        folder = run_dir / name
        if not folder.exists():
            continue
        meta, found = problems(folder, need_state=need_state)
        if not found:
            return folder, meta, passed
        passed[folder] = found
    return None, None, passed


def load(run_dir: Path, *, need_state: bool = True) -> Checkpoint:
    """The run's verified checkpoint, or a RunError that says why there is none and what can be done.

    `need_state=False` (evaluation) accepts a checkpoint whose optimizer state is damaged."""
    run_dir = Path(run_dir)
    folder, meta, passed = _complete(run_dir, need_state)
    if folder is None:
        if not passed:
            raise RunError(f"{run_dir} holds no checkpoint ({run_dir / FOLDER} is missing); "
                           "nothing to resume or evaluate")
        first, found = next(iter(passed.items()))
        raise RunError(_damaged(first, found))
    note = ""
    if run_dir / FOLDER in passed:
        found = passed[run_dir / FOLDER]
        note = (f"note: {run_dir / FOLDER} is incomplete or damaged ("
                + "; ".join(f"{n}: {w}" for n, w in found.items())
                + f"); using the complete checkpoint in {folder} ({_label(meta)})")
    return Checkpoint(folder, meta, note)


def recover(run_dir: Path) -> Path | None:
    """Keep the verified checkpoint `load` would pick as `checkpoint/`; delete the redundant folders."""
    run_dir = Path(run_dir)
    folder, _, _ = _complete(run_dir, need_state=True)
    final = run_dir / FOLDER
    if folder is None:
        _remove(run_dir / TMP)
        return None
    if folder != final:
        if final.exists():
            _remove(final)                   # incomplete: the verified copy replaces it
        _rename(folder, final)
    for name in (TMP, OLD):
        if (run_dir / name).exists():
            _remove(run_dir / name)
    return final


def check_finite(module: torch.nn.Module) -> None:
    """Raise `NotFinite` when any floating-point weight holds NaN or infinity.

    One float64 sum per tensor (NaN and infinity propagate through a sum; float64 cannot overflow
    from finite float32/bf16 weights) and one transfer for all of them."""
    named = [(n, t) for n, t in module.state_dict().items() if torch.is_floating_point(t)]
    if not named:
        return
    with torch.no_grad():
        sums = torch.stack([t.sum(dtype=torch.float64) for _, t in named])
        bad = (~torch.isfinite(sums)).nonzero().flatten().tolist()
    if bad:
        raise NotFinite(f"{len(bad)} of {len(named)} weight tensors hold NaN or infinity "
                        f"(first: {', '.join(named[i][0] for i in bad[:3])})")


def save(run_dir: Path, module: torch.nn.Module, state: dict, *, spec_text: str, meta: dict) -> Path:
    """Write a verified checkpoint by the crash-safe protocol above and return its folder.

    Non-finite weights raise `NotFinite` and write nothing; a full disk (or any other OSError) raises a
    RunError that says the previous checkpoint is intact."""
    run_dir = Path(run_dir)
    check_finite(module)
    final, tmp, old = run_dir / FOLDER, run_dir / TMP, run_dir / OLD
    try:
        recover(run_dir)
        _remove(tmp)
        tmp.mkdir(parents=True)
        _write(tmp / WEIGHTS, lambda p: save_model(module, str(p)))
        _write(tmp / STATE, lambda p: torch.save(state, p))
        _write(tmp / SPEC, lambda p: p.write_bytes(spec_text.encode("utf-8")))
        files = {name: _sha256(tmp / name) for name in (WEIGHTS, STATE, SPEC)}
        text = json.dumps(dict(meta, files=files), indent=2, sort_keys=True)
        _write(tmp / META, lambda p: p.write_text(text))
        _sync_dir(tmp)
    except OSError as exc:
        _remove(tmp)
        folder, kept, _ = _complete(run_dir, need_state=True)
        previous = (f"the last complete checkpoint ({_label(kept)}) is intact in {folder}" if folder is not None
                    else "no checkpoint had been written before")
        raise RunError(f"could not write the checkpoint in {tmp}: {exc.strerror or _reason(exc)}; {previous}. "
                       f"Free some space (or fix the folder's permissions) and continue with "
                       f"--resume {run_dir}") from None
    if final.exists():
        _rename(final, old)
    _rename(tmp, final)
    _remove(old)
    return final


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
             f"(hash {str(ckpt.meta.get('spec_hash', '?'))[:12]} -> {new_hash[:12]})."]
    diff = list(difflib.unified_diff(ckpt.spec_text.splitlines(), new_text.splitlines(),
                                     fromfile="checkpoint/spec.mms", tofile=spec_name, lineterm="", n=1))
    if diff:
        lines.append("spec text:")
        lines += [f"  {d}" for d in diff]
    lines += _dict_changes("--set", ckpt.meta.get("overrides", {}), new_overrides)
    lines += _dict_changes("param", ckpt.meta.get("params", {}), new_params)
    lines.append("Resume with the original spec and --set values, or start a new run (another --out).")
    return "\n".join(lines)
