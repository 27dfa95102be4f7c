"""Denoising, sparse and contractive autoencoders: whole-loss gradients, hooks, save/load,
bad input, and short trainings that show each regularizer doing its job."""

from __future__ import annotations

import numpy as np
import pytest
from central_difference import assert_model_gradients
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits

import npae
from npae.layers import Dense, Flatten, ReLU, Sigmoid
from npae.losses import mse
from npae.models.autoencoder import Autoencoder, dense_autoencoder
from npae.models.contractive import ContractiveAutoencoder
from npae.models.denoising import DenoisingAutoencoder
from npae.models.sparse import SparseAutoencoder
from npae.noise import GaussianNoise, MaskingNoise, make_noise
from npae.optim import Adam
from npae.penalties import contractive, kl_sparsity, l1_activity

NOISE_SPECS = [{"kind": "gaussian", "sigma": 0.2},
               {"kind": "gaussian", "sigma": 0.3, "clip": False},
               {"kind": "salt_pepper", "p": 0.3}, {"kind": "masking", "p": 0.4}]


def data(n: int = 6, d: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(n, d))


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X = (load_digits().data / 16).astype(np.float32)
    idx = np.random.default_rng(0).permutation(len(X))
    return X[idx[:1500]], X[idx[1500:]]


# -- whole-loss gradient checks (float64, fixed seed so the corruption is fixed) ----

@settings(max_examples=12, deadline=None)
@given(spec=st.sampled_from(NOISE_SPECS), loss=st.sampled_from(["mse", "bce"]),
       reduction=st.sampled_from(["mean", "batchmean"]), hidden=st.sampled_from([[], [4]]),
       seed=st.integers(0, 2**16))
def test_denoising_gradcheck(spec, loss, reduction, hidden, seed):
    model = dense_autoencoder(5, hidden, 3, activation="tanh", loss=loss, rng=seed,
                              dtype=np.float64, model=DenoisingAutoencoder, noise=spec,
                              reduction=reduction)
    assert_model_gradients(model, data(seed=seed), rng=seed)


@settings(max_examples=12, deadline=None)
@given(penalty=st.sampled_from(["kl", "l1"]), loss=st.sampled_from(["mse", "bce"]),
       latent=st.sampled_from([3, 8]), rho=st.floats(0.02, 0.5), weight=st.floats(0.01, 2.0),
       seed=st.integers(0, 2**16))
def test_sparse_gradcheck(penalty, loss, latent, rho, weight, seed):
    # latent 8 > 5 inputs: overcomplete; sigmoid codes keep L1's sign(h) fixed
    model = dense_autoencoder(5, [4], latent, activation="tanh", code_activation="sigmoid",
                              loss=loss, rng=seed, dtype=np.float64, model=SparseAutoencoder,
                              penalty=penalty,
                              **({"rho": rho, "beta": weight} if penalty == "kl" else
                                 {"lam": weight}))
    assert_model_gradients(model, data(seed=seed), rng=seed)


@settings(max_examples=12, deadline=None)
@given(hidden=st.sampled_from([[], [4], [4, 3]]),
       # sigmoid on sigmoid makes the encoder's gradients ~1e-5 of the loss, where rounding
       # in the finite differences alone nears 1e-7; the penalty's own checks cover it
       activation=st.sampled_from(["tanh", "softplus"]),
       code=st.sampled_from(["sigmoid", "tanh", "identity"]), lam=st.floats(0.1, 2.0),
       seed=st.integers(0, 2**16))
def test_contractive_gradcheck(hidden, activation, code, lam, seed):
    model = dense_autoencoder(5, hidden, 2, activation=activation, code_activation=code,
                              rng=seed, dtype=np.float64, model=ContractiveAutoencoder, lam=lam)
    assert_model_gradients(model, data(seed=seed), rng=seed)


# -- the hooks do what they say -------------------------------------------------------

def test_denoising_loss_is_reconstruction_of_the_clean_input_from_a_corrupted_one():
    model = dense_autoencoder(5, [4], 3, rng=0, dtype=np.float64, model=DenoisingAutoencoder,
                              noise={"kind": "masking", "p": 0.5})
    x = data()
    x_tilde = MaskingNoise(0.5)(x, np.random.default_rng(11))
    expected, _ = mse(model.decoder.forward(model.encoder.forward(x_tilde)), x)
    total, parts = model.loss(x, rng=11)
    assert total == pytest.approx(expected, rel=1e-12) and set(parts) == {"reconstruction"}
    assert model.loss(x, rng=12)[0] != pytest.approx(expected, rel=1e-6)  # fresh corruption


