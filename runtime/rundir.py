"""The run directory: what a run was (spec, params, data, versions, device) and how long it took.

Everything needed to evaluate, resume or compare a run later is in `run.json` beside `spec.mms`;
nothing refers back to the original spec file, which may have changed since.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import torch

from .errors import RunError

PACKAGES = ("mmspec", "torch", "numpy", "scipy", "scikit-learn", "torch-fidelity", "safetensors",
            "lark", "pydantic", "networkx", "matplotlib", "rich", "click", "tensorboard")


def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def device_info(device: torch.device) -> dict:
    info = {"type": device.type, "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "platform": platform.platform(), "processor": platform.processor() or platform.machine()}
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        info.update(name=torch.cuda.get_device_name(index), cuda=torch.version.cuda,
                    memory_gb=round(torch.cuda.get_device_properties(index).total_memory / 2**30, 1))
    else:
        info["name"] = f"CPU ({info['processor']}, {torch.get_num_threads()} threads)"
    return info


def default_run_dir(model_name: str, root: Path = Path("runs")) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = root / f"{model_name}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = root / f"{model_name}-{stamp}-{n}"
    return path


# the fields of run.json that are read back, and the JSON type each must have
FIELDS = {"seed": int, "overrides": dict, "params": dict, "data": dict, "train": dict, "device": dict,
          "history": list, "log_steps": list, "stages": list}


def read(run_dir: Path) -> dict:
    """run.json, or a RunError that names the damage and what can still be done."""
    path = Path(run_dir) / "run.json"
    if not path.exists():
        raise RunError(f"{run_dir} is not a run directory (no run.json); `mmspec run` writes one")
    try:
        info = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunError(_damaged(path, f"it is not valid JSON ({type(exc).__name__}: {exc})")) from None
    if not isinstance(info, dict):
        raise RunError(_damaged(path, f"it holds a JSON {type(info).__name__}, not an object"))
    for key, kind in FIELDS.items():
        value = info.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise RunError(_damaged(path, f"its field {key!r} is a {type(value).__name__}, not a "
                                          f"{'JSON object' if kind is dict else kind.__name__}"))
    return info


def _damaged(path: Path, why: str) -> str:
    return (f"{path} is damaged: {why}. It records the run's seed, --set values and data settings, which "
            f"resuming and evaluating need. The weights in {path.parent / 'checkpoint'} are untouched: restore "
            "run.json from a backup, or start a new run (another --out).")


class RunLock:
    """An exclusive lock on a run directory for the life of one `mmspec run` (released when the process
    ends, however it ends, so a lock left by a dead process is recognised as stale)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self.file = None
        self.made_folder = False


    def acquire(self) -> "RunLock":
        import fcntl
        self.made_folder = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise RunError(f"{self.path.parent} is in use by another mmspec run (pid {holder}); wait for it to "
                           "finish, or choose another --out") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self.file = f
        return self

    def release(self) -> None:
        """Drop the lock; a folder this run made and left otherwise empty (it failed before writing
        anything) is removed with its lock, so a failed start leaves nothing behind."""
        if self.file is None:
            return
        if self.made_folder and [p.name for p in self.path.parent.iterdir()] == [self.path.name]:
            self.path.unlink(missing_ok=True)
            self.path.parent.rmdir()
        self.file.close()               # closing drops the flock
        self.file = None


def remove_if_unused(run_dir: Path) -> None:
    """Remove a run folder that holds nothing but its released lock file."""
    try:
        if [p.name for p in Path(run_dir).iterdir()] == [".lock"]:
            (Path(run_dir) / ".lock").unlink()
            Path(run_dir).rmdir()
    except OSError:
        pass


def write(run_dir: Path, info: dict) -> None:
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    tmp = Path(run_dir) / "run.json.tmp"
    tmp.write_text(json.dumps(info, indent=2, default=str))
    tmp.replace(Path(run_dir) / "run.json")


def update(run_dir: Path, **fields) -> dict:
    info = read(run_dir)
    info.update(fields)
    write(run_dir, info)
    return info
