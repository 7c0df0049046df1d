"""The generic image networks `conv` and `resnet` (mmspec/networks/conv.py): any image size.

Oracles: output shapes equal the declared modality for sizes chosen to be awkward (odd, non-square,
stride 1, kernel 1); parameter counts from the layer lists with the feature-map sizes worked out by
hand below; with the authors' settings the generic nets are the registered authors' nets weight for
weight (conv's encoder = conv64's, resnet = polymnist_resnet), so the same seed gives the same
outputs; a size the strides cannot reach is a check error located at the spec's `net`.
"""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from mmspec.networks import REGISTRY, build_decoder, build_encoder, build_encoder_body

D = 6


def lin(i, o):
    return i * o + o


def conv(i, o, k):
    return i * o * k * k + o


def block(fi, fo):
    h = min(fi, fo)
    return conv(fi, h, 3) + conv(h, fo, 3) + (fi * fo if fi != fo else 0)


def count_conv(p, shape, d, hw):
    """hw: the final feature-map size (h, w), worked out by hand for each case."""
    widths = [shape[0]] + list(p.get("channels", [32, 64, 128, 256]))
    k = p.get("kernel", 4)
    flat = widths[-1] * hw[0] * hw[1]
    enc = sum(conv(a, b, k) for a, b in zip(widths, widths[1:])) + 2 * lin(flat, d)
    dec = lin(d, flat) + sum(conv(b, a, k) for a, b in zip(widths, widths[1:]))
    return enc, dec


def count_conv1d(p, shape, d, length):
    """length: the final length, worked out by hand; text has V input channels, a vector one."""
    widths = [shape[1] if len(shape) == 2 else 1] + list(p.get("channels", [64, 128]))
    k = p.get("kernel", 4)
    flat = widths[-1] * length[0]
    enc = sum(a * b * k + b for a, b in zip(widths, widths[1:])) + 2 * lin(flat, d)
    dec = lin(d, flat) + sum(b * a * k + a for a, b in zip(widths, widths[1:]))
    return enc, dec


def count_resnet(p, shape, d, hw):
    c, n = list(p.get("channels", [64, 128, 256])), p.get("blocks", 1)
    flat = c[-1] * hw[0] * hw[1]
    stages = [block(c[max(i - 1, 0)], c[i]) + (n - 1) * block(c[i], c[i]) for i in range(len(c))]
    enc = conv(shape[0], c[0], 3) + sum(stages) + 2 * lin(flat, d)
    back = [block(c[i], c[i - 1]) + (n - 1) * block(c[i - 1], c[i - 1]) for i in range(1, len(c))]
    dec = lin(d, flat) + sum(back) + n * block(c[0], c[0]) + conv(c[0], shape[0], 3)
    return enc, dec


# For tests/test_networks.py, which lists every registered network.
GENERIC_COUNTS = {"conv": count_conv, "resnet": count_resnet, "conv1d": count_conv1d}
GENERIC_LINKS = {"conv": "identity", "resnet": "identity", "conv1d": "identity"}

# (name, params, shape, final feature-map size by hand)
CASES = [
    ("conv", {}, (3, 64, 64), (4, 4)),                                          # 64 32 16 8 4
    ("conv", {"channels": [8, 16, 32]}, (1, 28, 28), (3, 3)),                   # 28 14 7 3
    ("conv", {"channels": [4, 8], "kernel": 3}, (3, 37, 21), (10, 6)),          # 37 19 10; 21 11 6
    ("conv", {"channels": [5], "kernel": 1, "stride": 3}, (2, 10, 11), (4, 4)),  # (10-1)//3+1 = 4; 11: 4
    ("conv", {"channels": [3, 3], "kernel": 3, "stride": 1, "padding": 0, "activation": "elu"},
     (2, 9, 7), (5, 3)),                                                        # 9 7 5; 7 5 3
    ("conv", {"channels": [4, 4, 4], "kernel": 5, "padding": 2}, (3, 17, 64), (3, 8)),  # 17 9 5 3; 64 32 16 8
    ("resnet", {"channels": [8, 16, 32]}, (3, 28, 28), (7, 7)),                 # 28 14 7
    ("resnet", {"channels": [4, 8, 16, 8], "blocks": 2}, (1, 13, 50), (2, 7)),  # 13 7 4 2; 50 25 13 7
    ("resnet", {"channels": [6]}, (3, 5, 9), (5, 9)),
]
IDS = [f"{n}-{'-'.join(map(str, s))}-{i}" for i, (n, p, s, _) in enumerate(CASES)]


