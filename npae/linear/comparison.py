r"""The linear autoencoder compared with PCA and the SVD: :func:`compare` and its table.

The lecture's result: a linear autoencoder ``x_hat = (x W_e + b_e) W_d + b_d`` with a
k-dimensional code, trained on the mean squared error, reaches the same error as PCA
with k components, and its decoder spans the same subspace as the top-k principal
directions (its weights need not be orthonormal or equal to them: any basis of the
subspace reconstructs equally well). :func:`compare` trains one for each k and measures
all of it against :mod:`npae.linear.decompositions`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from npae.arguments import as_generator, is_int
from npae.backend import Array, asnumpy
from npae.linear.decompositions import (
    PCA,
    check_components,
    principal_angles,
    right_singular_vectors,
)

__all__ = ["compare", "Comparison"]

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
    and the rank-k truncated SVD of the *uncentred* data (:func:`~npae.linear.svd_reconstruction`:
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
    ks = [check_components(k, min(X64.shape), "compare", f"min(samples, features) of X = "
                   f"{min(X64.shape)}") for k in ks]
    if not ks:
        raise ValueError("compare: ks is empty")
    if not is_int(epochs):
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
    uncentred = right_singular_vectors(X64, max(ks))

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
