"""Regularizers as pure functions returning the value and its gradient(s)."""

from __future__ import annotations

from npae.backend import get_array_module
from npae.layers.base import Array

__all__ = ["gaussian_kl"]


def gaussian_kl(mu: Array, logvar: Array) -> tuple[float, Array, Array]:
    r"""``KL(N(mu, diag(exp(logvar))) || N(0, I))``, summed over latent dims, mean over batch.

    Per sample, with ``sigma^2 = exp(logvar)``:

    .. math::
        KL = \tfrac12 \sum_j \left(\mu_j^2 + e^{\text{logvar}_j} - \text{logvar}_j - 1\right)

    Gradients (``N`` the batch size):

    .. math::
        \frac{\partial KL}{\partial \mu_j} = \frac{\mu_j}{N}, \qquad
        \frac{\partial KL}{\partial\, \text{logvar}_j} = \frac{e^{\text{logvar}_j} - 1}{2N}.

    It is zero exactly at ``mu = 0, logvar = 0``. ``exp(logvar)`` is finite for
    ``logvar`` up to about 88 in float32 (709 in float64); beyond that the true
    KL is astronomically large, so ``logvar`` is clipped to ``[-80, 80]`` inside
    the exponential only (and the gradient is that of the clipped term), which
    keeps value and gradients finite for any input.
    """
    if mu.shape != logvar.shape:
        raise ValueError(
            f"gaussian_kl: mu and logvar must have the same shape, "
            f"got {mu.shape} and {logvar.shape}")
    if mu.ndim != 2 or mu.shape[0] == 0:
        raise ValueError(
            f"gaussian_kl: expected (batch, latent) arrays with batch >= 1, got {mu.shape}")
    xp = get_array_module(mu)
    N = mu.shape[0]
    var = xp.exp(xp.clip(logvar, -80, 80))
    value = 0.5 * float((mu * mu + var - logvar - 1).sum()) / N
    return value, mu * (1 / N), (var - 1) * (0.5 / N)
