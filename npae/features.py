r"""How good is a code? Scores of learned features: linear probe, k-NN, retrieval.

Each takes codes ``Z`` (one row per sample, e.g. ``ae.encode(X)``; codes with more
axes, such as a ``(d, 1, 1)`` convolutional code, are flattened) and integer labels.

- :func:`linear_probe`: the test accuracy of multinomial logistic regression
  (softmax regression) trained on the codes, by npae itself (a
  :class:`~npae.models.Classifier` with no encoder and a linear head): how
  *linearly* the classes can be read off the code.
- :func:`knn_accuracy`: the test accuracy of a k-nearest-neighbour vote in code
  space (Euclidean): how *locally* they can.
- :func:`retrieval_precision`: the lecture's image retrieval: for every item,
  the fraction of its ``k`` nearest other items that share its label, averaged.

Distances come from one matrix product per chunk of queries,
``||q - r||^2 = ||q||^2 - 2 q.r + ||r||^2``, so memory is bounded by
``chunk x n_reference`` whatever the number of queries, and there is no Python
loop over samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from npae import backend
from npae.arguments import is_int
from npae.backend import Array

__all__ = ["linear_probe", "knn_accuracy", "retrieval_precision", "nearest_neighbours"]

#: Query rows per distance block: a block is ``CHUNK x n_reference`` floats.
CHUNK = 1024


def _codes(Z: Any, owner: str, name: str) -> Array:
    """Codes as a finite float ``(N, d)`` array on the active backend."""
    from npae.models.autoencoder import check_data

    Z = check_data(Z, owner, name)
    return Z.reshape(Z.shape[0], -1)


def _labels(y: Any, owner: str, name: str, n: int) -> Array:
    from npae.models.classifier import check_labels

    return check_labels(y, owner, name, n)


def _check_k(k: Any, owner: str, most: int) -> int:
    if not is_int(k) or not 1 <= k <= most:
        raise ValueError(f"{owner}: k must be an int in [1, {most}] (the number of reference "
                         f"items available), got {k!r}")
    return int(k)


def _distance_blocks(Q: Array, R: Array, chunk: int) -> Iterator[tuple[int, Array]]:
    """``(start, D)`` with ``D[i, j] = ||Q[start + i] - R[j]||^2`` (float64), block by block."""
    xp = backend.get_array_module(Q)
    Q, R = Q.astype(xp.float64), R.astype(xp.float64)
    r2 = (R * R).sum(axis=1)
    for start in range(0, Q.shape[0], chunk):
        q = Q[start:start + chunk]
        D = q @ R.T
        D *= -2
        D += (q * q).sum(axis=1)[:, None]
        D += r2
        yield start, D


def nearest_neighbours(Q: Any, R: Any, k: int, *, exclude_self: bool = False,
                       chunk: int = CHUNK) -> Array:
    """Indices ``(n_queries, k)`` of the ``k`` rows of ``R`` nearest to each row of ``Q``
    (Euclidean), nearest first.

    ``exclude_self`` (``Q`` is ``R``) leaves each item out of its own list.
    """
    owner = "nearest_neighbours"
    Q, R = _codes(Q, owner, "Q"), _codes(R, owner, "R")
    if Q.shape[1] != R.shape[1]:
        raise ValueError(f"{owner}: Q and R must have the same code size, got {Q.shape[1]} "
                         f"and {R.shape[1]}")
    k = _check_k(k, owner, R.shape[0] - int(exclude_self))
    return _neighbours(Q, R, k, exclude_self, chunk)


def _neighbours(Q: Array, R: Array, k: int, exclude_self: bool, chunk: int) -> Array:
    """:func:`nearest_neighbours` on checked codes."""
    xp = backend.get_array_module(Q)
    out = []
    for start, D in _distance_blocks(Q, R, chunk):
        if exclude_self:
            rows = xp.arange(D.shape[0])
            D[rows, rows + start] = xp.inf
        # the k smallest in any order (linear time), then those k sorted
        idx = xp.argpartition(D, k - 1, axis=1)[:, :k] if k < D.shape[1] else \
            xp.broadcast_to(xp.arange(D.shape[1]), D.shape)
        order = xp.argsort(xp.take_along_axis(D, idx, axis=1), axis=1)
        out.append(xp.take_along_axis(idx, order, axis=1))
    return xp.concatenate(out)


def knn_accuracy(Z_train: Any, y_train: Any, Z_test: Any, y_test: Any, k: int = 5, *,
                 chunk: int = CHUNK) -> float:
    """Test accuracy of a ``k``-nearest-neighbour majority vote in code space.

    Each test code takes the most frequent label among its ``k`` nearest training
    codes (Euclidean); a tie goes to the smallest label (as scikit-learn's
    ``KNeighborsClassifier`` does).

    Returns
    -------
    float
        The fraction of test samples classified correctly.
    """
    owner = "knn_accuracy"
    Z_train, Z_test = _codes(Z_train, owner, "Z_train"), _codes(Z_test, owner, "Z_test")
    y_train = _labels(y_train, owner, "y_train", Z_train.shape[0])
    y_test = _labels(y_test, owner, "y_test", Z_test.shape[0])
    if Z_train.shape[1] != Z_test.shape[1]:
        raise ValueError(f"{owner}: Z_train and Z_test must have the same code size, got "
                         f"{Z_train.shape[1]} and {Z_test.shape[1]}")
    xp = backend.get_array_module(Z_train)
    neighbours = _neighbours(Z_test, Z_train, _check_k(k, owner, Z_train.shape[0]), False, chunk)
    votes = y_train[neighbours]                               # (n_test, k)
    n_classes = int(max(backend.to_floats(y_train.max(), y_test.max()))) + 1
    counts = (votes[:, :, None] == xp.arange(n_classes)).sum(axis=1)  # (n_test, C)
    return float((counts.argmax(axis=1) == y_test).mean())   # argmax: first (smallest) on ties


def retrieval_precision(Z: Any, y: Any, k: int = 10, *, chunk: int = CHUNK) -> float:
    """Mean precision@k of retrieval by code: for every item, the fraction of its
    ``k`` nearest *other* items (Euclidean in code space) that have its label.

    1.0 means every query's neighbours are all of its class; a code that ignores
    the class scores about ``sum_c p_c^2`` (0.1 for ten balanced classes).
    """
    owner = "retrieval_precision"
    Z = _codes(Z, owner, "Z")
    y = _labels(y, owner, "y", Z.shape[0])
    neighbours = _neighbours(Z, Z, _check_k(k, owner, Z.shape[0] - 1), True, chunk)
    return float((y[neighbours] == y[:, None]).mean())


def linear_probe(Z_train: Any, y_train: Any, Z_test: Any, y_test: Any, *, epochs: int = 60,
                 batch_size: int = 128, lr: float = 1e-2, weight_decay: float = 0.0,
                 standardize: bool = True, rng: Any = 0) -> float:
    """Test accuracy of softmax regression trained on the codes (by npae).

    The classifier is ``logits = z W + b`` (a :class:`~npae.models.Classifier`
    with an empty encoder and one Dense head), trained with Adam on the mean
    softmax cross-entropy. With ``standardize`` each code dimension is centred and
    scaled by the training codes' mean and standard deviation first (an affine
    map a linear classifier could learn itself, but codes of very different
    scales would make the optimisation slow, and the comparison unfair).

    Parameters
    ----------
    Z_train, y_train, Z_test, y_test : codes (N, ...) and integer labels (N,)
    epochs, batch_size, lr, weight_decay : the training of the head
    standardize : bool
    rng : seed or Generator for the head's initial weights and the shuffling

    Returns
    -------
    float
        Accuracy on ``(Z_test, y_test)``.
    """
    from npae.layers.dense import Dense
    from npae.models.classifier import Classifier
    from npae.network import Sequential
    from npae.optim import Adam

    owner = "linear_probe"
    Z_train, Z_test = _codes(Z_train, owner, "Z_train"), _codes(Z_test, owner, "Z_test")
    if Z_train.shape[1] != Z_test.shape[1]:
        raise ValueError(f"{owner}: Z_train and Z_test must have the same code size, got "
                         f"{Z_train.shape[1]} and {Z_test.shape[1]}")
    y_train = _labels(y_train, owner, "y_train", Z_train.shape[0])
    y_test = _labels(y_test, owner, "y_test", Z_test.shape[0])
    if standardize:
        mean, std = Z_train.mean(axis=0), Z_train.std(axis=0)
        std[std == 0] = 1  # a constant dimension carries nothing; leave it at 0
        Z_train, Z_test = (Z_train - mean) / std, (Z_test - mean) / std
    n_classes = int(max(backend.to_floats(y_train.max(), y_test.max()))) + 1
    head = Dense(Z_train.shape[1], n_classes, rng=rng, dtype=Z_train.dtype)
    probe = Classifier(Sequential(), head, freeze_encoder=True, rng=rng)
    probe.fit(Z_train, y_train, epochs=epochs, batch_size=batch_size,
              optimizer=Adam(lr, weight_decay=weight_decay), verbose=0)
    return probe.score(Z_test, y_test)
