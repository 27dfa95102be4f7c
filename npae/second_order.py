r"""Full-batch training with SciPy's second-order optimizers (L-BFGS-B, conjugate gradient).

A minibatch optimizer sees a new, noisy objective at every step. L-BFGS and CG
instead minimise one deterministic function ``J(theta)`` of the flattened parameter
vector, on the whole training set: their line searches compare values of ``J`` at
several points, and L-BFGS builds a curvature model from differences of gradients,
``s_k = theta_{k+1} - theta_k``, ``y_k = grad J(theta_{k+1}) - grad J(theta_k)``.
Both steps assume that evaluating ``J`` twice at the same ``theta`` gives the same
number. Deck 001 of the course makes the point for the contractive autoencoder only:
"Advantage of contractive autoencoder : gradient is deterministic", so it "can use second
order optimizers (conjugate gradient, LBFGS, etc.)".

The objective, with ``theta`` the model's parameters laid end to end in the order of
``model.parameters()``, is the model's own loss on all of ``X`` plus optional weight
decay on the weights ``W`` of every layer (not the biases ``b``):

.. math::
    J(\theta) = \mathcal{L}_{\text{model}}(X; \theta)
              + \frac{\lambda}{2} \sum_l \lVert W_l \rVert_F^2, \qquad
    \frac{\partial J}{\partial W_l} = \frac{\partial \mathcal{L}_{\text{model}}}{\partial W_l}
              + \lambda W_l, \qquad
    \frac{\partial J}{\partial b_l} = \frac{\partial \mathcal{L}_{\text{model}}}{\partial b_l}.

The gradient of the model's loss is its own hand-written backward pass
(``model.loss``); nothing is re-derived here. (``optim.SGD``/``Adam``'s
``weight_decay`` decays every parameter, biases included; this one follows Ng's
sparse-autoencoder notes, which decay the weights only.)

A stochastic objective (a denoising model's fresh corruption, a VAE's fresh ``eps``)
is refused: :class:`FlatObjective` evaluates the loss twice at the starting point with
different random draws and compares. ``fixed_noise=seed`` makes it deterministic by
giving every evaluation a generator started from the same seed, so the corruption
(or ``eps``) is drawn once and stays fixed: L-BFGS then minimises the loss for that
one draw (for a VAE, a one-sample Monte Carlo ELBO with common random numbers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from npae import backend
from npae.arguments import as_generator, check_real, is_int
from npae.network import leaf_layers

__all__ = ["METHODS", "FlatObjective", "minimize"]

#: The SciPy methods ``minimize`` accepts (both use the gradient, not the Hessian).
METHODS = ("L-BFGS-B", "CG")

_OWNER = "npae.optim.minimize"


def _write(params: list[Any], theta: np.ndarray) -> None:
    """Write the flat host vector ``theta`` into ``params`` (in order), in place."""
    flat = backend.get_array_module(params[0]).asarray(theta)  # one upload
    start = 0
    for p in params:
        p[...] = flat[start:start + p.size].reshape(p.shape)
        start += p.size


def _slots(model: Any) -> list[tuple[dict, dict, str]]:
    """``(params, grads, key)`` of every parameter, in ``model.parameters()`` order, so that
    ``minimize`` can swap a parameter for a float64 copy and back."""
    for attr in ("parameters", "batch_loss", "check_data", "encoder", "decoder"):
        if not hasattr(model, attr):
            raise TypeError(f"{_OWNER}: model must be an npae autoencoder (with "
                            f"parameters(), loss and an encoder and decoder), got "
                            f"{type(model).__name__}")
    slots = [(layer.params, layer.grads, k)
             for part in (model.encoder, model.decoder) for layer in leaf_layers(part)
             for k in getattr(layer, "params", {})]
    named = list(model.parameters())
    if len(slots) != len(named) or not all(params[k] is p for (params, _, k), (_, p, _)
                                           in zip(slots, named)):
        raise TypeError(f"{_OWNER}: the parameters of {type(model).__name__} are not the "
                        "params of its encoder's and decoder's layers; minimize needs "
                        "a model whose parameters() are exactly those")
    return slots


class FlatObjective:
    r"""``J(theta)`` and its gradient for a model and a fixed data set (see the module
    docstring); the function SciPy minimises, kept public so that it can be checked
    and reused (e.g. by a full-batch first-order optimizer on the same ``J``).

    Parameters
    ----------
    model : Autoencoder
        Its parameters are read and written in place; their dtype is the computation's.
    X : array (N, ...)
        The whole training set, validated once here.
    weight_decay : float
        ``lambda >= 0`` in ``lambda / 2 * sum_l ||W_l||^2`` (weights named ``W`` only).
    fixed_noise : int, optional
        Seed from which every evaluation draws its randomness; None refuses a
        stochastic model.

    Attributes
    ----------
    theta0 : numpy.ndarray
        The starting parameters, flattened, as float64 on the host.
    names : list of str
        The parameters' names (``"encoder.0.W"``, ...), in the order ``theta`` holds them.
    evaluations : int
        Calls of :meth:`__call__` so far (one forward and one backward pass each).
    """

    def __init__(self, model: Any, X: Any, *, weight_decay: float = 0.0,
                 fixed_noise: int | None = None) -> None:
        self.weight_decay = check_real(weight_decay, _OWNER, "weight_decay",
                                       "a finite number >= 0", 0.0)
        if fixed_noise is not None:
            expected = f"{_OWNER}: fixed_noise must be None or a seed (an int >= 0), got"
            if not is_int(fixed_noise):
                raise TypeError(f"{expected} {fixed_noise!r}")
            if fixed_noise < 0:
                raise ValueError(f"{expected} {fixed_noise!r}")
        self.model, self.fixed_noise = model, fixed_noise
        self.slots = _slots(model)
        self.X = model.check_data(X, _OWNER, "X", training=True)
        self.names = [n for n, _, _ in model.parameters()]
        if not self.slots:
            raise ValueError(f"{_OWNER}: {type(model).__name__} has no parameters to train")
        self.decayed = [s[2] == "W" for s in self.slots]
        self.theta0 = self.get()
        self.evaluations = 0
        self._check_deterministic()

    # -- the parameter vector ----------------------------------------------------
    def _params(self) -> list[Any]:
        return [params[k] for params, _, k in self.slots]

    def get(self) -> np.ndarray:
        """The model's parameters as one float64 host vector."""
        params = self._params()
        xp = backend.get_array_module(params[0])
        flat = xp.concatenate([p.reshape(-1) for p in params])
        return backend.asnumpy(flat).astype(np.float64)

    def set(self, theta: np.ndarray) -> None:
        """Write ``theta`` into the model's parameter arrays, in place."""
        _write(self._params(), theta)

    # -- the objective -----------------------------------------------------------
    def _rng(self, seed: int | None) -> np.random.Generator:
        if self.fixed_noise is not None:
            return as_generator(self.fixed_noise)
        return as_generator(seed)

    def value(self, theta: np.ndarray | None = None, *, rng: int | None = None
              ) -> tuple[float, dict[str, float]]:
        """``(J, parts)`` at ``theta`` (default: the model's current parameters), without
        a backward pass; ``parts`` are the model's loss parts plus ``"weight_decay"``."""
        if theta is not None:
            self.set(theta)
        total, parts = self.model.batch_loss(self.X, self._rng(rng), False)
        return self._add_decay(total, parts)

    def _add_decay(self, total: float, parts: dict[str, float]
                   ) -> tuple[float, dict[str, float]]:
        if self.weight_decay:
            ws = [p for p, d in zip(self._params(), self.decayed) if d]
            sq = backend.to_floats(*[(w * w).sum() for w in ws]) if ws else (0.0,)
            parts = {**parts, "weight_decay": 0.5 * self.weight_decay * math.fsum(sq)}
            total = total + parts["weight_decay"]
        return total, parts

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """``(J(theta), grad J(theta))``, the gradient a float64 host vector: the model's
        backward pass, plus ``lambda W`` for every weight when there is weight decay."""
        self.set(theta)
        total, parts = self.model.batch_loss(self.X, self._rng(None), True)
        self.evaluations += 1
        total, self.last_parts = self._add_decay(total, parts)
        grads = []
        for (_, g_dict, k), p, decay in zip(self.slots, self._params(), self.decayed):
            g = g_dict[k]
            grads.append((g + self.weight_decay * p if decay and self.weight_decay else g
                          ).reshape(-1))
        xp = backend.get_array_module(grads[0])
        return total, backend.asnumpy(xp.concatenate(grads)).astype(np.float64)

    def _check_deterministic(self) -> None:
        """Refuse an objective that changes between two evaluations at the same point."""
        name = type(self.model).__name__
        a, _ = self.value(rng=0)
        b, _ = self.value(rng=1)
        if not math.isfinite(a):
            raise ValueError(f"{_OWNER}: the objective of {name} is not finite at the "
                             f"starting parameters ({a!r})")
        if self.fixed_noise is None and not math.isclose(a, b, rel_tol=1e-10, abs_tol=0.0):
            raise ValueError(
                f"{_OWNER}: the objective of {name} is stochastic: two evaluations at the "
                f"same parameters, with different random draws, gave {a!r} and {b!r} (a "
                "denoising model draws a fresh corruption and a VAE a fresh eps at every "
                "call). L-BFGS and CG need a deterministic function: their line searches "
                "compare values across evaluations and L-BFGS's curvature pairs difference "
                "gradients, so fresh noise would mislead both. Pass fixed_noise=<seed> to "
                "draw the noise once and minimise the loss for that fixed draw, or train "
                "with fit() and a minibatch optimizer (SGD, Adam).")
        if self.fixed_noise is not None and a != b:
            raise ValueError(
                f"{_OWNER}: the objective of {name} still changes with fixed_noise="
                f"{self.fixed_noise} ({a!r} then {b!r}): some layer draws randomness "
                "that the loss's rng does not control, so it cannot be fixed here")


