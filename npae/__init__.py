"""npae: autoencoders in pure NumPy with hand-written, gradient-checked backprop.

Start with :mod:`npae.models` (``dense_autoencoder``), check gradients with
:mod:`npae.gradcheck`, compare with PCA in :mod:`npae.linear`.
"""

__version__ = "0.1.0"

from npae import (  # noqa: E402
    backend,
    data,
    gradcheck,
    layers,
    linear,
    losses,
    models,
    noise,
    optim,
    penalties,
)
from npae.io import load, save  # noqa: E402
from npae.network import Sequential  # noqa: E402

__all__ = ["backend", "data", "linear", "gradcheck", "layers", "losses", "models", "noise", "optim",
           "penalties", "load", "save", "Sequential", "__version__"]
