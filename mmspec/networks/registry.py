"""The network registry and the builders the compiler calls.

A spec names a network per modality (``net mst_mnist``, ``net mlp(hidden=[512, 512])``); the
compiler checks the modality against ``REGISTRY[name].check(kind, shape, params)`` and builds an
encoder and a decoder. Encoders are a *body* (x -> features [B, F]) plus ``GaussianHeads``, so a
joint encoder (JMVAE, SMVAE) can concatenate several bodies' features under its own heads.
Decoders return raw outputs [N, *shape] for z [N, D]; the likelihood applies the link
(``output_link``) itself.

Every call builds fresh modules (no caching): building twice gives independent parameters.
"""
from __future__ import annotations

import operator
from typing import TYPE_CHECKING

from ..errors import closest
from . import conv, cub, generic, mst, polymnist, resnet
from .base import NetworkInfo, blocks

if TYPE_CHECKING:
    from torch import nn

REGISTRY: dict[str, NetworkInfo] = {
    info.name: info
    for module in (mst, polymnist, resnet, cub, generic, conv)
    for info in module.NETWORKS
}
PLUGIN_GROUP = "mmspec.networks"
PLUGIN_PROBLEMS: list[str] = []        # why a plug-in was not registered (shown by `unknown network`)


def _plugins() -> dict[str, NetworkInfo]:
    """Networks from installed packages: each entry point of the group "mmspec.networks" names a
    `NetworkInfo` (or a list of them), so a spec can say `net NAME` for a user's own network and the
    compiler checks it like a built-in one. A plug-in never replaces a built-in name, and one that
    fails to load is skipped with its reason."""
    from importlib.metadata import entry_points

    found: dict[str, NetworkInfo] = {}
    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            loaded = ep.load()
        except Exception as err:  # noqa: BLE001 - a broken plug-in must not break every spec
            PLUGIN_PROBLEMS.append(f"plug-in {ep.name!r} ({ep.value}) failed to load: {type(err).__name__}: {err}")
            continue
        for info in loaded if isinstance(loaded, (list, tuple)) else [loaded]:
            if not isinstance(info, NetworkInfo):
                PLUGIN_PROBLEMS.append(f"plug-in {ep.name!r} ({ep.value}) is not a NetworkInfo")
            elif info.name in REGISTRY:
                PLUGIN_PROBLEMS.append(f"plug-in {ep.name!r} reuses the built-in name {info.name!r}")
            else:
                found[info.name] = info
    return found


REGISTRY.update(_plugins())


def network_names() -> list[str]:
    """All registered network names, sorted."""
    return sorted(REGISTRY)


def _lookup(name: str) -> NetworkInfo:
    try:
        return REGISTRY[name]
    except KeyError:
        hint = closest(name, network_names(), cutoff=0.5)
        hint = f"; did you mean {hint!r}?" if hint else ""
        notes = "".join(f"; {p}" for p in PLUGIN_PROBLEMS)
        raise ValueError(f"unknown network {name!r} (known: {', '.join(network_names())}){hint}{notes}") \
            from None


def _prepare(name: str, params: dict | None, kind: str, shape, latent_dim: int):
    info = _lookup(name)
    reason = info.check(kind, shape, params)
    if reason:
        raise ValueError(reason)
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim <= 0:
        raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
    return info, info.resolve(params), tuple(operator.index(s) for s in shape)


def build_encoder_body(name: str, params: dict | None, kind: str, shape,
                       latent_dim: int) -> tuple[nn.Module, int]:
    """(module mapping x [B, *shape] -> features [B, F], F); ValueError if ``check`` fails."""
    info, p, shape = _prepare(name, params, kind, shape, latent_dim)
    return info.body(p, kind, shape, latent_dim)


def build_encoder(name: str, params: dict | None, kind: str, shape, latent_dim: int) -> nn.Module:
    """Body + GaussianHeads; forward(x) -> (mu, logvar), each [B, latent_dim]."""
    body, features = build_encoder_body(name, params, kind, shape, latent_dim)
    return blocks.Encoder(body, features, latent_dim)


def build_decoder(name: str, params: dict | None, kind: str, shape, latent_dim: int) -> nn.Module:
    """Module mapping z [N, latent_dim] -> raw output [N, *shape] (before any output link)."""
    info, p, shape = _prepare(name, params, kind, shape, latent_dim)
    return info.decoder(p, kind, shape, latent_dim)


def output_link(name: str) -> str:
    """"sigmoid" or "identity": what the authors' code applies to the decoder output for a
    Laplace/Gaussian mean. Categorical/Bernoulli likelihoods apply their own link to raw logits."""
    return _lookup(name).link


__all__ = ["REGISTRY", "build_decoder", "build_encoder", "build_encoder_body", "network_names",
           "output_link"]
