"""Bad input is refused at once with a message naming the layer or function, what was
expected and what came (never a silent wrong answer or an error from inside NumPy)."""

from __future__ import annotations

import numpy as np
import pytest

from npae import losses
from npae.layers import Dense, Flatten, LeakyReLU, ReLU, Reshape
from npae.models import Autoencoder, dense_autoencoder
from npae.network import Sequential


@pytest.fixture
def model():
    return dense_autoencoder(64, [32], 8, rng=0)


@pytest.fixture
def bce_model():
    return dense_autoencoder(64, [32], 8, rng=0, loss="bce")


def _entry_points(m):
    """Every model method that takes data, as name -> callable(x)."""
    return {
        "fit": lambda x: m.fit(x, epochs=1, verbose=0),
        "loss": lambda x: m.loss(x),
        "evaluate": lambda x: m.evaluate(x),
        "encode": lambda x: m.encode(x),
        "reconstruct": lambda x: m.reconstruct(x),
    }


ENTRY_POINTS = ["fit", "loss", "evaluate", "encode", "reconstruct"]
ARG_NAME = {"fit": "X", "evaluate": "X"}  # the others call their argument x
# reconstruct validates through encode and is named after it; see
# test_reconstruct_names_itself for that on its own
OWNER = {"reconstruct": "(reconstruct|encode)"}


def owner(entry: str) -> str:
    """Regex for the name an entry point's messages start with."""
    return rf"Autoencoder\.{OWNER.get(entry, entry)}"


# -- shapes -----------------------------------------------------------------------------------

def test_dense_wrong_width_names_layer_expected_and_actual(rng):
    with pytest.raises(ValueError, match=r"^Dense: expected 64 input features, got 10 "
                                         r"\(input shape \(4, 10\)\)$"):
        Dense(64, 8, rng=0).forward(rng.normal(size=(4, 10)).astype(np.float32))


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_model_wrong_width(model, entry, rng):
    x = rng.uniform(size=(4, 10)).astype(np.float32)
    with pytest.raises(ValueError, match=r"Dense: expected 64 input features, got 10"):
        _entry_points(model)[entry](x)


def test_decode_wrong_code_width(model):
    with pytest.raises(ValueError, match=r"Dense: expected 8 input features, got 3"):
        model.decode(np.zeros((2, 3), np.float32))


def test_dense_one_dimensional_input():
    with pytest.raises(ValueError, match=r"^Dense: expected a 2-D input \(batch, features\), "
                                         r"got shape \(64,\)$"):
        Dense(64, 8, rng=0).forward(np.zeros(64, np.float32))
    with pytest.raises(ValueError, match=r"Dense: expected a 2-D input .* got shape "
                                         r"\(2, 8, 8\)"):
        Dense(64, 8, rng=0).forward(np.zeros((2, 8, 8), np.float32))


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_model_one_dimensional_input(model, entry):
    name = ARG_NAME.get(entry, "x")
    with pytest.raises(ValueError, match=rf"{owner(entry)}: {name} must be a non-empty "
                                         rf"batch \(N, \.\.\.\) with N >= 1, got shape \(64,\)"):
        _entry_points(model)[entry](np.zeros(64, np.float32))


def test_empty_batch():
    with pytest.raises(ValueError, match=r"^Dense: empty batch \(input shape \(0, 64\)\)$"):
        Dense(64, 8, rng=0).forward(np.zeros((0, 64), np.float32))
    with pytest.raises(ValueError, match=r"Sequential|Dense: empty batch"):
        Sequential(Dense(64, 8, rng=0), ReLU()).forward(np.zeros((0, 64), np.float32))
    with pytest.raises(ValueError, match=r"Reshape: empty batch"):
        Reshape((8, 8)).forward(np.zeros((0, 64)))


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_model_empty_batch(model, entry):
    with pytest.raises(ValueError, match=rf"{owner(entry)}: .* non-empty batch .*got "
                                         rf"shape \(0, 64\)"):
        _entry_points(model)[entry](np.zeros((0, 64), np.float32))


def test_reshape_impossible_shape():
    with pytest.raises(ValueError, match=r"Reshape: cannot reshape an input of shape \(2, 5\) "
                                         r"to \(batch,\) \+ \(3,\)"):
        Reshape((3,)).forward(np.zeros((2, 5)))


