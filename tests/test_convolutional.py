"""The convolutional autoencoder builder: shapes, parameter counts, whole-model gradients
(plain, denoising, sparse), training on digits, save/load, refusals, and tutorial 06."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from central_difference import assert_model_gradients
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

import npae
from npae.gradcheck import check_model
from npae.layers import Conv2D, ConvTranspose2D, Dense
from npae.models.autoencoder import Autoencoder
from npae.models.contractive import ContractiveAutoencoder
from npae.models.convolutional import conv_autoencoder, summary
from npae.models.denoising import DenoisingAutoencoder
from npae.models.sparse import SparseAutoencoder
from npae.optim import Adam

import docs_build

REPO = Path(__file__).resolve().parents[1]


def images(n: int, shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(n, *shape))


def stage_shapes(net, x) -> list[tuple[int, ...]]:
    """Per-sample output shape after every layer that has parameters."""
    shapes = []
    for layer in net.layers:
        x = layer.forward(x, training=False)
        if layer.params:
            shapes.append(tuple(x.shape[1:]))
    return shapes


# -- shapes ---------------------------------------------------------------------------------
# Expected sizes by hand: a k=3, s=2, p=1 convolution maps H to (H + 2 - 3) // 2 + 1 =
# ceil(H / 2): 28 -> 14 -> 7, 8 -> 4 -> 2, 7 -> 4 -> 2, 9 -> 5 -> 3, 6 -> 3 -> 2.

SHAPE_CASES = [
    # input, channels, builder kwargs, encoder stages, decoder stages
    ((1, 28, 28), (16, 32), {"latent": 16},
     [(16, 14, 14), (32, 7, 7), (16,)], [(32 * 49,), (16, 14, 14), (1, 28, 28)]),
    ((1, 28, 28), (16, 32), {"bottleneck": (2, 1, 1)},
     [(16, 14, 14), (32, 7, 7), (2, 1, 1)], [(32, 7, 7), (16, 14, 14), (1, 28, 28)]),
    ((1, 28, 28), (16, 32), {"bottleneck": (4, 1, 1)},
     [(16, 14, 14), (32, 7, 7), (4, 1, 1)], [(32, 7, 7), (16, 14, 14), (1, 28, 28)]),
    ((1, 28, 28), (16, 32), {"bottleneck": (32, 1, 1)},
     [(16, 14, 14), (32, 7, 7), (32, 1, 1)], [(32, 7, 7), (16, 14, 14), (1, 28, 28)]),
    ((1, 28, 28), (16, 32), {"code": "conv", "latent": 4},
     [(16, 14, 14), (32, 7, 7), (4, 1, 1)], [(32, 7, 7), (16, 14, 14), (1, 28, 28)]),
    ((1, 28, 28), (16, 32), {"bottleneck": (8, 3, 3)},  # a 5x5 valid convolution: 7 -> 3
     [(16, 14, 14), (32, 7, 7), (8, 3, 3)], [(32, 7, 7), (16, 14, 14), (1, 28, 28)]),
    ((1, 8, 8), (2, 3), {"latent": 3},
     [(2, 4, 4), (3, 2, 2), (3,)], [(12,), (2, 4, 4), (1, 8, 8)]),
    ((1, 8, 8), (2, 3), {"bottleneck": (2, 1, 1)},
     [(2, 4, 4), (3, 2, 2), (2, 1, 1)], [(3, 2, 2), (2, 4, 4), (1, 8, 8)]),
    ((1, 7, 7), (4, 4), {"latent": 5},  # odd: output_padding 0 at the last layer
     [(4, 4, 4), (4, 2, 2), (5,)], [(16,), (4, 4, 4), (1, 7, 7)]),
    ((3, 9, 6), (4, 5), {"bottleneck": (2, 1, 1)},  # channels and rectangles
     [(4, 5, 3), (5, 3, 2), (2, 1, 1)], [(5, 3, 2), (4, 5, 3), (3, 9, 6)]),
]


@pytest.mark.parametrize("shape, channels, kwargs, enc_stages, dec_stages", SHAPE_CASES)
def test_stage_shapes(shape, channels, kwargs, enc_stages, dec_stages):
    model = conv_autoencoder(shape, channels, rng=0, **kwargs)
    x = images(3, shape).astype(np.float32)
    assert stage_shapes(model.encoder, x) == enc_stages
    h = model.encode(x)
    assert h.shape == (3, *enc_stages[-1])
    assert stage_shapes(model.decoder, h) == dec_stages
    x_hat = model.reconstruct(x)
    assert x_hat.shape == x.shape and x_hat.dtype == np.float32
    assert np.all((x_hat > 0) & (x_hat < 1))  # sigmoid output


def test_dense_code_is_flatten_dense_and_conv_code_has_no_dense_layer():
    dense = conv_autoencoder(rng=0)
    conv = conv_autoencoder(bottleneck=(2, 1, 1), rng=0)
    assert any(isinstance(layer, Dense) for layer in dense.encoder.layers)
    every = conv.encoder.layers + conv.decoder.layers
    assert not any(isinstance(layer, Dense) for layer in every)
    code_conv = [layer for layer in conv.encoder.layers if isinstance(layer, Conv2D)][-1]
    first_up = conv.decoder.layers[0]
    assert code_conv.kernel_size == (7, 7) and isinstance(first_up, ConvTranspose2D)
    assert first_up.kernel_size == (7, 7)


def n_conv(c_in, c_out, k):  # W (out, in, k, k) and b (out,)
    return c_out * c_in * k * k + c_out


def test_parameter_counts_match_the_architecture_table():
    # the module docstring's table, from the shape formulas of each layer
    counts = [sum(p.size for p in layer.params.values())
              for net in (conv_autoencoder(rng=0).encoder, conv_autoencoder(rng=0).decoder)
              for layer in net.layers if layer.params]
    assert counts == [n_conv(1, 16, 3), n_conv(16, 32, 3), 1568 * 16 + 16, 16 * 1568 + 1568,
                      n_conv(32, 16, 3), n_conv(16, 1, 3)]
    assert counts == [160, 4640, 25104, 26656, 4624, 145]
    conv = conv_autoencoder(bottleneck=(2, 1, 1), rng=0)
    sizes = [p.size for _, p, _ in conv.parameters()]
    assert sum(sizes) == 160 + 4640 + n_conv(32, 2, 7) + (2 * 32 * 49 + 32) + 4624 + 145
    text = summary(conv, (1, 28, 28))
    assert f"{sum(sizes):,}" in text.splitlines()[-1] and "2x1x1" in text


@settings(max_examples=25, deadline=None)
@given(c=st.integers(1, 3), h=st.integers(1, 30), w=st.integers(1, 30),
       depth=st.integers(1, 3), k=st.sampled_from([2, 3, 4, 5]), conv_code=st.booleans())
def test_decoder_mirrors_any_input_shape(c, h, w, depth, k, conv_code):
    """Property: whatever the input size and kernel, the decoder lands exactly on it."""
    kwargs = {"bottleneck": (2, 1, 1)} if conv_code else {"latent": 2}
    try:
        model = conv_autoencoder((c, h, w), (2,) * depth, kernel_size=k, rng=0, **kwargs)
    except ValueError as err:  # only when a convolution would have an empty output
        assert "too small" in str(err)
        pad = (k - 1) // 2
        sizes = [(h, w)]
        for _ in range(depth):
            sizes.append(tuple((s + 2 * pad - k) // 2 + 1 for s in sizes[-1]))
        assert min(min(s) for s in sizes) < 1
        return
    x = images(2, (c, h, w)).astype(np.float32)
    assert model.reconstruct(x).shape == (2, c, h, w)


# -- gradients of the whole loss (float64, ReLU, fixed seeds) --------------------------------

TINY = {"input_shape": (1, 8, 8), "channels": (2, 3)}


def generic_biases(model, seed: int):
    """Nonzero random biases. With the initial b = 0, a ReLU whose inputs are all zero
    (dead units upstream) sits exactly on its kink, where the central difference
    averages the two one-sided slopes; away from b = 0 that has probability zero."""
    g = np.random.default_rng(seed)
    for name, p, _ in model.parameters():
        if name.endswith(".b"):
            p[...] = g.uniform(-0.2, 0.2, size=p.shape)
    return model


@pytest.mark.parametrize("code", [{"latent": 3}, {"bottleneck": (3, 1, 1)}])
@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_gradcheck_plain(code, loss):
    model = generic_biases(conv_autoencoder(**TINY, **code, loss=loss, rng=1,
                                            dtype=np.float64), seed=1)
    report = check_model(model, images(4, (1, 8, 8), seed=2), rng=0)
    assert report.passed, report
    assert set(report.errors) == {name for name, _, _ in model.parameters()}
    assert len(report.errors) == 12  # W and b of all six parametrized layers


@pytest.mark.parametrize("code", [{"latent": 3}, {"bottleneck": (3, 1, 1)}])
@pytest.mark.parametrize("noise", [{"kind": "gaussian", "sigma": 0.3},
                                   {"kind": "masking", "p": 0.3}])
def test_gradcheck_denoising(code, noise):
    model = generic_biases(conv_autoencoder(**TINY, **code, rng=3, dtype=np.float64,
                                            model=DenoisingAutoencoder, noise=noise), seed=3)
    assert isinstance(model, DenoisingAutoencoder)
    x = images(4, (1, 8, 8), seed=4)
    # the corruption is active (the loss is not the clean one) and fixed by the seed
    clean = Autoencoder(model.encoder, model.decoder).loss(x, backward=False)[0]
    noisy = model.loss(x, rng=5, backward=False)[0]
    assert noisy != clean and model.loss(x, rng=5, backward=False)[0] == noisy
    report = check_model(model, x, rng=5)
    assert report.passed, report


@pytest.mark.parametrize("code", [{"latent": 3}, {"bottleneck": (3, 1, 1)}])
@pytest.mark.parametrize("penalty", ["kl", "l1"])
def test_gradcheck_sparse(code, penalty):
    # the penalty reaches the code whatever its shape, (N, 3) or (N, 3, 1, 1)
    model = conv_autoencoder(**TINY, **code, activation="tanh", code_activation="sigmoid",
                             rng=6, dtype=np.float64, model=SparseAutoencoder,
                             penalty=penalty,
                             **({"rho": 0.1, "beta": 0.5} if penalty == "kl" else {"lam": 0.5}))
    total, parts = model.loss(images(4, (1, 8, 8), seed=6), backward=False)
    assert len(parts) == 2 and total > parts["reconstruction"]  # a penalty is there
    report = check_model(model, images(4, (1, 8, 8), seed=6), rng=0)
    assert report.passed, report


@settings(max_examples=12, deadline=None)
@given(shape=st.sampled_from([(1, 6, 6), (2, 5, 7), (1, 9, 4)]), k=st.sampled_from([2, 3]),
       conv_code=st.booleans(), activation=st.sampled_from(["tanh", "softplus"]),
       loss=st.sampled_from(["mse", "bce"]), seed=st.integers(0, 2**16))
def test_gradcheck_random_architectures(shape, k, conv_code, activation, loss, seed):
    # Smooth activations: no ReLU kink for a random architecture to land on. Through two
    # channels of softplus the first layers' gradients can be ~1e-4 while the loss is
    # ~0.05; the central difference's rounding error, about eps * L / h, then reaches
    # 2e-7 of the gradient at h = 1e-6 (measured), so the step is 1e-5 (rounding 10x
    # smaller; the O(h^2) truncation error stays far below it for these smooth functions).
    kwargs = {"bottleneck": (2, 1, 1)} if conv_code else {"latent": 2}
    model = conv_autoencoder(shape, (2, 2), kernel_size=k, activation=activation, loss=loss,
                             rng=seed, dtype=np.float64, **kwargs)
    assert_model_gradients(model, images(3, shape, seed=seed), rng=seed, h=1e-5)


# -- training --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digit_images() -> tuple[np.ndarray, np.ndarray]:
    X = (load_digits().images / 16).astype(np.float32)[:, None]
    order = np.random.default_rng(0).permutation(len(X))
    return X[order[:1400]], X[order[1400:]]


@pytest.mark.parametrize("code", [{"latent": 8}, {"bottleneck": (8, 1, 1)}])
def test_trains_on_digits_well_below_the_mean_image(digit_images, code):
    Xtr, Xte = digit_images
    model = conv_autoencoder((1, 8, 8), (16, 32), **code, rng=0)
    hist = model.fit(Xtr, epochs=30, batch_size=32, optimizer=Adam(3e-3), verbose=0, rng=0)
    assert not hist.diverged and hist["loss"][-1] < hist["loss"][0]
    held_out = float(np.mean((model.reconstruct(Xte) - Xte) ** 2))
    baseline = float(np.mean((Xtr.mean(axis=0) - Xte) ** 2))  # predict the mean image
    flat_tr, flat_te = Xtr.reshape(len(Xtr), -1), Xte.reshape(len(Xte), -1)
    pca = PCA(8).fit(flat_tr)  # the best linear code of the same size
    linear = float(np.mean((pca.inverse_transform(pca.transform(flat_te)) - flat_te) ** 2))
    # measured: about 0.21-0.23 of the baseline after 30 epochs; PCA(8) reaches 0.33
    assert held_out < 0.3 * baseline and held_out < linear, (held_out, baseline, linear)
    assert all(p.dtype == np.float32 for _, p, _ in model.parameters())


def test_denoising_conv_autoencoder_trains(digit_images):
    Xtr, Xte = digit_images
    model = conv_autoencoder((1, 8, 8), (16, 32), 8, rng=0, model=DenoisingAutoencoder,
                             noise={"kind": "gaussian", "sigma": 0.2})
    model.fit(Xtr, epochs=15, batch_size=32, optimizer=Adam(3e-3), verbose=0, rng=0)
    held_out = float(np.mean((model.reconstruct(Xte) - Xte) ** 2))
    baseline = float(np.mean((Xtr.mean(axis=0) - Xte) ** 2))
    assert held_out < 0.5 * baseline, (held_out, baseline)  # measured: 0.31 of it


@pytest.mark.parametrize("code", [{"latent": 4}, {"bottleneck": (4, 1, 1)}])
def test_results_survive_later_calls_and_stay_float32(code):
    # the layers reuse scratch buffers between batches: nothing they hand out may be one
    model = conv_autoencoder((1, 8, 8), (4, 8), rng=0, **code)
    x1, x2 = images(6, (1, 8, 8), seed=1).astype(np.float32), images(6, (1, 8, 8), seed=2)
    h1, y1 = model.encode(x1), model.reconstruct(x1)
    kept = h1.copy(), y1.copy()
    model.loss(x2.astype(np.float32))
    model.reconstruct(x2.astype(np.float32))
    assert np.array_equal(h1, kept[0]) and np.array_equal(y1, kept[1])
    assert h1.dtype == y1.dtype == np.float32
    assert all(g.dtype == np.float32 for _, _, g in model.parameters())


# -- save / load -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", [
    {"latent": 3}, {"bottleneck": (2, 1, 1)}, {"bottleneck": (3, 2, 2)},
    {"latent": 3, "loss": "bce", "model": DenoisingAutoencoder,
     "noise": {"kind": "salt_pepper", "p": 0.2}},
])
def test_save_load_round_trip_is_bit_exact(kwargs, dtype, tmp_path):
    model = conv_autoencoder((1, 8, 8), (2, 3), rng=0, dtype=dtype, **kwargs)
    x = images(5, (1, 8, 8)).astype(dtype)
    model.fit(x, epochs=2, batch_size=2, verbose=0)  # weights that are not the initial ones
    path = tmp_path / "conv.npz"
    model.save(path)
    again = npae.load(path)
    assert type(again) is type(model) and again.config() == model.config()
    for (n1, p1, _), (n2, p2, _) in zip(model.parameters(), again.parameters(), strict=True):
        assert n1 == n2 and p1.dtype == p2.dtype and p1.tobytes() == p2.tobytes()
    for net in ("encoder", "decoder"):
        assert [(type(a).__name__, a.config()) for a in getattr(model, net).layers] == \
               [(type(b).__name__, b.config()) for b in getattr(again, net).layers]
    assert model.reconstruct(x).tobytes() == again.reconstruct(x).tobytes()


# -- refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"input_shape": (28, 28)}, r"input_shape \(C, H, W\) must be 3 ints >= 1, got \(28, 28\)"),
    ({"input_shape": (1, 0, 28)}, r"input_shape .* must be 3 ints >= 1"),
    ({"channels": ()}, r"channels must be a non-empty sequence of ints >= 1"),
    ({"channels": (16, 0)}, r"channels must be"),
    ({"latent": 0}, r"latent must be"),
    ({"kernel_size": 0}, r"kernel_size must be an int >= 1, got 0"),
    ({"code": "pool"}, r"code must be 'dense' or 'conv', got 'pool'"),
    ({"bottleneck": (2, 1, 1), "code": "dense"},
     r"bottleneck=\(2, 1, 1\) makes a convolutional code; it cannot be combined with "
     r"code='dense'"),
    ({"bottleneck": (2, 1)}, r"bottleneck \(c, h, w\) must be 3 ints"),
    ({"bottleneck": (2, 8, 8)}, r"bottleneck \(2, 8, 8\) is larger than the last feature "
                                r"map \(32, 7, 7\)"),
    ({"bottleneck": (2, 1, 1), "latent": 4}, r"latent=4 disagrees with bottleneck"),
    ({"input_shape": (1, 1, 1), "kernel_size": 4},
     r"input_shape \(1, 1, 1\) is too small for 2 stride-2 convolutions with kernel 4"),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=f"conv_autoencoder: {match}"):
        conv_autoencoder(**{"rng": 0, **kwargs})


def test_contractive_variant_refuses_a_convolutional_encoder():
    # its penalty differentiates Dense layers only: it must say so, not compute nonsense
    with pytest.raises(TypeError, match=r"ContractiveAutoencoder: cannot differentiate "
                                        r"through layer 0 \(Conv2D\)"):
        conv_autoencoder((1, 8, 8), (2, 3), 3, rng=0, model=ContractiveAutoencoder, lam=0.1)


def test_wrong_inputs_are_refused_clearly():
    model = conv_autoencoder((1, 8, 8), (2, 3), 3, rng=0)
    with pytest.raises(ValueError, match=r"Conv2D: expected a 4-D input .*got shape \(4, 64\)"):
        model.encode(np.zeros((4, 64), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D: expected 1 input channels, got 3"):
        model.loss(np.zeros((4, 3, 8, 8), np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        model.fit(np.zeros((4, 1, 8, 8), np.uint8), verbose=0)


# -- tutorial 06 -----------------------------------------------------------------------------

@pytest.mark.slow
def test_tutorial_runs_in_fast_mode(tmp_path):
    script = REPO / "tutorials" / "06_convolutional_autoencoder.py"
    env = {**os.environ, "NPAE_FAST": "1", "NPAE_FIGURES": str(tmp_path / "figs"),
           "MPLBACKEND": "Agg", "NPAE_OFFLINE": "1"}
    proc = docs_build.executed(script.name, tmp_path / "figs") or subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=420)  # CI's docs build ran it already: its run is reused
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    for name in ["06_reconstructions_c2.png", "06_reconstructions_c4.png",
                 "06_reconstructions_c32.png", "06_mse.png", "06_filters.png",
                 "06_loss_curves.png"]:
        png = tmp_path / "figs" / name
        assert png.is_file(), f"missing {name}; wrote {sorted(os.listdir(tmp_path / 'figs'))}"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    assert "data: scikit-learn digits" in proc.stdout
    # the three lecture bottlenecks are trained, each beside a dense model, in one table
    for c in (2, 4, 32):
        assert f"conv  c = {c:2d}" in proc.stdout and f"dense c = {c:2d}" in proc.stdout
        assert f"({c}, 1, 1) |" in proc.stdout
    gap = re.search(r"max \|conv\(shift\(x\)\) - shift\(conv\(x\)\)\| = (\S+)", proc.stdout)
    assert gap and float(gap.group(1)) < 1e-5  # equivariance, up to float32 rounding
    assert not (tmp_path / "figures").exists(), "figures must go to NPAE_FIGURES"
    # deck 004's d = 2 claim, measured: a classifier on the 2-D codes beats chance (10 %)
    # by far, and the reconstructions are read as the right digit more often as c grows,
    # at c = 32 within a few points of the test images themselves (the prose's claims)
    codes2 = {name.strip(): (float(p), float(k)) for name, p, k in re.findall(
        r"^\s*(conv \(2, 1, 1\)|dense, d = 2|PCA, 2) \|\s+([\d.]+) \|\s+([\d.]+)$",
        proc.stdout, re.M)}
    assert sorted(codes2) == ["PCA, 2", "conv (2, 1, 1)", "dense, d = 2"], proc.stdout
    assert min(codes2["conv (2, 1, 1)"]) > 50
    assert min(codes2["PCA, 2"]) < min(codes2["conv (2, 1, 1)"])
    inputs = float(re.search(r"on the test images themselves: ([\d.]+) % right",
                             proc.stdout).group(1))
    read = [float(v) for v in re.findall(
        r"conv \((?:2|4|32), 1, 1\) reconstructions read as the input's digit:\s+([\d.]+) %",
        proc.stdout)]
    assert len(read) == 3 and 50 < read[0] < read[1] < read[2] <= inputs + 1
    assert read[2] > inputs - 3
