"""FID through torch-fidelity, with Inception weights from a local file only.

The machines this project targets may have no internet, so the weights are never downloaded: they
come from `--fid-weights` or the MMSPEC_FID_WEIGHTS environment variable, and without them FID is
skipped and the report says why. Tests register a tiny feature extractor with torch-fidelity's
registry and go through exactly the same code path.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

INCEPTION = "inception-v3-compat"
ENV_WEIGHTS = "MMSPEC_FID_WEIGHTS"


def resolve_weights(path: "str | Path | None") -> tuple[Path | None, str]:
    """The weights file to use, or None and the reason FID will be skipped."""
    chosen = path or os.environ.get(ENV_WEIGHTS)
    if not chosen:
        return None, (f"FID skipped: no Inception-v3 weights file was given (--fid-weights or {ENV_WEIGHTS}); "
                      "torch-fidelity's weights-inception-2015-12-05-6726825d.pth is needed and is never downloaded")
    p = Path(chosen).expanduser()
    if not p.is_file():
        return None, f"FID skipped: the Inception weights file {p} does not exist"
    if problem := weights_problem(p):
        return None, f"FID skipped: {problem}"
    return p, ""


def weights_problem(path: Path) -> str | None:
    """Why `path` is not a usable weights file (missing, a folder, not a torch state dict), or None."""
    if not path.exists():
        return f"{path} does not exist"
    if not path.is_file():
        return f"{path} is not a file"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle/zip raise many types for a file that is not weights
        return f"{path} is not a PyTorch weights file ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})"
    if not isinstance(state, dict) or not state:
        return f"{path} is not a PyTorch state dict of weights (it holds {type(state).__name__} {str(state)[:40]!r})"
    return None


def to_uint8_rgb(images: Tensor) -> Tensor:
    """[N, C, H, W] floats in [0, 1] -> uint8 with three channels (grey images repeated)."""
    x = (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    if x.shape[1] != 3:
        raise ValueError(f"FID needs 1- or 3-channel images, got {x.shape[1]} channels")
    return x


class _Images(Dataset):
    """The tensor dataset torch-fidelity reads (it wants items, uint8, [3, H, W])."""

    def __init__(self, images: Tensor):
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> Tensor:
        return self.images[i]


def fid(generated: Tensor, real: Tensor, *, weights: "str | Path | None" = None,
        feature_extractor: str = INCEPTION, device: "str | torch.device" = "cpu", batch_size: int = 200) -> float:
    """FID between two image sets ([N, C, H, W] in [0, 1], or uint8 RGB)."""
    import torch_fidelity

    gen = generated if generated.dtype == torch.uint8 else to_uint8_rgb(generated)
    ref = real if real.dtype == torch.uint8 else to_uint8_rgb(real)
    kwargs = dict(input1=_Images(gen), input2=_Images(ref), fid=True, feature_extractor=feature_extractor,
                  cuda=torch.device(device).type == "cuda", cache=False, verbose=False,
                  save_cpu_ram=True, batch_size=batch_size)
    if weights is not None:
        kwargs["feature_extractor_weights_path"] = str(weights)
    metrics = torch_fidelity.calculate_metrics(**kwargs)
    return float(metrics[torch_fidelity.KEY_METRIC_FID])


class ImageSink:
    """Keeps up to `limit` generated images (uint8, CPU) per pair, and the real test images per target."""

    def __init__(self, pairs, image_targets, limit: int):
        self.pairs = set(pairs)
        self.targets = set(image_targets)
        self.limit = limit
        self.generated: dict[tuple, list[Tensor]] = {}
        self.real: dict[str, list[Tensor]] = {}
        self._seen_real: set[str] = set()

    def _room(self, store: list[Tensor]) -> int:
        return self.limit - sum(t.shape[0] for t in store)

    def add(self, given, target, generated, batch, labels) -> None:
        if target not in self.targets or (given, target) not in self.pairs:
            return
        store = self.generated.setdefault((given, target), [])
        if (room := self._room(store)) > 0:
            store.append(to_uint8_rgb(generated[:room]))
        if target not in self._seen_real:
            self._seen_real.add(target)
            real = self.real.setdefault(target, [])
            if (room := self._room(real)) > 0:
                real.append(to_uint8_rgb(batch[target][:room]))

    def end_chunk(self) -> None:
        self._seen_real = set()

    def compute(self, weights, device, feature_extractor: str = INCEPTION) -> dict[str, dict[str, float]]:
        """{target: {given label ('prior' for unconditional): FID}}."""
        out: dict[str, dict[str, float]] = {}
        for (given, target), parts in self.generated.items():
            value = fid(torch.cat(parts), torch.cat(self.real[target]), weights=weights,
                        feature_extractor=feature_extractor, device=device)
            out.setdefault(target, {})["+".join(given) or "prior"] = value
        return out
