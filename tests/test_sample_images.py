"""The "sample-images" loader: colour patches cut from scikit-learn's two photographs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_sample_images

from npae import data

PHOTOS = [np.asarray(im) for im in load_sample_images().images]  # (427, 640, 3) uint8
H, W = PHOTOS[0].shape[:2]
SPLIT_COL = W - round(0.2 * W)  # 512: test patches come from columns 512..639


def expected_patches(part: str, p: int, n: int, seed: int):
    """The patches as the docstring describes them, cut one by one with a plain loop."""
    g = np.random.default_rng(seed)
    labels = g.integers(0, 2, n)
    rows = g.integers(0, H - p + 1, n)
    c0, c1 = (0, SPLIT_COL) if part == "train" else (SPLIT_COL, W)
    cols = g.integers(c0, c1 - p + 1, n)
    out = np.empty((n, 3, p, p), np.float32)
    for i in range(n):
        crop = PHOTOS[labels[i]][rows[i]:rows[i] + p, cols[i]:cols[i] + p]
        out[i] = np.moveaxis(crop, -1, 0) / np.float32(255)
    return out, labels, cols


@pytest.mark.parametrize("part", ["train", "test"])
@pytest.mark.parametrize("p", [1, 8, 13])
def test_patches_are_crops_of_the_photographs(part, p):
    d = data.load("sample-images", part, patch_size=p, n_patches=40, seed=5)
    want, labels, cols = expected_patches(part, p, 40, 5)
    assert d.images.shape == (40, 3, p, p) and d.images.dtype == np.float32
    assert d.labels.dtype == np.int64
    np.testing.assert_array_equal(d.images, want)
    np.testing.assert_array_equal(d.labels, labels)
    # the test region is the right 20 %, the training region the rest: no shared pixel
    if part == "train":
        assert (cols + p <= SPLIT_COL).all()
    else:
        assert (cols >= SPLIT_COL).all()


def test_defaults_range_both_photographs_and_determinism():
    d = data.load("sample-images")
    assert d.images.shape == (10000, 3, 8, 8)
    assert 0.0 <= d.images.min() and d.images.max() <= 1.0
    assert set(np.unique(d.labels)) == {0, 1}
    assert abs(d.labels.mean() - 0.5) < 0.05  # the photograph is drawn uniformly
    again = data.load("sample-images")
    np.testing.assert_array_equal(d.images, again.images)
    d.images[0] = -1  # fresh arrays: the caller may write to them
    assert data.load("sample-images", n_patches=1).images.min() >= 0
    other = data.load("sample-images", seed=1, n_patches=50)
    assert not np.array_equal(other.images, again.images[:50])
    flat = data.load("sample-images", n_patches=3, patch_size=4).flat
    assert flat.shape == (3, 48)


def test_validation_and_limit_apply_as_for_the_other_datasets():
    full = data.load("sample-images", n_patches=100, seed=2)
    tr = data.load("sample-images", n_patches=100, seed=2, validation=0.25)
    va = data.load("sample-images", "val", n_patches=100, seed=2, validation=0.25)
    assert len(tr.images) == 75 and len(va.images) == 25
    perm = np.random.default_rng(2).permutation(100)
    np.testing.assert_array_equal(va.images, full.images[np.sort(perm[:25])])
    np.testing.assert_array_equal(tr.images, full.images[np.sort(perm[25:])])
    assert len(data.load("sample-images", n_patches=100, limit=7).images) == 7


def test_largest_patch_fits_the_test_region():
    d = data.load("sample-images", "test", patch_size=W - SPLIT_COL, n_patches=2)
    assert d.images.shape == (2, 3, 128, 128)


@pytest.mark.parametrize("kwargs, match", [
    ({"patch_size": 0}, "patch_size must be a positive int"),
    ({"patch_size": 2.0}, "patch_size must be a positive int"),
    ({"patch_size": True}, "patch_size must be a positive int"),
    ({"n_patches": 0}, "n_patches must be a positive int"),
    ({"n_patches": "10"}, "n_patches must be a positive int"),
    ({"patch_size": 129, "split": "test"}, "patch_size must be at most 128"),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load("sample-images", **kwargs)


def test_patch_arguments_belong_to_sample_images_only():
    with pytest.raises(ValueError, match="apply to 'sample-images' only"):
        data.load("digits", patch_size=8)
    assert data.load("digits", limit=2).images.shape == (2, 1, 8, 8)


@settings(max_examples=15, deadline=None)
@given(p=st.integers(1, 20), n=st.integers(1, 30), seed=st.integers(0, 2**32 - 1),
       part=st.sampled_from(["train", "test"]))
def test_any_size_count_and_seed_give_the_described_crops(p, n, seed, part):
    d = data.load("sample-images", part, patch_size=p, n_patches=n, seed=seed)
    want, labels, _ = expected_patches(part, p, n, seed)
    np.testing.assert_array_equal(d.images, want)
    np.testing.assert_array_equal(d.labels, labels)