# (params, kind, shape, final length by hand)
LINE_CASES = [
    ({}, "text", (256, 71), (64,)),                                                 # 256 128 64
    ({"channels": [8, 16, 8], "kernel": 3}, "text", (37, 12), (5,)),                # 37 19 10 5
    ({"channels": [4, 8], "activation": "tanh"}, "vector", (50,), (12,)),           # 50 25 12
    ({"channels": [3], "kernel": 1, "stride": 3}, "vector", (7,), (3,)),            # (7-1)//3+1 = 3
]


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    torch.manual_seed(0)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name,params,shape,hw", CASES, ids=IDS)
def test_shapes_round_trip_and_counts_match_the_layer_lists(name, params, shape, hw):
    assert REGISTRY[name].check("image", shape, params) is None
    enc, dec = build_encoder(name, params, "image", shape, D), build_decoder(name, params, "image", shape, D)
    x = torch.rand(3, *shape)
    mu, logvar = enc(x)
    assert mu.shape == logvar.shape == (3, D)
    out = dec(mu)
    assert out.shape == (3, *shape)
    counts = GENERIC_COUNTS[name](params, shape, D, hw)
    assert (n_params(enc), n_params(dec)) == counts
    (out.square().mean() + logvar.mean()).backward()
    missing = [n for n, p in [*enc.named_parameters(), *dec.named_parameters()] if p.grad is None]
    assert not missing


@pytest.mark.parametrize("params,kind,shape,length", LINE_CASES, ids=[f"{k}{s}" for _, k, s, _ in LINE_CASES])
def test_conv1d_round_trips_text_and_vectors(params, kind, shape, length):
    import torch.nn.functional as F
    assert REGISTRY["conv1d"].check(kind, shape, params) is None
    enc, dec = build_encoder("conv1d", params, kind, shape, D), build_decoder("conv1d", params, kind, shape, D)
    x = F.one_hot(torch.randint(0, shape[1], (3, shape[0])), shape[1]).float() if kind == "text" else torch.randn(3, *shape)
    mu, _ = enc(x)
    assert mu.shape == (3, D) and dec(mu).shape == (3, *shape)
    assert (n_params(enc), n_params(dec)) == count_conv1d(params, shape, D, length)


def test_conv1d_check_says_what_does_not_fit():
    assert REGISTRY["conv1d"].check("text", (3, 5), {}) == (
        "conv1d expects text(L, V) with L >= 4 for 2 stages of kernel 4, stride 2, padding 1 (L: 3 -> 1 -> 0), "
        "got text(3, 5)")
    assert "vector(D) with D >= 4" in REGISTRY["conv1d"].check("vector", (2,), {})
    assert REGISTRY["conv1d"].check("image", (1, 8, 8), {}) == "conv1d expects a text or vector modality, got image(1, 8, 8)"


def test_conv_with_conv64_settings_is_conv64_s_encoder():
    shape = (3, 64, 64)
    torch.manual_seed(1)
    ours, features = build_encoder_body("conv", {"channels": [8, 16, 32, 64]}, "image", shape, D)
    torch.manual_seed(1)
    theirs, their_features = build_encoder_body("conv64", {"base": 8}, "image", shape, D)
    x = torch.rand(2, *shape)
    assert features == their_features == 64 * 16
    assert torch.equal(ours(x), theirs(x))


def test_resnet_with_mmvm_settings_is_polymnist_resnet():
    shape = (3, 28, 28)
    x = torch.rand(2, *shape)
    outs = {}
    for name, params in (("resnet", {"channels": [64, 128, 256]}), ("polymnist_resnet", {})):
        torch.manual_seed(2)
        enc, dec = build_encoder(name, params, "image", shape, D), build_decoder(name, params, "image", shape, D)
        mu, _ = enc(x)
        outs[name] = (mu, dec(mu))
    assert torch.equal(outs["resnet"][0], outs["polymnist_resnet"][0])
    assert torch.equal(outs["resnet"][1], outs["polymnist_resnet"][1])


@pytest.mark.parametrize("params,shape,fragment", [
    ({}, (3, 8, 8), "conv expects image(C, H, W) with H, W >= 16 for 4 stages of kernel 4, stride 2, padding 1 "
                    "(H: 8 -> 4 -> 2 -> 1 -> 0), got image(3, 8, 8)"),
    ({"channels": [4, 4], "kernel": 5, "padding": 0}, (1, 40, 8),
     "with H, W >= 13 for 2 stages of kernel 5, stride 2, padding 0 (W: 8 -> 2 -> 0)"),
    ({"channels": []}, (3, 32, 32), "channels for conv must be a non-empty list of positive integers"),
    ({"channels": [8, 0]}, (3, 32, 32), "a non-empty list of positive integers"),
    ({"padding": -1}, (3, 32, 32), "padding for conv must be auto or a non-negative integer"),
    ({"kernel": 0}, (3, 32, 32), "kernel for conv must be a positive integer"),
    ({"activation": "gelu"}, (3, 32, 32), "activation for conv must be one of"),
    ({"strides": 2}, (3, 32, 32), "did you mean 'stride'"),
])
def test_conv_check_says_what_does_not_fit(params, shape, fragment):
    reason = REGISTRY["conv"].check("image", shape, params)
    assert reason is not None and fragment in reason
    with pytest.raises(ValueError, match="conv"):
        build_encoder("conv", params, "image", shape, D)


def test_resnet_and_conv_take_images_only():
    assert REGISTRY["resnet"].check("text", (8, 5), {}) == "resnet expects an image modality, got text(8, 5)"
    assert "blocks for resnet must be a positive integer" in REGISTRY["resnet"].check("image", (3, 8, 8), {"blocks": 0})
    assert REGISTRY["conv"].check("vector", (10,), {}) == "conv expects an image modality, got vector(10)"


SPEC = """model tiny_images
data own {{
    modality img from "x.npy"
    split train 0.5, test 0.5 seed 0
}}
latent z: 4
prior p = normal()
modality img: image(3, {size}, {size}) ~ laplace(scale=0.75), net conv(channels=[8, 16, 32], kernel=4, stride=2)
posterior q[m] = encoder(m)
maximize elbo(q[img])
infer S = q[img]
"""


def test_mmspec_check_locates_an_image_the_strides_cannot_reach(tmp_path):
    import numpy as np

    from mmspec.cli import main
    for size, ok in ((8, True), (4, False)):
        np.save(tmp_path / "x.npy", np.zeros((6, 3, size, size), np.float32))
        spec = tmp_path / "spec.mms"
        spec.write_text(SPEC.format(size=size))
        got = CliRunner().invoke(main, ["check", str(spec)])
        if ok:
            assert got.exit_code == 0, got.output
            continue
        assert got.exit_code == 1
        line = SPEC.format(size=size).splitlines()[7]
        assert (f"spec.mms:8:{line.index('conv(') + 1}: error: network does not fit modality 'img': conv expects image(C, H, W) with "
                f"H, W >= 8 for 3 stages of kernel 4, stride 2, padding 1 (H: 4 -> 2 -> 1 -> 0), got image(3, 4, 4)"
                in got.output), got.output
