"""Layers with explicit forward and backward passes (see :mod:`npae.layers.base`)."""

from npae.layers.activations import (
    Activation,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softplus,
    Tanh,
    get_activation,
)
from npae.layers.base import LAYERS, Layer
from npae.layers.dense import Dense
from npae.layers.shape import Flatten, Reshape

__all__ = [
    "LAYERS", "Layer", "Dense", "Activation", "Identity", "ReLU", "LeakyReLU", "Sigmoid",
    "Tanh", "Softplus", "get_activation", "Flatten", "Reshape",
]

try:  # convolutional layers live in their own files
    from npae.layers.conv import Conv2D, ConvTranspose2D  # noqa: F401
    from npae.layers.pooling import MaxPool2D, Upsample2D  # noqa: F401

    __all__ += ["Conv2D", "ConvTranspose2D", "MaxPool2D", "Upsample2D"]
except ImportError:  # pragma: no cover - while they are being written
    pass