def test_denoising_without_noise_is_the_plain_autoencoder():
    x = data()
    dae = dense_autoencoder(5, [4], 3, rng=0, dtype=np.float64, model=DenoisingAutoencoder,
                            noise="none")
    ae = dense_autoencoder(5, [4], 3, rng=0, dtype=np.float64)
    assert dae.loss(x)[0] == ae.loss(x)[0]
    for (_, _, g1), (_, _, g2) in zip(dae.parameters(), ae.parameters()):
        np.testing.assert_array_equal(g1, g2)


def test_denoising_validation_uses_a_fixed_corruption():
    model = dense_autoencoder(5, [4], 3, rng=0, model=DenoisingAutoencoder,
                              noise={"kind": "gaussian", "sigma": 0.5})
    X = data(50).astype(np.float32)
    first, again = model.evaluate(X), model.evaluate(X)
    assert first == again  # the default rng=0 is a fixed seed
    assert model.evaluate(X, rng=1)["loss"] != first["loss"]
    # fit logs the validation loss through evaluate's fixed seed: measured again after
    # training, the same corrupted inputs give the same number
    h = model.fit(X, epochs=2, batch_size=10, validation=X, verbose=0)
    assert h["val_loss"][-1] == pytest.approx(model.evaluate(X)["loss"], rel=1e-6)
    assert h["val_loss"][-1] != pytest.approx(model.evaluate(X, rng=5)["loss"], rel=1e-6)


def test_denoising_reconstruct_adds_no_noise():
    model = dense_autoencoder(5, [4], 3, rng=0, model=DenoisingAutoencoder)
    x = data().astype(np.float32)
    np.testing.assert_array_equal(model.reconstruct(x), Autoencoder.reconstruct(model, x))
    np.testing.assert_array_equal(model.reconstruct(x), model.reconstruct(x))


def test_sparse_parts_are_the_penalty_functions():
    x = data()
    for penalty, fn, kw in (("kl", lambda h: kl_sparsity(h, 0.1, 0.7), {"rho": 0.1, "beta": 0.7}),
                            ("l1", lambda h: l1_activity(h, 0.7), {"lam": 0.7})):
        model = dense_autoencoder(5, [4], 6, code_activation="sigmoid", rng=0,
                                  dtype=np.float64, model=SparseAutoencoder, penalty=penalty,
                                  **kw)
        total, parts = model.loss(x)
        h = model.encoder.forward(x)
        assert parts["sparsity"] == pytest.approx(fn(h)[0], rel=1e-12)
        rec = mse(model.decoder.forward(h), x, "batchmean")[0]  # batchmean is the default
        assert parts["reconstruction"] == pytest.approx(rec, rel=1e-12)
        assert total == pytest.approx(rec + parts["sparsity"], rel=1e-12)


def test_contractive_part_is_the_penalty_at_the_encoder_input():
    x = data()
    model = dense_autoencoder(5, [4], 2, activation="tanh", code_activation="sigmoid", rng=0,
                              dtype=np.float64, model=ContractiveAutoencoder, lam=0.3)
    _, parts = model.loss(x)
    assert parts["contractive"] == pytest.approx(contractive(x, model.encoder, 0.3)[0],
                                                 rel=1e-12)


@pytest.mark.parametrize("make", [
    lambda: dense_autoencoder(5, [4], 3, rng=0, model=DenoisingAutoencoder,
                              noise={"kind": "salt_pepper", "p": 0.2}),
    lambda: dense_autoencoder(5, [4], 7, code_activation="sigmoid", rng=0,
                              model=SparseAutoencoder, rho=0.1, beta=0.5),
    lambda: dense_autoencoder(5, [4], 3, activation="relu", rng=0, model=SparseAutoencoder,
                              penalty="l1", lam=0.2, loss="bce"),
    lambda: dense_autoencoder(5, [4], 3, rng=0, model=ContractiveAutoencoder, lam=0.05,
                              max_jacobian_elements=1000),
])
def test_save_and_load_rebuild_the_same_model(make, tmp_path):
    model = make()
    path = tmp_path / "model.npz"
    model.save(path)
    again = npae.load(path)
    assert type(again) is type(model) and again.config() == model.config()
    x = data().astype(np.float32)
    assert again.loss(x, rng=3) == model.loss(x, rng=3)


