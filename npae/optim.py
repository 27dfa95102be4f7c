"""Optimizers: update each parameter in place from its gradient.

An optimizer is made without parameters; ``opt.step(model.parameters())``
takes the ``(name, param, grad)`` triples and keeps its per-parameter state
(velocity, moments) by name. Updates are written in place (``out=``) so that a
float32 parameter stays float32 and no temporary arrays pile up.

Hyperparameters may be any real number type (``1e-3``, ``np.float32(1e-3)``, ...);
they are checked when the optimizer is made and stored as Python floats.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from npae.arguments import check_real
from npae.backend import get_array_module

__all__ = ["Optimizer", "SGD", "Adam", "minimize"]

Triples = Iterable[tuple[str, Any, Any]]


class Optimizer:
    """Base: hyperparameter checks and the per-name state dictionary."""

    def __init__(self, lr: float, weight_decay: float) -> None:
        owner = type(self).__name__
        self.lr = check_real(lr, owner, "lr", "a positive finite number", 0.0, low_open=True)
        self.weight_decay = check_real(weight_decay, owner, "weight_decay",
                                       "a finite number >= 0", 0.0)
        self.state: dict[str, dict[str, Any]] = {}

    def _grad(self, p: Any, g: Any, name: str) -> Any:
        if g is None:
            raise ValueError(f"{type(self).__name__}: parameter {name!r} has no gradient; "
                             "call model.loss(x) (forward and backward) before step()")
        # L2 weight decay: d/dp (wd/2 |p|^2) = wd * p, added to the gradient.
        return g + self.weight_decay * p if self.weight_decay else g

    def step(self, params: Triples) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional (Nesterov) momentum.

    With ``g = grad + weight_decay * p``:

    - plain: ``p <- p - lr g``
    - momentum ``m``: ``v <- m v + g``; ``p <- p - lr v``
    - Nesterov: ``v <- m v + g``; ``p <- p - lr (g + m v)``
    """

    def __init__(self, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay)
        self.momentum = check_real(momentum, "SGD", "momentum", "a number in [0, 1)", 0.0, 1.0)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"SGD: nesterov must be True or False, got {nesterov!r}")
        if nesterov and self.momentum == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)

    def step(self, params: Triples) -> None:
        lr, m = self.lr, self.momentum
        for name, p, g in params:
            g = self._grad(p, g, name)
            if m == 0:
                p -= lr * g
                continue
            st = self.state.setdefault(name, {})
            v = st.get("v")
            if v is None:
                v = st["v"] = g.copy()
            else:
                v *= m
                v += g
            p -= lr * (g + m * v) if self.nesterov else lr * v


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015) with bias correction.

    With ``g = grad + weight_decay * p`` and step count ``t``:

    .. math::
        m \leftarrow \beta_1 m + (1 - \beta_1) g,\quad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2,\quad
        p \leftarrow p - \text{lr}\, \frac{\hat m}{\sqrt{\hat v} + \epsilon},\quad
        \hat m = \frac{m}{1 - \beta_1^t},\ \hat v = \frac{v}{1 - \beta_2^t}.

    The state keeps ``M = m / (1 - b1)`` and ``V = v / (1 - b2)``, whose updates
    ``M <- b1 M + g`` and ``V <- b2 V + g^2`` take one array pass fewer each, and
    the step is ``p -= lr_t M / (sqrt(V) + eps_t)`` with, for ``k = sqrt((1 - b2)
    / (1 - b2^t))``, ``lr_t = lr (1 - b1) / ((1 - b1^t) k)`` and ``eps_t = eps / k``:
    algebraically the update above, in 10 passes over each parameter (the textbook
    form takes 14). The price: in float32, ``V ~ g^2 / (1 - b2)`` overflows for
    gradients above about 6e17 instead of 2e19, far beyond any trainable model.
    """

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay)
        expected = "a pair (beta1, beta2) of numbers in [0, 1)"
        if isinstance(betas, (str, bytes)) or not isinstance(betas, Iterable):
            raise TypeError(f"Adam: betas must be {expected}, got {betas!r}")
        pair = tuple(betas)
        if len(pair) != 2:
            raise ValueError(f"Adam: betas must be {expected}, got {betas!r}")
        self.b1, self.b2 = (check_real(b, "Adam", f"betas[{i}]", "a number in [0, 1)", 0.0, 1.0)
                            for i, b in enumerate(pair))
        self.eps = check_real(eps, "Adam", "eps", "a positive finite number", 0.0, low_open=True)

    def step(self, params: Triples) -> None:
        b1, b2 = self.b1, self.b2
        for name, p, g in params:
            g = self._grad(p, g, name)
            xp = get_array_module(p)
            st = self.state.get(name)
            if st is None:
                st = self.state[name] = {"t": 0, "M": xp.zeros_like(p), "V": xp.zeros_like(p),
                                         "tmp": xp.empty_like(p)}
            st["t"] += 1
            t, M, V, tmp = st["t"], st["M"], st["V"], st["tmp"]
            k = math.sqrt((1 - b2) / (1 - b2**t))
            # Every pass writes into M, V or the scratch array: no temporaries.
            M *= b1
            M += g
            xp.multiply(g, g, out=tmp)
            V *= b2
            V += tmp
            xp.sqrt(V, out=tmp)
            tmp += self.eps / k
            xp.divide(M, tmp, out=tmp)
            tmp *= self.lr * (1 - b1) / ((1 - b1**t) * k)
            p -= tmp


from npae.second_order import minimize  # noqa: E402  (full-batch L-BFGS / CG, re-exported)
