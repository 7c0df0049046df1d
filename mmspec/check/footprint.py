"""Sizes that cannot fit in memory, refused by `check` with how much memory the model would need.

`latent z: 1e9` or `mlp(hidden=[1e9])` check as numbers, but the networks would not fit on any
machine and `run` would fail while building them, or hours later. The networks are built once
on PyTorch's `meta` device (shapes only, no memory) to count their parameters exactly; training
keeps four float32 copies of each (the weight, its gradient, Adam's two moments).
"""
from __future__ import annotations

from ..errors import Span

BYTES_PER_PARAMETER = 16            # float32 weight + gradient + two Adam moments
MAX_TRAINING_BYTES = 256 * 2**30    # more than the memory of any single accelerator today
SMALL_SIZE, FEW_SIZES = 2**14, 64   # below both, the networks cannot reach MAX_TRAINING_BYTES (see `could_be_huge`)


def could_be_huge(graph) -> bool:
    """Whether the spec's sizes could make networks too large to train. With every size (latent,
    modality, network option, hidden width) at most 2^14 and at most 64 of them, a network would
    need 64 weight matrices of 2^14 x 2^14 to reach MAX_TRAINING_BYTES; such specs are not built,
    so `mmspec check` answers without importing torch."""
    sizes = [latent.dim for latent in graph.latents.values()]
    sizes += [m.dim for m in graph.modalities.values()]
    sizes += [v for m in graph.modalities.values() for v in _numbers(m.net.as_dict())]
    sizes += [h for net in graph.networks.values() for h in net.hidden]
    return len(sizes) > FEW_SIZES or any(s > SMALL_SIZE for s in sizes)


def _numbers(value) -> list[float]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _numbers(v)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def check_footprint(checker) -> None:
    """Record a located error when the spec's networks would need more than MAX_TRAINING_BYTES."""
    graph = checker.graph
    if not could_be_huge(graph):
        return
    try:
        sizes = parameter_counts(graph)
    except (RuntimeError, ValueError, TypeError, OverflowError, MemoryError) as err:   # torch's size arithmetic
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        checker.sink.error(f"the networks of this spec cannot be built: {reason}", Span(1, 1, 1, 1),
                           hint="reduce the latent size or the network sizes")
        return
    need = sum(sizes.values()) * BYTES_PER_PARAMETER
    if need <= MAX_TRAINING_BYTES:
        return
    largest = max(sizes, key=sizes.get)
    modality = next((m for m in graph.modalities if largest.endswith(f".{m}") or f"[{m}]" in largest), None)
    span = graph.modalities[modality].span if modality else Span(1, 1, 1, 1)
    checker.sink.error(
        f"the networks would have {sum(sizes.values()):,} parameters: training them needs {_bytes(need)} "
        f"(weights, gradients and Adam's moments in float32), more than the {_bytes(MAX_TRAINING_BYTES)} "
        f"mmspec accepts; the largest is {largest} ({sizes[largest]:,} parameters)", span,
        hint="reduce the latent size or the network sizes")


def parameter_counts(graph) -> dict[str, int]:
    """Parameters of each network of the spec, by name (encoders.q[a], decoders.a, ...)."""
    import torch

    from ..lower.modules import SpecModule
    with torch.device("meta"):
        module = SpecModule(graph)
    counts: dict[str, int] = {}
    for name, parameter in module.named_parameters():
        owner = ".".join(name.split(".")[:2])
        counts[owner] = counts.get(owner, 0) + parameter.numel()
    return counts


def _bytes(n: int) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,} bytes"
