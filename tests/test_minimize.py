"""npae.optim.minimize: full-batch L-BFGS-B / CG on the flattened parameters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npae import backend
from npae.gradcheck import numerical_gradient, rel_error
from npae.layers import Dense
from npae.models import (
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    dense_autoencoder,
    dense_vae,
)
from npae.optim import Adam, minimize
from npae.second_order import FlatObjective

import strict_device

X = np.random.default_rng(0).uniform(0.05, 0.95, (40, 8))


def sparse_ae(dtype=np.float32, **kw):
    return dense_autoencoder(8, [], 5, activation="sigmoid", code_activation="sigmoid",
                             rng=1, dtype=dtype, model=SparseAutoencoder,
                             rho=kw.pop("rho", 0.1), beta=kw.pop("beta", 3.0), **kw)


def contractive_ae(dtype=np.float32):
    return dense_autoencoder(8, [], 5, activation="sigmoid", rng=2, dtype=dtype,
                             model=ContractiveAutoencoder, lam=0.1)


def weights_sq(model) -> float:
    """sum of ||W||^2 over the Dense layers, from the layers themselves (not from minimize)."""
    return sum(float(np.sum(np.asarray(backend.asnumpy(p), np.float64) ** 2))
               for name, p, _ in model.parameters() if name.endswith(".W"))


@pytest.mark.parametrize("make", [sparse_ae, contractive_ae], ids=["sparse", "contractive"])
@pytest.mark.parametrize("method", ["L-BFGS-B", "CG"])
def test_lowers_the_objective_and_leaves_the_model_at_its_result(make, method):
    model = make()
    X32 = X.astype(np.float32)
    before = model.loss(X32, backward=False)[0] + 0.5e-3 * weights_sq(model)
    ids = [id(p) for _, p, _ in model.parameters()]
    res = minimize(model, X32, method, maxiter=30, weight_decay=1e-3)
    assert len(res.history) == res.nit + 1 == len(res.evaluations)
    assert res.history[0] == pytest.approx(before, rel=1e-6)
    assert np.all(np.diff(res.history) <= 1e-12 * abs(res.history[0]))  # a descent method
    assert res.history[-1] < 0.7 * res.history[0]
    assert res.evaluations[-1] <= res.nfev
    # the model holds the result, in its own dtype, in its own arrays: its own loss,
    # measured independently of minimize, agrees with res.fun
    assert model.dtype == np.float32 and [id(p) for _, p, _ in model.parameters()] == ids
    after = model.loss(X32, backward=False)[0] + 0.5e-3 * weights_sq(model)
    assert after == pytest.approx(res.fun, rel=1e-5)
    assert res.parts["weight_decay"] == pytest.approx(0.5e-3 * weights_sq(model), rel=1e-5)


def test_minibatch_training_works_after_minimize():
    model = sparse_ae()
    X32 = X.astype(np.float32)
    opt = Adam(1e-2)
    model.fit(X32, epochs=2, batch_size=10, optimizer=opt, verbose=0)
    minimize(model, X32, maxiter=10)
    hist = model.fit(X32, epochs=3, batch_size=10, optimizer=opt, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    assert all(p.dtype == np.float32 and g.dtype == np.float32
               for _, p, g in model.parameters())


def flat_model_gradient(model, x, weight_decay):
    """The model's own loss gradient, read from its layers, plus lambda * W: the gradient
    the flattened objective must return."""
    model.loss(x)
    return np.concatenate([
        (g + (weight_decay * p if name.endswith(".W") else 0)).ravel()
        for name, p, g in model.parameters()])


@pytest.mark.parametrize("make", [sparse_ae, contractive_ae], ids=["sparse", "contractive"])
def test_objective_gradient_is_the_models_and_matches_finite_differences(make):
    model = make(np.float64)
    wd = 0.3
    obj = FlatObjective(model, X, weight_decay=wd)
    theta = obj.theta0 + np.random.default_rng(5).normal(0, 0.3, obj.theta0.shape)
    f, g = obj(theta)
    assert g.dtype == np.float64 and g.shape == theta.shape
    np.testing.assert_array_equal(g, flat_model_gradient(model, X, wd))
    # value: the model's loss plus lambda/2 sum ||W||^2, computed here from the layers
    assert f == pytest.approx(model.loss(X, backward=False)[0] + 0.5 * wd * weights_sq(model),
                              rel=1e-13)
    # central differences of the flattened objective itself
    probe = theta.copy()
    num = numerical_gradient(lambda: obj.value(probe)[0], probe)
    assert rel_error(g, num) < 1e-7


def test_evaluations_run_in_float64_by_default_and_in_the_model_dtype_with_none():
    seen = []
    model = sparse_ae()
    minimize(model, X.astype(np.float32), maxiter=3,
             callback=lambda i, f, parts: seen.append(model.dtype))
    assert seen and set(seen) == {np.dtype(np.float64)} and model.dtype == np.float32
    seen.clear()
    minimize(model, X.astype(np.float32), maxiter=3, dtype=None,
             callback=lambda i, f, parts: seen.append(model.dtype))
    assert set(seen) == {np.dtype(np.float32)}


def test_callback_sees_every_iteration_and_can_stop():
    calls = []

    def cb(i, f, parts):
        calls.append((i, f, dict(parts)))
        return i == 4

    model = sparse_ae(np.float64)
    res = minimize(model, X, maxiter=50, callback=cb)
    assert [c[0] for c in calls] == [1, 2, 3, 4]
    assert res.nit == 4 and list(res.history[1:]) == [c[1] for c in calls]
    assert set(calls[-1][2]) == {"reconstruction", "sparsity"}
    # the model holds the iterate the callback saw last
    assert model.loss(X, backward=False)[0] == pytest.approx(calls[-1][1], rel=1e-12)
    np.testing.assert_array_equal(FlatObjective(model, X).theta0, res.x)


# --------------------------------------------------------------- stochastic objectives
def stochastic_models():
    return {
        "denoising": dense_autoencoder(8, [], 5, rng=0, dtype=np.float64,
                                       model=DenoisingAutoencoder),
        "vae": dense_vae(8, (6,), 2, rng=0, dtype=np.float64),
    }


@pytest.mark.parametrize("kind", ["denoising", "vae"])
def test_refuses_a_stochastic_model_unless_the_noise_is_fixed(kind):
    model = stochastic_models()[kind]
    before = [backend.asnumpy(p).copy() for _, p, _ in model.parameters()]
    with pytest.raises(ValueError, match=r"minimize: the objective of \w+ is stochastic.*"
                                         r"fixed_noise=<seed>"):
        minimize(model, X)
    for (_, p, _), b in zip(model.parameters(), before):  # refused before changing anything
        np.testing.assert_array_equal(p, b)
    # with the noise fixed, the start is the model's loss for that one draw
    start = model.loss(X, rng=7, backward=False)[0]
    res = minimize(model, X, maxiter=15, fixed_noise=7)
    assert res.history[0] == pytest.approx(start, rel=1e-12)
    assert res.history[-1] < res.history[0]
    assert model.loss(X, rng=7, backward=False)[0] == pytest.approx(res.fun, rel=1e-12)


# --------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("kwargs, err, match", [
    ({"method": "newton"}, ValueError, r"method must be one of \('L-BFGS-B', 'CG'\)"),
    ({"method": None}, ValueError, "method must be one of"),
    ({"maxiter": 0}, ValueError, "maxiter must be a positive int, got 0"),
    ({"maxiter": 2.5}, ValueError, "maxiter must be a positive int"),
    ({"maxiter": True}, ValueError, "maxiter must be a positive int"),
    ({"callback": 3}, TypeError, "callback must be callable"),
    ({"weight_decay": -1.0}, ValueError, "weight_decay must be a finite number >= 0"),
    ({"weight_decay": float("nan")}, ValueError, "weight_decay must be"),
    ({"weight_decay": "1e-4"}, TypeError, "weight_decay must be"),
    ({"dtype": np.int64}, TypeError, "dtype must be a floating type or None"),
    ({"dtype": "banana"}, TypeError, "dtype must be a floating type or None"),
    ({"fixed_noise": -1}, ValueError, r"fixed_noise must be None or a seed \(an int >= 0\)"),
    ({"fixed_noise": 1.5}, TypeError, "fixed_noise must be None or a seed"),
])
def test_bad_arguments_are_refused_with_clear_errors(kwargs, err, match):
    model = sparse_ae()
    before = [backend.asnumpy(p).copy() for _, p, _ in model.parameters()]
    with pytest.raises(err, match=match):
        minimize(model, X.astype(np.float32), **kwargs)
    assert model.dtype == np.float32
    for (_, p, _), b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p, b)


def test_bad_model_and_data_are_refused():
    with pytest.raises(TypeError, match="minimize: model must be an npae autoencoder"):
        minimize(Dense(8, 3, rng=0), X)
    with pytest.raises(TypeError, match="X must be a floating-point array"):
        minimize(sparse_ae(), (X * 255).astype(np.uint8))
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or Inf"):
        minimize(sparse_ae(), bad)
    with pytest.raises(ValueError, match="expected 8 input features"):
        minimize(sparse_ae(), X[:, :5])


def test_on_the_device_gives_the_host_numbers():
    def run():
        model = contractive_ae(np.float64)
        res = minimize(model, backend.to_device(X), maxiter=8, weight_decay=1e-3)
        return res.history, [backend.asnumpy(p) for _, p, _ in model.parameters()]

    host = run()
    with strict_device.installed():
        dev = run()
    np.testing.assert_array_equal(dev[0], host[0])
    for a, b in zip(dev[1], host[1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", ["L-BFGS-B", "CG"])
def test_maxfun_stops_at_the_first_iteration_that_reaches_it(method):
    res = minimize(sparse_ae(np.float64), X, method, maxiter=200, maxfun=12)
    assert res.evaluations[-1] >= 12 and res.evaluations[-2] < 12
    with pytest.raises(ValueError, match="maxfun must be a positive int or None, got 0"):
        minimize(sparse_ae(), X, maxfun=0)


@settings(max_examples=15, deadline=None)
@given(d=st.integers(1, 6), h=st.integers(1, 5), n=st.integers(1, 7),
       wd=st.sampled_from([0.0, 0.5]), seed=st.integers(0, 2**16))
def test_flattening_round_trips_over_random_shapes(d, h, n, wd, seed):
    model = dense_autoencoder(d, [], h, activation="tanh", rng=seed, dtype=np.float64)
    x = np.random.default_rng(seed).uniform(0, 1, (n, d))
    obj = FlatObjective(model, x, weight_decay=wd)
    assert obj.theta0.shape == (2 * d * h + h + d,)
    assert obj.names == [name for name, _, _ in model.parameters()]
    theta = np.random.default_rng(seed + 1).normal(size=obj.theta0.shape)
    obj.set(theta)
    np.testing.assert_array_equal(obj.get(), theta)
    np.testing.assert_array_equal(  # each slice of theta is the parameter of that name
        np.concatenate([p.ravel() for _, p, _ in model.parameters()]), theta)
    _, g = obj(theta)
    np.testing.assert_array_equal(g, flat_model_gradient(model, x, wd))