def test_float32_models_train_in_float32(digits):
    X = digits[0][:200]
    for model in (dense_autoencoder(64, [], 16, rng=0, model=DenoisingAutoencoder),
                  dense_autoencoder(64, [], 16, code_activation="sigmoid", rng=0,
                                    model=SparseAutoencoder),
                  dense_autoencoder(64, [32], 16, activation="tanh", rng=0,
                                    model=ContractiveAutoencoder, lam=0.01)):
        model.fit(X, epochs=1, batch_size=50, verbose=0)
        assert all(p.dtype == np.float32 and g.dtype == np.float32
                   for _, p, g in model.parameters())


# -- bad input ------------------------------------------------------------------------

def test_sparse_kl_refuses_a_code_outside_unit_interval():
    with pytest.raises(ValueError, match="penalty='kl' needs a code in \\(0, 1\\).*got ReLU"):
        dense_autoencoder(5, [], 3, code_activation="relu", model=SparseAutoencoder)
    with pytest.raises(ValueError, match="got Identity"):
        dense_autoencoder(5, [], 3, model=SparseAutoencoder, penalty="kl")
    dense_autoencoder(5, [], 3, code_activation="relu", model=SparseAutoencoder, penalty="l1")
    nested = npae.Sequential(npae.Sequential(Dense(5, 3), Sigmoid()))
    SparseAutoencoder(nested, Dense(3, 5), penalty="kl")  # the Sigmoid is found inside


@pytest.mark.parametrize("kwargs, match", [
    ({"rho": 0.0}, "rho must be a number strictly between 0 and 1"),
    ({"rho": 1.0}, "rho must be a number strictly between 0 and 1"),
    ({"beta": -0.5}, "beta must be a finite number >= 0"),
    ({"penalty": "l1", "lam": -1e-3}, "lam must be a finite number >= 0"),
    ({"penalty": "l2"}, "penalty must be 'kl' or 'l1'"),
])
def test_sparse_refuses_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=f"SparseAutoencoder: {match}"):
        dense_autoencoder(5, [], 3, code_activation="sigmoid", model=SparseAutoencoder, **kwargs)


def test_denoising_refuses_bad_noise():
    with pytest.raises(ValueError, match="GaussianNoise: sigma"):
        dense_autoencoder(5, [], 3, model=DenoisingAutoencoder,
                          noise={"kind": "gaussian", "sigma": -1})
    with pytest.raises(ValueError, match="MaskingNoise: p"):
        DenoisingAutoencoder(Dense(5, 3), Dense(3, 5), noise={"kind": "masking", "p": 1.5})


def test_contractive_refuses_an_encoder_it_cannot_differentiate():
    with pytest.raises(TypeError, match=r"ContractiveAutoencoder: cannot differentiate through "
                                        r"layer 1 \(Flatten\)"):
        ContractiveAutoencoder(npae.Sequential(Dense(5, 3), Flatten(), Sigmoid()),
                               npae.Sequential(Dense(3, 5)), lam=0.1)
    with pytest.raises(ValueError, match="ContractiveAutoencoder: lam"):
        ContractiveAutoencoder(Dense(5, 3), Dense(3, 5), lam=-0.1)
    ContractiveAutoencoder(npae.Sequential(Dense(5, 3), ReLU()), Dense(3, 5), lam=0.1)


def test_noise_spec_in_config_is_json_and_rebuilds():
    model = dense_autoencoder(5, [], 3, model=DenoisingAutoencoder,
                              noise=GaussianNoise(0.4, clip=False))
    assert model.config()["noise"] == {"kind": "gaussian", "sigma": 0.4, "clip": False}
    assert make_noise(model.config()["noise"]) == model.noise


# -- training shows the regularizers at work -------------------------------------------

def test_kl_sparsity_training_reaches_rho(digits):
    # measured (100 epochs, overcomplete 64 -> 100, Adam 3e-3): held-out mean activation
    # 0.056 with beta = 1, 0.50 with beta = 0
    Xtr, Xte = digits
    means = {}
    for beta in (1.0, 0.0):
        model = dense_autoencoder(64, [], 100, code_activation="sigmoid", rng=0,
                                  model=SparseAutoencoder, rho=0.05, beta=beta)
        model.fit(Xtr, epochs=100, batch_size=64, optimizer=Adam(3e-3), verbose=0, rng=1)
        means[beta] = float(model.encode(Xte).mean())
    assert abs(means[1.0] - 0.05) < 0.02
    assert abs(means[0.0] - 0.05) > 0.2


