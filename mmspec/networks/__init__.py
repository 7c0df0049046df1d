"""Network registry: the encoders and decoders a spec can name with ``net NAME(params)``.

Registered networks reproduce the authors' code of the papers mmspec re-implements (see each
module's docstring for the file it follows and any difference):

- ``mst_mnist``, ``mst_svhn``, ``mst_text``: MNIST-SVHN-Text nets of MoPoE/MMJSD (``mst``);
- ``polymnist_conv``: PolyMNIST conv net of MoPoE and MMVM (``polymnist``);
- ``polymnist_resnet``: PolyMNIST residual net of the MMVM VAE (``resnet``);
- ``conv64``, ``cub_sent``: MMVAE CUB image (64 x 64) and caption nets (``cub``);
- ``mlp``, ``text_conv``: generic nets for any shape (``generic``).
- ``conv``, ``resnet``, ``conv1d``: generic conv and residual nets for images of any size, 1-D conv
  nets for text and vectors of any length (``conv``).
"""
from .base import NetworkInfo
from .registry import (REGISTRY, build_decoder, build_encoder, build_encoder_body, network_names,
                       output_link)


def __getattr__(name: str):
    """GaussianHeads is a torch module: imported on first use, so the registry stays torch-free."""
    if name == "GaussianHeads":
        from .blocks import GaussianHeads
        return GaussianHeads
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["GaussianHeads", "NetworkInfo", "REGISTRY", "build_decoder", "build_encoder",
           "build_encoder_body", "network_names", "output_link"]
