"""Save and load: bit-exact round trips, atomic writes, and refusal of bad files."""

from __future__ import annotations

import json
import os
import stat
from types import SimpleNamespace

import numpy as np
import pytest

import npae
from npae import io
from npae.layers import (
    LAYERS,
    Dense,
    Flatten,
    Identity,
    Layer,
    LeakyReLU,
    ReLU,
    Reshape,
    Sigmoid,
    Softplus,
    Tanh,
)
from npae.layers.base import register, registered_name
from npae.models import MODELS, Autoencoder, dense_autoencoder
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


def test_standard_model_is_saved_under_bare_class_names(tmp_path):
    """The format of files holding only npae classes is what it always was."""
    path = tmp_path / "m.npz"
    dense_autoencoder(6, [4], 2, rng=0, activation="tanh").save(path)
    with np.load(path) as f:
        arch = json.loads(str(f["__npae__"]))
    assert arch["model"] == "Autoencoder"
    assert arch["encoder"] == {"class": "Sequential", "layers": [
        {"class": "Dense", "config": {"in_features": 6, "out_features": 4, "dtype": "float32",
                                      "init": "xavier"}},
        {"class": "Tanh", "config": {}},
        {"class": "Dense", "config": {"in_features": 4, "out_features": 2, "dtype": "float32",
                                      "init": "xavier"}},
        {"class": "Identity", "config": {}}]}


# -- user classes that reuse npae's names -----------------------------------------------------

@pytest.fixture
def registries():
    """LAYERS and MODELS, restored after the test: classes it defines leave no entry behind."""
    before = dict(LAYERS), dict(MODELS)
    yield LAYERS, MODELS
    for registry, saved_entries in zip((LAYERS, MODELS), before):
        registry.clear()
        registry.update(saved_entries)


def _same_parameters(a, b) -> None:
    pa, pb = list(a.parameters()), list(b.parameters())
    assert [n for n, _, _ in pa] == [n for n, _, _ in pb]
    for (name, p, _), (_, q, _) in zip(pa, pb):
        assert p.dtype == q.dtype and p.tobytes() == q.tobytes(), name


def test_user_dense_does_not_displace_npae_dense(registries, tmp_path, rng):
    npae_dense = npae.layers.Dense

    class Dense(Layer):  # what a notebook might define: y = factor * x
        def __init__(self, factor=2.0):
            super().__init__()
            self.factor = factor
            self._config = {"factor": factor}

        def forward(self, x, training=True):
            return self.factor * x

        def backward(self, dy):
            return self.factor * dy

    key = f"{Dense.__module__}.{Dense.__qualname__}"
    assert key.endswith("test_user_dense_does_not_displace_npae_dense.<locals>.Dense")
    assert LAYERS["Dense"] is npae_dense  # the bare name keeps its meaning
    assert LAYERS[key] is Dense

    # a standard model saves and loads exactly as before
    standard = dense_autoencoder(6, [4], 2, rng=0)
    standard.save(tmp_path / "standard.npz")
    loaded = npae.load(tmp_path / "standard.npz")
    assert [type(lay) for lay in loaded.encoder.layers[::2]] == [npae_dense, npae_dense]
    _same_parameters(loaded, standard)

    # a model holding the user's layer records that layer's qualified name
    mine = Autoencoder(Sequential(npae_dense(6, 3, rng=0), Dense(0.5)), npae_dense(3, 6, rng=1))
    mine.save(tmp_path / "mine.npz")
    arch = io._read(tmp_path / "mine.npz")[0]
    assert [s["class"] for s in arch["encoder"]["layers"]] == ["Dense", key]
    assert arch["decoder"]["layers"][0]["class"] == "Dense"
    loaded = npae.load(tmp_path / "mine.npz")
    assert type(loaded.encoder.layers[0]) is npae_dense
    assert type(loaded.encoder.layers[1]) is Dense and loaded.encoder.layers[1].factor == 0.5
    assert type(loaded.decoder.layers[0]) is npae_dense
    _same_parameters(loaded, mine)
    x = rng.uniform(size=(4, 6)).astype(np.float32)
    np.testing.assert_array_equal(loaded.reconstruct(x), mine.reconstruct(x))

    # in a session where the class is not defined, load says what to do
    del LAYERS[key]
    with pytest.raises(ValueError, match=r"npae\.load: cannot rebuild .*layer class "
                                         + r"'.*<locals>\.Dense' is not defined in this session: "
                                         + r"import the module that defines it"):
        npae.load(tmp_path / "mine.npz")


