"""npae: autoencoders in pure NumPy with hand-written, gradient-checked backprop.

Start with :mod:`npae.models` (``dense_autoencoder``), check gradients with
:mod:`npae.gradcheck`, compare with PCA in :mod:`npae.linear`.
"""

__version__ = "0.1.0"

from npae import backend, data, gradcheck, layers, linear, losses, optim, penalties  # noqa: E402
from npae.io import load, save  # noqa: E402
from npae.network import Sequential  # noqa: E402

__all__ = ["backend", "data", "linear", "gradcheck", "layers", "losses", "optim", "penalties",
           "load", "save", "Sequential", "__version__"]
