r"""The sparse autoencoder: a penalty that keeps most code units silent most of the time.

.. math:: \min_\theta \; L\big(x, g_\theta(h)\big) + \Omega(h), \qquad h = f_\theta(x)

with ``Omega`` one of

- ``penalty="kl"``: ``beta * sum_j KL(rho || rho_hat_j)``, ``rho_hat_j`` the mean
  activation of unit ``j`` over the batch (:func:`npae.penalties.kl_sparsity`);
  the code must lie in (0, 1), so the encoder must end in ``Sigmoid``;
- ``penalty="l1"``: ``lam * sum_j |h_j|`` per sample (:func:`npae.penalties.l1_activity`),
  any code (ReLU codes become exactly zero).

With a sparsity penalty the code may be *overcomplete* (more units than
inputs): the penalty, not the bottleneck, stops the network from copying.

Which reconstruction reduction? Both penalties are per-sample quantities
(summed over units, averaged over the batch), so the weights ``beta`` and
``lam`` are meaningful against a per-sample reconstruction error: the sum over
features, averaged over the batch, ``reduction="batchmean"``. That is the
objective of Ng's sparse-autoencoder notes (up to their factor 1/2, and he
uses ``beta = 3``): both terms are per-sample sums, their ratio does not
depend on the batch size, and ``beta`` of order 1 is the right start. It is
the default here (with ``beta = 1`` and ``lam = 0.1``). With
``reduction="mean"`` (per-pixel error, what Keras-style code uses) the
reconstruction term is ``D`` times smaller, so a weight ``w`` there is the weight
``w * D`` here: the lecture's per-pixel KL weight 0.001 on MNIST (``D = 784``)
is ``beta = 0.784`` with ``"batchmean"``.
"""

from __future__ import annotations

from typing import Any

from npae.arguments import check_hyper
from npae.backend import Array
from npae.layers.activations import Sigmoid
from npae.layers.base import Layer
from npae.models.autoencoder import Autoencoder
from npae.network import leaf_layers
from npae.penalties import kl_sparsity, l1_activity

__all__ = ["SparseAutoencoder"]


class SparseAutoencoder(Autoencoder):
    """An :class:`~npae.models.autoencoder.Autoencoder` with a sparsity penalty on its code.

    Parameters
    ----------
    encoder, decoder : Layer or Sequential
        For ``penalty="kl"`` the encoder's last layer must be ``Sigmoid``
        (``dense_autoencoder(..., code_activation="sigmoid")``).
    penalty : {"kl", "l1"}
    rho : float
        Target mean activation for ``"kl"``, ``0 < rho < 1`` (default 0.05).
    beta : float
        Weight of the KL penalty, ``>= 0`` (default 1).
    lam : float
        Weight of the L1 penalty, ``>= 0`` (default 0.1). A hyperparameter of the
        other penalty (``beta`` with ``penalty="l1"``, say) is refused rather than
        silently ignored.
    loss : {"mse", "bce"}
    reduction : {"batchmean", "mean", "sum"}
        ``"batchmean"`` by default (see the module docstring for why).
    rng : Generator or int, optional

    Notes
    -----
    The penalty is logged as the loss part ``"sparsity"``.
    """

    DEFAULTS: dict[str, float] = {"rho": 0.05, "beta": 1.0, "lam": 0.1}

    def __init__(self, encoder: Layer, decoder: Layer, penalty: str = "kl",
                 rho: float | None = None, beta: float | None = None, lam: float | None = None,
                 loss: str = "mse", *, reduction: str = "batchmean", rng: Any = None) -> None:
        super().__init__(encoder, decoder, loss, reduction=reduction, rng=rng)
        name = type(self).__name__
        if penalty not in ("kl", "l1"):
            raise ValueError(f"{name}: penalty must be 'kl' or 'l1', got {penalty!r}")
        given = {"rho": rho, "beta": beta, "lam": lam}
        foreign = [k for k in self._foreign(penalty) if given[k] is not None]
        if foreign:
            weight = "beta" if penalty == "kl" else "lam"
            verb = "does" if len(foreign) == 1 else "do"
            raise ValueError(f"{name}: {' and '.join(foreign)} {verb} not apply to "
                             f"penalty={penalty!r} (its weight is {weight})")
        value = {k: self.DEFAULTS[k] if v is None else v for k, v in given.items()}
        self.penalty = penalty
        self.rho = check_hyper(value["rho"], name, "rho", open_interval=True)
        self.beta = check_hyper(value["beta"], name, "beta")
        self.lam = check_hyper(value["lam"], name, "lam")
        if penalty == "kl":
            leaves = leaf_layers(self.encoder)  # the last layer, inside nested Sequentials
            last = leaves[-1] if leaves else None
            if not isinstance(last, Sigmoid):
                raise ValueError(
                    f"{name}: penalty='kl' needs a code in (0, 1) (the mean activation is "
                    f"compared with rho = {self.rho}), so the encoder's last layer must be "
                    f"Sigmoid, got {type(last).__name__}; build it with "
                    "code_activation='sigmoid', or use penalty='l1'")

    @staticmethod
    def _foreign(penalty: str) -> tuple[str, ...]:
        return ("lam",) if penalty == "kl" else ("rho", "beta")

    def config(self) -> dict[str, Any]:
        own = {"rho": self.rho, "beta": self.beta} if self.penalty == "kl" else {"lam": self.lam}
        return {**super().config(), "penalty": self.penalty, **own}

    @classmethod
    def saved_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """A stored config as the constructor takes it: files written before the other
        penalty's hyperparameters were refused carry all three (unused ones included)."""
        return {k: v for k, v in config.items()
                if k not in cls._foreign(config.get("penalty", "kl"))}

    def code_penalty(self, h: Array, backward: bool) -> tuple[dict[str, Any], Array | None]:
        """``({"sparsity": value}, dh)`` from :func:`~npae.penalties.kl_sparsity`
        or :func:`~npae.penalties.l1_activity`."""
        if self.penalty == "kl":
            # the Sigmoid code, checked at construction, keeps rho_hat in [0, 1]
            value, dh = kl_sparsity.on_device(h, self.rho, self.beta, check=False)
        else:
            value, dh = l1_activity.on_device(h, self.lam)
        return {"sparsity": value}, dh if backward else None