def test_non_array_input_to_a_layer():
    with pytest.raises(TypeError, match=r"Dense: input must be an array, got list"):
        Dense(2, 2, rng=0).forward([[1.0, 2.0]])


@pytest.mark.parametrize("layer, name", [(Reshape((2,)), "Reshape"), (Flatten(), "Flatten")])
@pytest.mark.parametrize("x", [[[1.0, 2.0]], ((1.0, 2.0),), 3.0, None],
                         ids=["list", "tuple", "float", "None"])
def test_non_array_input_to_a_shape_layer(layer, name, x):
    """Not ``AttributeError: 'list' object has no attribute 'ndim'`` from inside forward."""
    with pytest.raises(TypeError, match=rf"^{name}: input must be an array, "
                                        rf"got {type(x).__name__}$"):
        layer.forward(x)


def test_flatten_empty_batch_names_flatten():
    with pytest.raises(ValueError, match=r"^Flatten: empty batch \(input shape \(0, 2, 2\)\)$"):
        Flatten().forward(np.zeros((0, 2, 2)))


# -- values -----------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_nan_or_inf_in_the_data(model, entry, bad, rng):
    x = rng.uniform(size=(4, 64)).astype(np.float32)
    x[2, 17] = bad
    name = ARG_NAME.get(entry, "x")
    with pytest.raises(ValueError, match=rf"{owner(entry)}: {name} contains NaN or Inf "
                                         rf"\(1 of 256 values\)"):
        _entry_points(model)[entry](x)


def test_nan_in_validation_data(model, rng):
    X = rng.uniform(size=(8, 64)).astype(np.float32)
    V = X.copy()
    V[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"Autoencoder\.fit: validation contains NaN or Inf"):
        model.fit(X, epochs=1, verbose=0, validation=V)


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.bool_])
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_integer_data_is_refused_with_the_scaling_hint(model, entry, dtype):
    x = np.zeros((4, 64), dtype=dtype)
    name = ARG_NAME.get(entry, "x")
    with pytest.raises(TypeError, match=rf"{owner(entry)}: {name} must be a "
                                        rf"floating-point array, got dtype {np.dtype(dtype)}; "
                                        r"scale uint8 images to \[0, 1\] first"):
        _entry_points(model)[entry](x)


def test_integer_validation_and_codes_are_refused(model):
    with pytest.raises(TypeError, match=r"Autoencoder\.fit: validation must be a floating"):
        model.fit(np.zeros((4, 64), np.float32), epochs=1, verbose=0,
                  validation=np.zeros((4, 64), np.uint8))
    with pytest.raises(TypeError, match=r"Autoencoder\.decode: z must be a floating"):
        model.decode(np.zeros((2, 8), np.int32))


@pytest.mark.parametrize("entry", ["fit", "loss", "evaluate", "encode", "reconstruct"])
def test_bce_model_refuses_data_outside_unit_interval(bce_model, entry):
    x = np.linspace(0, 255, 4 * 64, dtype=np.float32).reshape(4, 64)  # forgot to divide
    with pytest.raises(ValueError, match=rf"{owner(entry)}: .* must lie in \[0, 1\] for a "
                                         r"Bernoulli/BCE reconstruction loss, got values in "
                                         r"\[0\.0, 255\.0\]"):
        _entry_points(bce_model)[entry](x)


def test_reconstruct_names_itself(model):
    """The message should name the method the user called, not the one it calls."""
    with pytest.raises(TypeError, match=r"^Autoencoder\.reconstruct: x must be a floating"):
        model.reconstruct(np.zeros((4, 64), np.uint8))


def test_mse_model_accepts_data_outside_unit_interval(model):
    x = np.full((4, 64), 3.0, np.float32)  # standardised data is fine for MSE
    total, _ = model.loss(x)
    assert np.isfinite(total)


@pytest.mark.parametrize("fn", [losses.bce, losses.bce_with_logits])
def test_loss_functions_refuse_targets_outside_unit_interval(fn):
    target = np.array([[0.0, 2.0]])
    with pytest.raises(ValueError, match=rf"^{fn.__name__}: targets must lie in \[0, 1\], got "
                                         r"values in \[0\.0, 2\.0\]"):
        fn(np.array([[0.3, 0.7]]), target)


