"""Built-in exercises: KL sparsity, the one-layer contractive penalty, the Gaussian KL with
the reparameterization trick."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from npae import layers, penalties
from npae.exercises.builtin_layers import HEADER
from npae.exercises.core import Case, Exercise, FunctionPart, Gradient, register
from npae.models.variational import reparameterize, reparameterize_backward
from npae.network import Sequential

KL_STUB = HEADER.format(name="kl_sparsity", title="the KL sparsity penalty") + '''

def kl_sparsity(h, rho, beta):
    """``P = beta sum_j KL(rho || rho_hat_j)`` of the mean activations over the batch.

    Shapes: ``h (N, k)`` with entries in (0, 1) (a sigmoid code); ``rho`` in (0, 1) and
    ``beta >= 0`` are floats. Returns a float. With ``rho_hat_j = (1/N) sum_n h[n, j]``:

    ``KL(rho || rho_hat_j) = rho log(rho / rho_hat_j)
                             + (1 - rho) log((1 - rho) / (1 - rho_hat_j))``.
    """
    rho_hat = h.mean(axis=0)
    kl = rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))
    return float(beta * kl.sum())


def kl_sparsity_backward(h, rho, beta):
    """Return ``dP/dh``, shaped like ``h`` (N, k).

    {hints}
    """
    raise NotImplementedError("kl_sparsity_backward")
'''

KL_HINTS = """Hints: the chain rule through rho_hat. dKL/drho_hat_j = -rho / rho_hat_j
+ (1 - rho) / (1 - rho_hat_j), and drho_hat_j/dh[n, j] = 1/N, so
dP/dh[n, j] = (beta / N) (-rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j)),
the same for every sample n of the batch (broadcast it to h's shape)."""


def _kl_ref(h, rho, beta):
    return penalties.kl_sparsity(h, rho, beta)


def _kl_cases(rng: np.random.Generator) -> list[Case]:
    out = []
    for N, k, rho, beta in ((5, 4, 0.1, 3.0), (8, 3, 0.05, 0.5), (1, 6, 0.2, 1.0)):
        out.append(Case(f"N={N}, k={k}, rho={rho:g}, beta={beta:g}",
                        {"h": rng.uniform(0.05, 0.95, (N, k))},
                        data={"rho": rho, "beta": beta}, dims={"N": N, "k": k}))
    return out


register(Exercise(
    name="kl_sparsity", title="KL sparsity penalty of the mean activations",
    topic="regularizers", difficulty=2, stub=KL_STUB, hints=KL_HINTS,
    reference=SimpleNamespace(kl_sparsity=lambda h, rho, beta: _kl_ref(h, rho, beta)[0],
                              kl_sparsity_backward=lambda h, rho, beta: _kl_ref(h, rho, beta)[1]),
    cases=_kl_cases,
    parts=[FunctionPart("kl_sparsity", "kl_sparsity_backward", ("h", "rho", "beta"),
                        (Gradient("dh", "h", ("N", "k")),))]))


CONTRACTIVE_STUB = HEADER.format(name="contractive",
                                 title="the contractive penalty of one sigmoid layer") + '''

def contractive(x, W, b, lam):
    """Contractive penalty of the encoder ``h = sigmoid(x W + b)``:
    ``P = (lam / N) sum_n ||J(x_n)||_F^2`` with ``J[i, j] = dh_j / dx_i``.

    Shapes: ``x (N, D)``, ``W (D, k)``, ``b (k,)``; ``lam >= 0`` a float. Returns a float.

    For one layer ``J[i, j] = s_j W[i, j]`` with ``s = h (1 - h)`` (the sigmoid's
    derivative), so, with ``c_j = sum_i W[i, j]^2``,

    ``P = (lam / N) sum_n sum_j s[n, j]^2 c_j``.
    """
    h = 1 / (1 + np.exp(-(x @ W + b)))
    s = h * (1 - h)
    c = (W * W).sum(axis=0)
    return float(lam / len(x) * (s * s * c).sum())


def contractive_backward(x, W, b, lam):
    """Return ``(dP/dW, dP/db)``, shaped ``(D, k)`` and ``(k,)``.

    {hints}
    """
    raise NotImplementedError("contractive_backward")
'''

CONTRACTIVE_HINTS = """Hints: W enters twice, through c_j and through s (via a = x W + b).
  Through c: dP/dc_j = (lam/N) sum_n s[n, j]^2 and dc_j/dW[i, j] = 2 W[i, j].
  Through s: dP/ds[n, j] = (2 lam/N) s[n, j] c_j, and ds/da = s (1 - 2h) (the sigmoid's
  second derivative is h (1 - h)(1 - 2h)); call g = dP/da = (2 lam/N) s^2 (1 - 2h) c.
  Then a = x W + b is a Dense layer: dW += x^T g, db = sum_n g[n, :].
  dP/dW = (2 lam/N) W * (sum_n s^2) + x^T g."""


class _ContractiveRef:
    @staticmethod
    def _run(x, W, b, lam):
        dense = layers.Dense(W.shape[0], W.shape[1], dtype=np.float64)
        dense.params.update(W=W, b=b)
        return penalties.contractive(x, Sequential(dense, layers.Sigmoid()), lam)

    @classmethod
    def contractive(cls, x, W, b, lam):
        return cls._run(x, W, b, lam)[0]

    @classmethod
    def contractive_backward(cls, x, W, b, lam):
        grads = cls._run(x, W, b, lam)[1]
        return grads["0.W"], grads["0.b"]


def _contractive_cases(rng: np.random.Generator) -> list[Case]:
    out = []
    for N, D, k, lam in ((4, 5, 3, 0.3), (2, 3, 6, 1.0), (1, 4, 2, 0.7)):
        out.append(Case(f"N={N}, D={D}, k={k}, lam={lam:g}",
                        {"W": rng.standard_normal((D, k)), "b": rng.standard_normal(k)},
                        data={"x": rng.standard_normal((N, D)), "lam": lam},
                        dims={"N": N, "D": D, "k": k}))
    return out


register(Exercise(
    name="contractive", title="Contractive penalty of one sigmoid layer (closed form)",
    topic="regularizers", difficulty=3, stub=CONTRACTIVE_STUB, hints=CONTRACTIVE_HINTS,
    reference=_ContractiveRef, cases=_contractive_cases,
    parts=[FunctionPart("contractive", "contractive_backward", ("x", "W", "b", "lam"),
                        (Gradient("dW", "W", ("D", "k")), Gradient("db", "b", ("k",))))]))


GAUSSIAN_STUB = HEADER.format(name="gaussian_kl",
                              title="the VAE's Gaussian KL and the reparameterization") + '''

def gaussian_kl(mu, logvar):
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))``, summed over latent dims, mean over the batch:

    ``KL = (1 / N) sum_n (1/2) sum_j (mu[n, j]^2 + exp(logvar[n, j]) - logvar[n, j] - 1)``.

    Shapes: ``mu`` and ``logvar`` (N, J). Returns a float.
    """
    return float(0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1).sum() / len(mu))


def gaussian_kl_backward(mu, logvar):
    """Return ``(dKL/dmu, dKL/dlogvar)``, each (N, J).

    {hints:kl}
    """
    raise NotImplementedError("gaussian_kl_backward")


def reparameterize(mu, logvar, eps):
    """The reparameterization trick: ``z = mu + sigma * eps`` with ``sigma = exp(logvar / 2)``
    (``logvar`` is a log-VARIANCE) and ``eps`` a fixed standard normal draw.

    Shapes: ``mu``, ``logvar``, ``eps`` and ``z`` all (N, J).
    """
    return mu + np.exp(0.5 * logvar) * eps


def reparameterize_backward(dz, mu, logvar, eps):
    """Given ``dz = dL/dz`` (N, J), return ``(dL/dmu, dL/dlogvar)``, each (N, J).

    {hints:z}
    """
    raise NotImplementedError("reparameterize_backward")
'''

GAUSSIAN_HINTS = {
    "kl": """Hints: element-wise, and the 1/N of the batch mean stays.
  dKL/dmu = mu / N;  dKL/dlogvar = (exp(logvar) - 1) / (2 N).""",
    "z": """Hints: element-wise. dz/dmu = 1 and dz/dlogvar = (1/2) exp(logvar / 2) eps (the
1/2 from logvar / 2), so dL/dmu = dz and dL/dlogvar = dz * 0.5 * sigma * eps.""",
}


def _gaussian_kl_ref(mu, logvar):
    return penalties.gaussian_kl(mu, logvar)


def _gaussian_cases(rng: np.random.Generator) -> list[Case]:
    out = []
    for N, J in ((4, 3), (2, 5), (1, 2)):
        out.append(Case(f"N={N}, J={J}",
                        {"mu": rng.standard_normal((N, J)),
                         "logvar": rng.uniform(-2, 2, (N, J)),
                         "dz": rng.standard_normal((N, J))},
                        data={"eps": rng.standard_normal((N, J))}, dims={"N": N, "J": J}))
    return out


register(Exercise(
    name="gaussian_kl", title="Gaussian KL and the reparameterization trick (VAE)",
    topic="variational", difficulty=2, stub=GAUSSIAN_STUB, hints=GAUSSIAN_HINTS,
    reference=SimpleNamespace(
        gaussian_kl=lambda mu, logvar: _gaussian_kl_ref(mu, logvar)[0],
        gaussian_kl_backward=lambda mu, logvar: _gaussian_kl_ref(mu, logvar)[1:],
        reparameterize=reparameterize, reparameterize_backward=reparameterize_backward),
    cases=_gaussian_cases,
    parts=[FunctionPart("gaussian_kl", "gaussian_kl_backward", ("mu", "logvar"),
                        (Gradient("dmu (KL)", "mu", ("N", "J")),
                         Gradient("dlogvar (KL)", "logvar", ("N", "J")))),
           FunctionPart("reparameterize", "reparameterize_backward", ("mu", "logvar", "eps"),
                        (Gradient("dmu (z)", "mu", ("N", "J")),
                         Gradient("dlogvar (z)", "logvar", ("N", "J"))),
                        upstream="dz", output="z")]))
