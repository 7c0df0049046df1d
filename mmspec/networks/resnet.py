"""The PolyMNIST residual networks of the MMVM VAE (thomassutter/mmvmvae
``networks/ConvNetworksPolyMNIST.py``, ``ResnetEncoder``/``ResnetDecoder``/``ResnetBlock``, used
when ``cfg.model.use_resnets``), themselves the GAN-stability resnets (Mescheder et al. 2018) with
s0 = 7, nf = 64 on 28 x 28 images.

Block: out = shortcut(x) + 0.1 * conv_1(lrelu(conv_0(lrelu(x)))), LeakyReLU slope 0.2, both convs
3x3 / padding 1, hidden width min(fin, fout), conv_1 with bias, shortcut a bias-free 1x1 conv when
fin != fout (identity otherwise).

Encoder body: Conv(3, 64, 3, p1) -> Block(64, 64) -> AvgPool(3, 2, 1) -> Block(64, 128) ->
AvgPool -> Block(128, 256) -> flatten 256 * 7 * 7 = 12544 features, no activation before the heads
(the authors' ``self.fc(actvn(out))`` is commented out); heads Linear(12544, D).

Decoder: Linear(D, 12544) -> view 256 x 7 x 7 -> Block(256, 128) -> nearest Upsample x2 ->
Block(128, 64) -> Upsample x2 -> Block(64, 64) -> LeakyReLU -> Conv(64, 3, 3, p1), raw (the authors'
``torch.sigmoid(out)`` is commented out; Laplace scale 0.75), so ``output_link`` is "identity".
There is no activation between the first Linear and the first block (the block starts with one).
The authors' width caps (nf_max 1024 / 512) never bind at 28 x 28. Their encoder registers conv_img
after the blocks, so parameter order differs (matters only to load their checkpoints).
"""
from __future__ import annotations

from .base import NetworkInfo, blocks, fixed_shape, nn

NF = 64          # nf: width of the first block
S0 = 7           # spatial size of the innermost feature map
TOP = 256        # nf * 2 ** log2(28 / 7)


def _body(p: dict, kind: str, shape: tuple, latent_dim: int):
    body = nn.Sequential(
        nn.Conv2d(3, NF, 3, 1, 1),                                     # 64 x 28 x 28
        blocks.ResnetBlock(NF, NF),
        nn.AvgPool2d(3, stride=2, padding=1), blocks.ResnetBlock(NF, 2 * NF),   # 128 x 14 x 14
        nn.AvgPool2d(3, stride=2, padding=1), blocks.ResnetBlock(2 * NF, TOP),  # 256 x 7 x 7
        nn.Flatten(),
    )
    return body, TOP * S0 * S0


def _decoder(p: dict, kind: str, shape: tuple, latent_dim: int):
    return nn.Sequential(
        nn.Linear(latent_dim, TOP * S0 * S0),
        nn.Unflatten(1, (TOP, S0, S0)),
        blocks.ResnetBlock(TOP, 2 * NF), nn.Upsample(scale_factor=2, mode="nearest"),  # 128 x 14 x 14
        blocks.ResnetBlock(2 * NF, NF), nn.Upsample(scale_factor=2, mode="nearest"),   # 64 x 28 x 28
        blocks.ResnetBlock(NF, NF),
        nn.LeakyReLU(0.2),
        nn.Conv2d(NF, 3, 3, 1, 1),                                              # 3 x 28 x 28
    )


NETWORKS = [
    NetworkInfo(
        name="polymnist_resnet",
        summary="PolyMNIST residual net of the MMVM VAE (64-128-256 blocks, 12544 features)",
        defaults={},
        body=_body, decoder=_decoder, link="identity", kinds=("image",),
        shape_rule=fixed_shape("image", (3, 28, 28)),
        source="thomassutter/mmvmvae networks/ConvNetworksPolyMNIST.py",
    ),
]

__all__ = ["NETWORKS"]
