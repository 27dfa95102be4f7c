"""Save and load: bit-exact round trips, atomic writes, and refusal of bad files."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import npae
from npae import io
from npae.layers import (
    Dense,
    Flatten,
    Identity,
    LeakyReLU,
    ReLU,
    Reshape,
    Sigmoid,
    Softplus,
    Tanh,
)
from npae.models import Autoencoder, dense_autoencoder
from npae.network import Sequential


def every_activation_model(dtype, loss="mse", reduction="mean") -> Autoencoder:
    """Images (N, 1, 4, 4) through every activation, both inits, Flatten and Reshape."""
    g = np.random.default_rng(7)
    enc = Sequential(Flatten(), Dense(16, 12, rng=g, dtype=dtype, init="he"), ReLU(),
                     Dense(12, 8, rng=g, dtype=dtype, init="he"), LeakyReLU(0.2),
                     Sequential(Dense(8, 6, rng=g, dtype=dtype), Tanh()),
                     Dense(6, 3, rng=g, dtype=dtype), Identity())
    dec = Sequential(Dense(3, 8, rng=g, dtype=dtype), Softplus(),
                     Dense(8, 16, rng=g, dtype=dtype), Sigmoid(), Reshape((1, 4, 4)))
    model = Autoencoder(enc, dec, loss=loss, reduction=reduction, rng=0)
    for _, p, _ in model.parameters():  # nonzero biases, so that they are tested too
        p += g.normal(scale=0.1, size=p.shape).astype(dtype)
    return model


def layer_signature(net) -> list:
    return [(type(lay).__name__, layer_signature(lay) if isinstance(lay, Sequential)
             else lay.config()) for lay in net.layers]


@pytest.fixture
def images(rng):
    return rng.uniform(0, 1, size=(5, 1, 4, 4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss, reduction", [("mse", "mean"), ("bce", "sum"),
                                             ("mse", "batchmean")])
def test_round_trip_is_bit_exact(dtype, loss, reduction, images, tmp_path):
    model = every_activation_model(dtype, loss, reduction)
    x = images.astype(dtype)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = npae.load(path)
    assert type(loaded) is Autoencoder
    assert loaded.loss_name == loss and loaded.reduction == reduction
    assert layer_signature(loaded.encoder) == layer_signature(model.encoder)
    assert layer_signature(loaded.decoder) == layer_signature(model.decoder)
    assert loaded.encoder.layers[4].slope == 0.2
    original = list(model.parameters())
    restored = list(loaded.parameters())
    assert [n for n, _, _ in original] == [n for n, _, _ in restored]
    for (name, p, _), (_, q, _) in zip(original, restored):
        assert q.dtype == dtype, name
        np.testing.assert_array_equal(q, p)
        assert p.tobytes() == q.tobytes(), name  # bit for bit, signed zeros included
    np.testing.assert_array_equal(loaded.reconstruct(x), model.reconstruct(x))
    assert loaded.loss(x, backward=False) == model.loss(x, backward=False)


def test_round_trip_dense_builder_and_str_path(tmp_path, rng):
    model = dense_autoencoder(10, [7, 5], 2, activation="tanh", output_activation="identity",
                              rng=3)
    path = str(tmp_path / "m")  # no extension: the file is written where it was asked
    npae.save(model, path)
    assert os.listdir(tmp_path) == ["m"]
    loaded = npae.load(path)
    x = rng.uniform(size=(3, 10)).astype(np.float32)
    np.testing.assert_array_equal(loaded.encode(x), model.encode(x))
    # the loaded model trains like any other
    loaded.fit(x, epochs=1, verbose=0)


def test_save_overwrites_and_load_weights(tmp_path, rng):
    path = tmp_path / "m.npz"
    a, b = dense_autoencoder(6, [4], 2, rng=0), dense_autoencoder(6, [4], 2, rng=1)
    a.save(path)
    b.save(path)  # replaces a's file
    c = dense_autoencoder(6, [4], 2, rng=2)
    c.load_weights(path)
    for (_, p, _), (_, q, _) in zip(b.parameters(), c.parameters()):
        np.testing.assert_array_equal(p, q)
    x = rng.uniform(size=(2, 6)).astype(np.float32)
    np.testing.assert_array_equal(c.reconstruct(x), b.reconstruct(x))


@pytest.mark.parametrize("other", [
    lambda: dense_autoencoder(6, [5], 2, rng=0),  # another hidden width
    lambda: dense_autoencoder(6, [4], 2, rng=0, activation="tanh"),  # another activation
    lambda: dense_autoencoder(6, [4], 2, rng=0, dtype=np.float64),  # another dtype
    lambda: dense_autoencoder(6, [4], 2, rng=0, loss="bce"),  # another loss
], ids=["width", "activation", "dtype", "loss"])
def test_load_weights_refuses_another_architecture(other, tmp_path):
    path = tmp_path / "m.npz"
    dense_autoencoder(6, [4], 2, rng=1).save(path)
    model = other()
    before = [p.copy() for _, p, _ in model.parameters()]
    with pytest.raises(ValueError, match=r"npae\.load_parameters: .*m\.npz' holds a "
                                         r"Autoencoder of another architecture"):
        model.load_weights(path)
    for (_, p, _), b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p, b)  # left unchanged


# -- atomic writes ----------------------------------------------------------------------------

def _fail_midway_savez(real_savez):
    def savez(file, *args, **kwds):
        file.write(b"PK\x03\x04 half an archive")
        file.flush()
        raise OSError("disk full (simulated)")

    return savez


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    old = dense_autoencoder(6, [4], 2, rng=0)
    old.save(path)
    old_bytes = path.read_bytes()
    monkeypatch.setattr(np, "savez", _fail_midway_savez(np.savez))
    with pytest.raises(OSError, match="disk full"):
        dense_autoencoder(6, [4], 2, rng=1).save(path)
    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["model.npz"]
    monkeypatch.undo()
    loaded = npae.load(path)
    np.testing.assert_array_equal(next(loaded.parameters())[1], next(old.parameters())[1])


def test_failed_rename_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    dense_autoencoder(6, [4], 2, rng=0).save(path)
    old_bytes = path.read_bytes()

    def refuse(src, dst):
        raise PermissionError("rename refused (simulated)")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError, match="rename refused"):
        dense_autoencoder(6, [4], 2, rng=1).save(path)
    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["model.npz"]


def test_failed_first_write_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "savez", _fail_midway_savez(np.savez))
    with pytest.raises(OSError):
        dense_autoencoder(6, [4], 2, rng=1).save(tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


# -- refusing bad files -----------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path):
    """A saved model and the contents of its file (architecture dict and arrays)."""
    path = tmp_path / "good.npz"
    model = dense_autoencoder(6, [4], 2, rng=0)
    model.save(path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arch = json.loads(str(arrays.pop("__npae__")))
    return path, arch, arrays


def _write(path, arch, arrays):
    np.savez(path, __npae__=np.array(json.dumps(arch)), **arrays)
    return path


def test_truncated_file_is_refused(saved, tmp_path):
    path = tmp_path / "truncated.npz"
    data = saved[0].read_bytes()
    for cut in (len(data) // 2, len(data) - 30, 10):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=r"npae\.load: .*truncated\.npz' is not a readable "
                                             r"npae model file \(truncated, corrupt or foreign\)"):
            npae.load(path)


def test_random_bytes_are_refused(tmp_path, rng):
    path = tmp_path / "noise.npz"
    path.write_bytes(rng.integers(0, 256, size=4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=r"is not a readable npae model file"):
        npae.load(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"is not a readable npae model file"):
        npae.load(path)


def test_foreign_npz_is_refused(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, W=np.ones((3, 2)), b=np.zeros(2))
    with pytest.raises(ValueError, match=r"no '__npae__' entry: not a file written by npae"):
        npae.load(path)


def test_npy_file_is_refused(tmp_path):
    """np.load returns a bare array for a .npy file, which has no ``with`` protocol."""
    path = tmp_path / "array.npy"
    np.save(path, np.ones(3))
    with pytest.raises(ValueError, match=r"array\.npy' is not a readable npae model file"):
        npae.load(path)


def test_pickled_content_is_never_loaded(tmp_path):
    path = tmp_path / "pickle.npz"
    np.savez(path, __npae__=np.array([{"format": "npae"}], dtype=object))
    with pytest.raises(ValueError, match=r"not a readable npae model file"):
        npae.load(path)


@pytest.mark.parametrize("edit, message", [
    (lambda a: a.update(format="keras"), r"is not an npae model file"),
    (lambda a: a.pop("format"), r"is not an npae model file"),
    (lambda a: a.update(version=99), r"has format version 99, this npae reads version 1"),
    (lambda a: a.update(model="Transformer"), r"unknown model class 'Transformer'"),
    (lambda a: a["encoder"]["layers"][0].update({"class": "Conv9D"}),
     r"cannot rebuild the model .*unknown layer class 'Conv9D'"),
    (lambda a: a["encoder"]["layers"][0]["config"].update(in_features=0),
     r"cannot rebuild the model .*in_features and out_features must be >= 1"),
    (lambda a: a["encoder"]["layers"][0]["config"].update(bogus=1),
     r"cannot rebuild the model .*bogus"),
    (lambda a: a.pop("decoder"), r"cannot rebuild the model"),
    (lambda a: a["config"].update(loss="hinge"), r"cannot rebuild the model .*loss must be"),
], ids=["format", "no-format", "version", "model", "layer", "layer-arg", "unknown-arg",
        "no-decoder", "loss"])
def test_wrong_architecture_json_is_refused(saved, tmp_path, edit, message):
    _, arch, arrays = saved
    edit(arch)
    path = _write(tmp_path / "edited.npz", arch, arrays)
    with pytest.raises(ValueError, match=message):
        npae.load(path)


def test_non_json_architecture_is_refused(saved, tmp_path):
    _, _, arrays = saved
    path = tmp_path / "bad.npz"
    np.savez(path, __npae__=np.array("{not json"), **arrays)
    with pytest.raises(ValueError, match=r"not a readable npae model file"):
        npae.load(path)
    np.savez(path, __npae__=np.array(json.dumps([1, 2])), **arrays)
    with pytest.raises(ValueError, match=r"is not an npae model file"):
        npae.load(path)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update({"encoder.0.W": np.ones((6, 5), np.float32)}),
     r"parameter 'encoder\.0\.W' .* has shape \(6, 5\) and dtype float32; the architecture "
     r"expects \(6, 4\) and float32"),
    (lambda d: d.update({"decoder.0.b": d["decoder.0.b"].astype(np.float64)}),
     r"parameter 'decoder\.0\.b' .*dtype float64; the architecture expects \(4,\) and float32"),
    (lambda d: d.pop("decoder.2.W"),
     r"does not match the architecture: missing parameters \['decoder\.2\.W'\], "
     r"unexpected \[\]"),
    (lambda d: d.update({"decoder.9.W": np.ones(2, np.float32)}),
     r"missing parameters \[\], unexpected \['decoder\.9\.W'\]"),
], ids=["shape", "dtype", "missing", "extra"])
def test_altered_parameters_are_refused(saved, tmp_path, edit, message):
    _, arch, arrays = saved
    edit(arrays)
    path = _write(tmp_path / "edited.npz", arch, arrays)
    with pytest.raises(ValueError, match=message):
        npae.load(path)
    model = dense_autoencoder(6, [4], 2, rng=5)
    with pytest.raises(ValueError, match=message):
        model.load_weights(path)


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        npae.load(tmp_path / "nowhere.npz")


def test_unregistered_layer_is_refused_at_save(tmp_path):
    class Doubler:
        params, grads = {}, {}

        def forward(self, x, training=True):
            return 2 * x

        def backward(self, dy):
            return 2 * dy

        def config(self):
            return {}

    model = Autoencoder(Sequential(Dense(3, 2, rng=0), Doubler()), Dense(2, 3, rng=0))
    with pytest.raises(ValueError, match=r"npae\.save: layer Doubler is not a registered npae "
                                         r"layer class"):
        model.save(tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


def test_architecture_is_plain_json():
    arch = io.architecture(dense_autoencoder(6, [4], 2, rng=0, activation="leaky_relu"))
    assert json.loads(json.dumps(arch)) == arch
    assert arch["format"] == "npae" and arch["version"] == io.FORMAT_VERSION
    assert arch["model"] == "Autoencoder"
    assert [lay["class"] for lay in arch["encoder"]["layers"]] == [
        "Dense", "LeakyReLU", "Dense", "Identity"]