def test_user_model_named_autoencoder_does_not_displace_npae_model(registries, tmp_path):
    npae_model = npae.models.Autoencoder

    class Autoencoder(npae_model):
        pass

    key = f"{Autoencoder.__module__}.{Autoencoder.__qualname__}"
    assert MODELS["Autoencoder"] is npae_model and MODELS[key] is Autoencoder
    standard = dense_autoencoder(6, [4], 2, rng=0)
    mine = dense_autoencoder(6, [4], 2, rng=1, model=Autoencoder)
    standard.save(tmp_path / "standard.npz")
    mine.save(tmp_path / "mine.npz")
    assert io._read(tmp_path / "standard.npz")[0]["model"] == "Autoencoder"
    assert io._read(tmp_path / "mine.npz")[0]["model"] == key
    assert type(npae.load(tmp_path / "standard.npz")) is npae_model
    loaded = npae.load(tmp_path / "mine.npz")
    assert type(loaded) is Autoencoder
    _same_parameters(loaded, mine)
    del MODELS[key]
    with pytest.raises(ValueError, match=r"npae\.load: model class '.*<locals>\.Autoencoder' "
                                         r"is not defined in this session"):
        npae.load(tmp_path / "mine.npz")


def _cls(name: str, module: str) -> type:
    return type(name, (), {"__module__": module, "__qualname__": name})


def test_registration_rules():
    """On a registry of its own: every rule of ``register``, no global state touched."""
    reg: dict[str, type] = {}
    npae_dense = _cls("Dense", "npae.layers.dense")
    assert register(reg, npae_dense) == "Dense"
    user = _cls("Dense", "__main__")
    assert register(reg, user) == "__main__.Dense"
    assert reg["Dense"] is npae_dense and registered_name(reg, user) == "__main__.Dense"
    again = _cls("Dense", "__main__")  # the notebook cell run again
    assert register(reg, again) == "__main__.Dense"
    assert reg["__main__.Dense"] is again and registered_name(reg, user) is None
    assert register(reg, npae_dense) == "Dense"  # registering twice changes nothing
    # a uniquely named user class keeps its bare name, also when defined again
    scale = _cls("Scale", "__main__")
    assert register(reg, scale) == "Scale"
    scale2 = _cls("Scale", "__main__")
    assert register(reg, scale2) == "Scale" and reg["Scale"] is scale2
    other = _cls("Scale", "course.layers")
    assert register(reg, other) == "course.layers.Scale" and reg["Scale"] is scale2
    # an npae class imported after a user class of the same name takes its bare name back
    early = _cls("Pool", "mylib")
    assert register(reg, early) == "Pool"
    late_npae = _cls("Pool", "npae.layers.pool")
    assert register(reg, late_npae) == "Pool"
    assert reg["Pool"] is late_npae and registered_name(reg, early) == "mylib.Pool"
    assert registered_name(reg, _cls("Never", "__main__")) is None


