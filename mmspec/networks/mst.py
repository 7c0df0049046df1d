"""MNIST-SVHN-Text networks, reproducing the MoPoE authors' code (thomassutter/MoPoE,
``mnistsvhntext/networks/ConvNetworks{ImgMNIST,ImgSVHN,TextMNIST}.py``, non-factorised branch), the
architecture shared by MMJSD, MoPoE, MVTCAE, CRMVAE, SMVAE and MIAI on MNIST-SVHN-Text.

Differences from the authors' code, all deliberate:
- decoders return raw outputs; the authors' MNIST decoder ends in a sigmoid (``output_link`` says
  "sigmoid" so the likelihood applies it) and their text decoder in LogSoftmax over characters (the
  categorical likelihood applies it to our logits);
- ``mst_text`` accepts text(8, V) for any alphabet size V (the authors use V = 71); the length must
  be 8 because the conv arithmetic 8 -> 4 -> 1 is hard-coded;
- the authors' Gaussian heads are part of each encoder; here they are ``GaussianHeads`` on a body.
The SVHN decoder has no output activation in the authors' code (``output_link`` "identity").
"""
from __future__ import annotations

from .base import NetworkInfo, blocks, fixed_shape, nn, positive_int

MNIST_HIDDEN = 400     # ``self.hidden_dim = 400`` in the authors' MNIST networks
TEXT_CHANNELS = 128    # ``2 * flags.dim`` with the default ``--dim 64``


# --- MNIST: fully connected, 784 -> 400 (x num_hidden_layers) -> heads ------------------------

def _mnist_body(p: dict, kind: str, shape: tuple, latent_dim: int):
    layers: list[nn.Module] = [nn.Flatten()]
    width = 784
    for _ in range(p["hidden_layers"]):
        layers += [nn.Linear(width, MNIST_HIDDEN), nn.ReLU()]
        width = MNIST_HIDDEN
    return nn.Sequential(*layers), MNIST_HIDDEN


def _mnist_decoder(p: dict, kind: str, shape: tuple, latent_dim: int):
    layers: list[nn.Module] = [nn.Linear(latent_dim, MNIST_HIDDEN), nn.ReLU()]
    for _ in range(p["hidden_layers"] - 1):
        layers += [nn.Linear(MNIST_HIDDEN, MNIST_HIDDEN), nn.ReLU()]
    layers += [nn.Linear(MNIST_HIDDEN, 784), nn.Unflatten(1, (1, 28, 28))]
    return nn.Sequential(*layers)


# --- SVHN: 4 strided convs to 128 x 1 x 1, mirrored by transposed convs ----------------------

def _svhn_body(p: dict, kind: str, shape: tuple, latent_dim: int):
    body = nn.Sequential(
        nn.Conv2d(3, 32, 4, 2, 1), nn.ReLU(),      # 32 x 16 x 16
        nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),     # 64 x 8 x 8
        nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),     # 64 x 4 x 4
        nn.Conv2d(64, 128, 4, 2, 0), nn.ReLU(),    # 128 x 1 x 1
        nn.Flatten(),
    )
    return body, 128


def _svhn_decoder(p: dict, kind: str, shape: tuple, latent_dim: int):
    return nn.Sequential(
        nn.Linear(latent_dim, 128), nn.Unflatten(1, (128, 1, 1)), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 4, 1, 0), nn.ReLU(),   # 64 x 4 x 4
        nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),    # 64 x 8 x 8
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),    # 32 x 16 x 16
        nn.ConvTranspose2d(32, 3, 4, 2, 1),                # 3 x 32 x 32, no output activation
    )


# --- Text: 1-D convs over 8 characters to 128 x 1 ---------------------------------------------

def _text_body(p: dict, kind: str, shape: tuple, latent_dim: int):
    vocab = shape[1]
    body = nn.Sequential(
        blocks.SwapLast(),                                                  # [B, V, 8]
        nn.Conv1d(vocab, TEXT_CHANNELS, 1), nn.ReLU(),               # 128 x 8
        nn.Conv1d(TEXT_CHANNELS, TEXT_CHANNELS, 4, 2, 1), nn.ReLU(), # 128 x 4
        nn.Conv1d(TEXT_CHANNELS, TEXT_CHANNELS, 4, 2, 0), nn.ReLU(), # 128 x 1
        nn.Flatten(),
    )
    return body, TEXT_CHANNELS


def _text_decoder(p: dict, kind: str, shape: tuple, latent_dim: int):
    vocab = shape[1]
    return nn.Sequential(
        nn.Linear(latent_dim, TEXT_CHANNELS), nn.Unflatten(1, (TEXT_CHANNELS, 1)),  # no ReLU here
        nn.ConvTranspose1d(TEXT_CHANNELS, TEXT_CHANNELS, 4, 1, 0), nn.ReLU(),       # 128 x 4
        nn.ConvTranspose1d(TEXT_CHANNELS, TEXT_CHANNELS, 4, 2, 1), nn.ReLU(),       # 128 x 8
        nn.Conv1d(TEXT_CHANNELS, vocab, 1),                                         # V x 8 logits
        blocks.SwapLast(),                                                                 # [N, 8, V]
    )


def _text_shape(kind: str, shape: tuple, p: dict) -> str | None:
    return None if kind == "text" and len(shape) == 2 and shape[0] == 8 else "text(8, V)"


_SOURCE = "thomassutter/MoPoE mnistsvhntext/networks"

NETWORKS = [
    NetworkInfo(
        name="mst_mnist",
        summary="MNIST MLP of MoPoE/MMJSD (784-400-z, Laplace mean through a sigmoid)",
        defaults={"hidden_layers": 1},
        body=_mnist_body, decoder=_mnist_decoder, link="sigmoid", kinds=("image",),
        shape_rule=fixed_shape("image", (1, 28, 28)),
        validators={"hidden_layers": positive_int},
        source=_SOURCE + "/ConvNetworksImgMNIST.py",
    ),
    NetworkInfo(
        name="mst_svhn",
        summary="SVHN conv net of MoPoE/MMJSD (4 strided convs to 128, mirrored transposed convs)",
        defaults={},
        body=_svhn_body, decoder=_svhn_decoder, link="identity", kinds=("image",),
        shape_rule=fixed_shape("image", (3, 32, 32)),
        source=_SOURCE + "/ConvNetworksImgSVHN.py",
    ),
    NetworkInfo(
        name="mst_text",
        summary="MNIST-SVHN-Text 1-D conv net for 8-character one-hot strings (MoPoE/MMJSD)",
        defaults={},
        body=_text_body, decoder=_text_decoder, link="identity", kinds=("text",),
        shape_rule=_text_shape,
        source=_SOURCE + "/ConvNetworksTextMNIST.py",
    ),
]

__all__ = ["NETWORKS"]
