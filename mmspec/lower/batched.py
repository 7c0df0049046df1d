"""Networks with identical architectures run as one batched call (torch.func.vmap).

PolyMNIST's five encoders (and five decoders) are the same network with different weights. Run
one by one they cost five sets of small kernel launches; stacked along a new leading dimension
and evaluated with `vmap(functional_call)` they are one call whose convolutions become grouped
convolutions and whose linear layers become batched matrix products.

The weights are stacked on every call with `torch.stack` of the modules' own parameters, so the
gradients flow back to each module's parameters and the optimizer, checkpoints and parameter
names are exactly those of the plain path. `tests/test_fast_path.py` checks that the batched
path computes what the plain path does, values and gradients.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap


def architecture_key(module: nn.Module) -> tuple:
    """Two modules with equal keys compute the same function of (weights, input)."""
    params = tuple((n, tuple(p.shape), p.dtype) for n, p in module.named_parameters())
    buffers = tuple((n, tuple(b.shape), b.dtype) for n, b in module.named_buffers())
    return repr(module), params, buffers


def identical_groups(modules: dict[str, nn.Module]) -> list[list[str]]:
    """Names of the modules grouped by architecture; only groups of two or more. Modules with
    buffers (BatchNorm's running statistics, updated in place in training) stay single: vmap
    cannot write to one module's buffer from a batched call."""
    groups: dict[tuple, list[str]] = {}
    for name, module in modules.items():
        if next(module.buffers(), None) is not None:
            continue
        groups.setdefault(architecture_key(module), []).append(name)
    return [names for names in groups.values() if len(names) > 1]


class BatchedGroups:
    """The groups of identical networks in one ModuleDict, and their batched evaluation."""

    def __init__(self, modules: nn.ModuleDict):
        self.groups = identical_groups(dict(modules.items()))
        self.group_of = {name: i for i, names in enumerate(self.groups) for name in names}
        # Stateless templates: functional_call swaps the stacked weights in, so the template
        # needs the structure only (kept out of the module tree: no parameters of its own).
        self._templates = [copy.deepcopy(modules[names[0]]).to("meta") for names in self.groups]

    def covers(self, name: str) -> bool:
        return name in self.group_of

    def peers(self, name: str) -> list[str]:
        return self.groups[self.group_of[name]]

    def run(self, modules: nn.ModuleDict, names: Sequence[str], inputs: Sequence[Tensor]):
        """modules[n](x) for each (n, x), as one vmapped call; inputs must have equal shapes."""
        template = self._templates[self.group_of[names[0]]]
        members = [modules[n] for n in names]
        params = _stacked([dict(m.named_parameters()) for m in members])   # no buffers: see identical_groups

        def one(p, x):
            return functional_call(template, p, (x,))

        out = vmap(one)(params, torch.stack(list(inputs)))
        if isinstance(out, tuple):
            return [tuple(o[i] for o in out) for i in range(len(names))]
        return [out[i] for i in range(len(names))]


def _stacked(dicts: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    return {k: torch.stack([d[k] for d in dicts]) for k in dicts[0]}


def run_networks(groups: BatchedGroups | None, modules: nn.ModuleDict, names: Sequence[str],
                 inputs: Sequence[Tensor]) -> list:
    """modules[n](x) for each (n, x): one vmapped call per run of identical networks with inputs
    of equal shape, a plain call for the rest. Outputs in the order given."""
    buckets: dict[tuple, list[int]] = {}
    for i, (name, x) in enumerate(zip(names, inputs)):
        key = ((groups.group_of[name], tuple(x.shape), x.dtype) if groups is not None and groups.covers(name)
               else ("single", i))
        buckets.setdefault(key, []).append(i)
    outs: list = [None] * len(names)
    for run in buckets.values():
        if len(run) == 1:
            outs[run[0]] = modules[names[run[0]]](inputs[run[0]])
            continue
        for i, out in zip(run, groups.run(modules, [names[i] for i in run], [inputs[i] for i in run])):
            outs[i] = out
    return outs


__all__ = ["BatchedGroups", "architecture_key", "run_networks", "identical_groups"]
