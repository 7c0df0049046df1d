"""Convolutional networks for images of any size, parameterised in the spec (not from one paper's code).

``conv(channels=[32, 64, 128, 256], kernel=4, stride=2, padding=auto, activation=relu)``: for
image(C, H, W) of any size. Encoder body: one Conv2d(c_prev, c, kernel, stride, padding) +
activation per entry of ``channels`` (c_prev = C first), flatten c_last * h * w features. The size
after a stage is floor((s + 2 * padding - kernel) / stride) + 1; ``padding=auto`` is
(kernel - 1) // 2, so kernel 4 / stride 2 halves the size (64 -> 32 -> 16 -> 8 -> 4, conv64's
encoder). Decoder, the mirror: Linear(D, c_last * h * w) + activation, view, then one
ConvTranspose2d per stage back through the encoder's sizes (output_padding chosen so that every
stage returns exactly the size the encoder saw, odd sizes included: 28 -> 14 -> 7 -> 3 comes back
3 -> 7 -> 14 -> 28), activation between stages, raw output (link "identity"). A size that some
stage shrinks below 1 is a check error naming the sizes and the smallest image that fits.

``resnet(channels=[64, 128, 256], blocks=1)``: the MMVM residual nets (``polymnist_resnet``,
blocks of ``blocks.ResnetBlock``) for image(C, H, W) of any size and any widths. Encoder body:
Conv2d(C, c_0, 3, 1, 1), then per stage i an AvgPool2d(3, 2, 1) (size -> ceil(size / 2); not
before the first stage), ResnetBlock(c_{i-1}, c_i) (c_{-1} = c_0) and ``blocks - 1`` more
ResnetBlock(c_i, c_i); flatten. Decoder: Linear(D, c_last * h * w), view, then per stage from
the last down to the second ResnetBlock(c_i, c_{i-1}) (+ ``blocks - 1`` ResnetBlock(c_{i-1},
c_{i-1})) and a nearest Upsample to the size the encoder had before its pool; then ``blocks``
ResnetBlock(c_0, c_0), LeakyReLU(0.2), Conv2d(c_0, C, 3, 1, 1), raw. With channels [64, 128, 256]
on image(3, 28, 28) this is ``polymnist_resnet`` layer for layer (tests/test_generic_nets.py).

``conv1d(channels=[64, 128], kernel=4, stride=2, padding=auto, activation=relu)``: ``conv`` along
one axis, for one-hot text(L, V) (V input channels over L positions; the decoder's last layer gives
V logits per position, [N, L, V]) and for vector(D) (one channel over D positions, e.g. a spectrum
or a binned recording; the decoder gives [N, D]). Same stages, sizes and check as ``conv``.
"""
from __future__ import annotations

import math

from .base import ACTIVATIONS, NetworkInfo, blocks, nn, one_of, positive_int


def _channels(v: object) -> str | None:
    ok = isinstance(v, (list, tuple)) and len(v) > 0 and all(
        isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in v)
    return None if ok else "a non-empty list of positive integers"


def _padding(v: object) -> str | None:
    ok = v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)
    return None if ok else "auto or a non-negative integer"


def _pad(p: dict) -> int:
    return (p["kernel"] - 1) // 2 if p["padding"] == "auto" else p["padding"]


