r"""The contractive autoencoder: a code that changes little when the input moves a little.

.. math:: \min_\theta \; L\big(x, g_\theta(f_\theta(x))\big)
          + \lambda \, \Big\| \frac{\partial f_\theta(x)}{\partial x} \Big\|_F^2

The penalty, the squared Frobenius norm of the encoder's Jacobian at each
training input, is small when the code is locally flat; the reconstruction term
keeps it sensitive along the directions in which the data actually vary. The
result is a code that is contracted in every other direction, which is what a
denoising autoencoder achieves stochastically (with small Gaussian noise the two
are closely related). See :func:`npae.penalties.contractive` for the exact,
hand-written gradient, for one layer and for deep encoders.
"""

from __future__ import annotations

from typing import Any

from npae.arguments import check_hyper, is_int
from npae.backend import Array
from npae.layers.base import Layer
from npae.models.autoencoder import Autoencoder
from npae.penalties import MAX_JACOBIAN_ELEMENTS, contractive, encoder_steps

__all__ = ["ContractiveAutoencoder"]


class ContractiveAutoencoder(Autoencoder):
    """An :class:`~npae.models.autoencoder.Autoencoder` with the contractive penalty.

    Parameters
    ----------
    encoder, decoder : Layer or Sequential
        The encoder must be Dense layers and element-wise activations (checked
        at construction).
    lam : float
        Weight ``lambda >= 0`` of ``mean_n ||dh/dx (x_n)||_F^2``. Its scale is
        relative to the reconstruction loss: with the default per-pixel
        ``reduction="mean"`` on images, values around 1e-3 to 1e-2 matter
        (``||J||_F^2`` of a fresh 784-128 sigmoid encoder is about 10).
    loss, reduction, rng
        As for :class:`~npae.models.autoencoder.Autoencoder`.
    max_jacobian_elements : int
        Bound on the Jacobian entries held at once for a deep encoder (the
        batch is processed in chunks beyond it).

    Notes
    -----
    The penalty is logged as the loss part ``"contractive"``.
    """

    def __init__(self, encoder: Layer, decoder: Layer, lam: float = 0.01, loss: str = "mse", *,
                 reduction: str = "mean", max_jacobian_elements: int = MAX_JACOBIAN_ELEMENTS,
                 rng: Any = None) -> None:
        super().__init__(encoder, decoder, loss, reduction=reduction, rng=rng)
        name = type(self).__name__
        self.lam = check_hyper(lam, name, "lam")
        if not is_int(max_jacobian_elements) or max_jacobian_elements < 1:
            raise ValueError(f"{name}: max_jacobian_elements must be a positive int, "
                             f"got {max_jacobian_elements!r}")
        self.max_jacobian_elements = int(max_jacobian_elements)
        encoder_steps(self.encoder, name)  # refuse an encoder the penalty cannot handle now

    def config(self) -> dict[str, Any]:
        return {**super().config(), "lam": self.lam,
                "max_jacobian_elements": self.max_jacobian_elements}

    def encoder_penalty(self, x: Array, backward: bool
                        ) -> tuple[dict[str, Any], dict[str, Array] | None]:
        """``({"contractive": value}, {param name: grad})`` at the encoder's input ``x``."""
        if self.lam == 0:
            return {"contractive": 0.0}, None
        value, grads = contractive.on_device(x, self.encoder, self.lam, grads=backward,
                                             max_jacobian_elements=self.max_jacobian_elements)
        return {"contractive": value}, grads if backward else None
