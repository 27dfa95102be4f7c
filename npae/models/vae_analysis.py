r"""Looking inside a trained VAE: its posterior, the two gradient estimators, a KL warm-up.

Three tools the VAE tutorial measures with, kept apart from :mod:`npae.models.variational`
(the model itself):

- :func:`posterior_statistics` and :func:`active_units`: what each ``q(z|x)`` looks like
  (per-image standard deviations, KL per latent coordinate) and how many coordinates
  carry information (Burda et al. 2015: ``Var_x E_q[z_j] > 0.01``);
- :func:`aggregate_posterior`: the mixture ``q(z) = (1/N) sum_i q(z|x_i)``, its mean and
  covariance against ``N(0, I)``, and the split of the average KL into the mutual
  information ``I(x; z)`` and ``KL(q(z) || p(z))`` (Hoffman & Johnson 2016);
- :func:`encoder_gradient`: the gradient of the negative ELBO with respect to the
  encoder's parameters by the reparameterized estimator or by the score-function
  (REINFORCE) estimator, to compare their variances;
- :class:`KLWarmup`: a callback that raises ``beta`` from 0 over the first epochs.

Notation is npae's (deck 004's): the encoder ``q_phi(z|x)``, the decoder ``p_theta(x|z)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from npae.arguments import as_generator
from npae.backend import asnumpy, get_array_module
from npae.layers.activations import Sigmoid
from npae.train import Callback

__all__ = ["posterior_statistics", "active_units", "aggregate_posterior", "encoder_gradient",
           "KLWarmup", "ESTIMATORS"]

ESTIMATORS = ("reparameterized", "score", "score+baseline")
_LOG_2PI = math.log(2 * math.pi)


def _check_vae(model: Any, owner: str) -> None:
    if not (hasattr(model, "encode_distribution") and hasattr(model, "latent_dim")):
        raise TypeError(f"{owner}: expected a VAE (npae.models.VAE), got {type(model).__name__}")


def _distribution(model: Any, X: Any) -> tuple[np.ndarray, np.ndarray]:
    mu, logvar = model.encode_distribution(X)
    return asnumpy(mu).astype(np.float64), asnumpy(logvar).astype(np.float64)


def posterior_statistics(model: Any, X: Any) -> dict[str, np.ndarray | float]:
    r"""Per-image posterior statistics of a VAE on the inputs ``X``.

    For each image ``x_i`` and latent coordinate ``j``, with ``q(z|x_i) = N(mu_ij, sigma_ij^2)``:

    .. math::
        KL_{ij} = \tfrac12\big(\mu_{ij}^2 + \sigma_{ij}^2 - \log\sigma_{ij}^2 - 1\big).

    Returns
    -------
    dict
        ``"mu"``, ``"sigma"``, ``"kl"``: ``(N, L)`` arrays; ``"kl_per_image"`` ``(N,)`` (sum
        over ``j``); ``"kl_per_dim"`` ``(L,)`` (mean over images); ``"mean_kl"`` (float,
        nats per image).
    """
    _check_vae(model, "posterior_statistics")
    mu, logvar = _distribution(model, X)
    kl = 0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1)
    return {"mu": mu, "sigma": np.exp(0.5 * logvar), "kl": kl,
            "kl_per_image": kl.sum(axis=1), "kl_per_dim": kl.mean(axis=0),
            "mean_kl": float(kl.sum(axis=1).mean())}


def active_units(model: Any, X: Any, threshold: float = 0.01) -> tuple[int, np.ndarray]:
    r"""How many latent coordinates are *active* (Burda, Grosse & Salakhutdinov 2015).

    Coordinate ``j`` is active when its posterior mean moves with the input:

    .. math::
        A_j = \operatorname{Var}_x\, \mathbb E_{q(z|x)}[z_j]
        = \operatorname{Var}_x\, \mu_j(x) > \text{threshold}.

    An inactive coordinate has ``mu_j`` nearly the same for every image, so the
    decoder can learn nothing about ``x`` from it. Returns ``(count, A)``, ``A`` of shape
    ``(L,)`` (population variance over ``X``).
    """
    _check_vae(model, "active_units")
    if not threshold >= 0:
        raise ValueError(f"active_units: threshold must be >= 0, got {threshold!r}")
    mu, _ = _distribution(model, X)
    a = mu.var(axis=0)
    return int((a > threshold).sum()), a


def aggregate_posterior(model: Any, X: Any, rng: Any = 0, samples: int = 1
                        ) -> dict[str, Any]:
    r"""The aggregate posterior ``q(z) = (1/N) sum_i q(z | x_i)`` over the inputs ``X``.

    Its first two moments (a mixture of Gaussians: the covariance is the covariance of the
    means plus the mean of the diagonal variances),

    .. math::
        m = \tfrac1N\sum_i \mu_i, \qquad
        C = \operatorname{Cov}_i(\mu_i) + \tfrac1N\sum_i \operatorname{diag}(\sigma_i^2),

    and the KL of the Gaussian with those moments to ``N(0, I)``,
    ``0.5 (tr C + m^T m - L - log det C)``: zero when the moments match the prior's (it
    says nothing about the mixture's *shape*).

    The average KL of the ELBO splits exactly (Hoffman & Johnson 2016) into

    .. math::
        \tfrac1N\sum_i KL(q(z|x_i)\,\|\,p(z)) = I_q(x; z) + KL(q(z)\,\|\,p(z)),

    the mutual information between the index of the image and its code (at most
    ``log N``) plus the aggregate's KL to the prior. ``I_q`` is estimated by Monte Carlo,
    ``E_i E_{z ~ q(z|x_i)}[log q(z|x_i) - log q(z)]`` with ``q(z)`` the exact mixture over
    all of ``X`` (``samples`` draws per image; ``O(N^2 L)`` time, in blocks), and the
    aggregate's KL as the difference.

    Returns
    -------
    dict
        ``"mean"`` ``(L,)``, ``"cov"`` ``(L, L)``, ``"gaussian_kl"`` (float), ``"mean_kl"``,
        ``"mutual_information"``, ``"marginal_kl"``, ``"log_n"`` (floats, nats).
    """
    _check_vae(model, "aggregate_posterior")
    mu, logvar = _distribution(model, X)
    n, L = mu.shape
    var = np.exp(logvar)
    m = mu.mean(axis=0)
    cov = np.cov(mu, rowvar=False, bias=True).reshape(L, L) + np.diag(var.mean(axis=0))
    _, logdet = np.linalg.slogdet(cov)
    gauss_kl = 0.5 * (np.trace(cov) + m @ m - L - logdet)
    mean_kl = float((0.5 * (mu ** 2 + var - logvar - 1)).sum(axis=1).mean())
    g = as_generator(rng)
    inv = 1.0 / var                               # (n, L)
    const = -0.5 * (logvar.sum(axis=1) + L * _LOG_2PI + (mu ** 2 * inv).sum(axis=1))  # (n,)
    mi = []
    for _ in range(int(samples)):
        eps = g.standard_normal((n, L))
        z = mu + np.sqrt(var) * eps
        log_own = -0.5 * ((eps ** 2).sum(axis=1) + logvar.sum(axis=1) + L * _LOG_2PI)
        log_mix = np.empty(n)
        for s in range(0, n, 1024):  # log q(z_a | x_b) for a block of z: (block, n)
            zb = z[s:s + 1024]
            lq = (-0.5 * (zb ** 2) @ inv.T + zb @ (mu * inv).T) + const[None, :]
            top = lq.max(axis=1, keepdims=True)
            log_mix[s:s + 1024] = np.log(np.exp(lq - top).mean(axis=1)) + top[:, 0]
        mi.append(float((log_own - log_mix).mean()))
    info = float(np.mean(mi))
    return {"mean": m, "cov": cov, "gaussian_kl": float(gauss_kl), "mean_kl": mean_kl,
            "mutual_information": info, "marginal_kl": mean_kl - info, "log_n": math.log(n)}


def encoder_gradient(model: Any, x: Any, estimator: str = "reparameterized",
                     samples: int = 1, rng: Any = None) -> np.ndarray:
    r"""One estimate of the gradient of the batch-mean ``-ELBO`` w.r.t. the encoder's parameters.

    The KL term is exact and differentiated in closed form by every estimator; they
    differ in how they estimate the gradient of the reconstruction term
    ``-E_{q_phi(z|x)}[f(z)]``, ``f(z) = log p_theta(x|z)``, from ``S = samples`` draws
    ``z_s = mu + sigma * eps_s`` per image:

    - ``"reparameterized"``: differentiate through the sample,
      :math:`\nabla_\phi f(\mu + \sigma\varepsilon)`: ``df/dz`` from the decoder's
      backward pass, then ``dz/dmu = 1`` and ``dz/dlogvar = sigma * eps / 2``;
    - ``"score"`` (REINFORCE):
      :math:`\nabla_\phi \mathbb E_q[f] = \mathbb E_q[f(z)\, \nabla_\phi \log q_\phi(z|x)]`,
      which needs no derivative of ``f``. For a diagonal
      Gaussian, ``log q = -1/2 sum_j [(z_j - mu_j)^2 exp(-logvar_j) + logvar_j + log 2 pi]``,
      so at ``z = mu + sigma * eps``

      .. math::
          \frac{\partial \log q}{\partial \mu_j} = \frac{z_j - \mu_j}{\sigma_j^2}
          = \frac{\varepsilon_j}{\sigma_j},\qquad
          \frac{\partial \log q}{\partial\, \text{logvar}_j}
          = \frac{(z_j - \mu_j)^2}{2\sigma_j^2} - \frac12 = \frac{\varepsilon_j^2 - 1}{2};

    - ``"score+baseline"``: the same with ``f(z_s) - b_s``, where ``b_s`` is the mean of
      ``f`` over the image's *other* draws (a leave-one-out baseline: unbiased because
      ``E_q[grad log q] = 0`` and ``b_s`` does not depend on ``z_s``); needs ``samples >= 2``.

    In each case the gradients with respect to ``(mu, logvar)`` are backpropagated through
    the encoder (``model.encoder.backward``). All three have the same expectation; their
    variances differ.

    Parameters
    ----------
    model : VAE
        With a decoder that outputs logits (Bernoulli) or means (Gaussian), as
        :func:`~npae.models.variational.dense_vae` builds it.
    x : array (N, ...)
        The batch.
    estimator : {"reparameterized", "score", "score+baseline"}
    samples : int
        Draws of ``eps`` per image, averaged.
    rng : Generator or int, optional

    Returns
    -------
    numpy.ndarray
        The gradient, float64, flattened in the order of ``model.encoder.parameters()``.
        The encoder's and decoder's ``grads`` are overwritten.
    """
    _check_vae(model, "encoder_gradient")
    if estimator not in ESTIMATORS:
        raise ValueError(f"encoder_gradient: estimator must be one of {ESTIMATORS}, "
                         f"got {estimator!r}")
    S = samples
    if isinstance(S, bool) or not isinstance(S, (int, np.integer)) or S < 1 \
            or (estimator == "score+baseline" and S < 2):
        need = 2 if estimator == "score+baseline" else 1
        raise ValueError(f"encoder_gradient: samples must be an int >= {need} for "
                         f"estimator {estimator!r}, got {samples!r}")
    if isinstance(model.decoder.layers[-1], Sigmoid):
        raise ValueError("encoder_gradient: the decoder must output logits or means (no final "
                         "Sigmoid layer), as dense_vae and conv_vae build it")
    x = model.check_data(x, "encoder_gradient", "x")
    g = as_generator(rng)
    L = model.latent_dim
    h = model.encoder.forward(x, training=False)
    mu, logvar = h[:, :L], h[:, L:]
    xp = get_array_module(mu)
    N = mu.shape[0]
    sigma = xp.exp(0.5 * logvar)
    eps = xp.asarray(g.standard_normal((int(S), N, L)).astype(mu.dtype))
    z = mu[None] + sigma[None] * eps                                   # (S, N, L)
    out = model.decoder.forward(z.reshape(S * N, L), training=False)
    xr = xp.broadcast_to(x, (S, *x.shape)).reshape(S * N, -1)
    out2 = out.reshape(S * N, -1)
    if model.likelihood == "bernoulli":   # f = sum x l - softplus(l); df/dl = x - sigmoid(l)
        f = (xr * out2 - xp.logaddexp(0, out2)).sum(axis=1)
        dfdout = xr - 1.0 / (1.0 + xp.exp(-out2))
    else:                                 # f = -||x - m||^2 / (2 v) - D/2 log(2 pi v)
        v = model.variance
        f = (-0.5 / v) * ((xr - out2) ** 2).sum(axis=1) \
            - 0.5 * out2.shape[1] * (_LOG_2PI + math.log(v))
        dfdout = (xr - out2) / v
    f = f.reshape(S, N)
    if estimator == "reparameterized":
        dz = model.decoder.backward((-dfdout / (S * N)).reshape(out.shape).astype(out.dtype))
        dz = dz.reshape(S, N, L)
        dmu = dz.sum(axis=0)
        dlogvar = (dz * 0.5 * sigma[None] * eps).sum(axis=0)
    else:
        w = f
        if estimator == "score+baseline":
            w = f - (f.sum(axis=0, keepdims=True) - f) / (S - 1)
        w = (-w / (S * N))[..., None].astype(mu.dtype)                # d(-mean f)/d f_s
        dmu = (w * eps / sigma[None]).sum(axis=0)
        dlogvar = (w * 0.5 * (eps * eps - 1)).sum(axis=0)
    dmu = dmu + mu / N                                  # the exact KL, mean over the batch
    dlogvar = dlogvar + 0.5 * (xp.exp(logvar) - 1) / N
    model.encoder.forward(x, training=False)           # the decoder pass left it intact;
    model.encoder.backward(xp.concatenate([dmu, dlogvar], axis=1).astype(mu.dtype))
    return np.concatenate([asnumpy(gr).astype(np.float64).ravel()
                           for _, _, gr in model.encoder.parameters()])


class KLWarmup(Callback):
    r"""KL warm-up (annealing): raise a VAE's ``beta`` linearly over the first epochs.

    Epoch ``e`` (counted from 0) trains with

    .. math:: \beta_e = \beta_0 + (\beta_{\text{target}} - \beta_0)\,\min(1, e / E),

    ``E = epochs``: ``beta_0`` (default 0, a plain noisy autoencoder) in the first epoch,
    the target from epoch ``E`` on. The target is the model's ``beta`` when training
    starts unless given; it is put back when training ends, even if training stopped
    early. Early in training the KL term is otherwise strong enough to pull every
    ``q(z|x)`` onto the prior before the decoder has learned to use ``z`` (Bowman et al.
    2016; Sønderby et al. 2016). ``betas`` lists the value each completed epoch trained with.

    Examples
    --------
    >>> vae.fit(X, epochs=40, callbacks=[KLWarmup(10)])   # doctest: +SKIP
    """

    def __init__(self, epochs: int, target: float | None = None, start: float = 0.0) -> None:
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"KLWarmup: epochs must be a positive int, got {epochs!r}")
        for name, value in (("target", target), ("start", start)):
            if value is not None and not (isinstance(value, (int, float)) and
                                          math.isfinite(value) and value >= 0):
                raise ValueError(f"KLWarmup: {name} must be a finite number >= 0, "
                                 f"got {value!r}")
        self.epochs, self.target, self.start = int(epochs), target, float(start)
        self.betas: list[float] = []

    def beta_at(self, epoch: int) -> float:
        """The ``beta`` epoch ``epoch`` (from 0) trains with."""
        return self.start + (self._target - self.start) * min(1.0, epoch / self.epochs)

    def on_train_begin(self, model: Any) -> None:
        if not hasattr(model, "beta"):
            raise TypeError(f"KLWarmup: the model has no beta to warm up "
                            f"({type(model).__name__}; use it with a VAE)")
        self._target = float(model.beta if self.target is None else self.target)
        self.betas = []
        model.beta = self.beta_at(0)

    def on_epoch_end(self, epoch: int, logs: dict[str, float], model: Any) -> bool:
        self.betas.append(model.beta)  # the value this (completed) epoch trained with
        model.beta = self.beta_at(epoch + 1)
        return False

    def on_train_end(self, model: Any) -> None:
        model.beta = self._target
