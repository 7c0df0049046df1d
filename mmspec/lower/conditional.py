"""Conditional decoders in the lowering: a decoder's input is its latents, then each piece of given
(conditioning) data flattened, in the order the spec writes them (mmspec/check/conditional.py) — as
MultiVae's ConditionalDecoderMLP concatenates [z, x_c.view(B, -1), ...]."""
from __future__ import annotations

import math

import torch
from torch import Tensor


class MissingGiven(ValueError):
    """A conditional decoder was asked to decode without its conditioning data."""


def with_given(g, target: str, z: Tensor, data: dict[str, Tensor] | None) -> Tensor:
    """z [..., D] -> [..., D + Σ_c F_c]: `target`'s decoder input with its given data appended.

    z's leading dimensions are [K, B] (a sample per item) or [N] with N a multiple of the batch size B
    (sample-major, as evaluation flattens K draws of each item); the data [B, ...] follows suit."""
    given = g.modalities[target].given
    if not given:
        return z
    pieces = [z]
    lead = z.shape[:-1]
    for name in given:
        if data is None or name not in data:
            raise MissingGiven(f"the decoder of {target} is conditioned on the given data {name}: decoding "
                               f"{target} needs {name}'s data (pass it as given={{'{name}': ...}})")
        x = data[name].reshape(data[name].shape[0], -1).to(z.dtype)
        b, f = x.shape
        if len(lead) >= 2 and lead[-1] == b:
            x = x.expand(*lead, f)
        elif math.prod(lead) % b == 0:
            x = x.repeat(math.prod(lead) // b, 1).reshape(*lead, f)
        else:
            raise MissingGiven(f"{math.prod(lead)} latent draws for {target} do not match the {b} items of "
                               f"the given data {name}")
        pieces.append(x)
    return torch.cat(pieces, dim=-1)
