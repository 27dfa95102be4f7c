"""The CuPy code path, checked on every machine through a strict stand-in.

``tests/strict_device.py`` makes ``backend.use("cupy")`` hand out arrays that
refuse NumPy the way CuPy's do, while NumPy still does the arithmetic. So these
tests prove, without a GPU, that every layer, loss, penalty, model, the training
loop, gradient checking and save/load stay on "the device", and that they
compute exactly what the numpy backend computes. On a machine with a real GPU
the backend-parametrized tests (``xp_backend``) run the real thing as well.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from npae import backend, checks, cli, io
from npae.models import (
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    conv_autoencoder,
    conv_vae,
    dense_autoencoder,
    dense_vae,
)
from npae.optim import SGD, Adam

import strict_device


@pytest.fixture
def device():
    with strict_device.installed() as counts:
        yield counts


# --------------------------------------------------------------- the stand-in is strict
def test_the_stand_in_refuses_host_and_device_mixing(device):
    xp = backend.xp()
    a = xp.asarray(np.arange(4.0))
    with pytest.raises(TypeError, match="implicit conversion to a NumPy array"):
        np.asarray(a)  # as CuPy does
    # stricter than CuPy (which would dispatch these to itself), on purpose: library code
    # takes its array module from the data
    with pytest.raises(TypeError, match=r"numpy\.exp was called on a device array"):
        np.exp(a)
    with pytest.raises(TypeError, match=r"numpy\.sum was called on a device array"):
        np.sum(a)
    with pytest.raises(TypeError, match="got a numpy.ndarray"):
        a + np.ones(4)
    with pytest.raises(TypeError, match="got a numpy.ndarray"):
        xp.matmul(a, np.ones(4))
    # and counts what moves: one upload above; a reduction stays on the device
    total = a.sum()
    assert backend.get_array_module(total) is xp and device == {"uploads": 1, "reads": 0}
    assert float(total) == 6.0 and device["reads"] == 1
    # to_floats reads several device scalars in one copy, and host numbers not at all
    assert backend.to_floats(a.min(), a.max(), 2.5, a.sum()) == (0.0, 3.0, 2.5, 6.0)
    assert device == {"uploads": 1, "reads": 2}
    with pytest.raises(AttributeError, match="no attribute 'nditer'"):
        xp.nditer  # noqa: B018  (only the names npae uses are modelled)


# --------------------------------------------------------------- gradients on the device
def test_every_builtin_gradient_check_passes_on_the_device(device):
    reports = checks.run_all(seed=0)
    assert len(reports) >= 39
    failed = {r.title: r.max_error for r in reports if not r.passed}
    assert not failed


@pytest.mark.parametrize("args", [
    ["gradcheck", "--only", "Conv"],
    ["train", "--model", "plain", "--epochs", "1"],
    ["train", "--model", "sparse", "--epochs", "1"],
    ["tour", "--epochs", "1"],
    ["compare-pca", "--ks", "2", "--epochs", "2", "--limit", "200"],
], ids=lambda args: " ".join(args[:3]))
def test_every_npae_command_runs_with_backend_cupy(device, args, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # train and tour write their files here
    assert cli.main([*args, "--backend", "cupy", "--verbose", "0"]) == 0
    assert capsys.readouterr().out


# --------------------------------------------------------------- training: same numbers
def _models():
    """Every model family, small enough to train in a blink (float64: exact comparison)."""
    f64 = {"rng": 0, "dtype": np.float64}
    return {
        "vanilla": lambda: dense_autoencoder(12, [8], 3, **f64),
        "denoising": lambda: dense_autoencoder(12, [8], 3, model=DenoisingAutoencoder,
                                               noise={"kind": "masking", "p": 0.3}, **f64),
        "sparse-kl": lambda: dense_autoencoder(12, [], 6, code_activation="sigmoid",
                                               model=SparseAutoencoder, rho=0.1, beta=0.5,
                                               **f64),
        "sparse-l1": lambda: dense_autoencoder(12, [], 6, model=SparseAutoencoder,
                                               penalty="l1", lam=1e-3, **f64),
        "contractive": lambda: dense_autoencoder(12, [], 4, code_activation="sigmoid",
                                                 model=ContractiveAutoencoder, lam=0.1, **f64),
        "contractive-deep": lambda: dense_autoencoder(12, [6], 3, activation="tanh",
                                                      model=ContractiveAutoencoder, lam=0.1,
                                                      **f64),
        "conv": lambda: conv_autoencoder((1, 8, 8), (2, 3), 4, **f64),
        "vae": lambda: dense_vae(12, (8,), 2, **f64),
        "conv-vae": lambda: conv_vae((1, 8, 8), (2, 3), 2, **f64),
    }


MODELS = _models()


def _data(name: str) -> np.ndarray:
    shape = (20, 1, 8, 8) if name.startswith("conv") else (20, 12)
    return np.random.default_rng(3).uniform(0, 1, shape)


def _train(name: str, opt) -> tuple[dict, list[np.ndarray], np.ndarray]:
    model, X = MODELS[name](), _data(name)
    history = model.fit(X, epochs=2, batch_size=8, optimizer=opt, verbose=0, rng=1,
                        validation=X[:6])
    params = [backend.asnumpy(p) for _, p, _ in model.parameters()]
    return history.history, params, backend.asnumpy(model.reconstruct(X[:3]))


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("opt", [lambda: Adam(1e-2), lambda: SGD(0.1, momentum=0.9)],
                         ids=["adam", "sgd"])
def test_training_on_the_device_gives_the_numpy_numbers(name, opt):
    host = _train(name, opt())
    with strict_device.installed():
        on_device = _train(name, opt())
    assert on_device[0] == host[0]  # the loss history, float for float
    for a, b in zip(on_device[1], host[1]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(on_device[2], host[2])


def test_vae_inference_helpers_run_on_the_device(device):
    vae = dense_vae(12, (8,), 2, rng=0)
    X = backend.to_device(_data("vae").astype(np.float32))
    xp = backend.xp()
    for out in (vae.sample(3, rng=0), vae.interpolate(X[0], X[1], steps=4),
                vae.manifold(3), vae.traverse(values=[-1.0, 1.0]), vae.encode(X)):
        assert backend.get_array_module(out) is xp
    assert math.isfinite(vae.elbo(X)) and math.isfinite(vae.log_likelihood(X, samples=5))


# --------------------------------------------------------------- what crosses the bus
def _traffic(model, X, epochs=3, batch_size=5):
    """Uploads and reads during ``fit`` given host data, and the number of batches."""
    opt = Adam(1e-3)
    strict_device.COUNTS.update(uploads=0, reads=0)
    model.fit(X, epochs=epochs, batch_size=batch_size, optimizer=opt, verbose=0, rng=0)
    return dict(strict_device.COUNTS), epochs * math.ceil(len(X) / batch_size)


@pytest.mark.parametrize("name, uploads_per_batch", [
    ("vanilla", 0), ("conv", 0), ("contractive", 0), ("contractive-deep", 0),
    ("sparse-kl", 0), ("sparse-l1", 0),
    ("denoising", 1),  # noise is drawn on the host, so CPU and GPU runs agree
    ("vae", 1),        # eps too
])
def test_fit_moves_the_data_once_and_reads_the_loss_once_per_batch(
        device, name, uploads_per_batch):
    epochs = 3
    counts, batches = _traffic(MODELS[name](), _data(name), epochs=epochs)
    # per fit the data go up once; per epoch the shuffled order goes up once; per fit,
    # the data are scanned on entry (NaN/Inf, and the [0, 1] range for a BCE loss) and
    # the loss after the last step is checked once at the end
    assert counts["uploads"] <= 1 + epochs + uploads_per_batch * (batches + 1), counts
    # and every batch's loss and its parts come back in one read
    assert counts["reads"] <= (batches + 1) + 2, counts


# --------------------------------------------------------------- save and load
def test_save_writes_host_arrays_and_load_places_them_on_the_device(device, tmp_path):
    model = conv_autoencoder((1, 8, 8), (2, 3), 4, rng=0)
    path = tmp_path / "conv.npz"
    io.save(model, path)
    with np.load(path, allow_pickle=False) as stored:  # plain host arrays on disk
        assert all(isinstance(stored[k], np.ndarray) for k in stored.files)
    loaded = io.load(path)
    xp = backend.xp()
    for (name, p, _), (_, q, _) in zip(model.parameters(), loaded.parameters()):
        assert backend.get_array_module(q) is xp, name
        np.testing.assert_array_equal(backend.asnumpy(p), backend.asnumpy(q))


# --------------------------------------------------------------- the classifier
def _classifier(freeze: bool = False):
    from npae.models import classifier_from

    return classifier_from(dense_autoencoder(12, [8], 3, rng=0, dtype=np.float64), 4,
                           hidden=(5,), freeze=freeze, rng=0)


def _labelled() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.uniform(0, 1, (20, 12)), rng.integers(0, 4, 20)


def _train_classifier(freeze: bool, opt) -> tuple[dict, list[np.ndarray], np.ndarray]:
    clf, (X, y) = _classifier(freeze), _labelled()
    history = clf.fit(X, y, epochs=2, batch_size=8, optimizer=opt, verbose=0, rng=1,
                      validation=(X[:6], y[:6]))
    params = [backend.asnumpy(p) for _, p, _ in clf.all_parameters()]
    return history.history, params, backend.asnumpy(clf.predict_proba(X[:3]))


@pytest.mark.parametrize("freeze", [False, True], ids=["fine-tuned", "frozen"])
def test_a_classifier_trains_on_the_device_to_the_numpy_numbers(freeze):
    host = _train_classifier(freeze, Adam(1e-2))
    with strict_device.installed():
        on_device = _train_classifier(freeze, Adam(1e-2))
    assert on_device[0] == host[0]
    for a, b in zip(on_device[1], host[1]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(on_device[2], host[2])


def test_a_classifier_moves_data_and_labels_once_and_reads_once_per_batch(device):
    X, y = _labelled()
    clf, epochs, batch_size = _classifier(), 3, 5
    strict_device.COUNTS.update(uploads=0, reads=0)
    clf.fit(X, y, epochs=epochs, batch_size=batch_size, optimizer=Adam(1e-3), verbose=0, rng=0)
    counts, batches = dict(strict_device.COUNTS), epochs * math.ceil(len(X) / batch_size)
    # X and y go up once each, the order once per epoch; the loss and the accuracy of a
    # batch come back in one read; on entry the data's scan and the labels' range, and
    # the final loss check, are read once per fit
    assert counts["uploads"] <= 2 + epochs, counts
    assert counts["reads"] <= (batches + 1) + 2, counts