def test_bce_refuses_integer_probabilities_clearly():
    """bce of integer predictions: a clear error naming bce, not NumPy's
    'data type <class 'numpy.int64'> not inexact' from np.finfo deep inside."""
    with pytest.raises((TypeError, ValueError), match=r"^bce: "):
        losses.bce(np.array([[0, 1]]), np.array([[0.0, 1.0]]))


# -- constructor arguments --------------------------------------------------------------------

@pytest.mark.parametrize("make, error, message", [
    (lambda: Dense(0, 3), ValueError,
     r"Dense: in_features and out_features must be >= 1, got 0 and 3"),
    (lambda: Dense(3, -1), ValueError, r"got 3 and -1"),
    (lambda: Dense(3, 2, init="glorot"), ValueError,
     r"Dense: init must be 'xavier' or 'he', got 'glorot'"),
    (lambda: Dense(3, 2, dtype=np.int32), TypeError,
     r"Dense: dtype must be a floating type, got int32"),
    (lambda: Dense(3, 2, rng="seed"), TypeError,
     r"rng must be a numpy\.random\.Generator, an int seed or None, got str"),
    (lambda: LeakyReLU(-0.1), ValueError, r"LeakyReLU: slope must be >= 0, got -0\.1"),
    (lambda: Autoencoder(Dense(3, 2), Dense(2, 3), loss="hinge"), ValueError,
     r"Autoencoder: loss must be 'mse' or 'bce', got 'hinge'"),
    (lambda: Autoencoder(Dense(3, 2), Dense(2, 3), reduction="avg"), ValueError,
     r"Autoencoder: reduction must be 'mean', 'sum' or 'batchmean', got 'avg'"),
    (lambda: dense_autoencoder(8, [4], 2, activation="swish"), ValueError,
     r"unknown activation 'swish'"),
], ids=["in0", "out-1", "init", "dtype", "rng", "slope", "loss", "reduction", "activation"])
def test_bad_constructor_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("sizes, shown", [
    ((4.7, 3), r"4\.7 and 3"),  # once silently truncated to Dense(4, 3)
    ((4.0, 3), r"4\.0 and 3"),  # a float that happens to be whole is still not a size
    ((4, np.float32(3)), r"4 and np\.float32\(3\.0\)"),
    ((True, 3), r"True and 3"),  # a bool is an int to Python, never a size here
    ((4, np.bool_(True)), r"4 and np\.True_"),
    (("4", 3), r"'4' and 3"),
    ((4, None), r"4 and None"),
])
def test_dense_refuses_non_integer_sizes(sizes, shown):
    with pytest.raises(TypeError, match=rf"^Dense: in_features and out_features must be "
                                        rf"integers, got {shown}$"):
        Dense(*sizes)


def test_dense_accepts_numpy_integer_sizes():
    layer = Dense(np.int64(4), np.int32(3), rng=0)
    assert layer.params["W"].shape == (4, 3) and layer.params["b"].shape == (3,)
    # stored as Python ints, so the config stays JSON (what save/load writes)
    assert type(layer.in_features) is int and type(layer.out_features) is int
    assert layer.config() == {"in_features": 4, "out_features": 3, "dtype": "float32",
                              "init": "xavier"}


@pytest.mark.parametrize("shape, error", [
    ((2.5, 2), TypeError), ((True,), TypeError), (("4",), TypeError), (None, TypeError),
    ((0, 4), ValueError), ((-2, 4), ValueError), ((-1, -1), ValueError),
])
def test_reshape_refuses_bad_target_shapes(shape, error):
    with pytest.raises(error, match=r"^Reshape: shape must be a tuple of integers >= 1 "
                                    r"\(one may be -1\), got "):
        Reshape(shape)


def test_reshape_accepts_numpy_integers_and_a_single_int():
    x = np.arange(12.0).reshape(2, 6)
    assert Reshape((np.int64(2), np.int32(3))).forward(x).shape == (2, 2, 3)
    assert Reshape([3, -1]).config() == {"shape": [3, -1]}
    assert Reshape(6).forward(x).shape == (2, 6)