@pytest.mark.parametrize("hidden, factor", [([], 4.0), ([48], 10.0)])
def test_contractive_training_contracts(digits, hidden, factor):
    # measured (30 epochs, lam = 0.01, per-pixel MSE): held-out mean ||J||_F^2 went from
    # 5.7 to 0.55 (10x) with one sigmoid layer, 10.0 to 0.20 (50x) with 64-48-16
    Xtr, Xte = digits
    norms = {}
    for lam in (0.0, 0.01):
        model = dense_autoencoder(64, hidden, 16, activation="tanh", code_activation="sigmoid",
                                  rng=0, model=ContractiveAutoencoder, lam=lam)
        model.fit(Xtr, epochs=30, batch_size=64, optimizer=Adam(3e-3), verbose=0, rng=1)
        norms[lam] = contractive(Xte, model.encoder, 1.0, grads=False)[0]
    assert norms[0.0] > factor * norms[0.01]


def test_clipping_noise_refuses_data_outside_the_unit_interval():
    """The default GaussianNoise clips to [0, 1]: standardized data would be silently
    clamped, so the model refuses it, naming the noise and the way out."""
    X = np.random.default_rng(0).standard_normal((10, 6)).astype(np.float32)
    model = dense_autoencoder(6, [4], 2, output_activation="identity", rng=0,
                              model=DenoisingAutoencoder)
    with pytest.raises(ValueError, match=r"DenoisingAutoencoder\.fit: X must lie in \[0, 1\] "
                                         r"because GaussianNoise\(clip=True\) clips .*"
                                         r"use clip=False"):
        model.fit(X, epochs=1, verbose=0)
    assert model.reconstruct(X).shape == X.shape  # no noise there, so any range will do
    for noise in (GaussianNoise(0.3, clip=False), MaskingNoise(0.3)):
        ok = dense_autoencoder(6, [4], 2, output_activation="identity", rng=0,
                               model=DenoisingAutoencoder, noise=noise)
        assert ok.fit(X, epochs=1, verbose=0).epochs_run == 1


@pytest.mark.parametrize("penalty, kwargs, message", [
    ("l1", {"beta": 0.01}, r"SparseAutoencoder: beta does not apply to penalty='l1' \(its weight "
                           r"is lam\)"),
    ("l1", {"rho": 0.1, "beta": 2.0}, r"rho and beta do not apply to penalty='l1'"),
    ("kl", {"lam": 0.01}, r"lam does not apply to penalty='kl' \(its weight is beta\)"),
])
def test_sparse_refuses_the_other_penalty_s_hyperparameters(penalty, kwargs, message):
    with pytest.raises(ValueError, match=message):
        dense_autoencoder(6, [], 3, code_activation="sigmoid", model=SparseAutoencoder,
                          penalty=penalty, **kwargs)


@pytest.mark.parametrize("penalty, kwargs", [("kl", {"rho": 0.1, "beta": 0.5}),
                                             ("l1", {"lam": 0.02})])
def test_sparse_saves_only_its_own_hyperparameters(penalty, kwargs, tmp_path):
    model = dense_autoencoder(6, [], 3, code_activation="sigmoid", model=SparseAutoencoder,
                              penalty=penalty, rng=0, **kwargs)
    config = model.config()
    assert {k: config[k] for k in kwargs} == kwargs
    assert not {"rho", "beta", "lam"} - set(kwargs) & set(config)
    model.save(tmp_path / "s.npz")
    back = npae.load(tmp_path / "s.npz")
    assert (back.penalty, back.rho, back.beta, back.lam) == (model.penalty, model.rho,
                                                             model.beta, model.lam)


def test_sparse_files_from_before_the_refusal_still_load(tmp_path):
    """Older files stored rho, beta and lam whatever the penalty (an L1 model given
    beta=0.5 ignored it): they load, with the hyperparameters that apply."""
    import json

    model = dense_autoencoder(6, [], 3, code_activation="sigmoid", model=SparseAutoencoder,
                              penalty="l1", lam=0.02, rng=0)
    path = tmp_path / "s.npz"
    model.save(path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arch = json.loads(str(arrays.pop("__npae__")))
    arch["config"].update(rho=0.2, beta=0.5)  # what the old config() wrote
    np.savez(path, __npae__=np.array(json.dumps(arch)), **arrays)
    back = npae.load(path)
    assert (back.penalty, back.lam) == ("l1", 0.02)
    x = np.random.default_rng(0).uniform(0, 1, (4, 6)).astype(np.float32)
    np.testing.assert_array_equal(back.reconstruct(x), model.reconstruct(x))
