# Long module: the design's four penalties; the contractive one brings its Jacobian passes.
r"""Regularizers as pure functions returning the value and its gradient(s).

- :func:`l1_activity` and :func:`kl_sparsity`: sparsity of the code ``h`` (sparse AE);
- :func:`contractive`: the squared Frobenius norm of the encoder's Jacobian
  ``dh/dx`` (contractive AE), with :func:`encoder_jacobian` for the Jacobian itself;
- :func:`gaussian_kl`: the VAE's KL term.

Each returns the value as a Python float and gradients as arrays of the input's
dtype on the input's array module (NumPy or CuPy). Hyperparameters out of
range are refused with a ``ValueError`` naming the function and the argument.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from npae import kernels
from npae.arguments import check_hyper, is_int
from npae.backend import Array, get_array_module, host_value, to_floats
from npae.layers.activations import Activation
from npae.layers.dense import Dense
from npae.network import walk_layers

__all__ = ["l1_activity", "kl_sparsity", "KL_EPS", "contractive", "encoder_jacobian",
           "encoder_steps", "MAX_JACOBIAN_ELEMENTS", "gaussian_kl", "LOGVAR_CLIP"]

#: ``rho_hat`` is clipped to ``[KL_EPS, 1 - KL_EPS]`` inside :func:`kl_sparsity`.
KL_EPS = 1e-6

#: ``logvar`` is clipped to ``[-LOGVAR_CLIP, LOGVAR_CLIP]`` wherever it meets an
#: exponential (here and in the VAE's reparameterization). ``exp(80) ~ 6e34`` and
#: ``exp(80 / 2) ~ 2e17`` are finite in float32 (max ~3e38); any ``logvar`` that
#: large already means a broken model.
LOGVAR_CLIP = 80.0

#: Default bound on the Jacobian entries :func:`contractive` holds at once (2**25:
#: 128 MiB in float32, 256 MiB in float64).
MAX_JACOBIAN_ELEMENTS = 2 ** 25


def _check_code(h: Any, owner: str) -> None:
    shape = getattr(h, "shape", None)
    if shape is None or getattr(h, "dtype", None) is None or np.dtype(h.dtype).kind != "f":
        raise TypeError(f"{owner}: h must be a floating-point array (batch, units...), got "
                        f"{getattr(h, 'dtype', type(h).__name__)}")
    if len(shape) < 2 or shape[0] == 0:
        raise ValueError(f"{owner}: h must be a non-empty batch (batch, units...), "
                         f"got shape {tuple(shape)}")


def _f64(a: Array) -> Array:
    """A 0-d sum in float64, as ``float(a)`` would give it, still on the device."""
    return a.astype(get_array_module(a).float64)


@host_value
def l1_activity(h: Array, lam: float) -> tuple[float, Array]:
    r"""L1 activity penalty ``lam * sum_{i,j} |h_ij| / N`` (``N`` the batch size).

    Summed over the code units and averaged over the batch: a per-sample
    penalty, on the same footing as a ``"batchmean"`` reconstruction loss.

    Gradient (a subgradient at ``h_ij = 0``, where ``sign(0) = 0`` is used):

    .. math:: \frac{\partial}{\partial h_{ij}} = \frac{\lambda}{N}\,\mathrm{sign}(h_{ij}).

    Parameters
    ----------
    h : array (N, units...)
        The code.
    lam : float
        Weight ``lambda >= 0``.

    Returns
    -------
    (value, dh)
    """
    lam = check_hyper(lam, "l1_activity", "lam")
    _check_code(h, "l1_activity")
    xp = get_array_module(h)
    N = h.shape[0]
    return lam * _f64(xp.abs(h).sum()) / N, xp.sign(h) * (lam / N)


@host_value
def kl_sparsity(h: Array, rho: float, beta: float, check: bool = True) -> tuple[float, Array]:
    r"""KL sparsity penalty ``beta * sum_j KL(rho || rho_hat_j)`` of the batch-mean activations.

    With ``N`` the batch size and ``h_ij`` in (0, 1) (a sigmoid code),

    .. math::
        \hat\rho_j = \frac1N \sum_i h_{ij}, \qquad
        \mathrm{KL}(\rho\,\|\,\hat\rho_j) = \rho \log\frac{\rho}{\hat\rho_j}
            + (1-\rho)\log\frac{1-\rho}{1-\hat\rho_j},

    the KL divergence between Bernoulli(``rho``) and Bernoulli(``rho_hat_j``): it
    is 0 exactly when unit ``j``'s *mean* activation over the batch is ``rho``,
    and grows without bound as ``rho_hat_j`` goes to 0 or 1. (It is the KL of
    the batch mean, not a mean of per-sample KLs: single activations may be
    large as long as the unit is rarely active.)

    Gradient. ``dKL/d rho_hat_j = -rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j)``
    and ``d rho_hat_j / d h_ij = 1 / N``, so

    .. math::
        \frac{\partial}{\partial h_{ij}} = \frac{\beta}{N}\left(
            -\frac{\rho}{\hat\rho_j} + \frac{1-\rho}{1-\hat\rho_j}\right),

    the same for every sample ``i`` of the batch.

    Saturation: ``rho_hat`` is clipped to ``[KL_EPS, 1 - KL_EPS]``
    (``KL_EPS = 1e-6``) before the logs and the division, so a unit that is
    dead (``rho_hat_j = 0``) or always on (``rho_hat_j = 1``) gives a large but
    finite value and gradient. At a clipped unit the gradient is the formula
    above evaluated at the clip point (not the zero slope of the clip), so a
    saturated unit is still pushed back towards ``rho``.

    Dimensions after the batch axis are all units (``rho_hat`` is the mean over
    axis 0), so a convolutional code ``(N, C, H, W)`` works too.

    Parameters
    ----------
    h : array (N, units...)
        Activations in [0, 1] (a ``Sigmoid`` output).
    rho : float
        Target mean activation, ``0 < rho < 1``.
    beta : float
        Weight ``beta >= 0``.
    check : bool
        Refuse mean activations outside [0, 1] (one small host read; a model
        whose code layer is a Sigmoid turns it off).

    Returns
    -------
    (value, dh)

    Raises
    ------
    ValueError
        ``rho`` outside (0, 1), ``beta < 0``, or, with ``check``, mean activations
        outside [0, 1] (the code is not a probability: use a Sigmoid code layer).
    """
    rho = check_hyper(rho, "kl_sparsity", "rho", open_interval=True)
    beta = check_hyper(beta, "kl_sparsity", "beta")
    _check_code(h, "kl_sparsity")
    xp = get_array_module(h)
    N = h.shape[0]
    rho_hat = h.mean(axis=0)
    r = xp.clip(rho_hat, KL_EPS, 1 - KL_EPS)
    kl = rho * (math.log(rho) - xp.log(r)) + (1 - rho) * (math.log1p(-rho) - xp.log1p(-r))
    value = _f64(kl.sum())
    if check:  # cheap (one value per unit), and it shares the value's host read
        value, lo, hi = to_floats(value, rho_hat.min(), rho_hat.max())
        if not (lo >= 0.0 and hi <= 1.0):
            raise ValueError(
                f"kl_sparsity: the mean activations rho_hat must lie in [0, 1] (a code in "
                f"(0, 1), e.g. a Sigmoid output), got values in [{lo}, {hi}]")
    if kernels.active() == "reference":  # the plain formula (npae.kernels.reference)
        return kernels.reference.kl_sparsity(h, rho, beta)
    d_rho_hat = (1 - rho) / (1 - r) - rho / r
    dh = xp.broadcast_to(d_rho_hat * (beta / N), h.shape).copy()
    return beta * value, dh


# -- the contractive penalty ----------------------------------------------------

_SUPPORTED = ("Dense layers and element-wise activations (ReLU, LeakyReLU, Sigmoid, Tanh, "
              "Softplus, Identity)")


def encoder_steps(encoder: Any, owner: str) -> list[tuple[str, Any, str]]:
    """The encoder as a flat list of ``(kind, layer, parameter-name prefix)``.

    ``kind`` is ``"dense"`` or ``"act"``; prefixes follow ``encoder.parameters()``
    (``"0."`` for a Sequential's first layer, ``""`` for a bare Dense). A layer the
    penalty cannot differentiate through is refused with a ``TypeError`` naming
    ``owner``: :class:`~npae.models.ContractiveAutoencoder` checks its encoder with it
    when it is built.
    """
    def step(layer: Any, where: str, prefix: str) -> tuple[str, Any, str]:
        if isinstance(layer, Dense):
            return "dense", layer, prefix
        if isinstance(layer, Activation) and (
                type(layer).second_derivative is not Activation.second_derivative):
            return "act", layer, prefix
        raise TypeError(
            f"{owner}: cannot differentiate through {where} ({type(layer).__name__}) of the "
            f"encoder; the contractive penalty supports {_SUPPORTED} only")

    return [step(layer, f"layer {path}" if path else "the encoder", f"{path}." if path else "")
            for path, layer in walk_layers(encoder)]


def _check_input(x: Any, steps: list[tuple[str, Any, str]], owner: str) -> None:
    shape = getattr(x, "shape", None)
    if shape is None or getattr(x, "dtype", None) is None or np.dtype(x.dtype).kind != "f":
        raise TypeError(f"{owner}: x must be a floating-point array (batch, features), got "
                        f"{getattr(x, 'dtype', type(x).__name__)}")
    if len(shape) != 2 or shape[0] == 0:
        raise ValueError(f"{owner}: x must be a non-empty (batch, features) array, "
                         f"got shape {tuple(shape)}")
    width = shape[1]
    for kind, layer, prefix in steps:
        if kind != "dense":
            continue
        W = layer.params["W"]
        if W.dtype != x.dtype:
            raise TypeError(f"{owner}: x has dtype {x.dtype} but the encoder's parameters are "
                            f"{W.dtype}; convert one to the other")
        if W.shape[0] != width:
            where = f"layer {prefix[:-1]}" if prefix else "the encoder"
            raise ValueError(f"{owner}: {where} (Dense) expects {W.shape[0]} input features, "
                             f"got {width} (x has shape {tuple(shape)})")
        width = W.shape[1]


def _right_matmul(A: Array, B: Array) -> Array:
    """``A @ B`` for a 2-D or a stacked 3-D ``A``, as one matrix product (one BLAS call)."""
    if A.ndim == 2:
        return A @ B
    n, d, _ = A.shape
    return (A.reshape(n * d, -1) @ B).reshape(n, d, -1)


def _forward_jacobian(x: Array, steps: list[tuple[str, Any, str]], keep: bool
                      ) -> tuple[Array | None, list[tuple]]:
    """Forward-mode Jacobian ``J = dh/dx`` of the encoder at each row of ``x``.

    ``J[n, i, j] = dh_j / dx_i`` (rows index inputs, so a Dense step is ``J W``).
    ``J`` is ``None`` for the identity and 2-D while it is the same for every
    sample (before the first activation); 3-D ``(N, D, width)`` afterwards.
    With ``keep`` the tape holds what the reverse pass needs.
    """
    xp = get_array_module(x)
    u, J, tape = x, None, []
    for kind, layer, _ in steps:
        if kind == "dense":
            W = layer.params["W"]
            if keep:
                tape.append((u, J))
            u = u @ W + layer.params["b"]
            J = W if J is None else _right_matmul(J, W)
        else:
            s = layer.derivative(u)
            if keep:
                tape.append((u, s, J))
            base = xp.eye(u.shape[1], dtype=u.dtype) if J is None else J
            J = base * s[:, None, :]
            u = layer.function(u)
    return J, tape


def _squared_norms(J: Array | None, x: Array) -> Array:
    """``||J_n||_F^2`` for each row ``n`` of ``x``, shape ``(N,)``."""
    xp = get_array_module(x)
    N, D = x.shape
    if J is None:
        return xp.full(N, D, dtype=x.dtype)
    if J.ndim == 2:
        return xp.broadcast_to((J * J).sum(), (N,))
    return xp.einsum("nij,nij->n", J, J)


def encoder_jacobian(x: Array, encoder: Any) -> Array:
    r"""The encoder's Jacobian at every row of ``x``: ``J[n, i, j] = dh_j / dx_i``.

    Built in forward mode, ``J_0 = I``; a Dense layer ``a = u W + b`` gives
    ``J <- J W``; an element-wise activation ``u = f(a)`` gives
    ``J <- J diag(f'(a))`` (each column ``j`` scaled by ``f'(a_j)``). The result
    is ``(N, D, k)`` (inputs by code units), the transpose of the usual
    ``dh/dx``; it holds ``N * D * k`` numbers, so pass moderate batches.

    Parameters
    ----------
    x : array (N, D)
    encoder : Dense or Sequential of Dense layers and element-wise activations

    Returns
    -------
    array (N, D, k)
    """
    steps = encoder_steps(encoder, "encoder_jacobian")
    _check_input(x, steps, "encoder_jacobian")
    xp = get_array_module(x)
    J, _ = _forward_jacobian(x, steps, keep=False)
    N, D = x.shape
    if J is None:
        J = xp.eye(D, dtype=x.dtype)
    return xp.broadcast_to(J, (N,) + J.shape[-2:]).copy() if J.ndim == 2 else J


def _one_layer(x: Array, steps: list[tuple[str, Any, str]], scale: float, want_grads: bool
               ) -> tuple[float, dict[str, Array]]:
    """Closed form for ``h = f(x W + b)`` (or ``h = x W + b``); see :func:`contractive`."""
    xp = get_array_module(x)
    N = x.shape[0]
    dense, prefix = steps[0][1], steps[0][2]
    W, b = dense.params["W"], dense.params["b"]
    c = (W * W).sum(axis=0)  # c_j = sum_i W_ij^2
    if len(steps) == 1:  # linear encoder: J = W for every sample
        value = scale * N * _f64(c.sum())
        grads = {prefix + "W": W * (2 * scale * N), prefix + "b": xp.zeros_like(b)}
        return value, grads if want_grads else {}
    act = steps[1][1]
    a = x @ W + b
    s = act.derivative(a)
    s2 = s * s
    value = scale * _f64((s2 * c).sum())
    if not want_grads:
        return value, {}
    g_a = s * act.second_derivative(a) * c * (2 * scale)  # dP/da_nj
    dW = W * (s2.sum(axis=0) * (2 * scale)) + x.T @ g_a
    return value, {prefix + "W": dW, prefix + "b": g_a.sum(axis=0)}


def _deep(x: Array, steps: list[tuple[str, Any, str]], scale: float, want_grads: bool
          ) -> tuple[float, dict[str, Array]]:
    """Forward-mode Jacobian, then its reverse pass by hand; see :func:`contractive`."""
    xp = get_array_module(x)
    J, tape = _forward_jacobian(x, steps, keep=want_grads)
    value = scale * _f64(_squared_norms(J, x).sum())
    if not want_grads or J is None:
        return value, {}
    n = x.shape[0]
    # G = dP/dJ; while J is shared by all samples, G is kept summed over them
    G = J * (2 * scale * n) if J.ndim == 2 else J * (2 * scale)
    g_u = None  # dP/du, the ordinary backward stream through the layers' outputs
    grads: dict[str, Array] = {}
    for index in range(len(steps) - 1, -1, -1):
        kind, layer, prefix = steps[index]
        first = index == 0
        if kind == "dense":
            u_prev, J_prev = tape[index]
            W = layer.params["W"]
            if G.ndim == 3:  # then J_prev is per-sample too (J = J_prev W keeps ndim)
                dW = xp.tensordot(J_prev, G, axes=([0, 1], [0, 1]))
            else:
                dW = G if J_prev is None else J_prev.T @ G
            if g_u is not None:
                dW = dW + u_prev.T @ g_u
                db = g_u.sum(axis=0)
            else:
                db = xp.zeros_like(layer.params["b"])
            grads[prefix + "W"], grads[prefix + "b"] = dW, db
            if not first:
                G = _right_matmul(G, W.T)
                g_u = None if g_u is None else g_u @ W.T
        else:
            a, s, J_prev = tape[index]
            if J_prev is None:  # J = diag(s): only its diagonal touches s
                ds = xp.diagonal(G, axis1=1, axis2=2)
                G_prev = None
            elif J_prev.ndim == 2:
                ds = xp.einsum("nij,ij->nj", G, J_prev)
                G_prev = xp.einsum("nij,nj->ij", G, s)
            else:
                ds = xp.einsum("nij,nij->nj", G, J_prev)
                G_prev = G * s[:, None, :]
            g_a = ds * layer.second_derivative(a)
            if g_u is not None:
                g_a = g_a + g_u * s
            g_u, G = g_a, G_prev
            if G is None:
                break
    return value, grads


@host_value
def contractive(x: Array, encoder: Any, lam: float, *,
                max_jacobian_elements: int = MAX_JACOBIAN_ELEMENTS,
                grads: bool = True) -> tuple[float, dict[str, Array]]:
    r"""Contractive penalty ``lam * mean_n ||J(x_n)||_F^2``, ``J = dh/dx`` the encoder's Jacobian.

    It is evaluated at the encoder's input ``x`` and written by hand, exactly.
    ``N`` is the batch size, ``D`` the input size, and ``P`` the penalty.

    **One layer**, ``h = f(a)``, ``a = x W + b`` (``W`` is ``D x k``): the
    Jacobian is ``dh_j/dx_i = f'(a_j) W_ij``, so with ``s_nj = f'(a_nj)`` and the
    squared column norms ``c_j = sum_i W_ij^2``

    .. math::
        P = \frac{\lambda}{N}\sum_n \sum_j s_{nj}^2\, c_j .

    Its gradient: ``dP/dc_j = (lam/N) sum_n s_nj^2`` and ``dc_j/dW_ij = 2 W_ij``;
    through ``s``, ``dP/da_nj = (2 lam/N) s_nj f''(a_nj) c_j =: g_nj``, and
    ``a = x W + b`` gives the usual Dense backward, so

    .. math::
        \frac{\partial P}{\partial W_{ij}} = \frac{2\lambda}{N}\, W_{ij} \sum_n s_{nj}^2
            + (x^\top g)_{ij}, \qquad \frac{\partial P}{\partial b} = \sum_n g_{n} .

    (For a sigmoid code ``s = h (1 - h)`` and ``f'' = h (1 - h)(1 - 2h)``; for
    ReLU ``f'' = 0`` and only the first term remains; with no activation
    ``P = lam ||W||_F^2`` and ``b`` gets zero.) This closed form, which needs
    only ``N x k`` numbers, is used whenever the encoder is one Dense layer,
    optionally followed by one activation.

    **Deep encoder** (``L`` steps, each a Dense layer or an activation).
    Forward mode builds the per-sample Jacobian step by step, ``J_0 = I``
    (``J[i, j] = du_j/dx_i``, rows index inputs):

    - Dense, ``u_l = u_{l-1} W + b``: ``J_l = J_{l-1} W``;
    - activation, ``u_l = f(a)`` with ``a = u_{l-1}``: ``J_l = J_{l-1} diag(s)``,
      ``s = f'(a)``, i.e. column ``j`` scaled by ``s_j``.

    ``P = (lam/N) sum_n ||J_L||_F^2`` depends on the parameters through the
    Jacobians ``J_l`` *and* through the primal values ``u_l`` (which set ``s``).
    The reverse pass carries both adjoints, ``G_l = dP/dJ_l`` (per sample,
    ``D x width``) and ``g_l = dP/du_l`` (``N x width``), starting from
    ``G_L = (2 lam/N) J_L`` and ``g_L = 0`` (``h`` itself is not penalised), and
    going back step by step:

    - activation, ``J_l = J_{l-1} diag(s)``, ``u_l = f(a)``:
      ``G_{l-1} = G_l diag(s)``; ``dP/ds_j = sum_i (G_l)_ij (J_{l-1})_ij``; and
      ``g_{l-1} = dP/da = g_l * f'(a) + (dP/ds) * f''(a)``;
    - Dense, ``J_l = J_{l-1} W``, ``u_l = u_{l-1} W + b``:
      ``dP/dW = sum_n J_{l-1}^T G_l + u_{l-1}^T g_l``, ``dP/db = sum_n g_l``,
      ``G_{l-1} = G_l W^T``, ``g_{l-1} = g_l W^T``.

    Two shortcuts change no result: before the first activation ``J`` is the
    same for every sample, so it is kept once (``W``, or a product of ``W``s)
    and its adjoint is kept summed over the batch; and nothing is propagated
    past the first layer.

    Memory and chunking: the per-sample Jacobians are ``N x D x width`` numbers
    for each step after the first activation, and the reverse pass keeps them
    all. When ``N * D * (sum of those widths)`` would exceed
    ``max_jacobian_elements``, the batch is processed in chunks of rows (value
    and gradients are sums over samples, so the result is the same).

    Parameters
    ----------
    x : array (N, D)
        The encoder's input (float32 or float64, the dtype of the parameters).
    encoder : Dense or Sequential
        Dense layers and element-wise activations (ReLU, LeakyReLU, Sigmoid,
        Tanh, Softplus, Identity, or any ``Activation`` with a
        ``second_derivative``); nested Sequentials are flattened. The layers'
        own caches are not touched: this runs its own forward pass from the
        parameters.
    lam : float
        Weight ``lambda >= 0``.
    max_jacobian_elements : int
        Bound on the Jacobian entries held at once (see above).
    grads : bool
        With ``False`` only the value is computed and the dict is empty.

    Returns
    -------
    (value, grads)
        ``grads`` has one entry for every name in ``encoder.parameters()``
        (``"0.W"``, ...; ``"W"``, ``"b"`` for a bare Dense), zero where the
        penalty does not depend on the parameter (the bias of a last Dense
        layer with no activation after it, say).

    Raises
    ------
    TypeError
        A layer the penalty cannot differentiate (named by its index), or
        ``x`` of another dtype than the parameters.
    ValueError
        ``lam < 0``, or ``x`` of the wrong shape.
    """
    owner = "contractive"
    lam = check_hyper(lam, owner, "lam")
    if not is_int(max_jacobian_elements) or max_jacobian_elements < 1:
        raise ValueError(f"{owner}: max_jacobian_elements must be a positive int, "
                         f"got {max_jacobian_elements!r}")
    steps = encoder_steps(encoder, owner)
    _check_input(x, steps, owner)
    xp = get_array_module(x)
    N, D = x.shape
    scale = lam / N
    kinds = [k for k, _, _ in steps]
    if kinds in (["dense"], ["dense", "act"]):
        value, out = _one_layer(x, steps, scale, grads)
    else:
        widths, width, per_sample = 0, D, False
        for kind, layer, _ in steps:
            if kind == "dense":
                width = layer.params["W"].shape[1]
            per_sample = per_sample or kind == "act"
            widths += width if per_sample else 0
        chunk = max(1, int(max_jacobian_elements) // max(1, D * widths))
        value, out = 0.0, {}
        for start in range(0, N, chunk):
            v, g = _deep(x[start:start + chunk], steps, scale, grads)
            value += v
            for k, arr in g.items():
                out[k] = arr if k not in out else out[k] + arr
    if not grads:
        return value, {}
    result = {}
    for name, p, _ in encoder.parameters():
        result[name] = out[name] if name in out else xp.zeros_like(p)
    return value, result


@host_value
def gaussian_kl(mu: Array, logvar: Array) -> tuple[float, Array, Array]:
    r"""``KL(N(mu, diag(exp(logvar))) || N(0, I))``, summed over latent dims, mean over batch.

    Per sample, with ``sigma^2 = exp(logvar)``:

    .. math::
        KL = \tfrac12 \sum_j \left(\mu_j^2 + e^{\text{logvar}_j} - \text{logvar}_j - 1\right)

    Gradients (``N`` the batch size):

    .. math::
        \frac{\partial KL}{\partial \mu_j} = \frac{\mu_j}{N}, \qquad
        \frac{\partial KL}{\partial\, \text{logvar}_j} = \frac{e^{\text{logvar}_j} - 1}{2N}.

    It is zero exactly at ``mu = 0, logvar = 0``.

    Stability: ``logvar`` is clipped to ``[-80, 80]`` (:data:`LOGVAR_CLIP`), as the
    VAE's reparameterization clips it, so the value is the KL of the posterior the
    model actually samples from; at a clipped entry the gradient is the formula at
    the clip point (not the clip's zero slope), so it still points back into range.
    The value is summed in float64, so it is finite for every finite float32 input
    (``mu = 1e20``, ``logvar = -3e38`` or a large batch at ``logvar = 80`` would
    overflow a float32 sum); the gradients keep the inputs' dtype.
    """
    for name, a in (("mu", mu), ("logvar", logvar)):
        if getattr(a, "dtype", None) is None or a.dtype.kind != "f":
            raise TypeError(f"gaussian_kl: {name} must be a floating-point array, got "
                            f"{getattr(a, 'dtype', type(a).__name__)}")
    if mu.shape != logvar.shape:
        raise ValueError(
            f"gaussian_kl: mu and logvar must have the same shape, "
            f"got {mu.shape} and {logvar.shape}")
    if mu.ndim != 2 or mu.shape[0] == 0:
        raise ValueError(
            f"gaussian_kl: expected (batch, latent) arrays with batch >= 1, got {mu.shape}")
    if kernels.active() == "reference":  # the plain formula (npae.kernels.reference)
        return kernels.reference.gaussian_kl(mu, logvar)
    xp = get_array_module(mu)
    N = mu.shape[0]
    lv = xp.clip(logvar, -LOGVAR_CLIP, LOGVAR_CLIP)
    var = xp.exp(lv)
    m, v, l64 = (a.astype(xp.float64, copy=False) for a in (mu, var, lv))
    value = 0.5 * (m * m + v - l64 - 1).sum() / N
    return value, mu * (1 / N), (var - 1) * (0.5 / N)
