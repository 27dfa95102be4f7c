"""The backend switch: numpy always, cupy when a GPU is there."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from npae import backend
from npae.models import dense_autoencoder
from npae.optim import SGD, Adam

HAS_CUPY_MODULE = importlib.util.find_spec("cupy") is not None


def test_use_numpy_and_current():
    backend.use("numpy")
    assert backend.current() == "numpy" and backend.xp() is np
    backend.use("NumPy")  # names are case-insensitive
    assert backend.current() == "numpy"


@pytest.mark.parametrize("name", ["torch", "", "gpu", "jax"])
def test_unknown_backend_is_refused(name):
    with pytest.raises(ValueError, match=rf"npae\.backend\.use: name must be one of "
                                         rf"\('numpy', 'cupy'\), got '{name}'"):
        backend.use(name)
    assert backend.current() == "numpy"


@pytest.mark.skipif(HAS_CUPY_MODULE, reason="CuPy is installed here")
def test_cupy_without_cupy_is_a_clear_runtime_error():
    with pytest.raises(RuntimeError, match=r"'cupy' backend needs CuPy, which is not installed"
                                           r".*use the 'numpy' backend"):
        backend.use("cupy")
    assert backend.current() == "numpy"  # unchanged after the failure
    assert backend.cupy_available() is False


def test_get_array_module_and_asnumpy_on_host_data():
    a = np.arange(6.0).reshape(2, 3)
    assert backend.get_array_module(a) is np
    assert backend.get_array_module(a, np.ones(2)) is np
    assert backend.get_array_module() is np
    assert backend.get_array_module([1, 2], 3.0) is np
    assert backend.asnumpy(a) is a  # no copy for a host array
    b = backend.asnumpy([[1, 2], [3, 4]])
    assert isinstance(b, np.ndarray) and b.shape == (2, 2)
    assert backend.to_device(a) is a  # numpy backend: stays on the host, no copy


def test_to_floats_reads_scalars_and_numbers():
    a = np.arange(4.0, dtype=np.float32)
    values = backend.to_floats(a.min(), a.sum(), 2, np.array(0.5))
    assert values == (0.0, 6.0, 2.0, 0.5) and all(type(v) is float for v in values)


def test_parameters_are_created_on_the_active_backend(xp_backend):
    model = dense_autoencoder(5, [4], 2, rng=0)
    xp = backend.xp()
    for _, p, _ in model.parameters():
        assert backend.get_array_module(p) is xp
        assert p.dtype == np.float32


@pytest.mark.parametrize("opt", [lambda: Adam(1e-2), lambda: SGD(0.5, momentum=0.9)],
                         ids=["adam", "sgd"])
def test_short_training_run_on_each_backend(xp_backend, opt, rng):
    X = rng.uniform(0, 1, size=(64, 8)).astype(np.float32)  # host data: fit moves it
    model = dense_autoencoder(8, [6], 3, rng=0)
    before = model.evaluate(X)["loss"]
    history = model.fit(X, epochs=15, batch_size=16, optimizer=opt(), verbose=0, rng=0,
                        validation=X[:16])
    after = model.evaluate(X)["loss"]
    assert after < 0.8 * before, (before, after)
    assert history.epochs_run == 15 and not history.diverged
    xp = backend.xp()
    for _, p, g in model.parameters():
        assert backend.get_array_module(p) is xp and backend.get_array_module(g) is xp
        assert p.dtype == np.float32
    recon = backend.asnumpy(model.reconstruct(X[:4]))
    assert isinstance(recon, np.ndarray) and recon.shape == (4, 8)


@pytest.mark.skipif(not backend.cupy_available(), reason="needs CuPy and a GPU (the strict "
                    "stand-in's equality with numpy is tested in test_strict_device.py)")
def test_cupy_computes_what_numpy_computes(rng):
    """The same forward pass on the GPU as on the host (to float32 rounding)."""
    X = rng.uniform(0, 1, size=(8, 5)).astype(np.float32)
    outputs = {}
    for name in ["numpy", "cupy"]:
        backend.use(name)
        try:
            model = dense_autoencoder(5, [4], 2, rng=0)
            outputs[name] = backend.asnumpy(model.reconstruct(X))
        finally:
            backend.use("numpy")
    np.testing.assert_allclose(outputs["cupy"], outputs["numpy"], rtol=1e-5, atol=1e-6)


def _run_with_env(code: str, value: str):
    import os
    import subprocess
    import sys

    env = {**os.environ, "NPAE_BACKEND": value}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.skipif(HAS_CUPY_MODULE, reason="CuPy is installed here")
def test_npae_backend_cupy_without_cupy_fails_at_first_use_not_at_import():
    proc = _run_with_env("import npae; print('imported')", "cupy")
    assert proc.returncode == 0 and "imported" in proc.stdout, proc.stderr
    proc = _run_with_env("from npae.models import dense_autoencoder; dense_autoencoder(4, [], 2)",
                         "cupy")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: npae.backend: the 'cupy' backend needs CuPy")
    assert "NPAE_BACKEND='cupy'" in last


@pytest.mark.parametrize("value, message", [
    ("cupy", "the 'cupy' backend needs CuPy"), ("gpu", "name must be one of")])
def test_npae_command_with_a_bad_npae_backend_is_a_one_line_error(value, message):
    if value == "cupy" and HAS_CUPY_MODULE:
        pytest.skip("CuPy is installed here")
    proc = _run_with_env("from npae.cli import main; raise SystemExit(main(['gradcheck']))", value)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, proc.stderr
    assert f"NPAE_BACKEND={value!r}" in proc.stderr


def test_host_value_gives_a_float_and_keeps_the_unread_form():
    from npae.losses import mse

    a, b = np.array([[1.0, 2.0]], np.float32), np.array([[0.0, 0.0]], np.float32)
    value, grad = mse(a, b)
    unread, grad2 = mse.on_device(a, b)
    assert type(value) is float and value == 2.5
    assert type(unread) is not float and unread.dtype == np.float64 and float(unread) == 2.5
    np.testing.assert_array_equal(grad, grad2)
    assert mse.__name__ == "mse" and "Squared error" in mse.__doc__
