"""Scores of codes: k-NN accuracy, retrieval precision, linear probe, against independent code."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.preprocessing import StandardScaler

import npae
from npae import features
from npae.models import dense_autoencoder
from npae.optim import Adam

import strict_device


@pytest.fixture(scope="module")
def digits():
    X, y = npae.data.load("digits", split="train")
    Xt, yt = npae.data.load("digits", split="test")
    return X.reshape(len(X), -1), y, Xt.reshape(len(Xt), -1), yt


@pytest.mark.parametrize("k", [1, 5, 9])
def test_knn_accuracy_is_scikit_learns(digits, k):
    X, y, Xt, yt = digits
    expected = KNeighborsClassifier(k, algorithm="brute").fit(X, y).score(Xt, yt)
    assert features.knn_accuracy(X, y, Xt, yt, k=k) == pytest.approx(expected, abs=1e-12)
    # chunks bound memory and change nothing
    assert features.knn_accuracy(X, y, Xt, yt, k=k, chunk=37) == pytest.approx(expected,
                                                                              abs=1e-12)


@pytest.mark.parametrize("k", [1, 10])
def test_retrieval_precision_is_the_brute_force_mean(digits, k):
    X, y, _, _ = digits
    # the digits hold duplicate images, whose order among equal distances is arbitrary:
    # a little jitter makes every neighbour list unique
    X = X + 1e-3 * np.random.default_rng(0).standard_normal(X.shape)
    # scikit-learn's neighbours of the training points themselves, leaving each one out
    idx = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(X).kneighbors(
        return_distance=False)
    expected = np.mean(y[idx] == y[:, None])
    assert features.retrieval_precision(X, y, k=k, chunk=100) == pytest.approx(expected)


@settings(max_examples=25, deadline=None)
@given(nq=st.integers(1, 30), nr=st.integers(2, 40), d=st.integers(1, 6),
       chunk=st.integers(1, 50), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_nearest_neighbours_are_the_sorted_distance_matrix(nq, nr, d, chunk, seed, data):
    rng = np.random.default_rng(seed)
    Q, R = rng.standard_normal((nq, d)), rng.standard_normal((nr, d))
    k = data.draw(st.integers(1, nr))
    expected = np.argsort(cdist(Q, R, "sqeuclidean"), axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(features.nearest_neighbours(Q, R, k, chunk=chunk), expected)
    D = cdist(R, R, "sqeuclidean")
    np.fill_diagonal(D, np.inf)
    expected = np.argsort(D, axis=1, kind="stable")[:, :k - 1] if k > 1 else None
    if expected is not None:
        got = features.nearest_neighbours(R, R, k - 1, exclude_self=True, chunk=chunk)
        np.testing.assert_array_equal(got, expected)


def test_linear_probe_is_as_good_as_scikit_learns_logistic_regression(digits):
    # measured: npae 0.886-0.889 (30-100 epochs), scikit-learn (L2, C=1) 0.897
    X, y, Xt, yt = digits
    s = StandardScaler().fit(X)
    reference = LogisticRegression(max_iter=3000).fit(s.transform(X), y).score(
        s.transform(Xt), yt)
    assert features.linear_probe(X, y, Xt, yt, epochs=30) == pytest.approx(reference, abs=0.03)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_16d_code_is_more_linearly_separable_than_a_2d_code(digits, seed):
    # measured over seeds 0-4: 16-d 0.855-0.883, 2-d 0.526-0.602
    X, y, Xt, yt = digits
    acc = {}
    for d in (2, 16):
        ae = dense_autoencoder(64, [32], d, rng=seed)
        ae.fit(X, epochs=20, batch_size=64, optimizer=Adam(3e-3), verbose=0, rng=seed)
        acc[d] = features.linear_probe(ae.encode(X), y, ae.encode(Xt), yt, epochs=30, rng=seed)
    assert acc[16] > acc[2] + 0.15, acc


def test_bad_input_is_refused_with_clear_errors(digits):
    X, y, Xt, yt = digits
    with pytest.raises(ValueError, match=r"knn_accuracy: k must be an int in \[1, 1438\]"):
        features.knn_accuracy(X, y, Xt, yt, k=5000)
    with pytest.raises(TypeError, match="retrieval_precision: y must be integer"):
        features.retrieval_precision(X, y.astype(float))
    with pytest.raises(ValueError, match=r"y_test must have shape \(359,\)"):
        features.knn_accuracy(X, y, Xt, yt[:10])
    with pytest.raises(ValueError, match="same code size"):
        features.linear_probe(X, y, Xt[:, :10], yt)
    with pytest.raises(TypeError, match="floating-point"):
        features.retrieval_precision(y[:, None], y)


def test_the_scores_run_on_the_device_and_agree_with_the_host():
    rng = np.random.default_rng(0)
    Z, y = rng.standard_normal((50, 4)), rng.integers(0, 3, 50)

    def scores():
        return (features.knn_accuracy(Z[:30], y[:30], Z[30:], y[30:], k=3),
                features.retrieval_precision(Z, y, k=5),
                features.linear_probe(Z[:30], y[:30], Z[30:], y[30:], epochs=3))

    host = scores()
    with strict_device.installed():
        assert scores() == host
