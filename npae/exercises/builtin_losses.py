"""Built-in exercises: MSE, BCE with logits, softmax cross-entropy."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from npae import losses
from npae.exercises.builtin_layers import HEADER
from npae.exercises.core import Case, Exercise, FunctionPart, Gradient, register


def _value_and_grad(f, name: str) -> SimpleNamespace:
    """The reference pair ``name(a, b) -> value`` and ``name_backward(a, b) -> grad``."""
    return SimpleNamespace(**{name: lambda a, b: f(a, b)[0],
                              f"{name}_backward": lambda a, b: f(a, b)[1]})


MSE_STUB = HEADER.format(name="mse", title="the mean squared error") + '''

def mse(pred, target):
    """Mean squared error over EVERY element: ``L = (1/M) sum_i (pred_i - target_i)^2``.

    Shapes: ``pred`` and ``target`` of any one shape, ``(N, D)`` or ``(N, C, H, W)``;
    ``M = pred.size`` (not the batch size). Returns a float.
    """
    return float(np.mean((pred - target) ** 2))


def mse_backward(pred, target):
    """Return ``dL/dpred``, shaped like ``pred``.

    {hints}
    """
    raise NotImplementedError("mse_backward")
'''

MSE_HINTS = """Hints: dL/dpred_i = 2 (pred_i - target_i) / M with M = pred.size. The 2 comes
from the square; the 1/M from the mean over every element."""


def _mse_cases(rng: np.random.Generator) -> list[Case]:
    out = []
    for shape, names in (((4, 6), ("N", "D")), ((1, 5), ("N", "D")),
                         ((2, 3, 4, 5), ("N", "C", "H", "W"))):
        out.append(Case(" ".join(f"{k}={v}" for k, v in zip(names, shape)),
                        {"pred": rng.standard_normal(shape)},
                        data={"target": rng.standard_normal(shape)},
                        dims=dict(zip(names, shape))))
    return out


register(Exercise(
    name="mse", title="Mean squared error (mean over every element)", topic="losses",
    difficulty=1, stub=MSE_STUB, hints=MSE_HINTS, reference=_value_and_grad(losses.mse, "mse"),
    cases=_mse_cases,
    parts=[FunctionPart("mse", "mse_backward", ("pred", "target"),
                        (Gradient("dpred", "pred"),))]))


BCE_STUB = HEADER.format(name="bce_with_logits", title="binary cross-entropy from logits") + '''

def bce_with_logits(z, t):
    """Binary cross-entropy of ``p = sigmoid(z)`` against targets ``t`` in [0, 1], from the
    logits ``z``, averaged over every element:

    ``L = (1/M) sum_i [ -t_i log p_i - (1 - t_i) log(1 - p_i) ]``, ``M = z.size``,

    computed as ``max(z, 0) - z t + log(1 + exp(-|z|))`` per entry, which never
    overflows. Shapes: ``z`` and ``t`` of one shape ``(N, D)``. Returns a float.
    """
    return float(np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))))


def bce_with_logits_backward(z, t):
    """Return ``dL/dz``, shaped like ``z``; finite for every finite ``z`` (|z| up to 40
    in the grader's cases).

    {hints}
    """
    raise NotImplementedError("bce_with_logits_backward")
'''

BCE_HINTS = """Hints: with p = sigmoid(z), dp/dz = p (1 - p), and the two logs give
d/dz [-t log p - (1 - t) log(1 - p)] = p - t. So dL/dz = (sigmoid(z) - t) / M.
Compute the sigmoid without overflow: 0.5 * (1 + np.tanh(z / 2)) is one way."""


def _bce_cases(rng: np.random.Generator) -> list[Case]:
    out = []
    for N, D, scale, binary in ((4, 6, 2.0, False), (1, 5, 2.0, False), (3, 7, 40.0, True)):
        t = (rng.random((N, D)) < 0.5).astype(np.float64) if binary else rng.random((N, D))
        label = f"N={N}, D={D}" + (", binary targets, logits up to |40|" if binary else "")
        out.append(Case(label, {"z": rng.standard_normal((N, D)) * scale / 2},
                        data={"t": t}, dims={"N": N, "D": D}))
    return out


register(Exercise(
    name="bce_with_logits", title="Binary cross-entropy with logits (mean over every element)",
    topic="losses", difficulty=2, stub=BCE_STUB, hints=BCE_HINTS,
    reference=_value_and_grad(losses.bce_with_logits, "bce_with_logits"), cases=_bce_cases,
    parts=[FunctionPart("bce_with_logits", "bce_with_logits_backward", ("z", "t"),
                        (Gradient("dz", "z"),))]))


SOFTMAX_STUB = HEADER.format(name="softmax_cross_entropy",
                             title="softmax cross-entropy") + '''

def softmax_cross_entropy(logits, labels):
    """Cross-entropy of ``p = softmax(z)`` against integer class labels, mean over samples:

    ``L = -(1/N) sum_n log p[n, labels[n]]``,  ``p[n, c] = exp(z[n, c]) / sum_k exp(z[n, k])``.

    Shapes: ``logits (N, C)``, ``labels (N,)`` integers in ``[0, C)``. Returns a float.
    Computed with the log-sum-exp shift (subtract each row's max), so large logits
    never overflow.
    """
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def softmax_cross_entropy_backward(logits, labels):
    """Return ``dL/dlogits`` (N, C); finite for large logits (the grader has logits near 800,
    where ``exp`` overflows).

    {hints}
    """
    raise NotImplementedError("softmax_cross_entropy_backward")
'''

SOFTMAX_HINTS = """Hints: d(-log p[n, y])/dz[n, c] = p[n, c] - [c == y]. So
dL/dlogits = (softmax(z) - onehot(labels)) / N. Compute the softmax from the shifted
logits z - max_c z (the shift cancels in the ratio), or exp overflows."""


def _softmax_cases(rng: np.random.Generator) -> list[Case]:
    out = []
    for N, C, shift in ((4, 5, 0.0), (1, 3, 0.0), (6, 10, 800.0)):
        # shifted logits: the loss is the same, but a naive exp(800) overflows
        label = f"N={N}, C={C}" + (f", logits near {shift:g}" if shift else "")
        out.append(Case(label, {"logits": rng.standard_normal((N, C)) * 2 + shift},
                        data={"labels": rng.integers(0, C, N)}, dims={"N": N, "C": C}))
    return out


register(Exercise(
    name="softmax_cross_entropy", title="Softmax cross-entropy with integer labels",
    topic="losses", difficulty=2, stub=SOFTMAX_STUB, hints=SOFTMAX_HINTS,
    reference=_value_and_grad(losses.softmax_cross_entropy, "softmax_cross_entropy"),
    cases=_softmax_cases,
    parts=[FunctionPart("softmax_cross_entropy", "softmax_cross_entropy_backward",
                        ("logits", "labels"), (Gradient("dlogits", "logits", ("N", "C")),))]))