def test_layer_defined_again_after_the_model_is_refused(registries, tmp_path):
    def define():
        class Twice(Layer):
            def forward(self, x, training=True):
                return 2 * x

            def backward(self, dy):
                return 2 * dy

        return Twice

    first = define()
    model = Autoencoder(Sequential(Dense(3, 2, rng=0), first()), Dense(2, 3, rng=0))
    define()  # same module.QualName: replaces the first in LAYERS
    with pytest.raises(ValueError, match=r"npae\.save: layer Twice \(.*<locals>\.Twice\) is not "
                                         r"the class registered under that name: it was defined "
                                         r"again after this model was built"):
        model.save(tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


# -- refusing at save time what load could not rebuild ----------------------------------------

@pytest.fixture
def custom(registries):
    """User layers, defined per test (so the registries forget them afterwards)."""

    class ReadmeScale(Layer):
        """The README's example layer, verbatim but for its name: it sets no ``_config``."""

        def __init__(self, d):
            super().__init__()
            self.params = {"g": np.ones(d), "b": np.zeros(d)}

        def forward(self, x, training=True):
            self.x = x
            return x * self.params["g"] + self.params["b"]

        def backward(self, dy):
            self.grads = {"g": (dy * self.x).sum(0), "b": dy.sum(0)}
            return dy * self.params["g"]

    class SavableScale(ReadmeScale):
        """The same layer with the fix the refusal asks for."""

        def __init__(self, d):
            super().__init__(d)
            self._config = {"d": d}

    class NoSuperInit(Layer):
        def __init__(self, d):  # forgets super().__init__(): no params, grads or _config
            self.params, self.grads, self.d = {}, {}, d

        def forward(self, x, training=True):
            return x

        def backward(self, dy):
            return dy

    def configured(config):
        layer = SavableScale(4)
        layer._config = config
        return layer

    return SimpleNamespace(ReadmeScale=ReadmeScale, SavableScale=SavableScale,
                           NoSuperInit=NoSuperInit, configured=configured)


def _with(layer) -> Autoencoder:
    f64 = np.float64
    return Autoencoder(Sequential(Dense(4, 4, rng=0, dtype=f64), layer),
                       Dense(4, 4, rng=1, dtype=f64))


def test_layer_without_config_is_refused_before_writing(custom, tmp_path):
    path = tmp_path / "m.npz"
    dense_autoencoder(6, [4], 2, rng=0).save(path)
    old_bytes = path.read_bytes()
    message = (r"npae\.save: cannot save layer encoder\.1 \(ReadmeScale\): npae\.load rebuilds "
               r"it as ReadmeScale\(\*\*\{\}\), which would fail: missing a required argument: "
               r"'d'\. In ReadmeScale\.__init__, set self\._config to the constructor's keyword "
               r"arguments, e\.g\. self\._config = \{'d': d\}")
    for target in (path, tmp_path / "new.npz"):
        with pytest.raises(ValueError, match=message):
            _with(custom.ReadmeScale(4)).save(target)
    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["m.npz"]


def test_layer_with_config_round_trips(custom, tmp_path, rng):
    model = _with(custom.SavableScale(4))
    for _, p, _ in model.parameters():
        p += rng.normal(size=p.shape)
    model.save(tmp_path / "m.npz")
    loaded = npae.load(tmp_path / "m.npz")
    assert type(loaded.encoder.layers[1]) is custom.SavableScale
    _same_parameters(loaded, model)
    x = rng.uniform(size=(3, 4))
    np.testing.assert_array_equal(loaded.reconstruct(x), model.reconstruct(x))


@pytest.mark.parametrize("layer, message", [
    (lambda c: c.configured({"d": 4, "bogus": 1}),
     r"encoder\.1 \(SavableScale\): .*which would fail: got an unexpected keyword argument "
     r"'bogus'\. In SavableScale\.__init__, set self\._config"),
    (lambda c: c.configured({"d": np.arange(4)}),
     r"encoder\.1 \(SavableScale\): its configuration .* is not plain JSON "
     r"\(Object of type ndarray is not JSON serializable\)\. In SavableScale\.__init__"),
    (lambda c: c.configured({"d": np.int64(4)}), r"encoder\.1 \(SavableScale\): .*not plain JSON"),
    (lambda c: c.configured({"d": 4, 5: 5}),  # JSON turns the key 5 into "5"
     r"encoder\.1 \(SavableScale\): .*unexpected keyword argument '5'"),
    (lambda c: c.NoSuperInit(3), r"encoder\.1 \(NoSuperInit\): .*missing a required argument: "
                             r"'d'\. .*e\.g\. self\._config = \{'d': d\}"),
], ids=["extra-key", "array", "numpy-int", "int-key", "no-super-init"])
def test_unrebuildable_layer_configs_are_refused(custom, layer, message, tmp_path):
    with pytest.raises(ValueError, match=r"npae\.save: cannot save layer " + message):
        _with(layer(custom)).save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_nested_layer_is_named_by_its_path(custom, tmp_path):
    model = Autoencoder(Dense(4, 4, rng=0), Sequential(Dense(4, 4, rng=1),
                                                       Sequential(ReLU(), custom.ReadmeScale(4))))
    with pytest.raises(ValueError, match=r"cannot save layer decoder\.1\.1 \(ReadmeScale\)"):
        model.save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_model_without_config_is_refused(registries, tmp_path):
    class Weighted(Autoencoder):
        def __init__(self, encoder, decoder, weight, **kwargs):
            super().__init__(encoder, decoder, **kwargs)
            self.weight = weight

    model = Weighted(Dense(4, 2, rng=0), Dense(2, 4, rng=1), 0.5)
    message = (r"npae\.save: cannot save model Weighted: npae\.load rebuilds it as "
               r"Weighted\(encoder, decoder, \*\*\{'loss': 'mse', 'reduction': 'mean'\}\), which "
               r"would fail: missing a required argument: 'weight'\. Define Weighted\.config\(\) "
               r".* e\.g\. return \{\*\*super\(\)\.config\(\), 'weight': self\.weight\}")
    with pytest.raises(ValueError, match=message):
        model.save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []

    Weighted.config = lambda self: {**Autoencoder.config(self), "weight": self.weight}
    model.save(tmp_path / "m.npz")
    assert npae.load(tmp_path / "m.npz").weight == 0.5


# -- permissions --------------------------------------------------------------------------------

@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_saved_file_gets_the_mode_of_a_newly_created_file(tmp_path, umask):
    """mkstemp's 0600 must not survive the rename: a shared folder's readers need access."""
    previous = os.umask(umask)
    try:
        with open(tmp_path / "plain.txt", "w"):
            pass
        dense_autoencoder(6, [4], 2, rng=0).save(tmp_path / "new.npz")
        (tmp_path / "over.npz").write_bytes(b"")
        dense_autoencoder(6, [4], 2, rng=0).save(tmp_path / "over.npz")  # replaces a file
    finally:
        os.umask(previous)
    expected = stat.S_IMODE(os.stat(tmp_path / "plain.txt").st_mode)
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == expected
    assert stat.S_IMODE(os.stat(tmp_path / "over.npz").st_mode) == expected


def test_temporary_name_already_taken_is_skipped(tmp_path, monkeypatch):
    taken = tmp_path / ".m.npz.aaaaaaaaaaaa.tmp"
    taken.write_bytes(b"someone else's")
    names = iter(["aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr(io.secrets, "token_hex", lambda n: next(names))
    dense_autoencoder(6, [4], 2, rng=0).save(tmp_path / "m.npz")
    assert taken.read_bytes() == b"someone else's"
    assert sorted(os.listdir(tmp_path)) == [".m.npz.aaaaaaaaaaaa.tmp", "m.npz"]
    assert type(npae.load(tmp_path / "m.npz")) is Autoencoder


def test_model_class_defined_again_after_the_model_is_refused(registries, tmp_path):
    def define():
        class Mine(Autoencoder):
            pass

        return Mine

    model = define()(Dense(4, 2, rng=0), Dense(2, 4, rng=1))
    define()
    with pytest.raises(ValueError, match=r"npae\.save: model class Mine \(.*<locals>\.Mine\) is "
                                         r"not registered"):
        model.save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []
