"""Tests for the network registry (mmspec/networks).

Parameter counts are checked against formulas written here from the layer lists in the networks'
docstrings (an oracle independent of the module code), and, for latent size 20, against the counts
of the authors' own modules (MoPoE / MMVM / MMVAE code, instantiated once when the registry was
written and pinned below).
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmspec.networks import (REGISTRY, GaussianHeads, NetworkInfo, build_decoder, build_encoder,
                             build_encoder_body, network_names, output_link)
from test_generic_nets import GENERIC_COUNTS, GENERIC_LINKS       # conv, resnet: tested there

D = 20


# --- hand-written parameter counts ------------------------------------------------------------

def lin(i, o):
    return i * o + o


def conv(i, o, k, bias=True):            # Conv2d / ConvTranspose2d, square kernel k
    return i * o * k * k + (o if bias else 0)


def conv1(i, o, k):                      # Conv1d / ConvTranspose1d
    return i * o * k + o


def heads(f, d):
    return 2 * lin(f, d)


def block(fi, fo):                       # MMVM resnet block: two 3x3 convs + 1x1 shortcut
    h = min(fi, fo)
    return conv(fi, h, 3) + conv(h, fo, 3) + (fi * fo if fi != fo else 0)


def count_mst_mnist(p, shape, d):
    n = p.get("hidden_layers", 1)
    enc = lin(784, 400) + (n - 1) * lin(400, 400) + heads(400, d)
    dec = lin(d, 400) + (n - 1) * lin(400, 400) + lin(400, 784)
    return enc, dec


def count_mst_svhn(p, shape, d):
    enc = conv(3, 32, 4) + conv(32, 64, 4) + conv(64, 64, 4) + conv(64, 128, 4) + heads(128, d)
    dec = lin(d, 128) + conv(128, 64, 4) + conv(64, 64, 4) + conv(64, 32, 4) + conv(32, 3, 4)
    return enc, dec


def count_mst_text(p, shape, d):
    v = shape[1]
    enc = conv1(v, 128, 1) + 2 * conv1(128, 128, 4) + heads(128, d)
    dec = lin(d, 128) + 2 * conv1(128, 128, 4) + conv1(128, v, 1)
    return enc, dec


def count_polymnist_conv(p, shape, d):
    enc = conv(3, 32, 3) + conv(32, 64, 3) + conv(64, 128, 3) + lin(2048, d) + heads(d, d)
    dec = lin(d, 2048) + conv(128, 64, 3) + conv(64, 32, 3) + conv(32, 3, 3)
    return enc, dec


def count_polymnist_resnet(p, shape, d):
    enc = conv(3, 64, 3) + block(64, 64) + block(64, 128) + block(128, 256) + heads(256 * 49, d)
    dec = lin(d, 256 * 49) + block(256, 128) + block(128, 64) + block(64, 64) + conv(64, 3, 3)
    return enc, dec


def count_conv64(p, shape, d):
    b, c = p.get("base", 64), shape[0]
    enc = (conv(c, b, 4) + conv(b, 2 * b, 4) + conv(2 * b, 4 * b, 4) + conv(4 * b, 8 * b, 4)
           + heads(8 * b * 16, d))
    dec = (conv(d, 8 * b, 4) + conv(8 * b, 4 * b, 4) + conv(4 * b, 2 * b, 4) + conv(2 * b, b, 4)
           + conv(b, c, 4))
    return enc, dec


def count_cub_sent(p, shape, d):
    v = shape[1]
    bn = lambda c: 2 * c                                 # BatchNorm weight + bias
    nb = lambda i, o, kh, kw: i * o * kh * kw            # bias-free conv
    enc = (v * 128 + nb(1, 32, 4, 4) + bn(32) + nb(32, 64, 4, 4) + bn(64) + nb(64, 128, 4, 4)
           + bn(128) + 2 * (nb(128, 128, 1, 4) + bn(128)) + heads(128 * 16, d))
    dec = (nb(d, 128, 4, 4) + bn(128) + 2 * (nb(128, 128, 1, 4) + bn(128)) + nb(128, 64, 4, 4)
           + bn(64) + nb(64, 32, 4, 4) + bn(32) + nb(32, 1, 4, 4) + lin(128, v))
    return enc, dec


def count_mlp(p, shape, d):
    hidden = list(p.get("hidden", [400]))
    widths = [math.prod(shape)] + hidden
    enc = sum(lin(a, b) for a, b in zip(widths, widths[1:])) + heads(widths[-1], d)
    back = [d] + hidden[::-1] + [math.prod(shape)]
    dec = sum(lin(a, b) for a, b in zip(back, back[1:]))
    return enc, dec


def count_text_conv(p, shape, d):
    (length, v), c, k = shape, p.get("channels", 128), p.get("downsample", 2)
    enc = conv1(v, c, 1) + k * conv1(c, c, 4) + heads(c * (length // 2 ** k), d)
    dec = lin(d, c * math.ceil(length / 2 ** k)) + k * conv1(c, c, 4) + conv1(c, v, 1)
    return enc, dec


COUNTS = {
    "mst_mnist": count_mst_mnist, "mst_svhn": count_mst_svhn, "mst_text": count_mst_text,
    "polymnist_conv": count_polymnist_conv, "polymnist_resnet": count_polymnist_resnet,
    "conv64": count_conv64, "cub_sent": count_cub_sent, "mlp": count_mlp,
    "text_conv": count_text_conv, **GENERIC_COUNTS,
}

# (name, params, kind, shape): every network, with defaults and with non-default parameters.
CASES = [
    ("mst_mnist", {}, "image", (1, 28, 28)),
    ("mst_mnist", {"hidden_layers": 2}, "image", (1, 28, 28)),
    ("mst_svhn", {}, "image", (3, 32, 32)),
    ("mst_text", {}, "text", (8, 71)),
    ("polymnist_conv", {}, "image", (3, 28, 28)),
    ("polymnist_resnet", {}, "image", (3, 28, 28)),
    ("conv64", {"base": 8}, "image", (3, 64, 64)),
    ("conv64", {"base": 4}, "image", (1, 64, 64)),
    ("cub_sent", {}, "text", (32, 50)),
    ("mlp", {}, "vector", (10,)),
    ("mlp", {"hidden": [32, 16], "activation": "elu"}, "image", (1, 28, 28)),
    ("mlp", {"hidden": [], "activation": "tanh"}, "text", (8, 71)),
    ("mlp", {"hidden": [7], "activation": "leaky_relu"}, "vector", (5,)),
    ("text_conv", {}, "text", (30, 40)),
    ("text_conv", {"channels": 16, "downsample": 3}, "text", (37, 12)),
    ("text_conv", {"channels": 8, "downsample": 0}, "text", (5, 3)),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in p.items()) or 'default'}-{k}{s}"
       for n, p, k, s in CASES]

# Counts of the authors' modules for latent size 20 (MoPoE flags class_dim=20, num_hidden_layers=1,
# dim=64; MMVM ResnetEncoder/Decoder; MMVAE CUB nets), encoder and decoder. cub_sent's encoder has
# 2 * 20 more here because our heads have biases (the authors' conv heads do not).
AUTHOR_COUNTS = {
    ("mst_mnist", (1, 28, 28)): (330040, 322784),
    ("mst_svhn", (3, 32, 32)): (236360, 233763),
    ("mst_text", (8, 71)): (145704, 143175),
    ("polymnist_conv", (3, 28, 28)): (135068, 136131),
    ("polymnist_resnet", (3, 28, 28)): (1171944, 933315),
    ("conv64", (3, 64, 64)): (3084264, 2920387),
    ("cub_sent", (32, 1590)): (581824 + 2 * D, 542454),
}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def sample(kind, shape, b):
    if kind == "text":
        return F.one_hot(torch.randint(0, shape[1], (b, shape[0])), shape[1]).float()
    return torch.rand(b, *shape)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # tiny batches: thread start-up costs more than it saves, badly so on a shared 2-core machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# --- registry -----------------------------------------------------------------------------------

def test_registry_lists_every_network():
    assert network_names() == sorted(COUNTS)
    assert list(network_names()) == sorted(REGISTRY)
    for name, info in REGISTRY.items():
        assert isinstance(info, NetworkInfo) and info.name == name
        assert info.summary and "\n" not in info.summary
        assert isinstance(info.defaults, dict)
        assert output_link(name) in ("sigmoid", "identity")


def test_output_links_follow_the_authors_code():
    expected = {"mst_mnist": "sigmoid", "conv64": "sigmoid", "mst_svhn": "identity",
                "polymnist_conv": "identity", "polymnist_resnet": "identity",
                "mst_text": "identity", "cub_sent": "identity", "mlp": "identity",
                "text_conv": "identity", **GENERIC_LINKS}
    assert {n: output_link(n) for n in network_names()} == expected


def test_network_info_is_frozen():
    with pytest.raises(Exception):
        REGISTRY["mlp"].name = "other"


# --- shapes, counts, gradients ------------------------------------------------------------------

@pytest.mark.parametrize("name,params,kind,shape", CASES, ids=IDS)
def test_shapes(name, params, kind, shape):
    assert REGISTRY[name].check(kind, shape, params) is None
    body, features = build_encoder_body(name, params, kind, shape, D)
    encoder = build_encoder(name, params, kind, shape, D)
    decoder = build_decoder(name, params, kind, shape, D)
    x = sample(kind, shape, 3)
    h = body(x)
    assert h.shape == (3, features)
    mu, logvar = encoder(x)
    assert mu.shape == (3, D) and logvar.shape == (3, D)
    assert isinstance(encoder.heads, GaussianHeads) and encoder.features == features
    assert encoder.body(x).shape == (3, features)
    out = decoder(torch.randn(5, D))
    assert out.shape == (5, *shape)
    assert torch.isfinite(out).all() and torch.isfinite(mu).all() and torch.isfinite(logvar).all()


@pytest.mark.parametrize("name,params,kind,shape", CASES, ids=IDS)
def test_parameter_counts_match_the_layer_lists(name, params, kind, shape):
    enc, dec = COUNTS[name](params, shape, D)
    body, features = build_encoder_body(name, params, kind, shape, D)
    assert n_params(build_encoder(name, params, kind, shape, D)) == enc
    assert n_params(body) == enc - heads(features, D)
    assert n_params(build_decoder(name, params, kind, shape, D)) == dec


@pytest.mark.parametrize("name,shape", sorted(AUTHOR_COUNTS), ids=lambda v: str(v))
def test_parameter_counts_match_the_authors_modules(name, shape):
    kind = "text" if len(shape) == 2 else "image"
    enc, dec = AUTHOR_COUNTS[(name, shape)]
    assert n_params(build_encoder(name, {}, kind, shape, D)) == enc
    assert n_params(build_decoder(name, {}, kind, shape, D)) == dec
    assert COUNTS[name]({}, shape, D) == (enc, dec)


@pytest.mark.parametrize("name,params,kind,shape", CASES, ids=IDS)
def test_gradient_reaches_every_parameter(name, params, kind, shape):
    encoder = build_encoder(name, params, kind, shape, D)
    mu, logvar = encoder(sample(kind, shape, 4))
    ((mu * torch.randn_like(mu)).sum() + (logvar * torch.randn_like(logvar)).sum()).backward()
    decoder = build_decoder(name, params, kind, shape, D)
    out = decoder(torch.randn(4, D))
    (out * torch.randn_like(out)).sum().backward()
    for part, module in (("encoder", encoder), ("decoder", decoder)):
        for pname, p in module.named_parameters():
            assert p.grad is not None, f"{part} {pname} got no gradient"
            assert p.grad.abs().sum() > 0, f"{part} {pname} got a zero gradient"


def test_decoder_output_is_raw():
    # no sigmoid / log-softmax inside: outputs leave [0, 1] and rows are not normalised
    z = 3 * torch.randn(64, D)
    assert not build_decoder("mst_mnist", {}, "image", (1, 28, 28), D)(z).ge(0).all()
    logits = build_decoder("mst_text", {}, "text", (8, 71), D)(z)
    assert not torch.allclose(logits.exp().sum(-1), torch.ones(64, 8))


def test_mlp_without_hidden_layers_uses_the_flat_input_as_features():
    body, features = build_encoder_body("mlp", {"hidden": []}, "image", (2, 3, 4), D)
    x = torch.rand(5, 2, 3, 4)
    assert features == 24 and torch.equal(body(x), x.flatten(1))


def test_bodies_concatenate_for_a_joint_encoder():
    mods = [("mst_mnist", "image", (1, 28, 28)), ("mst_text", "text", (8, 71))]
    bodies = [build_encoder_body(n, {}, k, s, D) for n, k, s in mods]
    feats = torch.cat([b(sample(k, s, 6)) for (b, _), (_, k, s) in zip(bodies, mods)], dim=-1)
    mu, logvar = GaussianHeads(sum(f for _, f in bodies), D)(feats)
    assert feats.shape == (6, 400 + 128) and mu.shape == logvar.shape == (6, D)


# --- check ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,kind,shape,expected", [
    ("mst_mnist", "image", (3, 28, 28), "image(1, 28, 28)"),
    ("mst_svhn", "image", (1, 28, 28), "image(3, 32, 32)"),
    ("mst_text", "text", (9, 71), "text(8, V)"),
    ("polymnist_conv", "image", (3, 32, 32), "image(3, 28, 28)"),
    ("polymnist_resnet", "image", (1, 28, 28), "image(3, 28, 28)"),
    ("conv64", "image", (3, 32, 32), "image(C, 64, 64)"),
    ("cub_sent", "text", (16, 100), "text(32, V)"),
    ("text_conv", "text", (3, 10), "text(L, V) with L >= 4 (downsample=2)"),
])
def test_check_rejects_wrong_shapes(name, kind, shape, expected):
    reason = REGISTRY[name].check(kind, shape, {})
    got = f"{kind}({', '.join(map(str, shape))})"
    assert reason == f"{name} expects {expected}, got {got}"
    with pytest.raises(ValueError, match="expects"):
        build_encoder(name, {}, kind, shape, D)
    with pytest.raises(ValueError, match="expects"):
        build_decoder(name, {}, kind, shape, D)


def test_check_message_example():
    assert (REGISTRY["mst_svhn"].check("image", (1, 28, 28), {})
            == "mst_svhn expects image(3, 32, 32), got image(1, 28, 28)")


@pytest.mark.parametrize("name,kind,shape", [
    ("mst_text", "image", (3, 28, 28)), ("cub_sent", "vector", (32,)),
    ("text_conv", "image", (1, 28, 28)), ("mst_svhn", "text", (3, 32)),
    ("conv64", "vector", (64,)),
])
def test_check_rejects_wrong_kinds(name, kind, shape):
    got = f"{kind}({', '.join(map(str, shape))})"
    want = "an image" if REGISTRY[name].kinds == ("image",) else "a text"
    assert REGISTRY[name].check(kind, shape, {}) == f"{name} expects {want} modality, got {got}"


def test_check_suggests_the_closest_parameter_name():
    reason = REGISTRY["mlp"].check("vector", (10,), {"hiden": [3]})
    assert reason == ("unknown parameter 'hiden' for mlp (known: activation, hidden); "
                      "did you mean 'hidden'?")
    mlp, text_conv = REGISTRY["mlp"], REGISTRY["text_conv"]
    assert "did you mean 'activation'" in mlp.check("vector", (10,), {"activaton": "elu"})
    assert "did you mean 'downsample'" in text_conv.check("text", (8, 5), {"downsampl": 1})
    far = REGISTRY["mlp"].check("vector", (10,), {"zzz": 1})
    assert far.startswith("unknown parameter 'zzz' for mlp") and "did you mean" not in far
    assert (REGISTRY["mst_svhn"].check("image", (3, 32, 32), {"hidden": 3})
            == "unknown parameter 'hidden' for mst_svhn (mst_svhn takes no parameters)")


@pytest.mark.parametrize("name,kind,shape,params,fragment", [
    ("mlp", "vector", (10,), {"hidden": [512, -1]},
     "hidden for mlp must be a list of positive integers"),
    ("mlp", "vector", (10,), {"hidden": 512}, "hidden for mlp must be a list of positive integers"),
    ("mlp", "vector", (10,), {"hidden": [2.5]}, "a list of positive integers"),
    ("mlp", "vector", (10,), {"hidden": [True]}, "a list of positive integers"),
    ("mlp", "vector", (10,), {"activation": "sigmoid"}, "activation for mlp must be one of 'relu'"),
    ("mst_mnist", "image", (1, 28, 28), {"hidden_layers": 0}, "must be a positive integer"),
    ("conv64", "image", (3, 64, 64), {"base": "64"}, "base for conv64 must be a positive integer"),
    ("text_conv", "text", (8, 5), {"downsample": -1}, "must be a non-negative integer"),
    ("text_conv", "text", (8, 5), {"channels": 0}, "must be a positive integer"),
])
def test_check_rejects_bad_values(name, kind, shape, params, fragment):
    reason = REGISTRY[name].check(kind, shape, params)
    assert reason is not None and fragment in reason
    with pytest.raises(ValueError):
        build_encoder_body(name, params, kind, shape, D)


@pytest.mark.parametrize("name,params,kind,shape", CASES, ids=IDS)
def test_check_accepts_good_modalities(name, params, kind, shape):
    assert REGISTRY[name].check(kind, shape, params) is None
    assert REGISTRY[name].check(kind, list(shape), params) is None


def test_check_rejects_malformed_shapes():
    assert "shape must be a tuple of integers" in REGISTRY["mlp"].check("vector", (2.5,), {})
    assert "positive sizes" in REGISTRY["mlp"].check("vector", (0,), {})
    assert "positive sizes" in REGISTRY["mlp"].check("vector", (), {})


def test_unknown_network_and_bad_latent_size():
    with pytest.raises(ValueError, match="did you mean 'mst_mnist'"):
        build_encoder("mst_mnst", {}, "image", (1, 28, 28), D)
    with pytest.raises(ValueError, match="unknown network"):
        output_link("nope")
    with pytest.raises(ValueError, match="latent_dim"):
        build_decoder("mlp", {}, "vector", (4,), 0)


# --- independence ------------------------------------------------------------------------------

@pytest.mark.parametrize("name,params,kind,shape", CASES[:1] + CASES[5:7], ids=IDS[:1] + IDS[5:7])
def test_building_twice_gives_independent_parameters(name, params, kind, shape):
    for build in (build_encoder, build_decoder):
        a, b = build(name, params, kind, shape, D), build(name, params, kind, shape, D)
        ptrs = {p.data_ptr() for p in a.parameters()}
        assert not ptrs & {p.data_ptr() for p in b.parameters()}
        assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_building_does_not_touch_defaults_or_params():
    params = {"hidden": [8, 4]}
    build_encoder("mlp", params, "vector", (10,), D)
    build_decoder("mlp", params, "vector", (10,), D)
    assert params == {"hidden": [8, 4]}
    assert REGISTRY["mlp"].defaults == {"hidden": [400], "activation": "relu"}
    resolved = REGISTRY["mlp"].resolve({})
    resolved["hidden"].append(1)
    assert REGISTRY["mlp"].defaults["hidden"] == [400]
