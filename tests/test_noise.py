"""Corruption processes: their statistics, reproducibility, dtype, specs and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npae.noise import (
    NOISES,
    GaussianNoise,
    MaskingNoise,
    NoNoise,
    SaltPepperNoise,
    make_noise,
)

SETTINGS = settings(max_examples=25, deadline=None)
N = 200_000  # binomial standard error of a fraction: at most 0.5 / sqrt(N) ~ 0.0011


def test_gaussian_noise_statistics():
    x = np.full((N // 100, 100), 0.5)
    out = GaussianNoise(0.2, clip=False)(x, np.random.default_rng(0))
    eps = (out - x).ravel()
    assert abs(eps.mean()) < 0.005 and eps.std() == pytest.approx(0.2, rel=0.01)
    # Gaussian tail: about 4.55 % of draws beyond two standard deviations
    assert np.mean(np.abs(eps) > 0.4) == pytest.approx(0.0455, abs=0.004)


def test_gaussian_noise_clips_to_unit_interval():
    x = np.random.default_rng(1).random((500, 20))
    out = GaussianNoise(0.5, clip=True)(x, np.random.default_rng(2))
    assert out.min() == 0.0 and out.max() == 1.0  # some draws clipped at each end
    unclipped = GaussianNoise(0.5, clip=False)(x, np.random.default_rng(2))
    np.testing.assert_array_equal(out, np.clip(unclipped, 0, 1))


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1.0])
def test_salt_pepper_fraction_and_values(p):
    x = np.full((N // 100, 100), 0.3)
    out = SaltPepperNoise(p)(x, np.random.default_rng(3))
    changed = out != 0.3
    assert changed.mean() == pytest.approx(p, abs=0.006)
    assert set(np.unique(out[changed])) <= {0.0, 1.0}
    if p > 0:  # salt and pepper equally likely
        assert (out[changed] == 1.0).mean() == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("p", [0.0, 0.25, 0.7, 1.0])
def test_masking_fraction_and_untouched_entries(p):
    x = np.random.default_rng(4).uniform(0.1, 1.0, size=(N // 100, 100))
    out = MaskingNoise(p)(x, np.random.default_rng(5))
    zeroed = out == 0
    assert zeroed.mean() == pytest.approx(p, abs=0.006)
    np.testing.assert_array_equal(out[~zeroed], x[~zeroed])


@SETTINGS
@given(spec=st.sampled_from([{"kind": "gaussian", "sigma": 0.3},
                             {"kind": "gaussian", "sigma": 0.1, "clip": False},
                             {"kind": "salt_pepper", "p": 0.3},
                             {"kind": "masking", "p": 0.4}]),
       shape=st.lists(st.integers(1, 6), min_size=2, max_size=4),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_noise_shape_dtype_reproducibility_and_freshness(spec, shape, dtype, seed):
    x = np.random.default_rng(seed).random(shape).astype(dtype)
    noise = make_noise(spec)
    a = noise(x, np.random.default_rng(seed))
    b = noise(x, np.random.default_rng(seed))
    assert a.shape == x.shape and a.dtype == dtype
    np.testing.assert_array_equal(a, b)  # same generator state, same corruption
    assert x is not a
    # a generator moves on: two successive draws differ (for a big enough array)
    g = np.random.default_rng(seed)
    big = np.random.default_rng(0).random((50, 50)).astype(dtype)
    assert not np.array_equal(noise(big, g), noise(big, g))


def test_input_is_never_modified():
    # colour images big enough for every kind's defaults (the overlay's stamp is 5x15)
    x = np.random.default_rng(6).random((4, 3, 16, 16))
    before = x.copy()
    for kind in NOISES:
        make_noise(kind)(x, np.random.default_rng(0))
    np.testing.assert_array_equal(x, before)


def test_spec_round_trip_through_json():
    for noise in (GaussianNoise(0.25, clip=False), SaltPepperNoise(0.1), MaskingNoise(0.6),
                  NoNoise()):
        spec = json.loads(json.dumps(noise.config()))
        again = make_noise(spec)
        assert type(again) is type(noise) and again == noise
        x = np.random.default_rng(7).random((4, 9))
        np.testing.assert_array_equal(noise(x, np.random.default_rng(1)),
                                      again(x, np.random.default_rng(1)))


def test_make_noise_accepts_names_instances_and_none():
    g = GaussianNoise(0.1)
    assert make_noise(g) is g
    assert isinstance(make_noise(None), NoNoise)
    assert make_noise("gaussian") == GaussianNoise()
    assert make_noise("salt-pepper") == SaltPepperNoise()
    assert make_noise({"kind": "Masking", "p": 0.5}) == MaskingNoise(0.5)
    x = np.ones((2, 3))
    assert make_noise("none")(x, np.random.default_rng(0)) is x


@pytest.mark.parametrize("sigma", [-0.1, float("nan"), float("inf")])
def test_gaussian_refuses_bad_sigma(sigma):
    with pytest.raises(ValueError, match="GaussianNoise: sigma"):
        GaussianNoise(sigma)


@pytest.mark.parametrize("cls", [SaltPepperNoise, MaskingNoise])
@pytest.mark.parametrize("p", [-0.01, 1.01, float("nan")])
def test_fractions_outside_unit_interval_are_refused(cls, p):
    with pytest.raises(ValueError, match=f"{cls.__name__}: p .* must be a number in \\[0, 1\\]"):
        cls(p)


def test_make_noise_refuses_unknown_kinds_and_arguments():
    with pytest.raises(ValueError, match="unknown noise kind 'dropout'"):
        make_noise({"kind": "dropout"})
    with pytest.raises(ValueError, match="unknown noise kind None"):
        make_noise({"sigma": 0.1})
    with pytest.raises(ValueError, match=r"unknown arguments \['p'\]"):
        make_noise({"kind": "gaussian", "p": 0.1})
    with pytest.raises(ValueError, match="p .* must be a number in"):
        make_noise({"kind": "masking", "p": 2})
    with pytest.raises(TypeError, match="make_noise: spec must be"):
        make_noise(0.3)


def test_noise_refuses_integer_arrays():
    with pytest.raises(TypeError, match="MaskingNoise: x must be a floating-point array"):
        MaskingNoise(0.2)(np.ones((2, 2), dtype=np.uint8), np.random.default_rng(0))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"low": "x"}, TypeError, r"SaltPepperNoise: low must be a finite number, got 'x'"),
    ({"high": float("inf")}, ValueError, r"SaltPepperNoise: high must be a finite number, got inf"),
])
def test_salt_pepper_values_are_checked(kwargs, error, message):
    with pytest.raises(error, match=message):
        SaltPepperNoise(**kwargs)