def conv_sizes(size: int, p: dict) -> list[int]:
    """The spatial size before the first stage and after each (one axis; 0: nothing left)."""
    sizes = [size]
    for _ in p["channels"]:
        sizes.append(max(0, (sizes[-1] + 2 * _pad(p) - p["kernel"]) // p["stride"] + 1) if sizes[-1] else 0)
    return sizes


def _smallest_fit(p: dict) -> int:
    return next(s for s in range(1, 1 << 20) if conv_sizes(s, p)[-1] >= 1)


def _too_small(form: str, axes: str, sizes_by_axis, p: dict) -> str | None:
    """The expected form when some axis shrinks below 1 (see `conv_sizes`), else None."""
    for axis, size in zip(axes, sizes_by_axis):
        sizes = conv_sizes(size, p)
        if sizes[-1] < 1:
            trail = " -> ".join(str(s) for s in sizes[:next(i for i, s in enumerate(sizes) if s < 1) + 1])
            return (f"{form} with {', '.join(axes)} >= {_smallest_fit(p)} for {len(p['channels'])} stages of kernel "
                    f"{p['kernel']}, stride {p['stride']}, padding {_pad(p)} ({axis}: {trail})")
    return None


def _conv_shape(kind: str, shape: tuple, p: dict) -> str | None:
    if len(shape) != 3:
        return "image(C, H, W)"
    return _too_small("image(C, H, W)", "HW", shape[1:], p)


def _line(kind: str, shape: tuple) -> tuple[int, int]:
    """(input channels, length) of a text(L, V) or vector(D) modality seen as a 1-D signal."""
    return (shape[1], shape[0]) if kind == "text" else (1, shape[0])


def _conv1d_shape(kind: str, shape: tuple, p: dict) -> str | None:
    form = "text(L, V)" if kind == "text" else "vector(D)"
    if len(shape) != (2 if kind == "text" else 1):
        return form
    return _too_small(form, "L" if kind == "text" else "D", [_line(kind, shape)[1]], p)


def _conv1d_body(p: dict, kind: str, shape: tuple, latent_dim: int):
    before, length = _line(kind, shape)
    layers: list[nn.Module] = [blocks.SwapLast()] if kind == "text" else [nn.Unflatten(1, (1, length))]
    for c in p["channels"]:
        layers += [nn.Conv1d(before, c, p["kernel"], p["stride"], _pad(p)), ACTIVATIONS[p["activation"]]()]
        before = c
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), before * conv_sizes(length, p)[-1]


def _conv1d_decoder(p: dict, kind: str, shape: tuple, latent_dim: int):
    channels_in, length = _line(kind, shape)
    sizes, widths = conv_sizes(length, p), [channels_in] + list(p["channels"])
    k, s, pad = p["kernel"], p["stride"], _pad(p)
    layers: list[nn.Module] = [nn.Linear(latent_dim, widths[-1] * sizes[-1]), ACTIVATIONS[p["activation"]](),
                               nn.Unflatten(1, (widths[-1], sizes[-1]))]
    for i in range(len(p["channels"]), 0, -1):
        extra = sizes[i - 1] - ((sizes[i] - 1) * s - 2 * pad + k)
        layers.append(nn.ConvTranspose1d(widths[i], widths[i - 1], k, s, pad, output_padding=extra))
        if i > 1:
            layers.append(ACTIVATIONS[p["activation"]]())
    layers.append(blocks.SwapLast() if kind == "text" else nn.Flatten())
    return nn.Sequential(*layers)


def _conv_body(p: dict, kind: str, shape: tuple, latent_dim: int):
    layers: list[nn.Module] = []
    before = shape[0]
    for c in p["channels"]:
        layers += [nn.Conv2d(before, c, p["kernel"], p["stride"], _pad(p)), ACTIVATIONS[p["activation"]]()]
        before = c
    layers.append(nn.Flatten())
    h, w = conv_sizes(shape[1], p)[-1], conv_sizes(shape[2], p)[-1]
    return nn.Sequential(*layers), before * h * w


def _conv_decoder(p: dict, kind: str, shape: tuple, latent_dim: int):
    hs, ws = conv_sizes(shape[1], p), conv_sizes(shape[2], p)
    widths = [shape[0]] + list(p["channels"])
    k, s, pad = p["kernel"], p["stride"], _pad(p)
    layers: list[nn.Module] = [nn.Linear(latent_dim, widths[-1] * hs[-1] * ws[-1]), ACTIVATIONS[p["activation"]](),
                               nn.Unflatten(1, (widths[-1], hs[-1], ws[-1]))]
    for i in range(len(p["channels"]), 0, -1):
        extra = tuple(target - ((size - 1) * s - 2 * pad + k) for target, size in ((hs[i - 1], hs[i]), (ws[i - 1], ws[i])))
        layers.append(nn.ConvTranspose2d(widths[i], widths[i - 1], k, s, pad, output_padding=extra))
        if i > 1:
            layers.append(ACTIVATIONS[p["activation"]]())
    return nn.Sequential(*layers)


def resnet_sizes(size: int, stages: int) -> list[int]:
    """The spatial size at each stage: AvgPool2d(3, 2, 1) before every stage but the first."""
    sizes = [size]
    for _ in range(stages - 1):
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


def _resnet_body(p: dict, kind: str, shape: tuple, latent_dim: int):
    widths, n = list(p["channels"]), p["blocks"]
    layers: list[nn.Module] = [nn.Conv2d(shape[0], widths[0], 3, 1, 1)]
    for i, c in enumerate(widths):
        if i:
            layers.append(nn.AvgPool2d(3, stride=2, padding=1))
        layers.append(blocks.ResnetBlock(widths[max(i - 1, 0)], c))
        layers += [blocks.ResnetBlock(c, c) for _ in range(n - 1)]
    layers.append(nn.Flatten())
    h, w = resnet_sizes(shape[1], len(widths))[-1], resnet_sizes(shape[2], len(widths))[-1]
    return nn.Sequential(*layers), widths[-1] * h * w


def _resnet_decoder(p: dict, kind: str, shape: tuple, latent_dim: int):
    widths, n = list(p["channels"]), p["blocks"]
    hs, ws = resnet_sizes(shape[1], len(widths)), resnet_sizes(shape[2], len(widths))
    layers: list[nn.Module] = [nn.Linear(latent_dim, widths[-1] * hs[-1] * ws[-1]),
                               nn.Unflatten(1, (widths[-1], hs[-1], ws[-1]))]
    for i in range(len(widths) - 1, 0, -1):
        layers.append(blocks.ResnetBlock(widths[i], widths[i - 1]))
        layers += [blocks.ResnetBlock(widths[i - 1], widths[i - 1]) for _ in range(n - 1)]
        layers.append(nn.Upsample(size=(hs[i - 1], ws[i - 1]), mode="nearest"))
    layers += [blocks.ResnetBlock(widths[0], widths[0]) for _ in range(n)]
    layers += [nn.LeakyReLU(0.2), nn.Conv2d(widths[0], shape[0], 3, 1, 1)]
    return nn.Sequential(*layers)


def _image_rank(kind: str, shape: tuple, p: dict) -> str | None:
    return None if len(shape) == 3 else "image(C, H, W)"


NETWORKS = [
    NetworkInfo(
        name="conv",
        summary="conv net for image(C, H, W) of any size (channels per stage, kernel, stride), mirrored",
        defaults={"channels": [32, 64, 128, 256], "kernel": 4, "stride": 2, "padding": "auto",
                  "activation": "relu"},
        body=_conv_body, decoder=_conv_decoder, link="identity", kinds=("image",),
        shape_rule=_conv_shape,
        validators={"channels": _channels, "kernel": positive_int, "stride": positive_int,
                    "padding": _padding, "activation": one_of(*ACTIVATIONS)},
        source="generic",
    ),
    NetworkInfo(
        name="conv1d",
        summary="1-D conv net for text(L, V) or vector(D) of any length (channels per stage, kernel, stride)",
        defaults={"channels": [64, 128], "kernel": 4, "stride": 2, "padding": "auto", "activation": "relu"},
        body=_conv1d_body, decoder=_conv1d_decoder, link="identity", kinds=("text", "vector"),
        shape_rule=_conv1d_shape,
        validators={"channels": _channels, "kernel": positive_int, "stride": positive_int,
                    "padding": _padding, "activation": one_of(*ACTIVATIONS)},
        source="generic",
    ),
    NetworkInfo(
        name="resnet",
        summary="residual conv net for image(C, H, W) of any size (polymnist_resnet generalised)",
        defaults={"channels": [64, 128, 256], "blocks": 1},
        body=_resnet_body, decoder=_resnet_decoder, link="identity", kinds=("image",),
        shape_rule=_image_rank,
        validators={"channels": _channels, "blocks": positive_int},
        source="generic, after thomassutter/mmvmvae networks/ConvNetworksPolyMNIST.py",
    ),
]

__all__ = ["NETWORKS", "conv_sizes", "resnet_sizes"]
