"""Colour patches cut from the two photographs scikit-learn bundles (offline everywhere).

``load("sample-images")`` gives square patches ``(N, 3, p, p)`` of china.jpg and
flower.jpg (427x640 each), labelled 0 or 1 by their photograph: training patches from the
left 80 % of each photograph's columns, test patches from the right 20 %, so the splits
share no pixel.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["SAMPLE_PATCHES", "SAMPLE_TEST_FRACTION", "sample_photographs", "cut_patches"]

#: Share of each photograph's columns, on the right, that the test patches come from.
SAMPLE_TEST_FRACTION = 0.2
#: Patches cut per split when ``n_patches`` is not given (the UFLDL exercise's count).
SAMPLE_PATCHES = 10000


@functools.lru_cache(maxsize=1)
def sample_photographs() -> tuple[np.ndarray, ...]:
    """scikit-learn's two bundled photographs (china.jpg, flower.jpg), (427, 640, 3) uint8,
    decoded once per process (read-only)."""
    from sklearn.datasets import load_sample_images

    photos = tuple(np.asarray(im, dtype=np.uint8) for im in load_sample_images().images)
    for im in photos:
        im.flags.writeable = False
    return photos


def cut_patches(part: str, patch_size: int, n_patches: int, seed: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """``n_patches`` colour patches ``(N, 3, p, p)`` uint8 and the index of their photograph.

    Each patch's photograph is drawn uniformly from the two, and its top-left corner
    uniformly among the positions where the whole patch lies in the split's region: the
    left 80 % of the columns for training, the right 20 % for testing, so no pixel is in
    both. All draws come from ``numpy.random.default_rng(seed)``, first the photographs
    and then the corners, so the same arguments always give the same patches.
    """
    photos = sample_photographs()
    h, w = photos[0].shape[:2]
    split_col = w - int(round(SAMPLE_TEST_FRACTION * w))
    c0, c1 = (0, split_col) if part == "train" else (split_col, w)
    if patch_size > min(h, c1 - c0):
        raise ValueError(f"npae.data.load: patch_size must be at most {min(h, c1 - c0)} for "
                         f"'sample-images' (the {part} region is {h}x{c1 - c0} pixels), "
                         f"got {patch_size}")
    g = np.random.default_rng(seed)
    labels = g.integers(0, len(photos), n_patches)
    rows = g.integers(0, h - patch_size + 1, n_patches)
    cols = g.integers(c0, c1 - patch_size + 1, n_patches)
    stack = np.stack(photos)                              # (2, H, W, 3)
    offs = np.arange(patch_size)
    # one gather for every patch: index (n, p, p) -> (n, p, p, 3), then channels first
    patches = stack[labels[:, None, None], (rows[:, None] + offs)[:, :, None],
                    (cols[:, None] + offs)[:, None, :]]
    return patches.transpose(0, 3, 1, 2), labels

