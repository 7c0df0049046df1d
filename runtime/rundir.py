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


def read(run_dir: Path) -> dict:
    path = Path(run_dir) / "run.json"
    if not path.exists():
        raise RunError(f"{run_dir} is not a run directory (no run.json); `mmspec run` writes one")
    return json.loads(path.read_text())


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
