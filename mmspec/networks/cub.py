"""The MMVAE CUB networks (iffsid/mmvae ``src/models/vae_cub_image.py`` and ``vae_cub_sent.py``, the
same code copied into thomassutter/mmvmvae ``networks/NetworksCUB{img,sent}.py``), for specs over
64 x 64 images (CUB, CelebA) and 32-word captions.

``conv64`` (image(C, 64, 64), ``base`` = fBase, 64 in the authors' code; ``base=32`` gives the
lighter 3-32-64-128-256 variant): 4 convs k4 s2 p1, C -> b -> 2b -> 4b -> 8b, 64 -> 4, ReLU after
each, flatten 8b * 16 features. Decoder: z as [N, D, 1, 1] -> ConvT(D, 8b, 4, 1, 0) -> 4 x 4, then
4 ConvT k4 s2 p1 8b -> 4b -> 2b -> b -> C, ReLU between, sigmoid in the authors' code (output_link
"sigmoid"). The authors' comments say "3 x 128 x 128" but their loader resizes CUB to 64 x 64,
which is what the layer arithmetic needs.

``cub_sent`` (text(32, V), one-hot): the MMVAE sentence net. Word embedding 128 (here a bias-free
Linear(V, 128) on the one-hot rows, the same map as ``nn.Embedding``), seen as a 1 x 32 x 128
image; 5 bias-free convs with BatchNorm + ReLU (1 -> 32 -> 64 -> 128 -> 128 -> 128 channels,
32 x 128 -> 4 x 4), flatten 2048 features. Decoder mirrors it with bias-free transposed convs and
BatchNorm back to 1 x 32 x 128, a final ReLU, and Linear(128, V) per word (logits).

Differences from the authors' code:
- heads: the authors use Conv2d(8b or 128, D, 4) over the 4 x 4 map, which is Linear over the
  flattened map; ``cub_sent``'s are bias-free, our ``GaussianHeads`` have biases (+2D parameters);
  the authors' image/sentence encoders output a softplus scale for a Laplace/Normal posterior, ours
  a log-variance;
- ``cub_sent``: the authors tie the decoder's Linear(128, V) weight to the encoder embedding
  (``tie_modules``) and fix the embedding row of <pad> (padding_idx=0) to zero; encoder and decoder
  are built separately here, so the weights are untied (both initialised N(0, 1) like the authors'
  embedding) and no row is frozen.
"""
from __future__ import annotations

from .base import NetworkInfo, blocks, nn, positive_int

EMBED = 128      # embeddingDim of the MMVAE sentence net
SENT_LEN = 32    # maxSentLen
SENT_BASE = 32   # fBase of the sentence net


def _conv64_body(p: dict, kind: str, shape: tuple, latent_dim: int):
    b, c = p["base"], shape[0]
    body = nn.Sequential(
        nn.Conv2d(c, b, 4, 2, 1), nn.ReLU(),            # b x 32 x 32
        nn.Conv2d(b, 2 * b, 4, 2, 1), nn.ReLU(),        # 2b x 16 x 16
        nn.Conv2d(2 * b, 4 * b, 4, 2, 1), nn.ReLU(),    # 4b x 8 x 8
        nn.Conv2d(4 * b, 8 * b, 4, 2, 1), nn.ReLU(),    # 8b x 4 x 4
        nn.Flatten(),
    )
    return body, 8 * b * 16


def _conv64_decoder(p: dict, kind: str, shape: tuple, latent_dim: int):
    b, c = p["base"], shape[0]
    return nn.Sequential(
        blocks.AsFeatureMap(),
        nn.ConvTranspose2d(latent_dim, 8 * b, 4, 1, 0), nn.ReLU(),   # 8b x 4 x 4
        nn.ConvTranspose2d(8 * b, 4 * b, 4, 2, 1), nn.ReLU(),        # 4b x 8 x 8
        nn.ConvTranspose2d(4 * b, 2 * b, 4, 2, 1), nn.ReLU(),        # 2b x 16 x 16
        nn.ConvTranspose2d(2 * b, b, 4, 2, 1), nn.ReLU(),            # b x 32 x 32
        nn.ConvTranspose2d(b, c, 4, 2, 1),                           # C x 64 x 64 (raw)
    )


