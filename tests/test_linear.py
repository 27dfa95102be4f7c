"""PCA, truncated SVD, principal angles and the linear-autoencoder comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from hypothesis import assume, given
from hypothesis import strategies as st
from sklearn.decomposition import PCA as SkPCA

from npae import data, linear
from npae.linear import PCA, compare, principal_angles, svd_reconstruction


def _data(n: int, d: int, seed: int = 0) -> np.ndarray:
    """Gaussian data with clearly different variances per direction, plus an offset."""
    g = np.random.default_rng(seed)
    scales = np.linspace(3.0, 0.3, d)
    rot = np.linalg.qr(g.normal(size=(d, d)))[0]
    return (g.normal(size=(n, d)) * scales) @ rot + g.normal(size=d)


def _rel_gap(X: np.ndarray, k: int) -> float:
    s = scipy.linalg.svdvals(X - X.mean(axis=0))
    return 1.0 if k >= len(s) else (s[k - 1] - s[k]) / s[0]


# --------------------------------------------------------------------------- PCA
def test_pca_eig_equals_svd_equals_sklearn():
    X = _data(200, 12)
    for k in (1, 3, 7, 12):
        eig, svd = PCA(k).fit(X), PCA(k, method="svd").fit(X)
        sk = SkPCA(k, svd_solver="full").fit(X)
        rec_sk = sk.inverse_transform(sk.transform(X))
        np.testing.assert_allclose(eig.reconstruct(X), svd.reconstruct(X), rtol=0, atol=1e-10)
        np.testing.assert_allclose(eig.reconstruct(X), rec_sk, rtol=0, atol=1e-10)
        np.testing.assert_allclose(eig.explained_variance_, sk.explained_variance_, rtol=1e-10)
        np.testing.assert_allclose(svd.explained_variance_, sk.explained_variance_, rtol=1e-10)
        np.testing.assert_allclose(eig.explained_variance_ratio_,
                                   sk.explained_variance_ratio_, rtol=1e-10)
        np.testing.assert_allclose(eig.mean_, sk.mean_, rtol=0, atol=1e-12)
        # same directions up to sign
        np.testing.assert_allclose(np.abs(np.sum(eig.components_ * sk.components_, axis=1)),
                                   1.0, atol=1e-9)


@given(n=st.integers(3, 40), d=st.integers(2, 10), k_frac=st.floats(0.0, 1.0),
       seed=st.integers(0, 10_000))
def test_pca_methods_agree_property(n, d, k_frac, seed):
    X = np.random.default_rng(seed).normal(size=(n, d)) * 2.0 + 0.5
    k = 1 + int(k_frac * (min(n, d) - 1))
    assume(_rel_gap(X, k) > 1e-3)  # the top-k subspace is well defined
    a, b = PCA(k).fit(X), PCA(k, method="svd").fit(X)
    np.testing.assert_allclose(a.reconstruct(X), b.reconstruct(X), rtol=0, atol=1e-8)
    np.testing.assert_allclose(a.explained_variance_, b.explained_variance_, rtol=1e-9,
                               atol=1e-12)
    # orthonormal components
    np.testing.assert_allclose(a.components_ @ a.components_.T, np.eye(k), atol=1e-10)


def test_pca_error_is_sum_of_discarded_eigenvalues():
    X = _data(150, 9, seed=3)
    n, d = X.shape
    evals = np.sort(np.linalg.eigvalsh(np.cov(X, rowvar=False)))[::-1]  # independent route
    for k in range(1, d + 1):
        mse = np.mean((PCA(k).fit(X).reconstruct(X) - X) ** 2)
        assert mse == pytest.approx(evals[k:].sum() * (n - 1) / (n * d), rel=1e-9, abs=1e-14)


def test_pca_shapes_and_dtypes():
    X = _data(50, 8).astype(np.float32)
    p = PCA(3).fit(X)
    assert p.components_.shape == (3, 8) and p.explained_variance_.shape == (3,)
    assert p.mean_.shape == (8,)
    Z = p.transform(X)
    assert Z.shape == (50, 3) and Z.dtype == np.float32
    R = p.inverse_transform(Z)
    assert R.shape == (50, 8) and R.dtype == np.float32
    assert p.components_.dtype == np.float32
    # codes are the coordinates along the components: their variances are the eigenvalues
    np.testing.assert_allclose(Z.var(axis=0, ddof=1), p.explained_variance_, rtol=1e-4)


def test_pca_errors():
    X = _data(10, 4)
    with pytest.raises(RuntimeError, match="fit"):
        PCA(2).transform(X)
    with pytest.raises(ValueError, match="n_components"):
        PCA(0)
    with pytest.raises(ValueError, match="method"):
        PCA(2, method="qr")
    with pytest.raises(ValueError, match="1..4"):
        PCA(5).fit(X)
    with pytest.raises(ValueError, match="2-D"):
        PCA(2).fit(X[:, :, None])
    with pytest.raises(ValueError, match="at least 2 samples"):
        PCA(1).fit(X[:1])
    with pytest.raises(ValueError, match="NaN"):
        PCA(1).fit(np.where(X > 1, np.nan, X))
    with pytest.raises(ValueError, match="NaN"):
        principal_angles(np.full((3, 1), np.inf), np.eye(3))
    p = PCA(2).fit(X)
    with pytest.raises(ValueError, match="4 features"):
        p.transform(X[:, :3])
    with pytest.raises(ValueError, match="2 features"):
        p.inverse_transform(np.zeros((3, 3)))


@pytest.mark.slow
def test_pca_reproduces_lecture_on_mnist(mnist_dir, monkeypatch):
    """The lecture reports PCA errors 0.055, 0.047, 0.041 (k = 2, 4, 6) on the MNIST test
    images. Fitted on the training images (tutorial 02's protocol), npae's PCA agrees with
    scikit-learn's to 1e-6 and its errors truncate to the lecture's three decimals."""
    from sklearn.decomposition import PCA as SkPCA

    monkeypatch.setenv("NPAE_DATA", str(mnist_dir))
    monkeypatch.setenv("NPAE_OFFLINE", "1")
    Xtr, Xte = data.load("mnist", "train").flat, data.load("mnist", "test").flat
    lecture = {2: 0.055, 4: 0.047, 6: 0.041}
    # one fit each: the top-k directions are the first k of the top 6
    ours, theirs = PCA(6).fit(Xtr), SkPCA(6).fit(Xtr.astype(np.float64))
    for k, reported in lecture.items():
        errors = []
        for mean, V in ((ours.mean_, ours.components_), (theirs.mean_, theirs.components_)):
            Xc, V = Xte.astype(np.float64) - mean, V[:k].astype(np.float64)
            errors.append(float(np.mean((Xc @ V.T @ V - Xc) ** 2)))
        assert errors[0] == pytest.approx(errors[1], abs=1e-6)
        assert math.floor(errors[0] * 1000) / 1000 == reported, (k, errors[0])
    full = float(np.mean((ours.reconstruct(Xte).astype(np.float64) - Xte) ** 2))
    assert full == pytest.approx(errors[0], abs=1e-6)  # reconstruct() is the same projection


# --------------------------------------------------------------------------- SVD
@pytest.mark.parametrize("shape", [(60, 10), (8, 20)])  # tall (Gram route) and wide (SVD)
def test_svd_reconstruction_eckart_young(shape):
    X = _data(*shape, seed=1)
    s = scipy.linalg.svdvals(X)
    for k in range(1, min(shape) + 1):
        R = svd_reconstruction(X, k)
        assert R.shape == X.shape
        assert np.mean((X - R) ** 2) == pytest.approx((s[k:] ** 2).sum() / X.size,
                                                      rel=1e-9, abs=1e-13)
        assert np.linalg.matrix_rank(R, tol=1e-8 * s[0]) == k


def test_svd_between_pca_k_and_pca_k_minus_1():
    """A linear k-subspace does no better than the best affine one, and span(mean, top
    k-1 directions) is a linear k-subspace."""
    X = _data(100, 10, seed=2)
    err = {k: np.mean((PCA(k).fit(X).reconstruct(X) - X) ** 2) for k in range(1, 6)}
    for k in range(2, 6):
        e = np.mean((svd_reconstruction(X, k) - X) ** 2)
        assert err[k] - 1e-12 <= e <= err[k - 1] + 1e-12


def test_svd_reconstruction_with_fit_data_projects_onto_its_subspace():
    Xf, X = _data(80, 6, seed=4), _data(30, 6, seed=5)
    V = scipy.linalg.svd(Xf, full_matrices=False)[2][:3]
    np.testing.assert_allclose(svd_reconstruction(X, 3, X_fit=Xf), X @ V.T @ V, atol=1e-10)
    assert svd_reconstruction(X.astype(np.float32), 3).dtype == np.float32
    with pytest.raises(ValueError, match="1..6"):
        svd_reconstruction(X, 7)
    with pytest.raises(ValueError, match="6 features"):
        svd_reconstruction(X, 2, X_fit=Xf[:, :5])


# --------------------------------------------------------------------------- angles
@pytest.mark.parametrize("t", [0.0, 1e-9, 1e-4, 0.3, np.pi / 4, 1.2, np.pi / 2])
def test_principal_angles_known(t):
    e = np.eye(5)
    A = np.stack([e[0], np.cos(t) * e[1] + np.sin(t) * e[2]], axis=1)
    B = e[:, :2]
    ang = principal_angles(A, B)
    np.testing.assert_allclose(ang, sorted([0.0, t]), rtol=1e-7, atol=1e-15)
    np.testing.assert_allclose(principal_angles(A, B, degrees=True), np.degrees(sorted([0, t])),
                               rtol=1e-7, atol=1e-12)
    # invariant to the bases chosen and to the order of the arguments
    g = np.random.default_rng(0)
    M, N = g.normal(size=(2, 2)) + 2 * np.eye(2), g.normal(size=(2, 2)) + 2 * np.eye(2)
    np.testing.assert_allclose(principal_angles(A @ M, B @ N), ang, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(principal_angles(B, A), ang, rtol=1e-7, atol=1e-15)


@given(d=st.integers(2, 9), p=st.integers(1, 9), q=st.integers(1, 9),
       seed=st.integers(0, 10_000))
def test_principal_angles_match_scipy(d, p, q, seed):
    p, q = min(p, d), min(q, d)
    g = np.random.default_rng(seed)
    A, B = g.normal(size=(d, p)), g.normal(size=(d, q))
    assume(np.linalg.cond(A) < 1e6 and np.linalg.cond(B) < 1e6)
    ours = principal_angles(A, B)
    ref = np.sort(scipy.linalg.subspace_angles(A, B))
    assert ours.shape == (min(p, q),)
    # scipy's own error near zero angles is ~1e-8 (about sqrt(machine eps))
    np.testing.assert_allclose(ours, ref, atol=1e-7)
    assert np.all((ours >= 0) & (ours <= np.pi / 2))
    # two subspaces of R^d meet in at least p + q - d dimensions: that many zero angles,
    # which the sine route resolves to rounding level
    n_zero = max(0, p + q - d)
    assert np.all(ours[:n_zero] < 1e-12)


def test_principal_angles_errors_and_extremes():
    e = np.eye(4)
    np.testing.assert_allclose(principal_angles(e[:, :2], e[:, 2:]), [np.pi / 2] * 2)
    np.testing.assert_allclose(principal_angles(e[:, :3], e[:, 1:2]), [0.0], atol=1e-15)
    with pytest.raises(ValueError, match="linearly dependent"):
        principal_angles(np.stack([e[0], 2 * e[0]], axis=1), e[:, :2])
    with pytest.raises(ValueError, match="linearly dependent"):
        principal_angles(np.zeros((4, 1)), e[:, :2])
    with pytest.raises(ValueError, match="same number of rows"):
        principal_angles(e[:, :2], np.eye(3)[:, :2])


# --------------------------------------------------------------------------- compare
def test_compare_linear_autoencoder_matches_pca_on_digits():
    X = data.load("digits").flat
    result = compare(X, ks=(2, 4, 6), epochs=60, lr=1e-2, batch_size=64, rng=0)
    assert [r["latent_dim"] for r in result] == [2, 4, 6]
    for r in result:
        k = r["latent_dim"]
        pca_ref = np.mean((SkPCA(k).fit(X).inverse_transform(SkPCA(k).fit(X).transform(X))
                           - X.astype(np.float64)) ** 2)
        assert r["pca_mse"] == pytest.approx(pca_ref, rel=1e-5)
        # PCA is optimal, so the autoencoder can only approach it from above
        assert r["pca_mse"] * (1 - 1e-5) <= r["ae_mse"] <= 1.01 * r["pca_mse"]
        assert r["max_angle_deg"] < 5.0
        # the lecture's SVD column is PCA by the SVD of the centred data: PCA's error
        assert r["svd_mse"] == pytest.approx(r["pca_mse"], rel=1e-6)
        # on the training data, the uncentred SVD lies between PCA(k) and PCA(k - 1)
        pca_prev = np.mean((PCA(k - 1).fit(X).reconstruct(X) - X) ** 2)
        assert r["pca_mse"] <= r["svd_uncentred_mse"] <= pca_prev
    text = str(result)
    assert text.splitlines()[0] == ("| Latent Dimension | Autoencoder Error (Linear) | "
                                    "PCA Error | SVD Error | SVD Error (uncentred) | "
                                    "Max angle (deg) |")
    assert len(text.splitlines()) == 2 + 3


def test_compare_with_test_set_and_errors():
    d = data.load("digits")
    X, T = d.images, data.load("digits", "test").images  # images are flattened inside
    result = compare(X, ks=(3,), epochs=2, X_test=T, rng=1)
    Xf, Tf = data.flatten(X).astype(np.float64), data.flatten(T).astype(np.float64)
    sk = SkPCA(3).fit(Xf)
    assert result[0]["pca_mse"] == pytest.approx(
        np.mean((sk.inverse_transform(sk.transform(Tf)) - Tf) ** 2), rel=1e-6)
    # independent routes on the held-out set: SVD of the centred training data (the
    # lecture's SVD column), and of the uncentred one (scipy, not npae's Gram route)
    mean = Xf.mean(axis=0)
    Vc = scipy.linalg.svd(Xf - mean, full_matrices=False)[2][:3]
    Vu = scipy.linalg.svd(Xf, full_matrices=False)[2][:3]
    assert result[0]["svd_mse"] == pytest.approx(
        np.mean((mean + (Tf - mean) @ Vc.T @ Vc - Tf) ** 2), rel=1e-6)
    assert result[0]["svd_uncentred_mse"] == pytest.approx(
        np.mean((Tf @ Vu.T @ Vu - Tf) ** 2), rel=1e-6)
    assert result[0]["svd_uncentred_mse"] > 1.01 * result[0]["svd_mse"]
    assert list(result[0]) == ["latent_dim", "ae_mse", "pca_mse", "svd_mse",
                               "svd_uncentred_mse", "max_angle_deg"]
    assert set(result.models) == {3} and len(result.histories[3]) == 3
    with pytest.raises(ValueError, match="features"):
        compare(X, ks=(2,), epochs=1, X_test=Tf[:, :10])
    with pytest.raises(ValueError, match="1..64"):
        compare(X, ks=(65,), epochs=1)
    with pytest.raises(ValueError, match="empty"):
        compare(X, ks=(), epochs=1)


def test_comparison_table_format():
    rows = [{"latent_dim": 2, "ae_mse": 0.05551, "pca_mse": 0.05549, "svd_mse": 0.05549,
             "svd_uncentred_mse": 0.0576, "max_angle_deg": 0.123}]
    t = linear.Comparison(rows)
    assert t.to_markdown().splitlines()[2] == ("| 2 | 0.0555 | 0.0555 | 0.0555 | 0.0576 | "
                                               "0.12 |")
    assert t._repr_markdown_() == str(t) == repr(t)


# --------------------------------------------------------------------------- epochs
def _count_steps(monkeypatch) -> list[float]:
    """Record the learning rate of every Adam step that compare takes."""
    from npae.optim import Adam

    rates: list[float] = []
    step = Adam.step

    def counted(self, params):
        rates.append(self.lr)
        return step(self, params)

    monkeypatch.setattr(Adam, "step", counted)
    return rates


@pytest.mark.parametrize("epochs", [1, 2, 3, 4, 5, 7, 20])
def test_compare_runs_exactly_the_epochs_asked(epochs, monkeypatch):
    """Once 1 epoch ran 3 (every stage rounded up): count the optimizer steps taken."""
    rates = _count_steps(monkeypatch)
    X = _data(40, 5)  # one minibatch of 40 <= 64 per epoch: one step is one epoch
    lr = 1e-2
    result = compare(X, ks=(2,), epochs=epochs, lr=lr, batch_size=64, rng=0)
    assert len(rates) == epochs
    assert sum(h.epochs_run for h in result.histories[2]) == epochs
    assert sum(len(h["loss"]) for h in result.histories[2] if "loss" in h) == epochs
    # the rate only ever falls, through lr, lr / 10, lr / 100, and starts at lr
    n = [sum(np.isclose(r, lr / 10**i) for r in rates) for i in range(3)]
    assert sum(n) == epochs and rates == sorted(rates, reverse=True) and n[0] >= 1
    # each stage gets its 60 / 25 / 15 % share to within one epoch
    assert all(abs(ni - f * epochs) <= 1 for ni, f in zip(n, (0.6, 0.25, 0.15))), n
    if epochs == 20:  # shares that are whole numbers are met exactly
        assert n == [12, 5, 3]


def test_compare_epochs_for_several_ks(monkeypatch):
    rates = _count_steps(monkeypatch)
    compare(_data(40, 5), ks=(1, 2, 3), epochs=2, batch_size=16, rng=0)
    assert len(rates) == 3 * 2 * 3  # ks x epochs x ceil(40 / 16) batches


@pytest.mark.parametrize("epochs, error", [(0, ValueError), (-3, ValueError),
                                           (2.5, TypeError), (True, TypeError),
                                           ("2", TypeError)])
def test_compare_refuses_bad_epochs(epochs, error):
    with pytest.raises(error, match=rf"^compare: epochs must be an int >= 1, got {epochs!r}$"):
        compare(_data(10, 3), ks=(1,), epochs=epochs)


def test_compare_accepts_numpy_integer_epochs(monkeypatch):
    rates = _count_steps(monkeypatch)
    compare(_data(40, 5), ks=(2,), epochs=np.int64(2), rng=0)
    assert len(rates) == 2


# --------------------------------------------------------------------------- MNIST
@pytest.mark.slow
def test_compare_on_mnist_reproduces_the_lectures_svd_column(mnist_dir, monkeypatch):
    """The lecture's table on MNIST: PCA and SVD 0.055 / 0.047 / 0.041 (truncated to three
    decimals), the same numbers; the uncentred SVD is another, larger one. One full-batch
    epoch of the autoencoder keeps the test fast: only the SVD columns are checked (PCA's
    against scikit-learn: test_pca_reproduces_lecture_on_mnist).
    """
    from sklearn.decomposition import TruncatedSVD

    monkeypatch.setenv("NPAE_DATA", str(mnist_dir))
    X, T = data.load("mnist").flat, data.load("mnist", "test").flat
    result = compare(X, ks=(2, 4, 6), epochs=1, batch_size=len(X), X_test=T, rng=0)
    T64 = T.astype(np.float64)
    # independent route for the uncentred column: scikit-learn's truncated SVD (ARPACK);
    # the top k right singular vectors are the first k of the top 6
    V6 = TruncatedSVD(6, algorithm="arpack", random_state=0).fit(X.astype(np.float64)).components_
    lecture = {2: 0.055, 4: 0.047, 6: 0.041}
    for r in result:
        k = r["latent_dim"]
        assert r["svd_mse"] == pytest.approx(r["pca_mse"], rel=1e-6)
        assert math.floor(r["svd_mse"] * 1000) / 1000 == lecture[k]
        uncentred = np.mean((T64 @ V6[:k].T @ V6[:k] - T64) ** 2)
        assert r["svd_uncentred_mse"] == pytest.approx(uncentred, rel=1e-6)
        assert math.floor(uncentred * 1000) / 1000 != lecture[k]