def _check_args(method: Any, maxiter: Any, callback: Any, dtype: Any) -> str:
    methods = {m.lower(): m for m in METHODS}
    if not isinstance(method, str) or method.lower() not in methods:
        raise ValueError(f"{_OWNER}: method must be one of {METHODS}, got {method!r}")
    if not is_int(maxiter) or maxiter < 1:
        raise ValueError(f"{_OWNER}: maxiter must be a positive int, got {maxiter!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"{_OWNER}: callback must be callable or None, got "
                        f"{type(callback).__name__}")
    if dtype is not None:
        try:
            dt = np.dtype(dtype)
        except TypeError:
            dt = None
        if dt is None or dt.kind != "f":
            raise TypeError(f"{_OWNER}: dtype must be a floating type or None, got {dtype!r}")
    return methods[method.lower()]


def minimize(model: Any, X: Any, method: str = "L-BFGS-B", *, maxiter: int = 400,
             maxfun: int | None = None,
             callback: Callable[[int, float, dict[str, float]], Any] | None = None,
             weight_decay: float = 0.0, fixed_noise: int | None = None,
             dtype: Any = np.float64, tol: float | None = None,
             options: dict[str, Any] | None = None):
    r"""Train ``model`` full-batch on ``X`` with ``scipy.optimize.minimize``.

    The objective and its gradient are described in the module docstring: the model's
    loss on all of ``X`` (its own hand-written backward pass gives the gradient), plus
    ``weight_decay / 2 * sum_l ||W_l||^2`` on the weights.

    Parameters
    ----------
    model : Autoencoder
        Any npae autoencoder whose loss is deterministic (plain, sparse, contractive,
        convolutional); a denoising model or a VAE only with ``fixed_noise``.
    X : array (N, ...)
        The whole training set (one gradient evaluation is a pass over all of it).
    method : {"L-BFGS-B", "CG"}
        SciPy's limited-memory BFGS or nonlinear conjugate gradient (Polak-Ribiere);
        case does not matter.
    maxiter : int
        Most iterations (each takes one or more gradient evaluations: line search).
    maxfun : int, optional
        Stop after the first iteration at which this many gradient evaluations have
        been spent (the last one may overshoot by the evaluations of one line search);
        for comparisons at an equal cost.
    callback : callable, optional
        ``callback(iteration, objective, parts)`` after every iteration; return True to
        stop.
    weight_decay : float
        ``lambda`` of the decay on the weights ``W`` (not the biases); 0 for none.
    fixed_noise : int, optional
        A seed: every evaluation draws the model's randomness (a denoising model's
        corruption, a VAE's ``eps``) from a generator started at this seed, so it is the
        same draw every time and the objective deterministic. Without it a stochastic
        model is refused.
    dtype : float dtype or None
        The precision of the computation: float64 by default (a line search needs values
        accurate beyond float32's 1e-7 to compare nearby points). The parameters are
        copied to this dtype for the run and written back in the model's own dtype at
        the end, so ``fit`` and the minibatch optimizers work on the model as before.
        None computes in the model's dtype.
    tol, options
        Passed to ``scipy.optimize.minimize`` (``options`` merges with ``maxiter``).

    Returns
    -------
    scipy.optimize.OptimizeResult
        SciPy's fields (``x``, ``fun``, ``nit``, ``nfev``, ``success``, ``message``;
        ``x`` and ``fun`` in ``dtype``) and ``history``: the objective at the start and
        after each iteration (``len == nit + 1``); ``evaluations``: the number of
        gradient evaluations spent when each of those values was reached; ``parts``:
        the loss parts at the end (``"weight_decay"`` included).

    Raises
    ------
    ValueError
        For a stochastic objective without ``fixed_noise``, an unknown method, a bad
        ``maxiter`` or ``weight_decay``, or bad data (as ``model.loss`` would).
    TypeError
        For a model that is not an npae autoencoder, a non-callable callback, a bad
        ``dtype`` or ``fixed_noise``.

    Examples
    --------
    >>> from npae.models import dense_autoencoder, ContractiveAutoencoder
    >>> from npae.optim import minimize
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((50, 8)).astype(np.float32)
    >>> cae = dense_autoencoder(8, [], 3, activation="sigmoid", rng=0,
    ...                         model=ContractiveAutoencoder, lam=0.1)
    >>> res = minimize(cae, X, maxiter=20)
    >>> bool(res.history[-1] < res.history[0])
    True
    """
    from scipy.optimize import minimize as scipy_minimize

    method = _check_args(method, maxiter, callback, dtype)
    if maxfun is not None and (not is_int(maxfun) or maxfun < 1):
        raise ValueError(f"{_OWNER}: maxfun must be a positive int or None, got {maxfun!r}")
    slots = _slots(model)
    originals = [params[k] for params, _, k in slots]
    if dtype is not None:  # compute on copies in dtype; the originals come back at the end
        for params, _, k in slots:
            params[k] = params[k].astype(dtype)
    accepted = None
    try:
        obj = FlatObjective(model, X, weight_decay=weight_decay, fixed_noise=fixed_noise)
        start, _ = obj.value(obj.theta0)
        history, evaluations = [start], [0]
        accepted, stop_requested = obj.theta0, False
        recent: dict[bytes, tuple[float, dict[str, float]]] = {}

        def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
            f, g = obj(theta)
            recent[theta.tobytes()] = (f, obj.last_parts)
            return f, g

        def step(theta: np.ndarray) -> None:
            nonlocal accepted, stop_requested
            key = theta.tobytes()
            # the accepted point was evaluated during the line search (CG's may not be
            # the latest evaluation); otherwise evaluate it without a backward pass
            f, p = recent[key] if key in recent else obj.value(theta)
            recent.clear()
            accepted = theta.copy()
            history.append(f)
            evaluations.append(obj.evaluations)
            if callback is not None and callback(len(history) - 1, f, p):
                stop_requested = True
            if maxfun is not None and obj.evaluations >= maxfun:
                stop_requested = True
            if stop_requested:
                raise StopIteration

        opts = {"maxiter": int(maxiter), **(options or {})}
        try:
            res = scipy_minimize(fun, obj.theta0, jac=True, method=method, tol=tol,
                                 callback=step, options=opts)
        except StopIteration:  # SciPy versions that do not catch it themselves
            from scipy.optimize import OptimizeResult

            res = OptimizeResult(x=accepted, success=False, nit=len(history) - 1,
                                 nfev=obj.evaluations,
                                 message="stopped by the callback")
        if stop_requested:
            res.x = accepted  # the iterate the callback saw last, whatever SciPy returns
        res.fun, res.parts = obj.value(res.x)
        res.history, res.evaluations = np.array(history), np.array(evaluations)
        accepted = res.x
        return res
    finally:  # also after an error or an interruption: the model stays usable
        if dtype is not None:
            for (params, grads, k), orig in zip(slots, originals):
                params[k] = orig
                if grads.get(k) is not None:
                    grads[k] = grads[k].astype(orig.dtype)
        if accepted is not None:  # the last accepted iterate, not a line-search trial
            _write([params[k] for params, _, k in slots], accepted)