def _conv64_shape(kind: str, shape: tuple, p: dict) -> str | None:
    return None if len(shape) == 3 and shape[1:] == (64, 64) else "image(C, 64, 64)"


def _bn_block(conv: nn.Module, channels: int) -> list[nn.Module]:
    return [conv, nn.BatchNorm2d(channels), nn.ReLU()]


def _sent_body(p: dict, kind: str, shape: tuple, latent_dim: int):
    f = SENT_BASE
    embed = nn.Linear(shape[1], EMBED, bias=False)
    nn.init.normal_(embed.weight)            # nn.Embedding's N(0, 1) initialisation
    body = nn.Sequential(
        embed,                                                               # [B, 32, 128]
        nn.Unflatten(1, (1, SENT_LEN)),                                      # 1 x 32 x 128
        *_bn_block(nn.Conv2d(1, f, 4, 2, 1, bias=False), f),                 # f x 16 x 64
        *_bn_block(nn.Conv2d(f, 2 * f, 4, 2, 1, bias=False), 2 * f),         # 2f x 8 x 32
        *_bn_block(nn.Conv2d(2 * f, 4 * f, 4, 2, 1, bias=False), 4 * f),     # 4f x 4 x 16
        *_bn_block(nn.Conv2d(4 * f, 4 * f, (1, 4), (1, 2), (0, 1), bias=False), 4 * f),  # 4 x 8
        *_bn_block(nn.Conv2d(4 * f, 4 * f, (1, 4), (1, 2), (0, 1), bias=False), 4 * f),  # 4 x 4
        nn.Flatten(),
    )
    return body, 4 * f * 16


def _sent_decoder(p: dict, kind: str, shape: tuple, latent_dim: int):
    f = SENT_BASE
    to_vocab = nn.Linear(EMBED, shape[1])
    nn.init.normal_(to_vocab.weight)         # the authors tie it to the N(0, 1) embedding
    return nn.Sequential(
        blocks.AsFeatureMap(),
        *_bn_block(nn.ConvTranspose2d(latent_dim, 4 * f, 4, 1, 0, bias=False), 4 * f),  # 4 x 4
        *_bn_block(nn.ConvTranspose2d(4 * f, 4 * f, (1, 4), (1, 2), (0, 1), bias=False), 4 * f),
        *_bn_block(nn.ConvTranspose2d(4 * f, 4 * f, (1, 4), (1, 2), (0, 1), bias=False), 4 * f),
        *_bn_block(nn.ConvTranspose2d(4 * f, 2 * f, 4, 2, 1, bias=False), 2 * f),        # 8 x 32
        *_bn_block(nn.ConvTranspose2d(2 * f, f, 4, 2, 1, bias=False), f),                # 16 x 64
        nn.ConvTranspose2d(f, 1, 4, 2, 1, bias=False), nn.ReLU(),                    # 1 x 32 x 128
        nn.Flatten(1, 2),                                                            # [N, 32, 128]
        to_vocab,                                                                    # [N, 32, V]
    )


def _sent_shape(kind: str, shape: tuple, p: dict) -> str | None:
    return None if len(shape) == 2 and shape[0] == SENT_LEN else f"text({SENT_LEN}, V)"


NETWORKS = [
    NetworkInfo(
        name="conv64",
        summary="MMVAE CUB image conv net for image(C, 64, 64) (4 convs k4 s2 to 4 x 4, mirrored)",
        defaults={"base": 64},
        body=_conv64_body, decoder=_conv64_decoder, link="sigmoid", kinds=("image",),
        shape_rule=_conv64_shape,
        validators={"base": positive_int},
        source="iffsid/mmvae src/models/vae_cub_image.py",
    ),
    NetworkInfo(
        name="cub_sent",
        summary="MMVAE CUB caption net for text(32, V): embedding 128, 2-D convs with BatchNorm",
        defaults={},
        body=_sent_body, decoder=_sent_decoder, link="identity", kinds=("text",),
        shape_rule=_sent_shape,
        source="iffsid/mmvae src/models/vae_cub_sent.py",
    ),
]

__all__ = ["NETWORKS"]
