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
    for r in ("mean", "sum"):
        yield f"softmax_cross_entropy[{r}]", lambda rng, r=r: check_function(
            lambda z, y: losses.softmax_cross_entropy(z, y, r),
            dev(3 * rng.standard_normal((4, 5))), dev(rng.integers(0, 5, 4)), wrt=(0,),
            name=f"softmax_cross_entropy[{r}]")
    yield "Autoencoder[mse]", lambda rng: check_model(
        dense_autoencoder(6, [5], 3, activation="tanh", rng=0, dtype=F64),
        dev(rng.uniform(0, 1, (4, 6))), name="Autoencoder[mse]")
    yield "Autoencoder[bce]", lambda rng: check_model(
        dense_autoencoder(6, [5], 3, activation="softplus", loss="bce", rng=0, dtype=F64),
        dev(rng.uniform(0, 1, (4, 6))), name="Autoencoder[bce]")
    yield from _conv_cases(dev)
    yield from _penalty_cases(dev)
    yield from _model_cases(dev)
    yield from _classifier_cases(dev)


def _conv_cases(dev):
    from npae import layers

    def case(make, shape, distinct=False):
        def run(rng):
            x = rng.permutation(np.prod(shape)).reshape(shape) / 10.0 if distinct else \
                rng.standard_normal(shape)
            return check_layer(make(), dev(x))
        return run

    yield "Conv2D(k3,s2,p1)", case(lambda: layers.Conv2D(2, 3, 3, stride=2, padding=1, rng=0,
                                                         dtype=F64), (2, 2, 7, 6))
    yield "Conv2D(k(2,3),s(1,2))", case(lambda: layers.Conv2D(
        3, 2, (2, 3), stride=(1, 2), rng=1, dtype=F64), (2, 3, 5, 7))
    yield "ConvTranspose2D(k3,s2,p1,op1)", case(lambda: layers.ConvTranspose2D(
        3, 2, 3, stride=2, padding=1, output_padding=1, rng=2, dtype=F64), (2, 3, 4, 3))
    # distinct inputs: a finite difference across a tie between two maxima is no derivative
    yield "MaxPool2D(k2)", case(lambda: layers.MaxPool2D(2), (2, 2, 6, 6), distinct=True)
    yield "MaxPool2D(k3,s2)", case(lambda: layers.MaxPool2D(3, 2), (2, 2, 7, 7), distinct=True)
    yield "Upsample2D(2)", case(lambda: layers.Upsample2D(2), (2, 2, 3, 4))


def _penalty_cases(dev):
    from npae import layers, penalties
    from npae.gradcheck import numerical_gradient, rel_error
    from npae.network import Sequential

    yield "l1_activity", lambda rng: check_function(
        lambda h: penalties.l1_activity(h, 0.3), dev(_away_from_zero(rng, (4, 5))),
        name="l1_activity")
    yield "kl_sparsity", lambda rng: check_function(
        lambda h: penalties.kl_sparsity(h, 0.1, 2.0), dev(rng.uniform(0.05, 0.95, (4, 5))),
        name="kl_sparsity")
    yield "gaussian_kl", lambda rng: check_function(
        penalties.gaussian_kl, dev(rng.standard_normal((4, 3))), dev(rng.standard_normal((4, 3))))

    def contractive_case(rng):
        enc = Sequential(layers.Dense(5, 4, rng=0, dtype=F64), layers.Tanh(),
                         layers.Dense(4, 3, rng=1, dtype=F64), layers.Sigmoid())
        x = dev(rng.standard_normal((3, 5)))
        _, grads = penalties.contractive(x, enc, 0.5)
        report = GradcheckReport("contractive")
        for name, p, _ in enc.parameters():
            num = numerical_gradient(lambda: penalties.contractive(x, enc, 0.5)[0], p, 1e-5)
            report.errors[name] = rel_error(grads[name], num)
        return report

    yield "contractive(deep)", contractive_case


def _model_cases(dev):
    from npae.models import (
        ContractiveAutoencoder,
        DenoisingAutoencoder,
        SparseAutoencoder,
        conv_autoencoder,
        dense_autoencoder,
        dense_vae,
    )

    def dense(model, **kw):
        return lambda rng: check_model(dense_autoencoder(
            6, [5], 3, activation="tanh", rng=0, dtype=F64, model=model, **kw),
            dev(rng.uniform(0, 1, (4, 6))), rng=1)

    yield "DenoisingAutoencoder", dense(DenoisingAutoencoder, noise={"kind": "gaussian",
                                                                     "sigma": 0.2})
    yield "SparseAutoencoder[kl]", dense(SparseAutoencoder, code_activation="sigmoid",
                                         penalty="kl", rho=0.1, beta=0.5)
    yield "SparseAutoencoder[l1]", dense(SparseAutoencoder, penalty="l1", lam=0.05)
    yield "ContractiveAutoencoder", dense(ContractiveAutoencoder, lam=0.1)
    yield "conv_autoencoder", lambda rng: check_model(conv_autoencoder(
        (1, 8, 8), (2, 3), 4, activation="tanh", rng=0, dtype=F64),
        dev(rng.uniform(0, 1, (2, 1, 8, 8))), rng=1)
    for lik in ("bernoulli", "gaussian"):
        yield f"VAE[{lik}]", lambda rng, lik=lik: check_model(
            dense_vae(6, (5,), 2, likelihood=lik, activation="tanh", beta=1.5, rng=0,
                      dtype=F64), dev(rng.uniform(0, 1, (4, 6))), rng=1)


class _Labelled:
    """A classifier seen as a model of ``x`` alone (``y`` fixed), for :func:`check_model`."""

    def __init__(self, clf, y):
        self.clf, self.y = clf, y

    def parameters(self):
        return self.clf.parameters()

    def loss(self, x, rng=None):
        return self.clf.loss(x, self.y)


def _classifier_cases(dev):
    from npae.models import classifier_from, conv_autoencoder, dense_autoencoder, dense_vae

    def case(make, shape):
        def run(rng):
            x = dev(rng.uniform(0, 1, shape))
            y = dev(rng.integers(0, 3, shape[0]))
            return check_model(_Labelled(make(), y), x)
        return run

    ae = dict(activation="tanh", rng=0, dtype=F64)
    yield "Classifier", case(lambda: classifier_from(
        dense_autoencoder(6, [5], 4, **ae), 3, hidden=(4,), activation="tanh", rng=1), (5, 6))
    # frozen: only the head is trainable, and it alone is checked
    yield "Classifier[frozen]", case(lambda: classifier_from(
        dense_autoencoder(6, [5], 4, **ae), 3, hidden=(4,), activation="tanh", freeze=True,
        rng=1), (5, 6))
    yield "Classifier[VAE mu]", case(lambda: classifier_from(
        dense_vae(6, (5,), 2, **ae), 3, rng=1), (5, 6))
    yield "Classifier[conv]", case(lambda: classifier_from(
        conv_autoencoder((1, 8, 8), (2,), bottleneck=(3, 1, 1), **ae), 3, rng=1,
        input_shape=(1, 8, 8)), (3, 1, 8, 8))


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
