"""Dense, activations, shape layers and Sequential: gradients, derivatives, protocol.

Every backward pass is checked in float64 against central differences
(:mod:`npae.gradcheck`, max relative error < 1e-7) with a random upstream
gradient ``dy``, over hypothesis-drawn shapes and input scales, and must leave
``dy`` untouched.

Choice of the finite-difference step: the error of a central difference is
about ``h^2 |f'''| / 6`` (truncation) plus ``eps |L| / h`` (rounding of the
scalar ``L = sum(dy * y)``). With inputs up to 30 in size, ``|L|`` reaches a
few thousand and ``h = 1e-6`` leaves a rounding error near 1e-7, at the
threshold itself; ``h = 1e-5`` brings it to ~1e-8 while the truncation error
stays below 1e-10 for these smooth functions.
"""

from __future__ import annotations

import numpy as np
import pytest
from central_difference import rounding_resolution
from hypothesis import assume, example, given
from hypothesis import strategies as st

from npae.gradcheck import THRESHOLD, check_layer
from npae.layers import (
    LAYERS,
    Dense,
    Flatten,
    Identity,
    LeakyReLU,
    ReLU,
    Reshape,
    Sigmoid,
    Softplus,
    Tanh,
    get_activation,
)
from npae.network import Sequential

H = 1e-5  # see the module docstring
F64 = np.float64

batch = st.integers(1, 8)
features = st.integers(1, 20)
seeds = st.integers(0, 2**32 - 1)
far_scale = st.floats(0.1, 30.0)  # reaches deep into saturation for sigmoid/tanh/softplus


