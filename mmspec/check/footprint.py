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


def check_footprint(checker) -> None:
    """Record a located error when the spec's networks would need more than MAX_TRAINING_BYTES."""
    graph = checker.graph
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
