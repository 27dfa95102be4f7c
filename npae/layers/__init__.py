"""Layers with explicit forward and backward passes (the protocol: :mod:`npae.layers.base`).

One module per family: :mod:`~npae.layers.dense`, :mod:`~npae.layers.activations`,
:mod:`~npae.layers.conv`, :mod:`~npae.layers.pooling`, :mod:`~npae.layers.shape`.
"""

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
from npae.layers.base import Layer
from npae.layers.conv import Conv2D, ConvTranspose2D
from npae.layers.dense import Dense
from npae.layers.pooling import MaxPool2D, Upsample2D
from npae.layers.shape import Flatten, Reshape
from npae.registry import LAYERS

__all__ = [
    "LAYERS", "Layer", "Dense", "Activation", "Identity", "ReLU", "LeakyReLU", "Sigmoid",
    "Tanh", "Softplus", "get_activation", "Flatten", "Reshape", "Conv2D", "ConvTranspose2D",
    "MaxPool2D", "Upsample2D",
]
