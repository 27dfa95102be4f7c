"""The tied linear autoencoder (deck 004's ``X_hat = W^T W X``): gradient, optimum, compare."""

from __future__ import annotations

import numpy as np
import pytest
from central_difference import assert_model_gradients
from hypothesis import example, given
from hypothesis import strategies as st

from npae.linear import PCA, compare, principal_angles
from npae.models import TiedLinearAutoencoder
from npae.optim import Adam


@given(d=st.integers(1, 9), k=st.integers(1, 5), n=st.integers(1, 6),
       reduction=st.sampled_from(["mean", "sum", "batchmean"]), seed=st.integers(0, 2**16))
@example(d=1, k=1, n=1, reduction="mean", seed=117)
def test_gradient_matches_finite_differences(d, k, n, reduction, seed):
    """Against central differences, to ``THRESHOLD`` or their resolution
    (tests/central_difference.py); an explore run drew a lone weight of -3.8e-5 whose
    gradient, 4e-5 next to a loss of 0.28, is off by a relative 1.09e-7, all rounding
    (d=1, k=1, n=1, mean, seed=117)."""
    model = TiedLinearAutoencoder(d, k, reduction=reduction, rng=seed, dtype=np.float64)
    x = np.random.default_rng(seed + 1).standard_normal((n, d))
    assert_model_gradients(model, x)


def test_gradient_has_both_terms():
    """dL/dW = x^T (R W) + R^T h, written out by hand: either term alone is wrong."""
    rng = np.random.default_rng(0)
    model = TiedLinearAutoencoder(6, 3, reduction="sum", rng=1, dtype=np.float64)
    x = rng.standard_normal((4, 6))
    model.loss(x)
    W = np.asarray(model.W)
    h = x @ W
    R = 2 * (h @ W.T - x)  # d/dx_hat of the summed squared error
    encoder_term, decoder_term = x.T @ (R @ W), R.T @ h
    grad = dict((n, g) for n, _, g in model.parameters())["encoder.0.W"]
    np.testing.assert_allclose(grad, encoder_term + decoder_term, rtol=1e-12, atol=1e-12)
    for alone in (encoder_term, decoder_term):
        assert np.abs(grad - alone).max() > 1e-3


def test_decoder_term_is_used_once():
    """The decoder's hand-over is consumed: a later encoder-only backward does not reuse it."""
    model = TiedLinearAutoencoder(5, 2, rng=0, dtype=np.float64)
    x = np.random.default_rng(3).standard_normal((3, 5))
    model.loss(x)
    enc = model.encoder.layers[0]
    dy = np.ones((3, 2))
    enc.forward(x)
    enc.backward(dy)
    np.testing.assert_allclose(enc.grads["W"], x.T @ dy)


def test_trained_basis_is_orthonormal_and_spans_pca():
    """The optimum: W's columns an orthonormal basis of the top-k principal subspace."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 8)) * np.array([5.0, 4.0, 3.0, 1.0, 0.5, 0.4, 0.3, 0.2])
    X = X @ np.linalg.qr(rng.standard_normal((8, 8)))[0]  # rotate: axes are not the answer
    Xc = (X - X.mean(axis=0)).astype(np.float32)
    model = TiedLinearAutoencoder(8, 3, rng=1)
    opt = Adam(1e-2)
    model.fit(Xc, epochs=150, batch_size=60, optimizer=opt, verbose=0)
    opt.lr = 1e-3
    model.fit(Xc, epochs=50, batch_size=60, optimizer=opt, verbose=0)
    W = np.asarray(model.W, dtype=np.float64)
    assert np.abs(W.T @ W - np.eye(3)).max() < 0.02
    top = PCA(3).fit(X).components_.T
    assert principal_angles(W, top, degrees=True).max() < 2.0


def test_compare_tied_reaches_pca(rng):
    X = (rng.standard_normal((300, 10)) * np.linspace(3, 0.2, 10)).astype(np.float32)
    rows = compare(X, (2, 3), epochs=150, batch_size=50, rng=0, tied=True)
    for row in rows:
        assert row["ae_mse"] <= 1.01 * row["pca_mse"] + 1e-4
        assert row["max_angle_deg"] < 3.0
    assert all(isinstance(m, TiedLinearAutoencoder) for m in rows.models.values())


def test_bad_input_names_the_layer():
    with pytest.raises(ValueError, match="TiedEncoder: out_features"):
        TiedLinearAutoencoder(4, 0)
    model = TiedLinearAutoencoder(4, 2, rng=0)
    with pytest.raises(ValueError, match="TiedEncoder"):
        model.encode(np.zeros((3, 5), np.float32))
    with pytest.raises(TypeError, match="TiedDecoder: encoder"):
        from npae.models.tied import TiedDecoder
        TiedDecoder("W")
