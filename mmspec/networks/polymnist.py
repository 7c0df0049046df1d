"""The PolyMNIST conv net of MoPoE (thomassutter/MoPoE ``mmnist/networks/ConvNetworksImgCMNIST.py``)
and MMVM's non-resnet PolyMNIST net (thomassutter/mmvmvae ``networks/ConvNetworksPolyMNIST.py``,
``Encoder``/``Decoder``); both adopted from a Toronto CSC360 autoencoder.

Encoder: 3 stride-2 3x3 convs (3 -> 32 -> 64 -> 128, 28 -> 14 -> 7 -> 4), flatten 2048, Linear to
the latent size with ReLU, then the Gaussian heads. Note that the Linear(2048, D) + ReLU belongs to
the body here, so the body's feature size is the latent size D (in MoPoE it is
style_dim + class_dim, = D without a style space; in MMVM it is ``latent_dim``).

Decoder: Linear(D, 2048) + ReLU, view 128 x 4 x 4, 3 transposed convs back to 3 x 28 x 28. Both
codes return the last transposed conv raw (MoPoE has ``torch.sigmoid`` commented out; the Laplace
scale is a constant 0.75), so ``output_link`` is "identity".
"""
from __future__ import annotations

from .base import NetworkInfo, fixed_shape, nn


def _body(p: dict, kind: str, shape: tuple, latent_dim: int):
    body = nn.Sequential(
        nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU(),      # 32 x 14 x 14
        nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),     # 64 x 7 x 7
        nn.Conv2d(64, 128, 3, 2, 1), nn.ReLU(),    # 128 x 4 x 4
        nn.Flatten(),                              # 2048
        nn.Linear(2048, latent_dim), nn.ReLU(),
    )
    return body, latent_dim


def _decoder(p: dict, kind: str, shape: tuple, latent_dim: int):
    return nn.Sequential(
        nn.Linear(latent_dim, 2048), nn.ReLU(),
        nn.Unflatten(1, (128, 4, 4)),
        nn.ConvTranspose2d(128, 64, 3, 2, 1), nn.ReLU(),                     # 64 x 7 x 7
        nn.ConvTranspose2d(64, 32, 3, 2, 1, output_padding=1), nn.ReLU(),    # 32 x 14 x 14
        nn.ConvTranspose2d(32, 3, 3, 2, 1, output_padding=1),                # 3 x 28 x 28
    )


NETWORKS = [
    NetworkInfo(
        name="polymnist_conv",
        summary="PolyMNIST conv net of MoPoE and MMVM (3 strided convs, 2048 -> z, mirrored)",
        defaults={},
        body=_body, decoder=_decoder, link="identity", kinds=("image",),
        shape_rule=fixed_shape("image", (3, 28, 28)),
        source="thomassutter/MoPoE mmnist/networks/ConvNetworksImgCMNIST.py",
    ),
]

__all__ = ["NETWORKS"]
