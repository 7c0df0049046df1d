"""Networks that fit any shape, for new data sets and quick experiments (not from a paper's code).

``mlp(hidden=[...], activation=...)``: any modality. The encoder body flattens x and applies
Linear + activation for each hidden size (features = last hidden size, or the input size when
``hidden`` is empty); the decoder is Linear(D, h_last) + activation, ..., through the hidden sizes
in reverse, then Linear(h_first, prod(shape)) reshaped to the modality shape. ``mlp(hidden=[400])``
on image(1, 28, 28) is the MoPoE MNIST net (but with output_link "identity": a generic network
cannot know its data lie in [0, 1]; use ``mst_mnist`` for the sigmoid).

``text_conv(channels=128, downsample=2)``: one-hot text(L, V) of any length, generalising the
MNIST-SVHN-Text net (``mst_text``) to long sequences such as CelebA/CUB captions. Encoder:
Conv1d(V, c, 1) + ReLU, then ``downsample`` times Conv1d(c, c, 4, 2, 1) + ReLU (length L -> L // 2
each), flatten c * (L // 2**downsample) features. Decoder: Linear(D, c * m) + ReLU with
m = ceil(L / 2**downsample), view c x m, ``downsample`` times ConvTranspose1d(c, c, 4, 2, 1) + ReLU
(length doubles), keep the first L positions, Conv1d(c, V, 1) logits, returned as [N, L, V].
"""
from __future__ import annotations

import math

from .base import (ACTIVATIONS, NetworkInfo, blocks, nn, non_negative_int, one_of, positive_int,
                   positive_int_list)


def _mlp_body(p: dict, kind: str, shape: tuple, latent_dim: int):
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(shape)
    for h in p["hidden"]:
        layers += [nn.Linear(width, h), ACTIVATIONS[p["activation"]]()]
        width = h
    return nn.Sequential(*layers), width


def _mlp_decoder(p: dict, kind: str, shape: tuple, latent_dim: int):
    layers: list[nn.Module] = []
    width = latent_dim
    for h in reversed(list(p["hidden"])):
        layers += [nn.Linear(width, h), ACTIVATIONS[p["activation"]]()]
        width = h
    layers += [nn.Linear(width, math.prod(shape)), nn.Unflatten(1, tuple(shape))]
    return nn.Sequential(*layers)


def _text_body(p: dict, kind: str, shape: tuple, latent_dim: int):
    length, vocab = shape
    c, k = p["channels"], p["downsample"]
    layers: list[nn.Module] = [blocks.SwapLast(), nn.Conv1d(vocab, c, 1), nn.ReLU()]
    for _ in range(k):
        layers += [nn.Conv1d(c, c, 4, 2, 1), nn.ReLU()]
        length //= 2
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), c * length


def _text_decoder(p: dict, kind: str, shape: tuple, latent_dim: int):
    length, vocab = shape
    c, k = p["channels"], p["downsample"]
    m = -(-length // 2 ** k)
    layers: list[nn.Module] = [nn.Linear(latent_dim, c * m), nn.ReLU(), nn.Unflatten(1, (c, m))]
    for _ in range(k):
        layers += [nn.ConvTranspose1d(c, c, 4, 2, 1), nn.ReLU()]
    layers += [blocks.CropLength(length), nn.Conv1d(c, vocab, 1), blocks.SwapLast()]
    return nn.Sequential(*layers)


def _text_shape(kind: str, shape: tuple, p: dict) -> str | None:
    k = p["downsample"]
    if len(shape) == 2 and shape[0] >= 2 ** k:
        return None
    return f"text(L, V) with L >= {2 ** k} (downsample={k})"


NETWORKS = [
    NetworkInfo(
        name="mlp",
        summary="fully connected net for any modality (flatten, hidden layers, reshape)",
        defaults={"hidden": [400], "activation": "relu"},
        body=_mlp_body, decoder=_mlp_decoder, link="identity",
        validators={"hidden": positive_int_list, "activation": one_of(*ACTIVATIONS)},
        source="generic",
    ),
    NetworkInfo(
        name="text_conv",
        summary="1-D conv net for one-hot text(L, V) of any length (mst_text generalised)",
        defaults={"channels": 128, "downsample": 2},
        body=_text_body, decoder=_text_decoder, link="identity", kinds=("text",),
        shape_rule=_text_shape,
        validators={"channels": positive_int, "downsample": non_negative_int},
        source="generic, after thomassutter/MoPoE mnistsvhntext/networks/ConvNetworksTextMNIST.py",
    ),
]

__all__ = ["NETWORKS"]
