"""Losses as pure functions returning ``(value, gradient)``.

The reconstruction losses (``mse``, ``bce``, ``bce_with_logits``) take ``reduction``:

- ``"mean"``: divide the sum by the number of elements ``M`` (per-pixel error,
  the number the lectures report);
- ``"sum"``: the plain sum;
- ``"batchmean"``: divide by the batch size ``N`` (sum over features, mean over
  samples: a per-sample log-likelihood, as in the VAE).

The gradient is that of the reduced value, so it carries the same ``1/M`` or
``1/N`` factor. ``softmax_cross_entropy``, the classifier's loss, takes ``"mean"``
(over samples) or ``"sum"``.
"""

from __future__ import annotations

from npae import kernels
from npae.backend import Array, get_array_module, host_value, to_floats
from npae.layers.activations import sigmoid

__all__ = ["mse", "bce", "bce_with_logits", "softmax_cross_entropy", "REDUCTIONS"]

REDUCTIONS = ("mean", "sum", "batchmean")


def _divisor(x: Array, reduction: str, owner: str) -> int:
    if reduction == "mean":
        return x.size
    if reduction == "sum":
        return 1
    if reduction == "batchmean":
        return x.shape[0]
    raise ValueError(f"{owner}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _check_pair(pred: Array, target: Array, owner: str, a: str) -> None:
    if getattr(pred, "shape", None) != getattr(target, "shape", None):
        raise ValueError(f"{owner}: {a} and target must have the same shape, got "
                         f"{getattr(pred, 'shape', None)} and {getattr(target, 'shape', None)}")
    if pred.size == 0:
        raise ValueError(f"{owner}: empty batch ({a} shape {pred.shape})")
    if pred.dtype.kind != "f":
        raise TypeError(f"{owner}: {a} must be a floating-point array, got dtype {pred.dtype}")


def _check_targets(target: Array, owner: str) -> None:
    lo, hi = to_floats(target.min(), target.max())
    if not (lo >= 0.0 and hi <= 1.0):  # also catches NaN
        raise ValueError(f"{owner}: targets must lie in [0, 1], got values in [{lo}, {hi}]; "
                         "binary cross-entropy is defined for probabilities")


#: Factors per product in :func:`_sum_log1p`: ``2**128`` is far below float64's maximum.
_LOG1P_GROUP = 128


def _sum_log1p(e: Array) -> Array:
    r"""``sum_i log(1 + e_i)`` for ``e_i`` in [0, 1], as a 0-d float64 array.

    float64 input (gradient checks) takes ``log1p`` itself. float32 input
    (training) takes ``sum_g log prod_{i in g} q_i`` with ``q_i = 1 + e_i``, over
    groups of :data:`_LOG1P_GROUP` entries multiplied in float64: a product of
    factors in [1, 2] can neither overflow nor underflow, and it takes 1/128 of
    the logarithms, which is what makes it fast (NumPy's float32 ``log1p`` is not
    vectorized on most CPUs and would be the slowest step of a VAE's epoch). What
    rounding drops from ``1 + e_i``, ``r_i = e_i - (q_i - 1)`` (exact, by Sterbenz's
    lemma), is added back as ``sum_i r_i / q_i``, the first-order term of
    ``log(q_i + r_i) - log q_i``, so a tiny ``e_i`` (a confident, correct logit)
    still counts in full; the result agrees with a correctly rounded sum of
    ``log1p`` to 1e-9 relative or better (a float32 sum of float32 ``log1p``: about
    1e-7). The element-wise work stays float32 until the reductions, because fresh
    float64 temporaries of this size cost more than the logs saved.
    """
    xp = get_array_module(e)
    if e.dtype == xp.float64:
        return xp.log1p(e).sum()
    e = e.reshape(-1)
    q = e + 1
    minus_r = q - 1
    minus_r -= e
    minus_r /= q
    whole = e.size - e.size % _LOG1P_GROUP
    logs = xp.log(q[:whole].reshape(-1, _LOG1P_GROUP).prod(axis=1, dtype=xp.float64)).sum()
    return logs + xp.log(q[whole:].prod(dtype=xp.float64)) - minus_r.sum(dtype=xp.float64)


def _over(total: Array, D: int) -> Array:
    """``total / D`` as a 0-d float64 array (what ``float(total) / D`` gives, unread)."""
    return total.astype(get_array_module(total).float64) / D


@host_value
def mse(pred: Array, target: Array, reduction: str = "mean") -> tuple[float, Array]:
    r"""Squared error ``sum_i (p_i - t_i)^2 / D``, ``D`` set by ``reduction``.

    Gradient: ``dL/dp_i = 2 (p_i - t_i) / D``.
    """
    _check_pair(pred, target, "mse", "pred")
    D = _divisor(pred, reduction, "mse")
    diff = pred - target
    return _over((diff * diff).sum(), D), diff * (2 / D)


@host_value
def bce(prob: Array, target: Array, reduction: str = "mean",
        check: bool = True) -> tuple[float, Array]:
    r"""Binary cross-entropy of probabilities,
    ``-sum_i [t_i log p_i + (1 - t_i) log(1 - p_i)] / D``.

    Gradient: ``dL/dp_i = (p_i - t_i) / (p_i (1 - p_i) D)``.

    ``p`` is clipped to ``[eps, 1 - eps]`` (``eps`` the machine epsilon of its
    dtype) so that neither log nor the gradient can be infinite. At a clipped
    entry the gradient is the formula evaluated at the clip point rather than
    zero, so a saturated sigmoid output still learns. Targets are never clipped:
    ``check=True`` refuses targets outside [0, 1] (one scan; models turn it off
    because they validate their data once, at the entry point).
    """
    _check_pair(prob, target, "bce", "prob")
    if check:
        _check_targets(target, "bce")
    D = _divisor(prob, reduction, "bce")
    xp = get_array_module(prob)
    eps = float(xp.finfo(prob.dtype).eps)
    p = xp.clip(prob, eps, 1 - eps)
    value = -_over((target * xp.log(p) + (1 - target) * xp.log1p(-p)).sum(), D)
    return value, (p - target) / (p * (1 - p) * D)


def _bce_logits_linear(logits: Array, target: Array) -> Array:
    r"""``max(z, 0) - z t`` per entry, as ``z (1 - t)`` for ``z >= 0`` and ``-z t`` below.

    Both forms are a product of two numbers of the same sign, so every entry is
    ``>= 0`` and carries a relative error of at most two roundings (``1 - t`` and
    the product); ``max(z, 0) - z t`` would cancel for a target near 1, where the
    entry ``z (1 - t)`` is much smaller than ``z``.
    """
    return logits * ((logits >= 0) - target)


def bce_logits_terms(logits: Array, target: Array) -> Array:
    r"""The element-wise binary cross-entropy ``z (1[z >= 0] - t) + log1p(e^{-|z|})``.

    Two non-negative terms, each accurate to a few roundings relative to itself, so
    their sum is too: a confident, correct logit (``t = 1``, ``z = 700``) gives
    ``log1p(e^{-700})``, about ``1e-304``, to full precision. The VAE's Bernoulli
    ``log p(x | z)`` is the negative of its sum over pixels.
    """
    xp = get_array_module(logits)
    return _bce_logits_linear(logits, target) + xp.log1p(xp.exp(-xp.abs(logits)))


@host_value
def bce_with_logits(logits: Array, target: Array, reduction: str = "mean",
                    check: bool = True) -> tuple[float, Array]:
    r"""Binary cross-entropy of ``p = sigmoid(z)`` computed from the logits ``z``.

    Per entry, ``-t log s(z) - (1 - t) log(1 - s(z)) = max(z, 0) - z t + log(1 + e^{-|z|})``,
    which never overflows; it is evaluated as ``z (1[z >= 0] - t) + log1p(e^{-|z|})``,
    a sum of two non-negative terms, so every entry keeps its full relative precision
    (a confident, correct logit gives a tiny loss, not the rounding noise of a
    difference of large numbers). Gradient: ``dL/dz_i = (s(z_i) - t_i) / D``.

    This runs on every output pixel of every batch, so ``e = e^{-|z|}`` is
    computed once and serves both the value and the sigmoid
    (:func:`npae.layers.activations.sigmoid`), and ``sum_i log(1 + e_i)`` is
    :func:`_sum_log1p`.
    """
    _check_pair(logits, target, "bce_with_logits", "logits")
    if check:
        _check_targets(target, "bce_with_logits")
    D = _divisor(logits, reduction, "bce_with_logits")
    if kernels.active() == "reference":  # the plain formula (npae.kernels.reference)
        return kernels.reference.bce_with_logits(logits, target, D)
    xp = get_array_module(logits)
    e = xp.abs(logits)
    xp.negative(e, out=e)
    xp.exp(e, out=e)
    value = _over(_bce_logits_linear(logits, target).sum() + _sum_log1p(e), D)
    s = sigmoid(logits, e)
    s -= target
    s *= 1 / D
    return value, s


def _check_labels(logits: Array, labels: Array, owner: str, check: bool) -> None:
    """Shapes and dtypes always; value ranges (one host read) only when ``check``."""
    shape = getattr(logits, "shape", None)
    if getattr(logits, "ndim", None) != 2:
        raise ValueError(f"{owner}: logits must be (N, C), got shape {shape}")
    if logits.dtype.kind != "f":
        raise TypeError(f"{owner}: logits must be a floating-point array, got dtype "
                        f"{logits.dtype}")
    N, C = shape
    if N == 0:
        raise ValueError(f"{owner}: empty batch (logits shape {shape})")
    lshape, kind = getattr(labels, "shape", None), getattr(getattr(labels, "dtype", None),
                                                           "kind", None)
    if lshape == (N,):
        if kind not in ("i", "u"):
            raise TypeError(f"{owner}: labels of shape (N,) must be integer class indices, "
                            f"got dtype {labels.dtype}")
        if check:
            lo, hi = to_floats(labels.min(), labels.max())
            if lo < 0 or hi >= C:
                raise ValueError(f"{owner}: labels must be class indices in [0, {C}), got "
                                 f"values in [{lo:g}, {hi:g}]")
    elif lshape == (N, C):
        if kind != "f":
            raise TypeError(f"{owner}: labels of shape (N, C) must be probabilities (a float "
                            f"array), got dtype {labels.dtype}")
        if check:
            xp = get_array_module(labels)
            sums = labels.sum(axis=1, dtype=xp.float64)
            lo, worst = to_floats(labels.min(), xp.abs(sums - 1).max())
            tol = 1e3 * float(xp.finfo(labels.dtype).eps)
            if not (lo >= 0 and worst <= tol):  # also catches NaN
                raise ValueError(f"{owner}: each row of probability labels must be >= 0 and "
                                 f"sum to 1, got a smallest entry {lo:g} and a row sum "
                                 f"{worst:g} away from 1")
    else:
        raise ValueError(f"{owner}: labels must be class indices of shape ({N},) or "
                         f"probabilities of shape ({N}, {C}) for logits {shape}, got shape "
                         f"{lshape}")


@host_value
def softmax_cross_entropy(logits: Array, labels: Array, reduction: str = "mean",
                          check: bool = True) -> tuple[float, Array]:
    r"""Cross-entropy of ``p = softmax(z)`` against class labels, from the logits ``z``.

    Per sample ``n``, with target distribution ``t_n`` (one-hot for an integer label),
    ``k_n`` the index of the row's largest logit and ``m_n = z_{n k_n}``::

        l_n = -sum_c t_nc log p_nc = sum_c t_nc (m_n - z_nc) + (sum_c t_nc) log1p(r_n),
        r_n = sum_{c != k_n} exp(z_nc - m_n)

    and ``L = sum_n l_n / D`` with ``D = N`` for ``"mean"`` and ``1`` for ``"sum"``.
    The log-sum-exp ``m_n + log(1 + r_n)`` keeps the largest term's 1 apart from the
    others, so nothing overflows and a confident row (``r_n`` tiny) keeps its full
    relative precision: ``log(1 + r_n)`` would round ``1 + r_n`` first and keep only the
    digits of ``r_n`` that survive next to 1 (for a gap of 12 between the two largest
    logits, about 11 of 16; none beyond a gap of 37), and a central difference of the
    value, which divides its rounding by the step, would be noise next to the gradient.
    Each exponential is of a rounded difference ``z_nc - m_n``, which bounds the
    relative error of ``r_n``, and of ``l_n`` when it is ``log1p(r_n)`` alone, by about
    ``(G + C) eps``, ``G`` the largest gap ``m_n - z_nc`` (7.8e-14 for a gap of 700).

    Gradient: ``dL/dz_nc = ((sum_c' t_nc') p_nc - t_nc) / D`` (the familiar
    ``(softmax - onehot) / N`` since each row of ``t`` sums to 1), with
    ``p_nc = exp(z_nc - m_n) / (1 + r_n)``. In the column ``k_n`` it is computed as
    ``(sum_{c != k_n} t_nc - t_{n k_n} r_n) / (1 + r_n)``, which for a confident,
    correct row is ``-r_n / (1 + r_n)`` to full precision rather than ``1/(1 + r_n) - 1``
    (zero once ``r_n`` is below ``eps``): the gradient is as exact as the value.

    Parameters
    ----------
    logits : (N, C) float array
    labels : (N,) integer class indices in ``[0, C)``, or (N, C) probabilities whose
        rows sum to 1 (soft or one-hot targets)
    reduction : ``"mean"`` over samples, or ``"sum"``
    check : scan the labels' values (one host read); models validate labels once, at
        their entry point, and turn it off

    Returns
    -------
    (value, dlogits)
    """
    owner = "softmax_cross_entropy"
    if reduction not in ("mean", "sum"):
        raise ValueError(f"{owner}: reduction must be 'mean' or 'sum', got {reduction!r}")
    _check_labels(logits, labels, owner, check)
    xp = get_array_module(logits)
    N, C = logits.shape
    D = N if reduction == "mean" else 1
    if kernels.active() == "reference":  # the plain formula (npae.kernels.reference)
        return kernels.reference.softmax_cross_entropy(logits, labels, D)
    k = logits.argmax(axis=1)[:, None]
    is_max = xp.arange(C) == k  # one True per row (the first of tied maxima)
    shifted = logits - xp.take_along_axis(logits, k, axis=1)  # z - m <= 0, 0 at k
    e = xp.exp(shifted)
    e -= is_max  # the largest term's exp(0) = 1 kept apart: exactly 0 now
    r = e.sum(axis=1, keepdims=True)
    log_s = xp.log1p(r)
    if labels.ndim == 1:
        # one term per row; -(z_y - m) is >= 0 and exact, so confident logits lose nothing
        value = (log_s[:, 0] - xp.take_along_axis(shifted, labels[:, None], axis=1)[:, 0]).sum()
        hit = labels[:, None] == k  # the label is the largest logit: column k gets -r
        e += is_max * xp.where(hit, -r, 1)
        e /= 1 + r
        e -= (xp.arange(C) == labels[:, None]) & ~is_max
    else:
        t_sum = labels.sum(axis=1, keepdims=True)
        value = (t_sum * log_s).sum() - (labels * shifted).sum()
        others = xp.where(is_max, 0, labels)
        t_k = xp.take_along_axis(labels, k, axis=1)
        grad = e * t_sum
        grad += is_max * (others.sum(axis=1, keepdims=True) - t_k * r)
        grad /= 1 + r
        grad -= others
        e = grad.astype(logits.dtype, copy=False)
    e *= 1 / D
    return _over(value, D), e
