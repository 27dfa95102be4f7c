r"""PCA, truncated SVD, principal angles, and the linear autoencoder compared with both.

The lecture's result: a linear autoencoder ``x_hat = (x W_e + b_e) W_d + b_d`` with a
k-dimensional code, trained on the mean squared error, reaches the same error as PCA
with k components, and its decoder spans the same subspace as the top-k principal
directions (its weights need not be orthonormal or equal to them: any basis of the
subspace reconstructs equally well). :func:`compare` trains one and measures all of it.

PCA here follows the lecture: centre the data, ``Sigma = X_c^T X_c / (N - 1)``,
``Sigma = V Lambda V^T``; the top-k eigenvectors (rows of ``components_``) span the
subspace that minimises the squared reconstruction error, which is the sum of the
discarded eigenvalues (times ``(N - 1) / (N d)`` for the per-pixel MSE). The lecture's
"SVD error" is the same PCA reached by the other route, the SVD of the centred data
``X_c = U S V^T`` (``V`` again, ``Lambda = S^2 / (N - 1)``), so it equals PCA's error;
:func:`svd_reconstruction` is the truncated SVD of the data *without* centring, a
different and larger error, the cost of forgetting to centre.

All decompositions run in float64 for accuracy; fitted arrays are stored in the input's
dtype, and float32 data stays float32 through ``transform``/``inverse_transform``.
Functions take NumPy or CuPy arrays and compute on the array's module.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from npae.backend import asnumpy, get_array_module

__all__ = ["PCA", "svd_reconstruction", "principal_angles", "compare", "Comparison"]

Array = Any


def _check_2d(X: Any, owner: str, name: str = "X", features: int | None = None) -> Array:
    if not hasattr(X, "shape"):
        X = np.asarray(X)
    if X.dtype.kind not in "fiu":
        raise TypeError(f"{owner}: {name} must be a numeric array, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{owner}: {name} must be 2-D (samples, features), got shape "
                         f"{tuple(X.shape)}; flatten images with npae.data.flatten")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{owner}: {name} is empty (shape {tuple(X.shape)})")
    if features is not None and X.shape[1] != features:
        raise ValueError(f"{owner}: {name} must have {features} features (as fitted), "
                         f"got {X.shape[1]}")
    xp = get_array_module(X)
    if X.dtype.kind == "f" and not bool(xp.isfinite(X).all()):
        raise ValueError(f"{owner}: {name} contains NaN or Inf")
    return X


def _float_dtype(X: Array) -> np.dtype:
    return X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)


def _check_k(k: Any, limit: int, owner: str, what: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{owner}: the number of components must be an int, got {k!r}")
    if not 1 <= int(k) <= limit:
        raise ValueError(f"{owner}: the number of components must be in 1..{limit} "
                         f"({what}), got {k}")
    return int(k)


def _qr_r(A: Array) -> Array:
    """R of the reduced QR factorisation of a tall ``A``: SciPy's on the host (twice as fast
    as NumPy's on MNIST), the array module's own on a GPU."""
    xp = get_array_module(A)
    if xp is np:
        import scipy.linalg

        return scipy.linalg.qr(A, mode="r", check_finite=False)[0]
    return xp.linalg.qr(A, mode="r")


def _fix_signs(V: Array) -> Array:
    """Flip each row so its largest-magnitude entry is positive (a deterministic sign)."""
    xp = get_array_module(V)
    idx = xp.argmax(xp.abs(V), axis=1)
    signs = xp.sign(V[xp.arange(V.shape[0]), idx])
    signs[signs == 0] = 1
    return V * signs[:, None]


class PCA:
    r"""Principal component analysis with scikit-learn's attribute names.

    Parameters
    ----------
    n_components : int
        Number of principal directions k kept, ``1 <= k <= min(N, d)``.
    method : {"eig", "svd"}
        ``"eig"`` (the lecture's route): eigendecomposition of the covariance
        ``Sigma = X_c^T X_c / (N - 1) = V Lambda V^T``. ``"svd"``: SVD of the centred data
        ``X_c = U S V^T``, so that ``Lambda = S^2 / (N - 1)``; better conditioned (it never
        squares the data), same result up to rounding.

    Attributes
    ----------
    components_ : (k, d)
        Orthonormal principal directions, by decreasing variance; each row's
        largest-magnitude entry is positive.
    explained_variance_ : (k,)
        Variances ``lambda_i`` along them (the top eigenvalues of ``Sigma``).
    explained_variance_ratio_ : (k,)
        ``lambda_i / trace(Sigma)``.
    mean_ : (d,)
        The per-feature mean removed before projecting.

    Notes
    -----
    ``transform(X) = (X - mean_) components_^T``,
    ``inverse_transform(Z) = Z components_ + mean_``.
    """

    def __init__(self, n_components: int, method: str = "eig") -> None:
        if method not in ("eig", "svd"):
            raise ValueError(f"PCA: method must be 'eig' or 'svd', got {method!r}")
        if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) \
                or n_components < 1:
            raise ValueError(f"PCA: n_components must be a positive int, got {n_components!r}")
        self.n_components = int(n_components)
        self.method = method

    def fit(self, X: Array) -> PCA:
        """Fit on ``X`` (N, d), N >= 2; returns self."""
        X = _check_2d(X, "PCA.fit")
        n, d = X.shape
        if n < 2:
            raise ValueError(f"PCA.fit: needs at least 2 samples to estimate a covariance, got {n}")
        k = _check_k(self.n_components, min(n, d), "PCA.fit", f"min(samples, features) = "
                     f"min({n}, {d})")
        xp = get_array_module(X)
        dtype = _float_dtype(X)
        X64 = X.astype(np.float64)
        mean = X64.mean(axis=0)
        Xc = X64 - mean
        if self.method == "eig":
            cov = Xc.T @ Xc / (n - 1)
            evals, evecs = xp.linalg.eigh(cov)  # ascending
            variances = evals[::-1][:k]
            V = evecs[:, ::-1][:, :k].T
            total = xp.trace(cov)
        else:
            # tall data: X_c = Q R, and R (d, d) has X_c's singular values and right
            # singular vectors; the SVD of R never forms the (N, d) factor U, which
            # costs most of the time on MNIST
            small = _qr_r(Xc) if n > d else Xc
            _, s, Vt = xp.linalg.svd(small, full_matrices=False)
            variances = s[:k] ** 2 / (n - 1)
            V = Vt[:k]
            total = (Xc * Xc).sum() / (n - 1)
        # tiny negative eigenvalues are rounding noise of a rank-deficient covariance
        variances = xp.maximum(variances, 0.0)
        self.components_ = _fix_signs(V).astype(dtype)
        self.explained_variance_ = variances.astype(dtype)
        self.explained_variance_ratio_ = (variances / total if float(total) > 0
                                          else xp.zeros_like(variances)).astype(dtype)
        self.mean_ = mean.astype(dtype)
        self.n_components_, self.n_features_in_, self.n_samples_ = k, d, n
        return self

    def _fitted(self, owner: str) -> None:
        if not hasattr(self, "components_"):
            raise RuntimeError(f"PCA.{owner}: call fit(X) first")

    def transform(self, X: Array) -> Array:
        """Codes ``(X - mean_) components_^T``, shape (N, k)."""
        self._fitted("transform")
        X = _check_2d(X, "PCA.transform", features=self.n_features_in_)
        dt = _float_dtype(X)
        return (X.astype(dt, copy=False) - self.mean_.astype(dt, copy=False)) \
            @ self.components_.astype(dt, copy=False).T

    def inverse_transform(self, Z: Array) -> Array:
        """Reconstructions ``Z components_ + mean_``, shape (N, d)."""
        self._fitted("inverse_transform")
        Z = _check_2d(Z, "PCA.inverse_transform", "Z", features=self.n_components_)
        dt = _float_dtype(Z)
        return Z.astype(dt, copy=False) @ self.components_.astype(dt, copy=False) \
            + self.mean_.astype(dt, copy=False)

    def fit_transform(self, X: Array) -> Array:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def reconstruct(self, X: Array) -> Array:
        """``inverse_transform(transform(X))``: the projection onto the affine subspace."""
        return self.inverse_transform(self.transform(X))

    def __repr__(self) -> str:
        return f"PCA(n_components={self.n_components}, method={self.method!r})"


def svd_reconstruction(X: Array, k: int, X_fit: Array | None = None) -> Array:
    r"""Rank-k reconstruction of ``X`` by the truncated SVD, *without* centring.

    With ``X_fit = U S V^T`` (default ``X_fit = X``) and ``V_k`` its top-k right singular
    vectors, returns ``X V_k V_k^T``; for ``X_fit = X`` this is ``U_k S_k V_k^T``, the best
    rank-k approximation of ``X`` (Eckart–Young), whose squared error is the sum of the
    discarded squared singular values.

    This is *not* the lecture's "SVD error" column: that one is PCA computed by the SVD
    of the centred data (``PCA(k, method="svd")``, :func:`compare`'s ``svd_mse``), and it
    equals PCA's error. This function answers "what if you forget to centre"
    (:func:`compare`'s ``svd_uncentred_mse``): PCA removes the mean first and fits a
    k-dimensional *affine* subspace through it, while the uncentred SVD fits a
    k-dimensional *linear* subspace through the origin, so one of its k directions is
    mostly spent on the mean image. On the data it was fitted to, its error therefore lies
    between PCA's with k components (below) and PCA's with k - 1 (above).

    Parameters
    ----------
    X : (N, d)
        Data to reconstruct.
    k : int
        Rank, ``1 <= k <= min(N_fit, d)``.
    X_fit : (M, d), optional
        Data whose singular vectors define the subspace (e.g. the training set when ``X``
        is the test set).

    Returns
    -------
    (N, d) array in ``X``'s floating dtype.

    Notes
    -----
    For tall ``X_fit`` (M >= d) the right singular vectors are computed as the
    eigenvectors of ``X_fit^T X_fit``, which is much faster; the top-k subspace is as
    accurate as the SVD's unless singular values k and k + 1 (nearly) coincide, when the
    rank-k approximation is not unique anyway.
    """
    X = _check_2d(X, "svd_reconstruction")
    F = X if X_fit is None else _check_2d(X_fit, "svd_reconstruction", "X_fit",
                                          features=X.shape[1])
    k = _check_k(k, min(F.shape), "svd_reconstruction", f"min(samples, features) of the "
                 f"fitted data = {min(F.shape)}")
    Vk = _right_singular_vectors(F, k)
    X64 = X.astype(np.float64)
    return ((X64 @ Vk.T) @ Vk).astype(_float_dtype(X))


def _right_singular_vectors(F: Array, k: int) -> Array:
    """The top-k right singular vectors of ``F`` (uncentred), as rows (k, d), in float64."""
    xp = get_array_module(F)
    F64 = F.astype(np.float64)
    if F64.shape[0] >= F64.shape[1]:
        # tall data: V are the eigenvectors of the small Gram matrix F^T F = V S^2 V^T,
        # an order of magnitude faster than the SVD of F itself (MNIST: 1 s against 20 s)
        _, evecs = xp.linalg.eigh(F64.T @ F64)
        return evecs[:, ::-1][:, :k].T
    return xp.linalg.svd(F64, full_matrices=False)[2][:k]


def principal_angles(A: Array, B: Array, *, degrees: bool = False) -> np.ndarray:
    r"""Principal angles between the column spaces of ``A`` (d, p) and ``B`` (d, q).

    With orthonormal bases ``Q_A``, ``Q_B`` (reduced QR), the cosines of the angles are
    the singular values of ``Q_A^T Q_B``: ``cos theta_i = sigma_i``. Cosines lose all
    precision for small angles (``cos theta = 1 - theta^2 / 2``), so angles below 45
    degrees are taken from their sines instead: with ``Q_B`` the smaller basis, the
    singular values of ``Q_B - Q_A (Q_A^T Q_B)`` are ``sin theta_i``. Both are clipped to
    [0, 1] before ``arccos``/``arcsin``.

    Parameters
    ----------
    A, B : arrays (d, p) and (d, q)
        Columns spanning each subspace; each must have full column rank.
    degrees : bool
        Return degrees instead of radians (the default).

    Returns
    -------
    numpy.ndarray, shape (min(p, q),)
        The angles in increasing order, in [0, pi/2]. They depend only on the two
        subspaces, not on the bases given. A host (NumPy) float64 array.

    Raises
    ------
    ValueError
        For different numbers of rows, or columns that are linearly dependent.
    """
    A = _check_2d(A, "principal_angles", "A")
    B = _check_2d(B, "principal_angles", "B")
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"principal_angles: A and B must have the same number of rows "
                         f"(ambient dimension), got {A.shape[0]} and {B.shape[0]}")
    xp = get_array_module(A, B)
    bases = []
    for name, M in (("A", A), ("B", B)):
        M = xp.asarray(M, dtype=np.float64)
        if M.shape[1] > M.shape[0]:
            raise ValueError(f"principal_angles: {name} has {M.shape[1]} columns in "
                             f"{M.shape[0]} dimensions, so they are linearly dependent")
        Q, R = xp.linalg.qr(M)
        r = xp.abs(xp.diagonal(R))
        scale = float(xp.linalg.norm(M, axis=0).max())
        if scale == 0.0 or float(r.min()) <= 1e-12 * scale * max(M.shape):
            raise ValueError(f"principal_angles: the columns of {name} are linearly dependent "
                             "(or zero), so they do not span a subspace of that dimension")
        bases.append(Q)
    QA, QB = bases
    if QB.shape[1] > QA.shape[1]:
        QA, QB = QB, QA  # QB is the smaller basis
    C = QA.T @ QB
    cos = xp.clip(xp.linalg.svd(C, compute_uv=False), 0.0, 1.0)  # descending
    sin = xp.clip(xp.linalg.svd(QB - QA @ C, compute_uv=False)[::-1], 0.0, 1.0)  # ascending
    cos, sin = asnumpy(cos), asnumpy(sin)
    angles = np.where(cos**2 < 0.5, np.arccos(cos), np.arcsin(sin))
    angles = np.sort(angles)
    return np.degrees(angles) if degrees else angles


# --------------------------------------------------------------------------- comparison
_HEADER = ("Latent Dimension", "Autoencoder Error (Linear)", "PCA Error", "SVD Error",
           "SVD Error (uncentred)", "Max angle (deg)")


class Comparison:
    """Result of :func:`compare`: one row per k, printed as a markdown table.

    Attributes
    ----------
    rows : list of dict
        Keys ``"latent_dim"``, ``"ae_mse"``, ``"pca_mse"``, ``"svd_mse"``,
        ``"svd_uncentred_mse"``, ``"max_angle_deg"`` (plain Python floats / ints).
    models : dict
        The trained linear autoencoder for each k.
    histories : dict
        For each k, the training :class:`npae.train.History` of each of the three
        learning-rate stages (an empty one for a stage of 0 epochs).
    """

    def __init__(self, rows: list[dict[str, float]], models: dict[int, Any] | None = None,
                 histories: dict[int, list[Any]] | None = None) -> None:
        self.rows = rows
        self.models = models or {}
        self.histories = histories or {}

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i: int) -> dict[str, float]:
        return self.rows[i]

    def to_markdown(self) -> str:
        lines = ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
        for r in self.rows:
            lines.append(f"| {r['latent_dim']} | {r['ae_mse']:.4f} | {r['pca_mse']:.4f} | "
                         f"{r['svd_mse']:.4f} | {r['svd_uncentred_mse']:.4f} | "
                         f"{r['max_angle_deg']:.2f} |")
        return "\n".join(lines)

    __str__ = to_markdown

    def __repr__(self) -> str:
        return self.to_markdown()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(np.mean(diff * diff))


def _project(X: np.ndarray, mean: np.ndarray | float, V: np.ndarray) -> np.ndarray:
    """``mean + (X - mean) V^T V``: the projection onto the affine span of the rows of V."""
    return mean + ((X - mean) @ V.T) @ V


def _decoder_weight(model: Any) -> np.ndarray:
    from npae.layers.dense import Dense
    from npae.models.tied import TiedLinearAutoencoder

    if isinstance(model, TiedLinearAutoencoder):  # the decoder is W^T: its rows are W's columns
        return asnumpy(model.W).T.astype(np.float64)

    dense = [layer for layer in model.decoder.layers if isinstance(layer, Dense)]
    if len(dense) != 1:
        raise ValueError(f"compare: expected one Dense layer in the decoder, found {len(dense)}")
    return asnumpy(dense[0].params["W"]).astype(np.float64)


def _stage_epochs(epochs: int, fractions: tuple[float, ...] = (0.6, 0.25, 0.15)
                 ) -> list[int]:
    """Split ``epochs`` into stages of about the given fractions, summing exactly to it.

    The stage boundaries are the cumulative fractions times ``epochs``, rounded half up:
    each boundary lies within half an epoch of its exact place (so each stage is within
    one epoch of its share), rounding never adds or drops an epoch, and the earlier
    stages fill first (``1 -> [1, 0, 0]``, ``2 -> [1, 1, 0]``,
    ``4 -> [2, 1, 1]``, ``60 -> [36, 15, 9]``).

    Parameters
    ----------
    epochs : int
        Total number of epochs, >= 0.
    fractions : tuple of float
        Share of each stage; they must sum to 1.

    Returns
    -------
    list of int
        Epochs per stage, ``len(fractions)`` entries (possibly 0) summing to ``epochs``.
    """
    if abs(sum(fractions) - 1) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"stage split: fractions must be >= 0 and sum to 1, got {fractions}")
    bounds = [0] + [math.floor(f * epochs + 0.5) for f in np.cumsum(fractions)[:-1]] + [epochs]
    return [b - a for a, b in zip(bounds[:-1], bounds[1:])]


def compare(X: Array, ks: Iterable[int] = (2, 4, 6), *, epochs: int = 60,
            lr: float = 1e-2, batch_size: int = 64, rng: Any = 0, X_test: Array | None = None,
            center: bool = True, dtype: Any = np.float32, verbose: int = 0,
            tied: bool = False) -> Comparison:
    r"""Train a linear autoencoder for each k and compare it with PCA and the truncated SVD.

    For each k: a dense autoencoder ``d -> k -> d`` with identity activations and biases,
    trained with Adam on the MSE; PCA with k components (eigendecomposition of the
    covariance); the lecture's SVD column, PCA computed by its other route, the SVD of
    the centred training data ``X_c = U S V^T`` (equal to PCA's error up to rounding);
    and the rank-k truncated SVD of the *uncentred* data (:func:`svd_reconstruction`:
    what forgetting to centre costs). All are fitted on ``X``; the errors are
    the mean squared error per pixel on ``X_test`` when given, else on ``X``. The angle
    column is the largest principal angle between the decoder's column space (the row space
    of its weight ``W`` (k, d), i.e. the column space of ``W^T``) and the top-k principal
    subspace: near 0 when the autoencoder has found PCA's subspace.

    Training: ``epochs`` epochs in all, in three stages of one Adam optimizer, 60 % at
    ``lr``, 25 % at ``lr / 10`` and 15 % at ``lr / 100`` (stage boundaries at
    ``0.6 epochs`` and ``0.85 epochs`` rounded half up: the stages add up to exactly
    ``epochs``, and a short run leaves the later ones empty); the small steps at the end
    remove the minibatch noise that a constant rate leaves in the weights. With
    ``center=True`` the autoencoder is trained on ``X - mean(X)`` (and the mean added
    back to its output): with biases this has the same optimum, but it is far better
    conditioned, since the mean image no longer dominates the gradient.

    Parameters
    ----------
    X : (N, d) or (N, 1, H, W)
        Training data (images are flattened).
    ks : iterable of int
        Latent dimensions.
    epochs, lr, batch_size
        Training schedule (see above).
    rng : Generator or int
        Initial weights and shuffling.
    X_test : array, optional
        Data on which the errors are measured.
    center : bool
        Train on centred data (see above).
    dtype : float dtype
        Training dtype of the autoencoder.
    verbose : int
        Passed to ``fit``; 1 also prints each finished row.
    tied : bool
        Train :class:`npae.models.tied.TiedLinearAutoencoder` instead, ``x_hat = x W W^T``
        with one weight and no biases (deck 004's model; with ``center=False`` it fits a
        subspace through the origin, like the uncentred SVD).

    Returns
    -------
    Comparison
        Rows of ``{"latent_dim", "ae_mse", "pca_mse", "svd_mse", "svd_uncentred_mse",
        "max_angle_deg"}``; prints as the markdown table
        ``Latent Dimension | Autoencoder Error (Linear) | PCA Error | SVD Error |
        SVD Error (uncentred) | Max angle (deg)``.
    """
    from npae.layers.base import as_generator
    from npae.models import dense_autoencoder
    from npae.optim import Adam

    def flat(A: Array, name: str) -> np.ndarray:
        A = asnumpy(A)
        if A.ndim < 2:
            raise ValueError(f"compare: {name} must be (N, d) or (N, C, H, W), got shape "
                             f"{A.shape}")
        return A.reshape(A.shape[0], -1).astype(np.float64)

    X64 = flat(X, "X")
    E64 = X64 if X_test is None else flat(X_test, "X_test")
    d = X64.shape[1]
    if E64.shape[1] != d:
        raise ValueError(f"compare: X_test must have {d} features like X, got {E64.shape[1]}")
    ks = [_check_k(k, min(X64.shape), "compare", f"min(samples, features) of X = "
                   f"{min(X64.shape)}") for k in ks]
    if not ks:
        raise ValueError("compare: ks is empty")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)):
        raise TypeError(f"compare: epochs must be an int >= 1, got {epochs!r}")
    if epochs < 1:
        raise ValueError(f"compare: epochs must be an int >= 1, got {epochs!r}")
    g = as_generator(rng)
    offset = X64.mean(axis=0) if center else np.zeros(d)
    Xtrain = (X64 - offset).astype(dtype)
    Eval = (E64 - offset).astype(dtype)
    stages = list(zip((lr, lr / 10, lr / 100), _stage_epochs(int(epochs))))
    # one decomposition of each kind serves every k: the top k directions are the first k
    # of the top max(ks) (PCA's by the covariance; the lecture's SVD column by the SVD of
    # the centred training data; the uncentred truncated SVD)
    by_eig = PCA(max(ks)).fit(X64)
    by_svd = PCA(max(ks), method="svd").fit(X64)
    uncentred = _right_singular_vectors(X64, max(ks))

    rows, models, histories = [], {}, {}
    for k in ks:
        if tied:
            from npae.models.tied import TiedLinearAutoencoder

            model = TiedLinearAutoencoder(d, k, rng=g, dtype=dtype)
        else:
            model = dense_autoencoder(d, [], k, activation="identity",
                                      output_activation="identity", loss="mse", rng=g,
                                      dtype=dtype)
        opt = Adam(lr)
        histories[k] = []
        for stage_lr, n_epochs in stages:
            opt.lr = stage_lr
            histories[k].append(model.fit(Xtrain, n_epochs, batch_size=batch_size,
                                          optimizer=opt, verbose=verbose, rng=g))
        ae_rec = asnumpy(model.reconstruct(Eval)).astype(np.float64) + offset
        components = by_eig.components_[:k]
        rows.append({
            "latent_dim": k,
            "ae_mse": _mse(ae_rec, E64),
            "pca_mse": _mse(_project(E64, by_eig.mean_, components), E64),
            "svd_mse": _mse(_project(E64, by_svd.mean_, by_svd.components_[:k]), E64),
            "svd_uncentred_mse": _mse(_project(E64, 0.0, uncentred[:k]), E64),
            "max_angle_deg": float(principal_angles(_decoder_weight(model).T,
                                                    components.T, degrees=True).max()),
        })
        models[k] = model
        if verbose:
            r = rows[-1]
            print(f"k={k}: AE {r['ae_mse']:.5f}, PCA {r['pca_mse']:.5f}, "
                  f"SVD {r['svd_mse']:.5f}, uncentred SVD {r['svd_uncentred_mse']:.5f}, "
                  f"max angle {r['max_angle_deg']:.2f} deg")
    return Comparison(rows, models, histories)
