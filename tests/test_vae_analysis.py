"""Inside a VAE: posterior statistics, active units, the aggregate posterior, the two
gradient estimators and the KL warm-up (npae.models.vae_analysis)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from npae.layers import Dense, Identity
from npae.models.vae_analysis import (
    KLWarmup,
    active_units,
    aggregate_posterior,
    encoder_gradient,
    posterior_statistics,
)
from npae.models.variational import VAE, dense_vae
from npae.network import Sequential
from npae.penalties import gaussian_kl
from npae.train import Callback

F64 = np.float64


def linear_head_vae(W: np.ndarray, b: np.ndarray, latent: int) -> VAE:
    """A VAE whose encoder is one Dense layer with the given weights (so mu and logvar are
    known functions of x), and a small decoder."""
    enc = Dense(W.shape[0], W.shape[1], rng=0, dtype=F64)
    enc.params["W"][...] = W
    enc.params["b"][...] = b
    dec = Sequential(Dense(latent, W.shape[0], rng=1, dtype=F64), Identity())
    return VAE(Sequential(enc, Identity()), dec, latent, rng=0)


def test_posterior_statistics_add_up_to_the_models_kl():
    model = dense_vae(6, (5,), 3, rng=0, dtype=F64)
    x = np.random.default_rng(1).uniform(size=(7, 6))
    stats = posterior_statistics(model, x)
    mu, logvar = model.encode_distribution(x)
    assert stats["mean_kl"] == pytest.approx(gaussian_kl(mu, logvar)[0], rel=1e-12)
    np.testing.assert_allclose(stats["sigma"] ** 2, np.exp(logvar), rtol=1e-12)
    np.testing.assert_allclose(stats["kl_per_dim"].sum(), stats["mean_kl"], rtol=1e-12)


def test_active_units_count_coordinates_whose_mean_moves_with_x():
    # mu_0 = x_0 (variance 1/12 for uniform x), mu_1 = 0.01 x_1 (variance 1e-4 / 12),
    # mu_2 = 0.5 (constant); logvar = 0
    W = np.zeros((4, 6))
    W[0, 0], W[1, 1] = 1.0, 0.01
    b = np.array([0, 0, 0.5, 0, 0, 0], float)
    model = linear_head_vae(W, b, 3)
    x = np.random.default_rng(0).uniform(size=(4000, 4))
    count, A = active_units(model, x)
    assert count == 1
    np.testing.assert_allclose(A, [x[:, 0].var(), 1e-4 * x[:, 1].var(), 0], atol=1e-15)
    assert active_units(model, x, threshold=1e-6)[0] == 2


def test_aggregate_posterior_of_the_prior_itself_is_the_prior():
    model = linear_head_vae(np.zeros((4, 4)), np.zeros(4), 2)   # q(z|x) = N(0, I) for all x
    out = aggregate_posterior(model, np.random.default_rng(0).uniform(size=(50, 4)))
    np.testing.assert_allclose(out["mean"], 0, atol=1e-15)
    np.testing.assert_allclose(out["cov"], np.eye(2), atol=1e-15)
    assert out["gaussian_kl"] == pytest.approx(0, abs=1e-12)
    assert out["mean_kl"] == pytest.approx(0, abs=1e-12)
    # every component is the same density, so log q(z|x_i) = log q(z) exactly
    assert out["mutual_information"] == pytest.approx(0, abs=1e-12)


def test_aggregate_posterior_two_far_apart_clusters():
    # mu = 10 x - 5 = +-5 (x is 0 or 1), sigma = 0.1: the index of the cluster is one
    # bit of information, I = log 2, and the moments are those of the mixture
    W = np.zeros((1, 2))
    W[0, 0] = 10.0
    b = np.array([-5.0, 2 * math.log(0.1)])
    model = linear_head_vae(W, b, 1)
    x = np.array([[1.0], [0.0]] * 20)
    out = aggregate_posterior(model, x, samples=5)
    assert out["mutual_information"] == pytest.approx(math.log(2), abs=1e-6)
    # moments of the mixture, checked against draws from it
    g = np.random.default_rng(0)
    z = 5.0 * g.choice([-1, 1], 400_000) + 0.1 * g.standard_normal(400_000)
    assert out["mean"][0] == pytest.approx(z.mean(), abs=0.03)
    assert out["cov"][0, 0] == pytest.approx(z.var(), rel=0.01)
    kl = 0.5 * (25 + 0.01 - math.log(0.01) - 1)
    assert out["mean_kl"] == pytest.approx(kl, rel=1e-9)
    assert out["marginal_kl"] == pytest.approx(kl - math.log(2), abs=1e-6)


def test_reparameterized_estimate_is_the_models_own_gradient():
    """With one draw and the same seed, the estimator sees the eps ``VAE.loss`` draws, and
    its gradient must be the one the model's backward pass computes (finite-difference
    checked in test_vae.py), to rounding."""
    model = dense_vae(6, (5,), 2, rng=0, dtype=F64)
    x = np.random.default_rng(0).uniform(size=(4, 6))
    model.loss(x, rng=3)
    ref = np.concatenate([g.ravel() for _, _, g in model.encoder.parameters()])
    est = encoder_gradient(model, x, "reparameterized", samples=1, rng=3)
    np.testing.assert_allclose(est, ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("estimator", ["score", "score+baseline"])
def test_score_function_estimator_is_unbiased(estimator):
    """The means over many estimates agree within their standard errors."""
    model = dense_vae(6, (5,), 2, rng=0, dtype=F64)
    x = np.random.default_rng(0).uniform(size=(4, 6))
    R = 1500
    rep = np.array([encoder_gradient(model, x, "reparameterized", 10, rng=i) for i in range(R)])
    sf = np.array([encoder_gradient(model, x, estimator, 10, rng=R + i) for i in range(R)])
    moving = rep.std(axis=0) > 0          # a dead ReLU unit's weights get no gradient at all
    se = np.sqrt(rep.var(axis=0) / R + sf.var(axis=0) / R)[moving]
    z = (rep.mean(axis=0) - sf.mean(axis=0))[moving] / se
    assert moving.sum() > 20
    assert np.abs(z).max() < 4.5          # about 50 coordinates: 4.5 sigma is never reached
    assert np.mean(z ** 2) < 2.0          # and the z-scores look like N(0, 1)'s
    # the point of the trick: the score-function estimate varies far more
    assert np.median(sf.var(axis=0)[moving] / rep.var(axis=0)[moving]) > 3


def test_encoder_gradient_refuses_bad_arguments():
    model = dense_vae(6, (5,), 2, rng=0)
    x = np.zeros((2, 6), np.float32)
    with pytest.raises(ValueError, match="estimator must be one of"):
        encoder_gradient(model, x, "pathwise")
    with pytest.raises(ValueError, match="samples must be an int >= 2"):
        encoder_gradient(model, x, "score+baseline", samples=1)
    with pytest.raises(TypeError, match="expected a VAE"):
        encoder_gradient(object(), x)


class Record(Callback):
    def __init__(self):
        self.seen = []

    def on_epoch_end(self, epoch, logs, model):
        self.seen.append(model.beta)
        return False


def test_kl_warmup_raises_beta_linearly_then_restores_it():
    model = dense_vae(6, (5,), 2, beta=2.0, rng=0)
    x = np.random.default_rng(0).uniform(size=(32, 6)).astype(np.float32)
    warm = KLWarmup(4)
    rec = Record()       # runs after the warm-up: sees the value of the *next* epoch
    hist = model.fit(x, epochs=6, batch_size=16, verbose=0, callbacks=[warm, rec], rng=0)
    assert warm.betas == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    assert rec.seen == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert model.beta == 2.0 and hist.epochs_run == 6
    # the first epoch trained with beta = 0: its logged loss is its reconstruction alone
    assert hist["loss"][0] == pytest.approx(hist["reconstruction"][0], rel=1e-6)


def test_kl_warmup_arguments():
    with pytest.raises(ValueError, match="KLWarmup: epochs must be a positive int"):
        KLWarmup(0)
    with pytest.raises(ValueError, match="KLWarmup: target must be a finite number >= 0"):
        KLWarmup(3, target=-1.0)
    warm = KLWarmup(2, target=1.0, start=0.5)
    model = dense_vae(6, (5,), 2, beta=3.0, rng=0)
    warm.on_train_begin(model)
    assert model.beta == 0.5 and warm.beta_at(1) == 0.75 and warm.beta_at(9) == 1.0
    warm.on_train_end(model)
    assert model.beta == 1.0
