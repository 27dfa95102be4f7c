"""Datasets: scikit-learn's 8x8 digits (bundled, offline), MNIST and Fashion-MNIST (IDX files),
colour patches of scikit-learn's sample photographs, CIFAR-10 (binary files).

Every loader returns a :class:`Dataset` ``(images, labels)``: ``images`` is a float32
array ``(N, 1, H, W)`` scaled to [0, 1] and ``labels`` an int64 array ``(N,)``. It unpacks
like a pair, ``X, y = load("digits")``, and :func:`flatten` (or ``.flat``) gives the
``(N, H*W)`` view that dense autoencoders take. ``"sample-images"`` is the colour exception:
patches ``(N, 3, H, W)`` cut from scikit-learn's two bundled photographs, labelled 0 or 1
by the photograph they come from. Arrays are NumPy (host) arrays; move
them with :func:`npae.backend.to_device`.

Splits
------
``split="train"``, ``"test"`` or ``"val"``.

- ``"digits"`` (1797 images, 8x8, pixel values 0..16 divided by 16): the first 80 %
  (1438 images, in scikit-learn's order) is the training set and the last 20 % (359 =
  round(0.2 * 1797) images) the test set. The digits are interleaved by class in that order, so both
  parts hold every class in about equal numbers.
- ``"mnist"`` / ``"fashion-mnist"``: the standard 60000 / 10000 split (28x28, values
  0..255 divided by 255).
- Validation is carved out of the training set, deterministically: ``validation`` is a
  fraction in (0, 1) or a count, and ``seed`` picks which training images (a permutation
  of the training indices drawn from ``numpy.random.default_rng(seed)``; its first
  ``n_val`` entries are the validation images). ``split="val"`` returns them and
  ``split="train"`` with the same ``validation`` and ``seed`` returns the rest, so the two
  are disjoint; ``split="train"`` with ``validation=None`` is the whole training set.
  ``split="val"`` with ``validation=None`` uses ``validation=0.1``. Both parts keep the
  original order of the images.
- ``limit`` keeps the first ``limit`` images of the chosen split.

Where the MNIST-family files come from
--------------------------------------
The four standard files per dataset (``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each
gzipped (``.gz``) or raw) are looked up, in order, in

1. ``$NPAE_DATA/<name>/`` and then ``$NPAE_DATA/`` itself (``NPAE_DATA`` is a folder),
2. the cache folder ``$NPAE_CACHE/<name>/`` (default ``~/.cache/npae/<name>/``).

A file found in a folder is verified before use (see below); a file that is exactly a
*different* known dataset's file (Fashion-MNIST's files share MNIST's names) is skipped, any
other mismatch is an error: a truncated or corrupt file is refused, never half-used.
When no folder holds a file, it is downloaded from the official mirrors (:data:`MIRRORS`)
into the cache folder: into a temporary file there, verified, then renamed with
:func:`os.replace`, so a failed or cut-short download leaves nothing behind. Set
``NPAE_OFFLINE=1`` (or pass ``download=False``) to never touch the network; when offline
and absent, the error says which files to put where.

Verification
------------
Every file is parsed as IDX (magic number 2051 for images and 2049 for labels, dimensions,
exact length). In addition its MD5 is checked against :data:`MD5`: the published sums of
the four MNIST ``.gz`` files and of the raw MNIST image files; for the raw MNIST label
files the sums are those of the decompressed published ``.gz`` files (derived, not
published); the four Fashion-MNIST ``.gz`` sums are those published by Zalando Research.
Raw (uncompressed) Fashion-MNIST files have no sum here and are verified by IDX structure
and the expected shape only.

Parsed files are kept in memory (as uint8, about 55 MB for MNIST) per process, so a second
``load("mnist")`` skips the ~1 s of decompression; :func:`clear_cache` empties it.

CIFAR-10
--------
``"cifar10"`` (60000 colour images ``(N, 3, 32, 32)``, 50000 for training and 10000 for
testing, values 0..255 divided by 255, labels 0..9) is read from the official *binary*
distribution, ``cifar-10-binary.tar.gz``, searched for in the same folders, verified
and downloaded like MNIST (:mod:`npae.data.cifar10` tells the details).

The package
-----------
One module per source: :mod:`~npae.data.digits`, :mod:`~npae.data.idx` (MNIST and
Fashion-MNIST), :mod:`~npae.data.cifar10`, :mod:`~npae.data.sample_images`; the cache,
the downloads and the checksums in :mod:`~npae.data.cache`; validation splits in
:mod:`~npae.data.splits`. This module holds :func:`load`, :class:`Dataset` and
:func:`flatten`, and keeps every name of the former single module importable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from npae.arguments import check_count, is_int
from npae.data.cache import MD5, MIRRORS, cache_dir, clear_cache
from npae.data.cifar10 import (
    CIFAR10_ARCHIVE,
    CIFAR10_FILES,
    CIFAR10_FOLDER,
    load_cifar10,
    parse_cifar_batch,
)
from npae.data.digits import load_digits
from npae.data.idx import (
    FILES,
    SHAPES,
    download_file,
    find_file,
    load_idx_dataset,
    parse_idx,
    read_idx,
)
from npae.data.sample_images import SAMPLE_PATCHES, cut_patches
from npae.data.splits import SPLITS, select

__all__ = [
    "Dataset", "load", "flatten", "parse_idx", "read_idx", "download_file", "find_file",
    "cache_dir", "clear_cache", "DATASETS", "FILES", "MD5", "MIRRORS", "SHAPES",
    "parse_cifar_batch", "CIFAR10_ARCHIVE", "CIFAR10_FOLDER", "CIFAR10_FILES", "SAMPLE_PATCHES",
]

DATASETS = ("digits", "mnist", "fashion-mnist", "sample-images", "cifar10")


class Dataset(NamedTuple):
    """``(images, labels)``: float32 ``(N, 1, H, W)`` in [0, 1] and int64 ``(N,)``."""

    images: np.ndarray
    labels: np.ndarray

    @property
    def flat(self) -> np.ndarray:
        """The images as ``(N, H*W)`` rows (a view, no copy)."""
        return flatten(self.images)


def flatten(images) -> np.ndarray:
    """``(N, ...)`` images -> ``(N, prod(...))`` rows, for dense models (a view when possible)."""
    shape = getattr(images, "shape", None)
    if shape is None or len(shape) < 2:
        raise ValueError(
            f"npae.data.flatten: expected an array of shape (N, ...) with at least 2 "
            f"dimensions, got {shape if shape is not None else type(images).__name__}")
    return images.reshape(shape[0], -1)



def load(name: str = "digits", split: str = "train", *,
         validation: float | int | None = None, seed: int = 0, limit: int | None = None,
         download: bool = True, mirrors: Sequence[str] | None = None,
         checksums: Mapping[str, str] | None = None, timeout: float = 30.0,
         patch_size: int | None = None, n_patches: int | None = None) -> Dataset:
    """Load a dataset as float32 images ``(N, 1, H, W)`` in [0, 1] and int64 labels.

    ``"sample-images"`` gives colour patches ``(N, 3, p, p)`` instead, labelled by the
    index of their photograph (0 china.jpg, 1 flower.jpg).

    Parameters
    ----------
    name : {"digits", "mnist", "fashion-mnist", "sample-images", "cifar10"}
        ``"digits"`` (8x8, bundled with scikit-learn) works offline everywhere, and so
        does ``"sample-images"``: square colour patches cut from the two photographs
        scikit-learn bundles (:func:`sklearn.datasets.load_sample_images`, 427x640).
        Training patches lie in the left 80 % of each photograph's columns and test
        patches in the right 20 %, so the splits share no pixel. ``"cifar10"`` gives
        colour images ``(N, 3, 32, 32)`` from the binary distribution
        (:mod:`npae.data.cifar10`).
    split : {"train", "test", "val"}
        See the module docstring: digits' test set is its last 20 %; ``"val"`` is a
        deterministic part of the training set.
    validation : float or int, optional
        Fraction (0 < v < 1) or number of training images set aside for validation;
        ``split="train"`` then returns the rest. Ignored for ``split="test"``.
    seed : int
        Chooses which training images form the validation set; for ``"sample-images"``
        it also draws the patches (their photograph, then their top-left corner, from
        ``numpy.random.default_rng(seed)``).
    limit : int, optional
        Keep only the first ``limit`` images of the split.
    download : bool
        Allow downloading missing MNIST-family or CIFAR-10 files (also off when
        ``NPAE_OFFLINE=1``).
    mirrors, checksums, timeout
        Override the base URLs, the MD5 table (file name -> hex digest; files it does not
        name are checked by their structure only, IDX or CIFAR-10 records, and any
        consistent shape or number of images is accepted) and the network timeout; for
        tests and private mirrors.
    patch_size : int, optional
        ``"sample-images"`` only: the side of the square patches (default 8; at most 128,
        the width of the test region).
    n_patches : int, optional
        ``"sample-images"`` only: how many patches the split's region gives (default
        :data:`SAMPLE_PATCHES`, 10000) before ``validation`` and ``limit`` apply.

    Returns
    -------
    Dataset
        ``(images, labels)``; fresh arrays the caller may modify.
    """
    if name not in DATASETS:
        raise ValueError(f"npae.data.load: name must be one of {DATASETS}, got {name!r}")
    if split not in SPLITS:
        raise ValueError(f"npae.data.load: split must be 'train', 'test' or 'val', "
                         f"got {split!r}")
    if limit is not None and (not is_int(limit) or limit < 1):
        raise ValueError(f"npae.data.load: limit must be a positive int or None, got {limit!r}")
    part = "test" if split == "test" else "train"
    if name != "sample-images" and (patch_size, n_patches) != (None, None):
        raise ValueError(f"npae.data.load: patch_size and n_patches apply to "
                         f"'sample-images' only, not to {name!r}")
    if name == "sample-images":
        images, labels = cut_patches(
            part, check_count(8 if patch_size is None else patch_size, "npae.data.load",
                              "patch_size"),
            check_count(SAMPLE_PATCHES if n_patches is None else n_patches,
                        "npae.data.load", "n_patches"), seed)
        scale = 255.0
    elif name == "digits":
        images, labels = load_digits(part)
        scale = 16.0
    elif name == "cifar10":
        images, labels = load_cifar10(part, download=download, mirrors=mirrors,
                                      checksums=checksums, timeout=timeout)
        scale = 255.0
    else:
        images, labels = load_idx_dataset(name, part, download=download, mirrors=mirrors,
                                          checksums=checksums, timeout=timeout)
        scale = 255.0
    images, labels = select(images, labels, split, validation, seed, limit)
    X = np.asarray(images, dtype=np.float32) / np.float32(scale)
    X = X[:, None, :, :] if X.ndim == 3 else X  # grey images get their channel axis
    return Dataset(np.ascontiguousarray(X), np.asarray(labels, dtype=np.int64).copy())
