"""Small helpers shared by the tutorials: fast mode, where figures go, which data.

Import it from a tutorial as ``from _common import fast_mode, figures_dir, load_images``
(the tutorial's own folder is on ``sys.path`` when it runs as a script, and the working
directory is when it runs as a notebook opened from ``tutorials/``).

Importing this module also picks matplotlib's headless Agg backend when the code runs
as a script (not inside a Jupyter kernel) and ``MPLBACKEND`` is not set, so tutorials
save their figures without needing a display.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

__all__ = ["fast_mode", "figures_dir", "load_images"]

_TRUE = ("1", "true", "yes", "on")

if "ipykernel" not in sys.modules and not os.environ.get("MPLBACKEND"):
    import matplotlib

    matplotlib.use("Agg")


def fast_mode() -> bool:
    """True when ``NPAE_FAST=1`` is set or ``--fast`` is on the command line.

    Fast mode means small data and few epochs: each tutorial then runs in well
    under a minute on two CPU cores (the course's CI runs them this way).
    """
    return (os.environ.get("NPAE_FAST", "").strip().lower() in _TRUE
            or "--fast" in sys.argv[1:])


def figures_dir() -> Path:
    """The folder figures are saved to: ``$NPAE_FIGURES`` or ``./figures`` (created)."""
    folder = Path(os.environ.get("NPAE_FIGURES") or "figures").expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def load_images(fast: bool, n_train: int | None = None, n_test: int | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """Training and test images as flat float32 rows in [0, 1], with their labels.

    MNIST (28x28, via ``npae.data.load("mnist")``) unless ``fast`` is true or the MNIST
    files cannot be found; then scikit-learn's 8x8 digits (``npae.data.load("digits")``).
    MNIST is found where :func:`npae.data.load` looks (``$NPAE_DATA``, then the cache,
    then a download). Prints one line saying which data it used and why.

    Parameters
    ----------
    fast : bool
        Use the small digits set (what :func:`fast_mode` returns, usually).
    n_train, n_test : int, optional
        Keep at most this many training / test images (the first ones).

    Returns
    -------
    (Xtr, ytr, Xte, yte, name)
        ``Xtr (N, D)`` and ``Xte (M, D)`` float32 with ``D = H * W``; ``ytr``, ``yte``
        int64 labels; ``name`` is ``"mnist"`` or ``"digits"``.
    """
    from npae import data

    name, reason = "mnist", ""
    if fast:
        name, reason = "digits", "fast mode"
    try:
        train = data.load(name, "train", limit=n_train)
        test = data.load(name, "test", limit=n_test)
    except (OSError, ValueError) as err:  # absent, not downloadable, or a corrupt file
        if name == "digits":
            raise
        first_line = str(err).splitlines()[0]
        name, reason = "digits", f"MNIST is not available: {first_line}"
        train = data.load(name, "train", limit=n_train)
        test = data.load(name, "test", limit=n_test)
    Xtr, Xte = train.flat, test.flat
    h, w = train.images.shape[2:]
    label = {"mnist": "MNIST", "digits": "scikit-learn digits"}[name]
    print(f"data: {label}, {len(Xtr)} training and {len(Xte)} test images of {h}x{w} pixels"
          + (f" ({reason})" if reason else ""))
    return Xtr, train.labels, Xte, test.labels, name
