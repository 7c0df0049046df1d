"""The torch modules the registered networks share: Gaussian heads on an encoder body, shape
plumbing (SwapLast, CropLength, AsFeatureMap) and the MMVM residual block."""
from __future__ import annotations

from torch import Tensor, nn


class GaussianHeads(nn.Module):
    """Two linear maps from body features to the mean and log-variance of q(z|x).

    Kept separate from the bodies so that a joint encoder (JMVAE, SMVAE) can concatenate the
    features of several bodies and put its own heads on top.
    """

    def __init__(self, features: int, latent_dim: int):
        super().__init__()
        self.mu = nn.Linear(features, latent_dim)
        self.logvar = nn.Linear(features, latent_dim)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        return self.mu(h), self.logvar(h)


class Encoder(nn.Module):
    """A body (x -> features [B, F]) followed by Gaussian heads; forward(x) -> (mu, logvar)."""

    def __init__(self, body: nn.Module, features: int, latent_dim: int):
        super().__init__()
        self.body = body
        self.features = features
        self.heads = GaussianHeads(features, latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.heads(self.body(x))


class SwapLast(nn.Module):
    """[B, L, V] <-> [B, V, L]: one-hot text is stored length-first, Conv1d wants channels first."""

    def forward(self, x: Tensor) -> Tensor:
        return x.transpose(-2, -1)


class CropLength(nn.Module):
    """Keep the first ``length`` positions of [B, C, L'] (L' >= length)."""

    def __init__(self, length: int):
        super().__init__()
        self.length = length

    def forward(self, x: Tensor) -> Tensor:
        return x[..., : self.length]

    def extra_repr(self) -> str:
        return f"length={self.length}"


class AsFeatureMap(nn.Module):
    """[N, D] -> [N, D, 1, 1], for decoders whose first layer is a transposed conv (MMVAE CUB)."""

    def forward(self, z: Tensor) -> Tensor:
        return z[:, :, None, None]


class ResnetBlock(nn.Module):
    """Pre-activation residual block, 0.1-scaled residual branch (MMVM / GAN-stability code)."""

    def __init__(self, fin: int, fout: int):
        super().__init__()
        hidden = min(fin, fout)
        self.conv_0 = nn.Conv2d(fin, hidden, 3, 1, 1)
        self.conv_1 = nn.Conv2d(hidden, fout, 3, 1, 1)
        self.shortcut = nn.Conv2d(fin, fout, 1, 1, 0, bias=False) if fin != fout else nn.Identity()
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: Tensor) -> Tensor:
        dx = self.conv_1(self.act(self.conv_0(self.act(x))))
        return self.shortcut(x) + 0.1 * dx
