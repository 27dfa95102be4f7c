r"""The denoising autoencoder: reconstruct the clean input from a corrupted one.

.. math:: \min_\theta \; \mathbb{E}_{\tilde x \sim q(\tilde x \mid x)}
          \; L\big(x,\; g_\theta(f_\theta(\tilde x))\big)

The corruption ``q`` is one of :mod:`npae.noise` (Gaussian, salt-and-pepper,
masking), drawn afresh for every batch. Only the encoder's input changes; the
target stays the clean ``x``, so the gradient is the plain autoencoder's,
taken at ``x_tilde``. A network that must undo the noise cannot copy its input:
it has to learn where the data lie and map a corrupted point back onto them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npae.backend import Array
from npae.layers.base import Layer
from npae.models.autoencoder import Autoencoder
from npae.noise import Noise, make_noise

__all__ = ["DenoisingAutoencoder"]


class DenoisingAutoencoder(Autoencoder):
    """An :class:`~npae.models.autoencoder.Autoencoder` trained on corrupted inputs.

    Parameters
    ----------
    encoder, decoder : Layer or Sequential
    noise : Noise, dict, str or None
        The corruption, e.g. ``GaussianNoise(0.3)``, ``{"kind": "masking", "p": 0.25}``
        or ``"salt_pepper"`` (see :func:`npae.noise.make_noise`). Default:
        Gaussian noise with ``sigma = 0.3``, clipped to [0, 1]; data outside [0, 1]
        are then refused (pass ``GaussianNoise(sigma, clip=False)`` for them).
    loss, reduction, rng
        As for :class:`~npae.models.autoencoder.Autoencoder`; ``rng`` draws the
        corruption during training.

    Notes
    -----
    ``loss(x)`` and ``fit`` corrupt every batch with a fresh draw.
    ``evaluate`` (and so the validation loss logged by ``fit``) uses a fixed
    seed, so the validation loss of every epoch is measured on the same
    corrupted inputs and epochs can be compared. ``encode`` and ``reconstruct``
    never add noise.
    """

    def __init__(self, encoder: Layer, decoder: Layer,
                 noise: Noise | dict[str, Any] | str | None = None, loss: str = "mse", *,
                 reduction: str = "mean", rng: Any = None) -> None:
        super().__init__(encoder, decoder, loss, reduction=reduction, rng=rng)
        self.noise = make_noise({"kind": "gaussian", "sigma": 0.3} if noise is None else noise)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "noise": self.noise.config()}

    def unit_range(self, training: bool = False) -> str | None:
        """The loss's requirement, or, for data that will be corrupted, the noise's
        (a clipping noise assumes [0, 1] data); ``encode`` and ``reconstruct`` add no noise."""
        return super().unit_range(training) or (self.noise.unit_range if training else None)

    def corrupt(self, x: Array, rng: np.random.Generator) -> Array:
        """``x_tilde ~ q(. | x)``, a fresh draw from ``rng``."""
        return self.noise(x, rng)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(noise={self.noise!r},\n encoder={self.encoder!r},\n"
                f" decoder={self.decoder!r})")
