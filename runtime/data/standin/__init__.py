"""Embedded stand-ins: procedurally generated datasets with the real datasets' modality shapes.

Built from data inside packages the project installs anyway (scikit-learn's handwritten digits,
matplotlib's and Pillow's fonts, scikit-image's photographs), deterministic for a seed, cached on
disk, and fast (tens of thousands of items in seconds on 2 CPU cores), so every spec runs on a
fresh machine. Each generator module documents what it draws and how it differs from the real data.
"""
from runtime.data.standin.digits import make_mnist_like
from runtime.data.standin.shapes import make_shapes
from runtime.data.standin.svhn_like import make_svhn_like

__all__ = ["make_mnist_like", "make_svhn_like", "make_shapes"]
