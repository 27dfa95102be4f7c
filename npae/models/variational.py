# Long module: the whole VAE in one place: the trick, the ELBO and its estimators, sampling.
r"""The variational autoencoder (VAE): a Gaussian encoder, the reparameterization trick, the ELBO.

Generative model and approximate posterior, with ``L`` latent dimensions:

.. math::
    p(z) = \mathcal N(0, I), \qquad p_\theta(x \mid z) = \text{Bernoulli}(\sigma(g_\theta(z)))
    \;\text{or}\; \mathcal N(g_\theta(z), \sigma_x^2 I), \qquad
    q_\phi(z \mid x) = \mathcal N\big(\mu(x), \operatorname{diag}(e^{\text{logvar}(x)})\big).

The encoder's last layer outputs ``2L`` numbers per sample: the first ``L`` are
``mu``, the last ``L`` are ``logvar = log sigma^2``. Three quantities must never
be confused (mixing them is the classic VAE bug):

- ``logvar``, the log-variance the encoder outputs (any real number);
- ``sigma = exp(logvar / 2)``, the standard deviation;
- ``sigma^2 = exp(logvar)``, the variance.

A sample is ``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` (unit variance), so
``Var[z] = sigma^2 = exp(logvar)``.

The loss is the negative evidence lower bound (ELBO) per sample, in nats:

.. math::
    -\text{ELBO}(x) = \underbrace{-\log p_\theta(x \mid z)}_{\text{reconstruction}}
    + \beta\, \underbrace{KL\big(q_\phi(z\mid x)\,\|\,p(z)\big)}_{\text{kl}},
    \qquad z = \mu + \sigma \odot \varepsilon,

with one ``eps`` per sample and minibatch, summed over pixels and latent
dimensions, averaged over the batch. ``beta = 1`` is the VAE; ``beta > 1`` the
beta-VAE; ``beta = 0`` a (noisy) autoencoder with no pull towards the prior.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from npae.arguments import as_generator, check_real, is_int
from npae.backend import Array, asnumpy, get_array_module
from npae.layers.activations import Sigmoid, sigmoid
from npae.layers.base import Layer
from npae.layers.dense import Dense
from npae.losses import bce_logits_terms, bce_with_logits, mse
from npae.models.autoencoder import Autoencoder, check_data, dense_layers, read_parts
from npae.network import Sequential, leaf_layers, output_width
from npae.penalties import LOGVAR_CLIP, gaussian_kl

__all__ = ["VAE", "reparameterize", "reparameterize_backward", "dense_vae", "conv_vae",
           "normal_grid", "LOGVAR_CLIP"]

_LOG_2PI = math.log(2 * math.pi)


# --------------------------------------------------------------------------- the trick
def _std(logvar: Array) -> Array:
    """``sigma = exp(logvar / 2)``, with ``logvar`` clipped to ``[-80, 80]`` inside the exp."""
    xp = get_array_module(logvar)
    return xp.exp(xp.clip(logvar, -LOGVAR_CLIP, LOGVAR_CLIP) * 0.5)


def _check_same_shape(owner: str, **arrays: Array) -> None:
    shapes = {k: getattr(a, "shape", None) for k, a in arrays.items()}
    if len(set(shapes.values())) != 1:
        got = ", ".join(f"{k} {s}" for k, s in shapes.items())
        raise ValueError(f"{owner}: arrays must have the same shape, got {got}")


def reparameterize(mu: Array, logvar: Array, eps: Array) -> Array:
    r"""A sample of ``N(mu, diag(exp(logvar)))`` as a differentiable function of ``(mu, logvar)``.

    .. math:: z = \mu + \sigma \odot \varepsilon, \qquad \sigma = e^{\text{logvar}/2},
              \qquad \varepsilon \sim \mathcal N(0, I)

    ``logvar`` is a log-*variance*: the standard deviation is ``exp(logvar / 2)``, not
    ``exp(logvar)``, and ``Var[z] = exp(logvar)``. ``eps`` (unit variance, drawn by the
    caller) is cast to ``mu``'s dtype so that float32 stays float32.

    Stability: ``logvar`` is clipped to ``[-80, 80]`` inside the exponential only
    (:data:`LOGVAR_CLIP`), so ``z`` is finite in float32 for every finite input; for
    ``logvar`` in ``[-50, 50]`` (``sigma`` between 1.4e-11 and 7.2e10) nothing is clipped.
    """
    _check_same_shape("reparameterize", mu=mu, logvar=logvar, eps=eps)
    return mu + _std(logvar) * eps.astype(mu.dtype, copy=False)


def reparameterize_backward(dz: Array, mu: Array, logvar: Array, eps: Array
                            ) -> tuple[Array, Array]:
    r"""Gradients ``(dL/dmu, dL/dlogvar)`` of :func:`reparameterize`, given ``dz = dL/dz``.

    Element-wise, ``z = mu + exp(logvar / 2) * eps``, hence

    .. math::
        \frac{\partial z}{\partial \mu} = 1, \qquad
        \frac{\partial z}{\partial\, \text{logvar}}
        = \varepsilon \cdot \tfrac12 e^{\text{logvar}/2} = \tfrac12\, \sigma\, \varepsilon
        = \tfrac12 (z - \mu),

    so ``dmu = dz`` and ``dlogvar = dz * 0.5 * sigma * eps``. Where ``logvar`` is
    clipped (``|logvar| > 80``) the formula is evaluated at the clip point, which keeps
    the gradient finite and pointing back into range.
    """
    _check_same_shape("reparameterize_backward", dz=dz, mu=mu, logvar=logvar, eps=eps)
    dmu = dz.copy()  # a fresh array: the caller adds the KL gradient to it in place
    dlogvar = dz * (_std(logvar) * eps.astype(mu.dtype, copy=False)) * 0.5
    return dmu, dlogvar


def normal_grid(n: int, quantiles: tuple[float, float] = (0.05, 0.95)) -> np.ndarray:
    r"""``n`` latent values evenly spaced in *probability* under ``N(0, 1)``.

    ``Phi^{-1}(u)`` for ``u = linspace(q_lo, q_hi, n)`` (:func:`scipy.stats.norm.ppf`):
    equal areas of the prior between neighbours, the coordinates of the classic
    manifold figure. The quantiles must satisfy ``0 < q_lo < q_hi < 1`` (0 and 1
    map to infinity).
    """
    from scipy.stats import norm

    lo, hi = (float(q) for q in quantiles)
    if int(n) < 1 or not 0 < lo < hi < 1:
        raise ValueError(f"normal_grid: need n >= 1 and 0 < q_lo < q_hi < 1, "
                         f"got n={n}, quantiles={quantiles}")
    if int(n) == 1:
        return np.zeros(1)
    return norm.ppf(np.linspace(lo, hi, int(n)))


def _check_latent_dim(latent_dim: Any, owner: str) -> None:
    if not is_int(latent_dim) \
            or latent_dim < 1:
        raise ValueError(f"{owner}: latent_dim must be a positive int, got {latent_dim!r}")


def _logsumexp_mean(a: Array, axis: int = 0) -> Array:
    """``log mean(exp(a))`` along ``axis``, shifting by the max so nothing overflows."""
    xp = get_array_module(a)
    m = a.max(axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    out = xp.log(xp.exp(a - m).mean(axis=axis)) + m.squeeze(axis)
    return out


# --------------------------------------------------------------------------- the model
class VAE(Autoencoder):
    r"""Variational autoencoder trained on the negative ELBO per sample (nats).

    Parameters
    ----------
    encoder : Layer or Sequential
        Maps ``x`` to ``(N, 2 * latent_dim)``: ``mu`` is the first half of the
        columns, ``logvar`` the second. End it with a linear layer (``logvar`` must
        be able to go negative). A width other than ``2 * latent_dim`` is refused:
        at construction when the last ``Dense`` layer fixes it, else at the first
        forward pass.
    decoder : Layer or Sequential
        Maps ``z (N, latent_dim)`` to the parameters of ``p(x | z)``: **logits** for
        ``likelihood="bernoulli"`` (a final ``Sigmoid`` is also accepted: its input is
        then used as the logits, exactly and stably), **means** for ``"gaussian"``.
    latent_dim : int
        ``L``, the dimension of ``z``.
    likelihood : {"bernoulli", "gaussian"}
        ``"bernoulli"``: ``-log p(x|z) = sum_i BCE(x_i, sigmoid(logit_i))``, defined for
        ``x`` in [0, 1] (other data is refused); grey levels are allowed, as in the
        usual MNIST VAE (it is then a cross-entropy, not a normalised density).
        ``"gaussian"``: ``-log p(x|z) = ||x - x_hat||^2 / (2 variance)
        + (D/2) log(2 pi variance)``; the constant is included, so the loss is the
        true negative ELBO in nats (it shifts neither gradients nor comparisons).
    beta : float
        Weight of the KL term, ``>= 0``.
    variance : float
        The fixed decoder variance ``sigma_x^2`` of the Gaussian likelihood (> 0;
        ignored for Bernoulli). With the default 1, the reconstruction term is
        ``0.5 ||x - x_hat||^2 + (D/2) log(2 pi)``.
    rng : Generator or int, optional
        Source of ``eps`` during training and of :meth:`sample`.

    Notes
    -----
    The parts logged by :meth:`loss` and :meth:`fit` are ``"reconstruction"``
    (``-log p(x|z)`` for one ``eps``) and ``"kl"`` (the *unweighted* KL); the total
    is ``reconstruction + beta * kl``. The encoder's head receives, with ``N`` the
    batch size, ``dz`` backpropagated from the decoder and the KL gradients of
    :func:`npae.penalties.gaussian_kl`:

    .. math::
        \frac{\partial \mathcal L}{\partial \mu} = dz + \beta\frac{\mu}{N}, \qquad
        \frac{\partial \mathcal L}{\partial\,\text{logvar}}
        = dz \odot \tfrac12 \sigma \odot \varepsilon + \beta\,\frac{e^{\text{logvar}} - 1}{2N}.
    """

    def __init__(self, encoder: Layer, decoder: Layer, latent_dim: int,
                 likelihood: str = "bernoulli", beta: float = 1.0, *, variance: float = 1.0,
                 rng: Any = None) -> None:
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"VAE: likelihood must be 'bernoulli' or 'gaussian', "
                             f"got {likelihood!r}")
        _check_latent_dim(latent_dim, "VAE")
        beta = check_real(beta, "VAE", "beta", "a finite number >= 0", 0.0)
        variance = check_real(variance, "VAE", "variance (of the Gaussian likelihood)",
                              "a finite number > 0", 0.0, low_open=True)
        super().__init__(encoder, decoder, loss="bce" if likelihood == "bernoulli" else "mse",
                         reduction="batchmean", rng=rng)
        self.latent_dim, self.likelihood = int(latent_dim), likelihood
        self.beta, self.variance = beta, variance
        width = output_width(self.encoder)
        if width is not None:
            self._check_width(width, "its last Dense layer has out_features")
        first = leaf_layers(self.decoder)[0]
        if isinstance(first, Dense) and first.in_features != self.latent_dim:
            raise ValueError(f"VAE: the decoder's first Dense layer takes {first.in_features} "
                             f"inputs, but latent_dim is {self.latent_dim}")

    def _check_width(self, width: int, how: str) -> None:
        if width != 2 * self.latent_dim:
            raise ValueError(
                f"VAE: the encoder must output 2 * latent_dim = {2 * self.latent_dim} values "
                f"per sample (mu, then logvar), but {how} {width}; make its last layer "
                f"Dense(..., {2 * self.latent_dim})")

    def config(self) -> dict[str, Any]:
        return {"latent_dim": self.latent_dim, "likelihood": self.likelihood,
                "beta": self.beta, "variance": self.variance}

    def __repr__(self) -> str:
        return (f"VAE(latent_dim={self.latent_dim}, likelihood={self.likelihood!r}, "
                f"beta={self.beta},\n encoder={self.encoder!r},\n decoder={self.decoder!r})")

    # -- the pieces ----------------------------------------------------------
    def _posterior(self, x: Array, training: bool) -> tuple[Array, Array]:
        """``(mu, logvar)`` from one encoder pass; refuses a head of the wrong width."""
        h = self.encoder.forward(x, training=training)
        if h.ndim != 2:
            raise ValueError(f"VAE: the encoder must output (batch, 2 * latent_dim) = "
                             f"(N, {2 * self.latent_dim}), got shape {tuple(h.shape)}")
        self._check_width(h.shape[1], "it output a width of")
        L = self.latent_dim
        return h[:, :L], h[:, L:]

    def _eps(self, shape: tuple[int, ...], like: Array, rng: np.random.Generator) -> Array:
        """Unit-variance noise of ``like``'s dtype and array module (drawn on the host)."""
        xp = get_array_module(like)
        return xp.asarray(rng.standard_normal(shape).astype(like.dtype, copy=False))

    def _decoder_params(self, z: Array, training: bool) -> tuple[Array, bool]:
        """The decoder's distribution parameter (logits or means), and whether a final
        Sigmoid was bypassed to get the logits."""
        out, logits = self.decoder.forward_to_last(z, training=training)
        if self.likelihood == "bernoulli" and isinstance(self.decoder.layers[-1], Sigmoid):
            return logits, True
        return out, False

    def _mean(self, params: Array) -> Array:
        """Mean of ``p(x | z)``: probabilities ``sigmoid(logits)``, or the Gaussian means."""
        return sigmoid(params) if self.likelihood == "bernoulli" else params

    def _log_px(self, params: Array, x: Array) -> Array:
        r"""``log p(x | z)`` per sample, shape ``(N,)``, with every constant.

        Bernoulli: ``sum_i [x_i l_i - softplus(l_i)]``, the negative of
        ``bce_with_logits`` summed over pixels, and computed as it is (a sum of
        non-negative terms, so a confident pixel keeps its full relative precision
        instead of cancelling ``x_i l_i`` against ``softplus(l_i)``). Gaussian:
        ``-||x - m||^2 / (2 v) - (D/2) log(2 pi v)``.
        """
        axes = tuple(range(1, x.ndim))
        if self.likelihood == "bernoulli":
            return -bce_logits_terms(params, x).sum(axis=axes)
        D = math.prod(x.shape[1:])
        diff = x - params
        return ((diff * diff).sum(axis=axes) * (-0.5 / self.variance)
                - 0.5 * D * (_LOG_2PI + math.log(self.variance)))

    def _reconstruction(self, params: Array, x: Array) -> tuple[Array, Array]:
        """Batch-mean ``-log p(x | z)`` (unread, a 0-d array) and its gradient with
        respect to ``params``."""
        if self.likelihood == "bernoulli":
            return bce_with_logits.on_device(params, x, "batchmean", check=False)
        # mse(batchmean) = ||x - m||^2 / N with gradient 2 (m - x) / N
        value, grad = mse.on_device(params, x, "batchmean")
        D = math.prod(x.shape[1:])
        const = 0.5 * D * (_LOG_2PI + math.log(self.variance))
        return value * (0.5 / self.variance) + const, grad * (0.5 / self.variance)

    # -- the objective -------------------------------------------------------
    def batch_loss(self, x: Array, rng: np.random.Generator, backward: bool
                   ) -> tuple[float, dict[str, float]]:
        mu, logvar = self._posterior(x, training=backward)
        eps = self._eps(mu.shape, mu, rng)
        z = reparameterize(mu, logvar, eps)
        params, fused = self._decoder_params(z, training=backward)
        recon, d_params = self._reconstruction(params, x)
        kl, dmu_kl, dlogvar_kl = gaussian_kl.on_device(mu, logvar)
        if backward:
            d = d_params
            layers = self.decoder.layers[:-1] if fused else self.decoder.layers
            for layer in reversed(layers):
                d = layer.backward(d)
            dmu, dlogvar = reparameterize_backward(d, mu, logvar, eps)
            if self.beta:
                dmu += self.beta * dmu_kl
                dlogvar += self.beta * dlogvar_kl
            xp = get_array_module(dmu)
            self.encoder.backward(xp.concatenate([dmu, dlogvar], axis=1), input_grad=False)
        return read_parts(recon + self.beta * kl, {"reconstruction": recon, "kl": kl})

    # -- inference -----------------------------------------------------------
    def encode(self, x: Array) -> Array:
        """The posterior mean ``mu(x)``: the deterministic code (no sampling)."""
        return self.encode_distribution(x)[0]

    def encode_distribution(self, x: Array) -> tuple[Array, Array]:
        """``(mu, logvar)`` of ``q(z | x)``; the standard deviation is ``exp(logvar / 2)``."""
        x = self.check_data(x, "VAE.encode")
        mu, logvar = self._posterior(x, training=False)
        return mu.copy(), logvar.copy()

    def decode(self, z: Array) -> Array:
        """The mean of ``p(x | z)``: pixel probabilities (Bernoulli) or means (Gaussian)."""
        z = check_data(z, "VAE.decode", "z", self.dtype)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"VAE.decode: z must have shape (N, latent_dim) = "
                             f"(N, {self.latent_dim}), got {tuple(z.shape)}")
        return self._mean(self._decoder_params(z, training=False)[0])

    def reconstruct(self, x: Array) -> Array:
        """``decode(encode(x))``: the mean of ``p(x | z = mu(x))``, no sampling."""
        return self.decode(self.encode(x))

    def posterior_sample(self, x: Array, samples: int = 1, rng: Any = None) -> Array:
        """``samples`` draws of ``z ~ q(z | x)`` per input, shape ``(samples, N, latent_dim)``."""
        mu, logvar = self.encode_distribution(x)
        g = self.rng if rng is None else as_generator(rng)
        eps = self._eps((int(samples), *mu.shape), mu, g)
        return mu + _std(logvar) * eps

    # -- generation ----------------------------------------------------------
    def sample(self, n: int, rng: Any = None) -> Array:
        """``n`` new inputs: ``z ~ N(0, I)`` decoded to the mean of ``p(x | z)``.

        ``rng`` defaults to the model's generator, so each call draws new samples.
        """
        if not is_int(n) or n < 1:
            raise ValueError(f"VAE.sample: n must be a positive int, got {n!r}")
        g = self.rng if rng is None else as_generator(rng)
        z = g.standard_normal((int(n), self.latent_dim))
        return self.decode(self._on_backend(z))

    def _on_backend(self, host: np.ndarray) -> Array:
        p = next(iter(self.parameters()))[1]
        return get_array_module(p).asarray(host.astype(p.dtype))

    def interpolate(self, x_a: Array, x_b: Array, steps: int = 10) -> Array:
        """Decoded points on the segment between the posterior means of two inputs.

        ``x_a`` and ``x_b`` are single inputs, with or without the batch axis
        (``(D,)`` or ``(1, D)``; ``(C, H, W)`` or ``(1, C, H, W)``). Returns the means
        of ``p(x | z_t)`` for ``z_t = (1 - t) mu_a + t mu_b``, ``t = linspace(0, 1, steps)``:
        a batch of ``steps`` outputs, the first decoding ``mu_a``, the last ``mu_b``.
        """
        if int(steps) < 2:
            raise ValueError(f"VAE.interpolate: steps must be >= 2, got {steps}")
        ends = []
        for name, x in (("x_a", x_a), ("x_b", x_b)):
            x = x if hasattr(x, "ndim") else np.asarray(x)
            x = x[None] if x.ndim in (1, 3) else x
            if x.shape[0] != 1:
                raise ValueError(f"VAE.interpolate: {name} must be a single input, got a "
                                 f"batch of shape {tuple(x.shape)}")
            ends.append(self.encode(x))
        t = self._on_backend(np.linspace(0.0, 1.0, int(steps))[:, None])
        return self.decode(ends[0] * (1 - t) + ends[1] * t)

    def manifold(self, n: int = 15, *, dims: tuple[int, int] = (0, 1),
                 quantiles: tuple[float, float] = (0.05, 0.95)) -> Array:
        """The learned manifold: decoded means over a grid of two latent coordinates.

        The coordinates ``dims`` take the values ``v = normal_grid(n, quantiles)`` (equal
        prior mass between neighbours); all others are 0 (the prior's mean). Returns an
        array ``(n, n, *output_shape)`` whose entry ``[i, j]`` decodes ``z[dims[0]] = v[j]``
        and ``z[dims[1]] = v[n - 1 - i]``, so that, drawn as a picture, the first
        coordinate grows to the right and the second upwards.
        """
        d0, d1 = (int(d) for d in dims)
        if d0 == d1 or not (0 <= d0 < self.latent_dim and 0 <= d1 < self.latent_dim):
            raise ValueError(f"VAE.manifold: dims must be two different latent coordinates "
                             f"in [0, {self.latent_dim}), got {dims}")
        v = normal_grid(n, quantiles)
        n = len(v)
        z = np.zeros((n, n, self.latent_dim))
        z[:, :, d0] = v[None, :]
        z[:, :, d1] = v[::-1, None]
        out = self.decode(self._on_backend(z.reshape(n * n, self.latent_dim)))
        return out.reshape(n, n, *out.shape[1:])

    def traverse(self, z: Array | None = None, values: Any = None,
                 dims: Any = None) -> Array:
        """Vary one latent coordinate at a time around ``z`` (default: the prior mean 0).

        Returns ``(len(dims), len(values), *output_shape)``: row ``k`` decodes ``z`` with
        coordinate ``dims[k]`` replaced by each of ``values`` (default
        ``linspace(-3, 3, 9)``; ``dims`` defaults to every coordinate).
        """
        z0 = (np.zeros(self.latent_dim) if z is None
              else np.asarray(asnumpy(z), dtype=np.float64).reshape(-1))
        if z0.shape != (self.latent_dim,):
            raise ValueError(f"VAE.traverse: z must hold latent_dim = {self.latent_dim} "
                             f"values, got shape {z0.shape}")
        vals = np.linspace(-3, 3, 9) if values is None else np.asarray(values, float).ravel()
        dims = list(range(self.latent_dim)) if dims is None else [int(d) for d in dims]
        if not dims or any(not 0 <= d < self.latent_dim for d in dims):
            raise ValueError(f"VAE.traverse: dims must be latent coordinates in "
                             f"[0, {self.latent_dim}), got {dims}")
        grid = np.tile(z0, (len(dims), len(vals), 1))
        for k, d in enumerate(dims):
            grid[k, :, d] = vals
        out = self.decode(self._on_backend(grid.reshape(-1, self.latent_dim)))
        return out.reshape(len(dims), len(vals), *out.shape[1:])

    # -- likelihood bounds ---------------------------------------------------
    def _batches(self, X: Array, owner: str, samples: int, batch_size: int | None):
        if not is_int(samples) \
                or samples < 1:
            raise ValueError(f"{owner}: samples must be a positive int, got {samples!r}")
        X = self.check_data(X, owner, "X")
        # about 8192 decoded rows per pass: vectorized, but bounded memory
        bs = int(batch_size) if batch_size else max(1, 8192 // int(samples))
        for start in range(0, X.shape[0], bs):
            yield X[start:start + bs]

    def _log_terms(self, x: Array, K: int, g: np.random.Generator
                   ) -> tuple[Array, Array, Array, Array]:
        """For ``K`` draws ``z_k ~ q(z|x)``: ``log p(x|z_k)`` ``(K, n)``, ``log p(z_k)``
        ``(K, n)``, ``log q(z_k|x)`` ``(K, n)``, and ``KL(q || p)`` ``(n,)``."""
        mu, logvar = self._posterior(x, training=False)
        eps = self._eps((K, *mu.shape), mu, g)
        std = _std(logvar)
        z = mu + std * eps
        n, L = mu.shape
        params, _ = self._decoder_params(z.reshape(K * n, L), training=False)
        xr = get_array_module(x).broadcast_to(x, (K, *x.shape)).reshape(K * n, *x.shape[1:])
        log_px = self._log_px(params, xr).reshape(K, n)
        log_pz = -0.5 * ((z * z).sum(axis=-1) + L * _LOG_2PI)
        # (z - mu)^2 / sigma^2 = eps^2 exactly; log sigma^2 as the exp's clipped argument
        lv = get_array_module(logvar).clip(logvar, -LOGVAR_CLIP, LOGVAR_CLIP)
        log_qz = -0.5 * ((eps * eps).sum(axis=-1) + lv.sum(axis=-1) + L * _LOG_2PI)
        kl = 0.5 * (mu * mu + std * std - lv - 1).sum(axis=-1)
        return log_px, log_pz, log_qz, kl

    def elbo(self, X: Array, rng: Any = 0, *, samples: int = 1, per_sample: bool = False,
             batch_size: int | None = None) -> float | Array:
        r"""The evidence lower bound ``E_q[log p(x|z)] - KL(q(z|x) || p(z))`` in nats.

        Always with ``beta = 1``, whatever ``beta`` the model was trained with: it is a
        bound on ``log p(x)`` only then. The expectation is estimated with ``samples``
        draws of ``eps`` per input; the KL is exact. Returns the mean over ``X`` (the
        negative of the VAE's loss when ``beta = 1``), or the ``(N,)`` values with
        ``per_sample=True``, as host NumPy. ``rng`` defaults to a fixed seed, so
        repeated calls agree; pass a Generator for independent draws.
        """
        g = as_generator(rng)
        out = []
        for xb in self._batches(X, "VAE.elbo", samples, batch_size):
            log_px, _, _, kl = self._log_terms(xb, int(samples), g)
            out.append(log_px.mean(axis=0) - kl)
        return self._finish(out, per_sample)

    def log_likelihood(self, X: Array, samples: int = 100, rng: Any = 0, *,
                       per_sample: bool = False, batch_size: int | None = None
                       ) -> float | Array:
        r"""Importance-sampled estimate of ``log p(x)`` in nats, ``q(z|x)`` as proposal.

        .. math::
            \log p(x) \approx \log \frac1K \sum_{k=1}^K
            \frac{p(x \mid z_k)\, p(z_k)}{q(z_k \mid x)}, \qquad z_k \sim q(z \mid x),

        computed with a log-sum-exp over the ``K = samples`` log-weights, vectorized
        over samples and batch. Every density is complete with its constants
        (``-L/2 log 2 pi`` for both Gaussians in ``z``, and ``-D/2 log(2 pi variance)``
        for the Gaussian likelihood). In expectation the estimate increases with ``K``
        from the ELBO (``K = 1``) towards ``log p(x)`` and never exceeds it. Returns the
        mean over ``X`` or, with ``per_sample=True``, the ``(N,)`` values (host NumPy).
        ``rng`` defaults to a fixed seed.
        """
        g = as_generator(rng)
        out = []
        for xb in self._batches(X, "VAE.log_likelihood", samples, batch_size):
            log_px, log_pz, log_qz, _ = self._log_terms(xb, int(samples), g)
            out.append(_logsumexp_mean(log_px + log_pz - log_qz, axis=0))
        return self._finish(out, per_sample)

    @staticmethod
    def _finish(parts: list[Array], per_sample: bool) -> float | np.ndarray:
        xp = get_array_module(parts[0])
        values = xp.concatenate(parts)
        if per_sample:
            return asnumpy(values).astype(np.float64)
        return float(values.astype(np.float64).mean())


# --------------------------------------------------------------------------- builders
def dense_vae(input_dim: int = 784, hidden: list[int] | tuple[int, ...] = (400,),
              latent_dim: int = 20, *, likelihood: str = "bernoulli", beta: float = 1.0,
              activation: str = "relu", variance: float = 1.0, rng: Any = None,
              dtype: Any = np.float32) -> VAE:
    """A fully connected VAE: ``input -> hidden... -> (mu, logvar)``, mirrored decoder.

    The default, 784-400-(20, 20) with a 20-400-784 decoder, follows deck 002
    (``002_324e468d49fbe7e1.txt``, FC-VAE on MNIST) where it is specific: ``P = 784``
    inputs, ReLU in the intermediate layers, a sigmoid output, a latent dimension of 20.
    The 400 hidden units (and the optimizer one trains it with) are npae's choices: the
    deck states neither. The encoder's last layer is linear (``2 * latent_dim``
    outputs), and so is the decoder's: logits (Bernoulli), whose sigmoid the loss
    applies, or means (Gaussian).

    Examples
    --------
    >>> vae = dense_vae(64, (32,), 2, rng=0)
    """
    _check_latent_dim(latent_dim, "dense_vae")
    g = as_generator(rng)
    enc, _ = dense_layers(input_dim, hidden, 2 * int(latent_dim), activation=activation,
                          output_activation="identity", rng=g, dtype=dtype)
    _, dec = dense_layers(input_dim, hidden, latent_dim, activation=activation,
                          output_activation="identity", rng=g, dtype=dtype)
    return VAE(enc, dec, latent_dim, likelihood, beta, variance=variance, rng=g)


def conv_vae(input_shape: tuple[int, int, int] = (1, 28, 28),
             channels: list[int] | tuple[int, ...] = (32, 64), latent_dim: int = 20, *,
             kernel_size: int = 4, likelihood: str = "bernoulli", beta: float = 1.0,
             variance: float = 1.0, rng: Any = None, dtype: Any = np.float32) -> VAE:
    """A convolutional VAE for NCHW images.

    Encoder: one ``Conv2D(c_in, c, kernel_size, stride=2, padding=1)`` + ReLU per entry
    of ``channels`` (each halves height and width; with ``kernel_size=4`` exactly), then
    ``Flatten`` and ``Dense(..., 2 * latent_dim)``. The decoder mirrors it: ``Dense`` +
    ReLU, ``Reshape``, then ``ConvTranspose2D(c, c_prev, kernel_size, 2, 1)`` layers
    (each doubling the size), the last one linear with ``input_shape[0]`` channels
    (logits or means). Height and width must be divisible by ``2 ** len(channels)``;
    ``kernel_size`` must be even (4 by default) so that each stride-2 layer halves or
    doubles exactly.

    Examples
    --------
    >>> vae = conv_vae((1, 8, 8), (8, 16), 2, rng=0)   # doctest: +SKIP
    """
    from npae.layers import Flatten, ReLU, Reshape
    from npae.layers.conv import Conv2D, ConvTranspose2D

    _check_latent_dim(latent_dim, "conv_vae")
    C, H, W = (int(s) for s in input_shape)
    channels = [int(c) for c in channels]
    f = 2 ** len(channels)
    k = int(kernel_size)
    if not channels or min(channels) < 1 or C < 1:
        raise ValueError(f"conv_vae: need at least one conv layer and positive channel "
                         f"counts, got input_shape={input_shape}, channels={channels}")
    if H % f or W % f:
        raise ValueError(f"conv_vae: height and width must be divisible by 2 ** len(channels) "
                         f"= {f}, got input_shape={tuple(input_shape)}")
    if k < 2 or k % 2:
        raise ValueError(f"conv_vae: kernel_size must be even and >= 2 (stride 2, padding "
                         f"{k // 2 - 1}), got {kernel_size}")
    pad = k // 2 - 1  # (H + 2p - k) // 2 + 1 = H / 2 and (H - 1) 2 - 2p + k = 2 H
    g = as_generator(rng)
    h, w, c_last = H // f, W // f, channels[-1]
    enc: list[Layer] = []
    for c_in, c_out in zip([C, *channels[:-1]], channels):
        enc += [Conv2D(c_in, c_out, k, 2, pad, rng=g, dtype=dtype), ReLU()]
    enc += [Flatten(), Dense(c_last * h * w, 2 * int(latent_dim), rng=g, dtype=dtype)]
    dec: list[Layer] = [Dense(int(latent_dim), c_last * h * w, rng=g, dtype=dtype, init="he"),
                        ReLU(), Reshape((c_last, h, w))]
    outs = [*channels[::-1][1:], C]
    for i, (c_in, c_out) in enumerate(zip(channels[::-1], outs)):
        dec.append(ConvTranspose2D(c_in, c_out, k, 2, pad, rng=g, dtype=dtype))
        if i < len(outs) - 1:
            dec.append(ReLU())
    return VAE(Sequential(*enc), Sequential(*dec), latent_dim, likelihood, beta,
               variance=variance, rng=g)
