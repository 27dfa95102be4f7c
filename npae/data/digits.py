"""scikit-learn's 8x8 handwritten digits (bundled with scikit-learn: offline everywhere).

1797 images, pixel values 0..16; the first 80 % (1438 images, in scikit-learn's order) is
the training set and the last 20 % (359) the test set. The digits are interleaved by class
in that order, so both parts hold every class in about equal numbers.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DIGITS_TEST_FRACTION", "load_digits"]

#: The share of the digits, at the end, that forms the test set.
DIGITS_TEST_FRACTION = 0.2


def load_digits(part: str) -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 images (values 0..16) and labels of split ``part``: the first 80 % of
    scikit-learn's 1797 digits for ``"train"``, the last 20 % for ``"test"``."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images, labels = bunch.images, bunch.target
    n_train = len(images) - int(round(DIGITS_TEST_FRACTION * len(images)))
    sl = slice(0, n_train) if part == "train" else slice(n_train, None)
    return images[sl], labels[sl]

