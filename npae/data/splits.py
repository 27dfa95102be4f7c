"""Splits: the validation set carved out of a training set, and ``limit``.

Validation is carved out of the training set deterministically: ``validation`` is a
fraction in (0, 1) or a count, and ``seed`` picks which training images (a permutation of
the training indices drawn from ``numpy.random.default_rng(seed)``; its first ``n_val``
entries are the validation images). ``split="val"`` returns them and ``split="train"``
with the same ``validation`` and ``seed`` returns the rest, so the two are disjoint. Both
parts keep the original order of the images.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SPLITS", "validation_count", "select"]

#: The splits :func:`npae.data.load` knows.
SPLITS = ("train", "test", "val")


def validation_count(validation: float | int, n: int) -> int:
    """How many of ``n`` training images ``validation`` (a fraction in (0, 1) or a count)
    sets aside; refuses a value that leaves none for validation or none for training."""
    if isinstance(validation, bool) or not isinstance(validation, (int, float, np.integer,
                                                                   np.floating)):
        raise TypeError(f"npae.data.load: validation must be a fraction in (0, 1) or a count, "
                        f"got {validation!r}")
    if isinstance(validation, (int, np.integer)):
        n_val = int(validation)
    elif 0.0 < float(validation) < 1.0:
        n_val = int(round(float(validation) * n))
    else:
        raise ValueError(f"npae.data.load: a fractional validation must lie in (0, 1), "
                         f"got {validation}")
    if not 1 <= n_val < n:
        raise ValueError(f"npae.data.load: validation must leave 1..{n - 1} of the {n} "
                         f"training images for validation, got {validation!r} ({n_val})")
    return n_val



def select(images: np.ndarray, labels: np.ndarray, split: str,
           validation: float | int | None, seed: int, limit: int | None
           ) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of ``split`` from those of its part (the training set for
    ``"train"`` and ``"val"``, the test set for ``"test"``), then the first ``limit``.

    ``split="val"`` with ``validation=None`` uses ``validation=0.1``; ``split="train"``
    with ``validation=None`` is the whole training set; ``"test"`` ignores
    ``validation``.
    """
    if split == "val" and validation is None:
        validation = 0.1
    if split != "test" and validation is not None:
        n = len(images)
        n_val = validation_count(validation, n)
        perm = np.random.default_rng(seed).permutation(n)
        idx = np.sort(perm[:n_val] if split == "val" else perm[n_val:])
        images, labels = images[idx], labels[idx]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images, labels