def smooth_input(seed: int, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """Uniform in [-scale, scale], with one entry of size ``0.1 <= |x| <= 1``.

    The entry near zero gives the gradient array a scale that finite differences
    can resolve: where every entry is saturated (|a| > ~20) the true gradient
    is below ``eps / h`` and the numerical one is rounding noise. It is kept away
    from zero for the same reason: a lone input of 4e-4 made Dense's ``dW = x^T dy``
    so small next to ``L`` (which the bias keeps of order 1) that the rounding error
    ``eps |L| / h`` alone reached 1.2e-7 of it, a failure with a correct backward.
    """
    r = np.random.default_rng(seed)
    x = r.uniform(-scale, scale, size=shape)
    x.flat[0] = r.choice([-1.0, 1.0]) * r.uniform(0.1, 1.0)
    return x


def kinked_input(seed: int, shape: tuple[int, ...], scale: float,
                 margin: float = 1e-3) -> np.ndarray:
    """Random signs and magnitudes in [margin, margin + scale]: never within ``margin``
    (100 finite-difference steps) of the ReLU kink at 0, where the derivative jumps."""
    r = np.random.default_rng(seed)
    sign = r.choice([-1.0, 1.0], size=shape)
    return sign * (margin + r.uniform(0, scale, size=shape))


def central_difference_resolution(layer, x, dy) -> float:
    """:func:`rounding_resolution` of ``L = sum(dy * y)`` (see :func:`assert_gradients_pass`)."""
    return rounding_resolution(np.abs(dy * layer.forward(x)).sum())


def assert_gradients_pass(layer, x, seed: int = 0, arrays: tuple[str, ...] | None = None
                          ) -> None:
    r"""``check_layer``'s report, every array within ``THRESHOLD`` relative or within the
    resolution of the central difference.

    A numerical gradient entry ``(L(p + h) - L(p - h)) / 2h`` carries, besides the
    truncation ``h^2 |L'''| / 6``, the rounding of its two evaluations of ``L``, at most
    ``delta / h`` with ``delta = LOSS_ROUNDING u sum |dy * y|``. An array whose true
    gradient nearly cancels (the bias of a single unit, ``sum_n`` of its backpropagated
    ``dy``; issue #24's hunt: ``n=5, c=3, hw=4, hidden=1, seed=68668`` in the nested test,
    a relative 1.04e-7 that is all rounding) cannot be checked to a relative
    ``THRESHOLD``: it passes when ``max |numeric - analytic| <= THRESHOLD max |analytic|
    + delta / h``. ``rel_error`` divides by at least ``max |analytic|`` (floor 1e-8), so
    ``rel * max(max |analytic|, 1e-8) / (1 - rel)`` bounds the absolute error. A wrong
    backward term is off by 1e-3 of the gradient or more, far above both terms.
    """
    report = check_layer(layer, x, rng=seed, h=H)
    assert set(report.errors) == {"x", *layer.params}, report
    assert not report.notes, str(report)
    dy = np.random.default_rng(seed).standard_normal(layer.forward(x).shape)  # check_layer's
    resolution = central_difference_resolution(layer, x, dy)
    analytic = {"x": layer.backward(dy), **layer.grads}
    for name, rel in report.errors.items():
        if rel < THRESHOLD or (arrays is not None and name not in arrays):
            continue
        size = np.abs(analytic[name]).max()
        err = rel * max(size, 1e-8) / (1 - rel) if rel < 1 else np.inf
        assert err <= THRESHOLD * size + resolution, (name, err, resolution, str(report))


# -- gradient checks: one layer at a time -------------------------------------------------

@pytest.mark.parametrize("init", ["xavier", "he"])
@given(n=batch, d_in=features, d_out=features, seed=seeds, scale=far_scale)
def test_dense_gradients(init, n, d_in, d_out, seed, scale):
    layer = Dense(d_in, d_out, rng=seed, dtype=F64, init=init)
    # a nonzero bias, so that a backward that confused b with something else shows; small,
    # because b adds to L = sum(dy * y) and so to the rounding error eps |L| / h of every
    # numerical gradient, without adding to dx = dy W^T or dW = x^T dy
    layer.params["b"][...] = 0.1 * np.random.default_rng(seed + 1).normal(size=d_out)
    assert_gradients_pass(layer, smooth_input(seed, (n, d_in), scale), seed)


@pytest.mark.parametrize("make", [Sigmoid, Tanh, Softplus, Identity],
                         ids=["sigmoid", "tanh", "softplus", "identity"])
@given(n=batch, d=features, seed=seeds, scale=far_scale)
def test_smooth_activation_gradients(make, n, d, seed, scale):
    assert_gradients_pass(make(), smooth_input(seed, (n, d), scale), seed)


@given(n=batch, d=features, seed=seeds, scale=far_scale, slope=st.floats(0.0, 1.0))
def test_relu_family_gradients(n, d, seed, scale, slope):
    x = kinked_input(seed, (n, d), scale)
    assert_gradients_pass(ReLU(), x, seed)
    assert_gradients_pass(LeakyReLU(slope), x, seed)


@given(n=batch, shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=seeds)
def test_flatten_gradients(n, shape, seed):
    x = np.random.default_rng(seed).normal(size=(n, *shape))
    layer = Flatten()
    assert layer.forward(x).shape == (n, int(np.prod(shape)))
    assert_gradients_pass(layer, x, seed)


@given(n=batch, a=st.integers(1, 5), b=st.integers(1, 4), seed=seeds,
       minus_one=st.booleans())
def test_reshape_gradients(n, a, b, seed, minus_one):
    x = np.random.default_rng(seed).normal(size=(n, a * b))
    layer = Reshape((a, -1) if minus_one else (a, b))
    y = layer.forward(x)
    assert y.shape == (n, a, b)
    np.testing.assert_array_equal(y[:, 1 % a], x[:, (1 % a) * b:(1 % a) * b + b])
    assert_gradients_pass(layer, x, seed)


# -- gradient checks: stacks ---------------------------------------------------------------

ACTIVATION_NAMES = ["relu", "leaky_relu", "sigmoid", "tanh", "identity", "softplus"]


def _pre_activations_clear_of_kinks(net: Sequential, x: np.ndarray, margin: float) -> bool:
    """True when no ReLU-family layer receives an input within ``margin`` of 0."""
    for layer in net.layers:
        if isinstance(layer, Sequential):
            if not _pre_activations_clear_of_kinks(layer, x, margin):
                return False
            x = layer.forward(x)
            continue
        if isinstance(layer, (ReLU, LeakyReLU)) and np.min(np.abs(x)) <= margin:
            return False
        x = layer.forward(x)
    return True


@given(n=batch, dims=st.lists(features, min_size=2, max_size=4),
       acts=st.lists(st.sampled_from(ACTIVATION_NAMES), min_size=3, max_size=3),
       init=st.sampled_from(["xavier", "he"]), seed=seeds, scale=st.floats(0.1, 3.0))
def test_sequential_stack_gradients(n, dims, acts, init, seed, scale):
    layers = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers += [Dense(a, b, rng=seed + i, dtype=F64, init=init), get_activation(acts[i])]
    net = Sequential(*layers)
    x = np.random.default_rng(seed).uniform(-scale, scale, size=(n, dims[0]))
    # Perturbing one weight by h moves a later pre-activation by at most about
    # h * |x| * (product of |W| on the way); 1e-3 is far beyond that.
    assume(_pre_activations_clear_of_kinks(net, x, 1e-3))
    # Where every unit saturates, dL/dx falls below what a finite difference can
    # resolve (its rounding error is ~1e-11 |L|): such a draw tests nothing.
    y = net.forward(x)
    assume(np.abs(net.backward(np.ones_like(y))).max() > 1e-3 * max(1.0, np.abs(y).sum()))
    assert_gradients_pass(net, x, seed)


@given(n=batch, c=st.integers(1, 3), hw=st.integers(1, 4), hidden=features, seed=seeds)
@example(n=5, c=3, hw=4, hidden=1, seed=68668)  # a bias gradient that nearly cancels
def test_nested_sequential_with_shape_layers_gradients(n, c, hw, hidden, seed):
    d = c * hw * hw
    inner = Sequential(Dense(d, hidden, rng=seed, dtype=F64), Tanh())
    net = Sequential(Flatten(), inner, Dense(hidden, d, rng=seed + 1, dtype=F64), Sigmoid(),
                     Reshape((c, hw, hw)))
    x = np.random.default_rng(seed).normal(size=(n, c, hw, hw))
    assert net.forward(x).shape == x.shape
    assert {"1.0.W", "1.0.b", "2.W", "2.b"} == set(net.params)
    assert_gradients_pass(net, x, seed)


def test_dense_backward_can_skip_the_input_gradient(rng):
    layer = Dense(5, 3, rng=0, dtype=F64)
    x, dy = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
    layer.forward(x)
    full = layer.backward(dy)
    W_grad, b_grad = layer.grads["W"].copy(), layer.grads["b"].copy()
    assert layer.backward(dy, input_grad=False) is None
    np.testing.assert_array_equal(layer.grads["W"], W_grad)
    np.testing.assert_array_equal(layer.grads["b"], b_grad)
    net = Sequential(Dense(5, 3, rng=0, dtype=F64), ReLU())
    net.forward(x)
    assert net.backward(dy, input_grad=False) is None
    assert full.shape == x.shape


# -- backward never writes into dy ---------------------------------------------------------

def _every_layer():
    return [
        Dense(6, 4, rng=0, dtype=F64), Dense(6, 4, rng=0, dtype=F64, init="he"),
        ReLU(), LeakyReLU(0.2), Sigmoid(), Tanh(), Identity(), Softplus(),
        Flatten(), Reshape((3, 2)),
        Sequential(Dense(6, 5, rng=0, dtype=F64), ReLU(), Dense(5, 4, rng=1, dtype=F64),
                   Sigmoid()),
        Sequential(Identity()),  # Identity passes dy on: the stack must still not change it
        Sequential(Dense(6, 4, rng=0, dtype=F64), Identity(), Sequential(Tanh(), Identity())),
    ]


@pytest.mark.parametrize("layer", _every_layer(), ids=lambda lay: type(lay).__name__)
def test_backward_never_modifies_dy(layer, rng):
    x = rng.normal(size=(5, 6))
    y = layer.forward(x)
    dy = rng.normal(size=y.shape)
    dy_copy = dy.copy()
    dx = layer.backward(dy)
    np.testing.assert_array_equal(dy, dy_copy)
    assert dx.shape == x.shape
    # a second backward with the same dy gives the same answer (no hidden state was consumed)
    np.testing.assert_array_equal(layer.backward(dy), dx)
    if hasattr(layer, "skips_input_grad") and layer.skips_input_grad:
        layer.backward(dy, input_grad=False)
        np.testing.assert_array_equal(dy, dy_copy)


# -- activations: derivative and second_derivative against finite differences of f ---------

def _activation(name: str, slope: float):
    return LeakyReLU(slope) if name == "leaky_relu" else get_activation(name)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
@given(n=batch, d=features, seed=seeds, scale=far_scale, slope=st.floats(0.0, 1.0))
def test_derivative_matches_finite_differences_of_function(name, n, d, seed, scale, slope):
    act = _activation(name, slope)
    a = kinked_input(seed, (n, d), scale)
    h = 1e-6
    numeric = (act.function(a + h) - act.function(a - h)) / (2 * h)
    # error bound: rounding eps * |f| / h <= 2.2e-16 * 31 / 1e-6 ~ 7e-9
    np.testing.assert_allclose(act.derivative(a), numeric, rtol=0, atol=1e-7)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
@given(n=batch, d=features, seed=seeds, scale=st.floats(0.1, 10.0), slope=st.floats(0.0, 1.0))
def test_second_derivative_matches_finite_differences(name, n, d, seed, scale, slope):
    act = _activation(name, slope)
    a = kinked_input(seed, (n, d), scale, margin=1e-2)
    h = 1e-4
    f = act.function
    # second difference of f: truncation h^2 f''''/12 ~ 1e-9, rounding 4 eps |f| / h^2 ~ 1e-6
    numeric = (f(a + h) - 2 * f(a) + f(a - h)) / (h * h)
    np.testing.assert_allclose(act.second_derivative(a), numeric, rtol=0, atol=5e-6)
    # and, more tightly, the central difference of the derivative itself
    h = 1e-6
    numeric = (act.derivative(a + h) - act.derivative(a - h)) / (2 * h)
    np.testing.assert_allclose(act.second_derivative(a), numeric, rtol=0, atol=1e-8)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_derivatives_keep_float32(name):
    act = get_activation(name)
    a = np.linspace(-5, 5, 12, dtype=np.float32).reshape(3, 4)
    for out in (act.forward(a), act.function(a), act.derivative(a), act.second_derivative(a),
                act.backward(np.ones_like(a))):
        assert out.dtype == np.float32, (name, out.dtype)


def test_known_derivative_values():
    """A few values worked out by hand: sigmoid'(0) = 1/4, sigmoid''(0) = 0,
    tanh'(0) = 1, tanh''(atanh(1/2)) = -2 (1/2)(3/4), softplus'(0) = 1/2, softplus''(0) = 1/4."""
    z = np.zeros(1)
    assert Sigmoid().derivative(z)[0] == 0.25 and Sigmoid().second_derivative(z)[0] == 0.0
    assert Tanh().derivative(z)[0] == 1.0
    np.testing.assert_allclose(Tanh().second_derivative(np.arctanh([0.5])), [-0.75], rtol=1e-14)
    assert Softplus().derivative(z)[0] == 0.5 and Softplus().second_derivative(z)[0] == 0.25
    np.testing.assert_array_equal(LeakyReLU(0.3).derivative(np.array([-2.0, 2.0])), [0.3, 1.0])
    np.testing.assert_array_equal(ReLU().derivative(np.array([-2.0, 0.0, 2.0])), [0, 0, 1])


# -- Dense: initialisation and protocol -----------------------------------------------------

def test_dense_xavier_initialisation_follows_glorot():
    n_in, n_out = 300, 200
    W = Dense(n_in, n_out, rng=0, dtype=F64).params["W"]
    a = np.sqrt(6 / (n_in + n_out))
    assert np.abs(W).max() <= a
    # U(-a, a) has variance a^2 / 3 = 2 / (n_in + n_out)
    np.testing.assert_allclose(W.var(), 2 / (n_in + n_out), rtol=0.03)


def test_dense_he_initialisation_variance():
    n_in, n_out = 300, 200
    W = Dense(n_in, n_out, rng=0, dtype=F64, init="he").params["W"]
    np.testing.assert_allclose(W.var(), 2 / n_in, rtol=0.03)
    assert abs(W.mean()) < 0.01


def test_dense_shapes_dtype_and_forward_formula(rng):
    layer = Dense(7, 3, rng=0)
    assert layer.params["W"].shape == (7, 3) and layer.params["b"].shape == (3,)
    assert layer.params["W"].dtype == np.float32 and layer.params["b"].dtype == np.float32
    assert not layer.params["b"].any()
    layer.params["b"][...] = [1, 2, 3]
    x = rng.normal(size=(4, 7)).astype(np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    expected = x.astype(F64) @ layer.params["W"].astype(F64) + [1, 2, 3]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_dense_same_seed_same_weights():
    a, b = Dense(5, 4, rng=3), Dense(5, 4, rng=3)
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    assert not np.array_equal(a.params["W"], Dense(5, 4, rng=4).params["W"])


def test_layer_registry_and_config():
    for cls in (Dense, ReLU, LeakyReLU, Sigmoid, Tanh, Identity, Softplus, Flatten, Reshape):
        assert LAYERS[cls.__name__] is cls
    layer = Dense(3, 2, rng=0, dtype=F64, init="he")
    assert layer.config() == {"in_features": 3, "out_features": 2, "dtype": "float64",
                              "init": "he"}
    rebuilt = Dense(**layer.config())
    assert rebuilt.params["W"].dtype == F64
    assert LeakyReLU(0.25).config() == {"slope": 0.25}
    assert Reshape((2, 3)).config() == {"shape": [2, 3]}


def test_get_activation_names():
    expected = {"relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh,
                "identity": Identity, "linear": Identity, "softplus": Softplus}
    for name, cls in expected.items():
        assert type(get_activation(name)) is cls
        assert type(get_activation(name.upper())) is cls
    act = Tanh()
    assert get_activation(act) is act
    with pytest.raises(ValueError, match=r"unknown activation 'swish'.*relu"):
        get_activation("swish")


# -- Sequential -----------------------------------------------------------------------------

def test_sequential_parameter_names_and_order():
    inner = Sequential(Dense(4, 3, rng=0), Tanh())
    net = Sequential(Dense(5, 4, rng=0), ReLU(), inner, Dense(3, 2, rng=1))
    names = [name for name, _, _ in net.parameters()]
    assert names == ["0.W", "0.b", "2.0.W", "2.0.b", "3.W", "3.b"]
    assert net.params["2.0.W"] is inner.layers[0].params["W"]  # views, not copies
    assert len(net) == 4 and net[1].__class__ is ReLU
    assert Sequential([Dense(2, 2, rng=0), ReLU()]).layers[1].__class__ is ReLU


def test_sequential_add_to_grads_is_out_of_place(rng):
    net = Sequential(Dense(3, 2, rng=0, dtype=F64), Sequential(Dense(2, 2, rng=1, dtype=F64)))
    net.forward(rng.normal(size=(4, 3)))
    net.backward(rng.normal(size=(4, 2)))
    g_before = net.layers[0].grads["W"]
    g_copy = g_before.copy()
    extra = np.ones((3, 2))
    net.add_to_grads({"0.W": extra, "1.0.b": np.full(2, 2.0)})
    np.testing.assert_array_equal(g_before, g_copy)  # the old array object is untouched
    np.testing.assert_array_equal(net.grads["0.W"], g_copy + 1)
    assert net.grads["1.0.b"] is net.layers[1].layers[0].grads["b"]


def test_sequential_refuses_non_layers():
    with pytest.raises(TypeError, match=r"Sequential: item 1 is a int, not a layer"):
        Sequential(ReLU(), 3)


def test_sequential_params_are_read_only_views():
    net = Sequential(Dense(2, 3, rng=0, dtype=np.float64))
    with pytest.raises(AttributeError, match="params"):
        net.params = {}
    with pytest.raises(AttributeError, match="grads"):
        net.grads = {}
    net.params["0.W"][...] = 1.0  # in place reaches the layer
    assert (net.layers[0].params["W"] == 1.0).all()
