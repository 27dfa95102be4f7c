"""Structured corruptions: block masks (inpainting), overlays (watermarks), grey (colorization).

Each is checked for shape, dtype, reproducibility under a seed, freshness of successive
draws, that it never changes its input, its parameter checks, its JSON spec, and against
an independent description of what it should draw (rectangles counted pixel by pixel,
the stamp found where the mask says, Pillow's own grey conversion).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import npae
from npae import backend
from npae.models import DenoisingAutoencoder, conv_autoencoder, dense_autoencoder
from npae.noise import (
    BlockMaskNoise,
    GrayscaleNoise,
    OverlayNoise,
    make_noise,
    render_text,
)

SETTINGS = settings(max_examples=25, deadline=None)


def images(shape, seed=0, dtype=np.float64):
    # values in (0.1, 1): a hole (0) or white ink (1) is never confused with a pixel
    return np.random.default_rng(seed).uniform(0.1, 0.99, size=shape).astype(dtype)


def bounding_box(m: np.ndarray) -> tuple[slice, slice]:
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


# ------------------------------------------------------------------ block masks
def test_one_block_is_one_rectangle_of_the_drawn_size_filled_with_fill():
    x = images((300, 2, 9, 11))
    out, mask = BlockMaskNoise(1, (2, 5), fill=-1.0).draw(x, np.random.default_rng(0))
    assert mask.shape == x.shape and mask.dtype == bool
    np.testing.assert_array_equal(out[mask], -1.0)
    np.testing.assert_array_equal(out[~mask], x[~mask])
    assert np.array_equal(mask[:, 0], mask[:, 1])  # a hole goes through every channel
    heights, widths = [], []
    for m in mask[:, 0]:
        r, c = bounding_box(m)
        assert m[r, c].all() and m.sum() == m[r, c].size  # a full rectangle, nothing else
        heights.append(r.stop - r.start)
        widths.append(c.stop - c.start)
    # sides uniform on {2, ..., 5}: every value appears, none outside
    assert set(heights) == set(widths) == {2, 3, 4, 5}


def test_block_corners_are_uniform_over_the_positions_that_fit():
    # 3x3 blocks in 6x6 images: 4 x 4 = 16 possible corners, each with probability 1/16
    n = 16_000
    _, mask = BlockMaskNoise(1, 3).draw(np.ones((n, 36)), np.random.default_rng(1))
    m = mask.reshape(n, 6, 6)
    corners = np.array([(np.argmax(a.any(axis=1)), np.argmax(a.any(axis=0))) for a in m])
    counts = np.zeros((4, 4))
    np.add.at(counts, (corners[:, 0], corners[:, 1]), 1)
    assert counts.min() > 0 and (corners < 4).all()
    # binomial sd of each count: sqrt(n p (1 - p)) ~ 30.6; allow 5 sd
    np.testing.assert_allclose(counts, n / 16, atol=5 * 30.6)


def test_several_blocks_cover_what_their_union_predicts():
    # k independent 1x1 holes in an H*W image leave a pixel unmasked with probability
    # (1 - 1/(H W))^k: the mask is the union of k blocks, overlaps counted once
    n, k, side = 20_000, 5, 4
    _, mask = BlockMaskNoise(k, 1).draw(np.ones((n, side, side)), np.random.default_rng(2))
    expected = 1 - (1 - 1 / side**2) ** k
    assert mask.mean() == pytest.approx(expected, abs=0.005)
    assert mask.reshape(n, -1).sum(axis=1).max() <= k


def test_no_blocks_change_nothing():
    x = images((4, 1, 5, 5))
    out, mask = BlockMaskNoise(0, 2).draw(x, np.random.default_rng(0))
    np.testing.assert_array_equal(out, x)
    assert not mask.any()


def test_flat_rows_are_read_as_images():
    x = images((50, 3 * 4 * 6))
    noise = BlockMaskNoise(1, 3, image_shape=(3, 4, 6))
    out, mask = noise.draw(x, np.random.default_rng(3))
    as_images = BlockMaskNoise(1, 3).draw(x.reshape(50, 3, 4, 6), np.random.default_rng(3))
    np.testing.assert_array_equal(out, as_images[0].reshape(50, -1))
    np.testing.assert_array_equal(mask, as_images[1].reshape(50, -1))
    # a square row length needs no image_shape
    sq = BlockMaskNoise(1, 2)(images((3, 25)), np.random.default_rng(0))
    assert sq.shape == (3, 25)


# ------------------------------------------------------------------ overlays
def test_overlay_paints_the_stamp_where_the_mask_says():
    stamp = render_text("N7")
    x = np.zeros((200, 1, 12, 14))
    out, mask = OverlayNoise("N7", opacity=1.0, value=1.0).draw(x, np.random.default_rng(0))
    tops = set()
    for o, m in zip(out[:, 0], mask[:, 0]):
        r, c = bounding_box(m)
        np.testing.assert_array_equal(o[r, c], stamp)  # the stamp itself, nothing else
        assert o.sum() == stamp.sum()
        tops.add(r.start)
    assert tops == set(range(12 - 5 + 1))  # every row that fits is used


def test_overlay_blends_with_opacity_and_keeps_the_rest():
    stamp = [[1.0, 0.5], [0.0, 1.0]]
    x = images((100, 3, 5, 5))
    noise = OverlayNoise(stamp, scale=2, opacity=0.5, value=0.0)
    out, mask = noise.draw(x, np.random.default_rng(4))
    big = np.kron(np.array(stamp), np.ones((2, 2)))  # the 4x4 stamp after scale=2
    np.testing.assert_array_equal(out[~mask], x[~mask])
    for xi, oi, mi in zip(x, out, mask[:, 0]):
        r, c = bounding_box(np.pad(mi, 0))
        # the mask covers the stamp's nonzero pixels; find the stamp's corner from it
        top = r.start - np.flatnonzero(big.any(axis=1))[0]
        left = c.start - np.flatnonzero(big.any(axis=0))[0]
        a = np.zeros((5, 5))
        a[top:top + 4, left:left + 4] = 0.5 * big
        np.testing.assert_allclose(oi, (1 - a) * xi + a * 0.0, rtol=1e-12)


def test_render_text_draws_known_glyphs():
    one = render_text("1")
    np.testing.assert_array_equal(one, [[0, 1, 0], [1, 1, 0], [0, 1, 0], [0, 1, 0],
                                        [1, 1, 1]])
    two = render_text("ab", scale=2)
    assert two.shape == (10, 14) and set(np.unique(two)) == {0.0, 1.0}
    assert not two[:, 6:8].any()  # the blank column between the letters, magnified
    np.testing.assert_array_equal(two, np.kron(render_text("AB"), np.ones((2, 2))))


# ------------------------------------------------------------------ grey
def test_grayscale_matches_pillows_luma():
    Image = pytest.importorskip("PIL.Image")
    rgb = np.random.default_rng(5).integers(0, 256, size=(6, 7, 3), dtype=np.uint8)
    pillow = np.asarray(Image.fromarray(rgb, "RGB").convert("L"), dtype=np.float64)
    x = (rgb.transpose(2, 0, 1)[None] / 255.0).astype(np.float64)
    out = GrayscaleNoise()(x, np.random.default_rng(0))
    assert out.shape == x.shape
    for c in range(3):  # every channel holds the grey level; Pillow rounds to integers
        np.testing.assert_allclose(out[0, c] * 255, pillow, atol=0.51)


def test_grayscale_flat_rows_and_custom_weights():
    x = images((4, 2 * 3 * 3))
    out = GrayscaleNoise((0.25, 0.75), image_shape=(2, 3, 3))(x, np.random.default_rng(0))
    imgs = x.reshape(4, 2, 3, 3)
    grey = 0.25 * imgs[:, 0] + 0.75 * imgs[:, 1]
    np.testing.assert_allclose(out.reshape(4, 2, 3, 3), np.stack([grey, grey], axis=1))


# ------------------------------------------------------------------ shared properties
SPECS = [{"kind": "block_mask", "n_blocks": 2, "size": [1, 3]},
         {"kind": "block_mask", "n_blocks": 1, "size": 2, "fill": 0.5},
         {"kind": "overlay", "stamp": "+", "opacity": 0.7},
         {"kind": "overlay", "stamp": [[1, 0], [0.5, 1]], "value": 0.0},
         {"kind": "grayscale"}]


@SETTINGS
@given(spec=st.sampled_from(SPECS), n=st.integers(1, 5), hw=st.tuples(st.integers(5, 9),
                                                                        st.integers(5, 9)),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_shape_dtype_reproducibility_and_the_input_untouched(spec, n, hw, dtype, seed):
    x = images((n, 3, *hw), seed, dtype)
    before = x.copy()
    noise = make_noise(spec)
    a = noise(x, np.random.default_rng(seed))
    b = noise(x, np.random.default_rng(seed))
    assert a.shape == x.shape and a.dtype == dtype and a is not x
    np.testing.assert_array_equal(a, b)  # same seed, same corruption
    np.testing.assert_array_equal(x, before)
    if hasattr(noise, "draw"):  # draw is the same draw, with its mask
        again, mask = noise.draw(x, np.random.default_rng(seed))
        np.testing.assert_array_equal(again, a)
        assert mask.shape == x.shape and mask.dtype == bool
        np.testing.assert_array_equal(a[~mask], x[~mask])
        # successive draws from one generator differ (on a batch large enough to tell)
        g = np.random.default_rng(seed)
        big = images((40, 1, 9, 9), 0, dtype)
        assert not np.array_equal(noise(big, g), noise(big, g))


@pytest.mark.parametrize("noise", [BlockMaskNoise(3, (2, 4), fill=0.25, image_shape=(1, 8, 8)),
                                   OverlayNoise("HI", scale=2, opacity=0.3, value=0.9),
                                   OverlayNoise([[0.0, 1.0], [1.0, 0.0]]),
                                   GrayscaleNoise((0.2, 0.3, 0.5))],
                         ids=lambda n: n.kind)
def test_spec_round_trips_through_json(noise):
    again = make_noise(json.loads(json.dumps(noise.config())))
    assert type(again) is type(noise) and again == noise
    x = {"block_mask": images((6, 64)), "overlay": images((6, 3, 16, 16)),
         "grayscale": images((6, 3, 8, 8))}[noise.kind]
    np.testing.assert_array_equal(noise(x, np.random.default_rng(1)),
                                  again(x, np.random.default_rng(1)))


def test_kind_names_and_aliases():
    assert make_noise("block_mask") == BlockMaskNoise()
    assert make_noise("blocks") == BlockMaskNoise()
    assert make_noise({"kind": "watermark", "stamp": "OK"}) == OverlayNoise("OK")
    assert make_noise("grey") == GrayscaleNoise()


def test_the_device_path_gives_the_host_numbers(xp_backend):
    x = images((5, 3, 8, 8))
    for noise in (BlockMaskNoise(2, (2, 3)), OverlayNoise("+"), GrayscaleNoise()):
        out = noise(backend.to_device(x), np.random.default_rng(0))
        np.testing.assert_array_equal(backend.asnumpy(out), noise(x, np.random.default_rng(0)))


# ------------------------------------------------------------------ bad parameters and input
@pytest.mark.parametrize("kwargs, error, message", [
    ({"n_blocks": -1}, ValueError, r"BlockMaskNoise: n_blocks must be an int >= 0, got -1"),
    ({"n_blocks": 1.5}, TypeError, r"BlockMaskNoise: n_blocks must be an int >= 0"),
    ({"size": 0}, ValueError, r"BlockMaskNoise: size \(the smallest block side\) must be an "
                              r"int >= 1, got 0"),
    ({"size": (4, 2)}, ValueError, r"size \(the largest block side\) must be an int >= 4"),
    ({"size": (1, 2, 3)}, ValueError, r"BlockMaskNoise: size must be an int >= 1 or a pair"),
    ({"fill": float("nan")}, ValueError, r"BlockMaskNoise: fill must be a finite number"),
    ({"image_shape": (0, 4)}, ValueError, r"BlockMaskNoise: image_shape must be \(H, W\)"),
])
def test_block_mask_parameters_are_checked(kwargs, error, message):
    with pytest.raises(error, match=message):
        BlockMaskNoise(**kwargs)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"stamp": "a?"}, ValueError, r"OverlayNoise: stamp 'a\?': render_text: no glyph for \['\?'\]"),
    ({"stamp": [[2.0]]}, ValueError, r"OverlayNoise: stamp must be text or a non-empty 2-D "
                                     r"array of values in \[0, 1\], got \[\[2\.0\]\]"),
    ({"stamp": [1.0, 0.0]}, ValueError, r"OverlayNoise: stamp must be text or a non-empty 2-D"),
    ({"scale": 0}, ValueError, r"OverlayNoise: scale must be an int >= 1, got 0"),
    ({"opacity": 1.5}, ValueError, r"OverlayNoise: opacity must be a number in \[0, 1\]"),
    ({"value": "white"}, TypeError, r"OverlayNoise: value \(the ink\) must be a finite number"),
])
def test_overlay_parameters_are_checked(kwargs, error, message):
    with pytest.raises(error, match=message):
        OverlayNoise(**kwargs)


def test_grayscale_parameters_are_checked():
    with pytest.raises(ValueError, match=r"GrayscaleNoise: weights must be non-negative "
                                         r"numbers summing to 1, got \(0\.5, 0\.6\)"):
        GrayscaleNoise((0.5, 0.6))
    with pytest.raises(ValueError, match=r"GrayscaleNoise: weights must be"):
        GrayscaleNoise((1.5, -0.5))
    with pytest.raises(ValueError, match=r"GrayscaleNoise: image_shape must be \(C, H, W\)"):
        GrayscaleNoise(image_shape=(4, 4))


def test_bad_input_is_refused_with_the_noise_named():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"BlockMaskNoise: blocks up to 9 pixels do not fit in "
                                         r"images of 8x8"):
        BlockMaskNoise(1, 9)(images((2, 1, 8, 8)), rng)
    with pytest.raises(ValueError, match=r"OverlayNoise: the stamp \(5x15 pixels\) does not "
                                         r"fit in images of 8x8"):
        OverlayNoise("NPAE")(images((2, 64)), rng)
    with pytest.raises(ValueError, match=r"BlockMaskNoise: flat rows of 10 features are not "
                                         r"square images; pass image_shape"):
        BlockMaskNoise(1, 2)(images((2, 10)), rng)
    with pytest.raises(ValueError, match=r"image_shape \(3, 3\) holds 9 values, but the rows "
                                         r"of x have 16"):
        BlockMaskNoise(1, 2, image_shape=(3, 3))(images((2, 16)), rng)
    with pytest.raises(ValueError, match=r"OverlayNoise: x must be images"):
        OverlayNoise("+")(images((2, 3, 4, 5, 6)), rng)
    with pytest.raises(TypeError, match=r"BlockMaskNoise: x must be a floating-point array"):
        BlockMaskNoise(1, 1)(np.ones((2, 4, 4), dtype=np.uint8), rng)
    with pytest.raises(ValueError, match=r"GrayscaleNoise: images with 3 channels expected "
                                         r"\(one weight each\), got 1"):
        GrayscaleNoise()(images((2, 1, 4, 4)), rng)
    with pytest.raises(ValueError, match=r"GrayscaleNoise: flat rows need image_shape"):
        GrayscaleNoise()(images((2, 48)), rng)


# ------------------------------------------------------------------ in a denoising model
def test_a_denoising_model_trains_saves_and_loads_with_each(tmp_path):
    x = images((16, 3, 8, 8), dtype=np.float32)
    for spec in SPECS:
        model = conv_autoencoder((3, 8, 8), (4,), 3, rng=0, model=DenoisingAutoencoder,
                                 noise=spec)
        total, _ = model.loss(x, rng=0)
        assert np.isfinite(total)
        # the model's input is the noise's draw: its loss equals the loss on that draw
        x_tilde = make_noise(spec)(x, np.random.default_rng(0))
        expected = np.mean((model.decode(model.encode(x_tilde)) - x) ** 2)
        assert total == pytest.approx(float(expected), rel=1e-5)
        model.save(tmp_path / "m.npz")
        assert npae.load(tmp_path / "m.npz").noise == make_noise(spec)
    flat = dense_autoencoder(64, [8], 4, rng=0, model=DenoisingAutoencoder,
                             noise={"kind": "block_mask", "size": [2, 3]})
    hist = flat.fit(images((32, 64), dtype=np.float32), epochs=2, batch_size=8, verbose=0)
    assert len(hist["loss"]) == 2 and np.isfinite(hist["loss"]).all()
