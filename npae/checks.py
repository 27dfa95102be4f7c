"""The built-in gradient-check suite behind ``npae gradcheck``.

Every layer, loss, penalty and model that npae ships is checked here in
float64 against central differences, on small random inputs whose values keep
away from the kinks of ReLU-like functions (a finite difference straddling a
kink is not a derivative).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from npae import backend
from npae.gradcheck import GradcheckReport, check_function, check_layer, check_model

F64 = np.float64


def _away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Normal values pushed at least 0.1 away from 0."""
    x = rng.standard_normal(shape)
    return x + 0.1 * np.sign(x)


def _cases() -> Iterator[tuple[str, Callable[[np.random.Generator], GradcheckReport]]]:
    from npae import layers, losses
    from npae.models import dense_autoencoder
    from npae.network import Sequential

    def dev(a):
        return backend.to_device(a)

    def layer_case(make, shape):
        return lambda rng: check_layer(make(), dev(_away_from_zero(rng, shape)))

    yield "Dense(xavier)", layer_case(lambda: layers.Dense(5, 4, rng=0, dtype=F64), (3, 5))
    yield "Dense(he)", layer_case(lambda: layers.Dense(5, 4, rng=1, dtype=F64, init="he"),
                                  (3, 5))
    for name in ("Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softplus"):
        yield name, layer_case(getattr(layers, name), (3, 6))
    yield "Flatten", layer_case(layers.Flatten, (2, 3, 2, 2))
    yield "Reshape", layer_case(lambda: layers.Reshape((3, 4)), (2, 12))
    yield "Sequential", layer_case(
        lambda: Sequential(layers.Dense(4, 5, rng=2, dtype=F64), layers.Tanh(),
                           layers.Dense(5, 3, rng=3, dtype=F64), layers.Sigmoid()), (3, 4))
    for r in ("mean", "sum", "batchmean"):
        yield f"mse[{r}]", lambda rng, r=r: check_function(
            lambda p, t: losses.mse(p, t, r), dev(rng.standard_normal((3, 4))),
            dev(rng.standard_normal((3, 4))), name=f"mse[{r}]")
        yield f"bce[{r}]", lambda rng, r=r: check_function(
            lambda p, t: losses.bce(p, t, r), dev(rng.uniform(0.05, 0.95, (3, 4))),
            dev(rng.uniform(0, 1, (3, 4))), name=f"bce[{r}]")
        yield f"bce_with_logits[{r}]", lambda rng, r=r: check_function(
            lambda z, t: losses.bce_with_logits(z, t, r), dev(3 * rng.standard_normal((3, 4))),
            dev(rng.uniform(0, 1, (3, 4))), name=f"bce_with_logits[{r}]")
    yield "Autoencoder[mse]", lambda rng: check_model(
        dense_autoencoder(6, [5], 3, activation="tanh", rng=0, dtype=F64),
        dev(rng.uniform(0, 1, (4, 6))), name="Autoencoder[mse]")
    yield "Autoencoder[bce]", lambda rng: check_model(
        dense_autoencoder(6, [5], 3, activation="softplus", loss="bce", rng=0, dtype=F64),
        dev(rng.uniform(0, 1, (4, 6))), name="Autoencoder[bce]")


def run_all(seed: int = 0, only: str | None = None) -> list[GradcheckReport]:
    """Run every built-in check (those whose name contains ``only``, if given)."""
    reports = []
    for name, case in _cases():
        if only and only.lower() not in name.lower():
            continue
        report = case(np.random.default_rng(seed))
        report.title = name
        reports.append(report)
    return reports
