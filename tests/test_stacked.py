"""Stacked autoencoders: greedy layer-wise pretraining (``pretrain_stack``) and the
unrolled deep autoencoder (``unroll``)."""

from __future__ import annotations

import numpy as np
import pytest

import npae
from npae import data
from npae.gradcheck import check_model
from npae.layers.activations import Identity, Sigmoid
from npae.layers.dense import Dense
from npae.models import (
    Autoencoder,
    Classifier,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    Stack,
    classifier_from,
    dense_autoencoder,
    pretrain_stack,
    unroll,
)
from npae.optim import Adam


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return data.load("digits", "train").flat


@pytest.fixture(scope="module")
def stack(digits) -> Stack:
    return pretrain_stack(digits, [32, 16, 4], kind="denoising", epochs=3, batch_size=64, rng=0)


def params(net) -> dict[str, np.ndarray]:
    return {name: np.array(p, copy=True) for name, p, _ in net.parameters()}


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


# -- the stack ---------------------------------------------------------------------------------

def test_stack_has_one_shallow_autoencoder_per_layer(stack, digits):
    assert stack.sizes == (64, 32, 16, 4) and stack.kind == "denoising"
    assert len(stack.autoencoders) == len(stack.histories) == len(stack.decoders) == 3
    for ae, (n_in, n_out) in zip(stack.autoencoders, [(64, 32), (32, 16), (16, 4)]):
        assert type(ae) is DenoisingAutoencoder
        dense = [lay for lay in ae.encoder.layers if isinstance(lay, Dense)]
        assert [d.params["W"].shape for d in dense] == [(n_in, n_out)]
    for h in stack.histories:
        assert len(h["reconstruction"]) == 3
    # hidden codes are sigmoid (in [0, 1], where the next layer's clipping noise works);
    # the top code is linear, as in Hinton & Salakhutdinov (2006)
    acts = [type(lay) for lay in stack.encoder.layers if not isinstance(lay, Dense)]
    assert acts == [Sigmoid, Sigmoid, Identity]
    # the first decoder reconstructs the data; the others reconstruct sigmoid codes
    assert all(isinstance(d.layers[-1], Sigmoid) for d in stack.decoders)


def test_encoder_is_the_composition_of_the_layer_encoders(stack, digits):
    x = digits[:50]
    h = x
    for ae in stack.autoencoders:
        h = ae.encode(h)
    assert stack.encode(x).shape == (50, 4)
    np.testing.assert_array_equal(stack.encode(x), h)
    np.testing.assert_array_equal(stack.encoder.forward(x, training=False), h)


def test_each_layer_trains_on_the_codes_of_the_layer_below(digits):
    """With 0 epochs for the bottom layer, the second layer must still have trained
    on the bottom layer's (random) codes: its error there beats its initialization."""
    s = pretrain_stack(digits, [16, 8], kind="plain", epochs=[0, 8], batch_size=64, rng=3)
    assert s.histories[0].epochs_run == 0 and s.histories[1].epochs_run == 8
    h1 = s.autoencoders[0].encode(digits)
    top = s.autoencoders[1]
    fresh = dense_autoencoder(16, [], 8, activation="sigmoid", rng=99)
    assert mse(top.reconstruct(h1), h1) < 0.8 * mse(fresh.reconstruct(h1), h1)


@pytest.mark.parametrize("kind", ["plain", "denoising"])
@pytest.mark.parametrize("seed", [0, 1])
def test_greedy_pretraining_beats_random_initialization_at_every_layer(digits, kind, seed):
    """Each layer's reconstruction error of its own input (the codes below it), after
    pretraining, is well below that of a randomly initialized layer of the same shape.

    Measured before asserting (sizes 32-16-8, 10 epochs, seeds 0-5): the worst ratio
    over the layers was 0.34-0.38 (plain), 0.35-0.39 (denoising), 0.55-0.61 (sparse),
    0.36-0.40 (contractive); the bound 0.8 leaves a wide margin.
    """
    s = pretrain_stack(digits, [32, 16, 8], kind=kind, epochs=10, batch_size=64, rng=seed)
    h = digits
    for k, ae in enumerate(s.autoencoders):
        top = k == len(s.autoencoders) - 1
        fresh = dense_autoencoder(h.shape[1], [], s.sizes[k + 1], activation="sigmoid",
                                  code_activation="identity" if top else "sigmoid",
                                  rng=1000 + seed)
        trained, random = mse(ae.reconstruct(h), h), mse(fresh.reconstruct(h), h)
        assert trained < 0.8 * random, f"layer {k}: {trained:.4g} vs random {random:.4g}"
        h = ae.encode(h)


@pytest.mark.parametrize("kind, cls, kwargs, part", [
    ("plain", Autoencoder, {}, None),
    ("denoising", DenoisingAutoencoder, {"noise": {"kind": "masking", "p": 0.3}}, None),
    ("sparse", SparseAutoencoder, {"rho": 0.1, "beta": 0.5}, "sparsity"),
    ("contractive", ContractiveAutoencoder, {"lam": 0.05}, "contractive"),
])
def test_every_kind_trains_with_its_options(digits, kind, cls, kwargs, part):
    s = pretrain_stack(digits[:200], [12, 6], kind=kind, epochs=1, batch_size=50, rng=0,
                       **kwargs)
    assert all(type(ae) is cls for ae in s.autoencoders)
    for key, value in kwargs.items():
        got = s.autoencoders[1].config()[key]
        assert got == value or got == {**got, **value}
    if part:
        assert all(part in h for h in s.histories)
    if kind == "sparse":  # the KL penalty needs a code in (0, 1): the top code is sigmoid
        assert isinstance(s.encoder.layers[-1], Sigmoid)


def test_validation_is_pushed_through_the_stack(digits):
    s = pretrain_stack(digits[:300], [16, 8], epochs=2, batch_size=100, rng=0,
                       validation=digits[300:400])
    for h in s.histories:
        assert len(h["val_reconstruction"]) == 2
    # the second layer's validation set is the first layer's codes of the held-out data
    h1 = s.autoencoders[0].encode(digits[300:400])
    expected = s.autoencoders[1].evaluate(h1)["reconstruction"]
    assert s.histories[1]["val_reconstruction"][-1] == pytest.approx(expected, rel=1e-5)


def test_a_stack_assembled_by_hand_shares_lower_layers(stack, digits):
    """The tutorial's 2-D stack: the pretrained lower layers plus a new top layer."""
    below = stack.autoencoders[:-1]
    top = pretrain_stack(below[-1].encode(below[0].encode(digits)), [2], epochs=1, rng=0)
    s2 = Stack(below + top.autoencoders, stack.histories[:-1] + top.histories,
               (*stack.sizes[:-1], 2), "denoising")
    assert s2.encode(digits[:7]).shape == (7, 2)
    assert unroll(s2).reconstruct(digits[:7]).shape == (7, 64)


def test_each_layer_gets_a_fresh_optimizer(digits):
    opt = Adam(5e-3)
    s = pretrain_stack(digits[:200], [16, 8], epochs=1, batch_size=100, optimizer=opt, rng=0)
    assert opt.state == {}  # the caller's optimizer is not used up (nor mixed across layers)
    assert len(s.histories[1]["reconstruction"]) == 1


# -- unroll ------------------------------------------------------------------------------------

def test_unroll_mirrors_the_stack_with_exactly_the_pretrained_weights(stack, digits):
    deep = unroll(stack, rng=0)
    assert type(deep) is Autoencoder
    enc_w = [lay.params["W"] for lay in deep.encoder.layers if isinstance(lay, Dense)]
    dec_w = [lay.params["W"] for lay in deep.decoder.layers if isinstance(lay, Dense)]
    assert [w.shape for w in enc_w] == [(64, 32), (32, 16), (16, 4)]
    assert [w.shape for w in dec_w] == [(4, 16), (16, 32), (32, 64)]
    for w, ae in zip(enc_w, stack.autoencoders):
        np.testing.assert_array_equal(w, ae.encoder.layers[0].params["W"])
        assert w is not ae.encoder.layers[0].params["W"]
    for w, ae in zip(dec_w, reversed(stack.autoencoders)):
        np.testing.assert_array_equal(w, ae.decoder.layers[0].params["W"])
    # g1(g2(g3(f3(f2(f1(x)))))) by hand, from the shallow models
    x = digits[:40]
    h = stack.encode(x)
    for ae in reversed(stack.autoencoders):
        h = ae.decode(h)
    np.testing.assert_array_equal(deep.reconstruct(x), h)


def test_fine_tuning_the_unrolled_model_leaves_the_stack_unchanged(stack, digits):
    before = [params(ae) for ae in stack.autoencoders]
    deep = unroll(stack, rng=0)
    start = params(deep)
    deep.fit(digits[:256], epochs=2, batch_size=64, optimizer=Adam(1e-2), verbose=0, rng=0)
    assert any(not np.array_equal(start[k], p) for k, p in params(deep).items())
    for ae, old in zip(stack.autoencoders, before):
        for name, p in params(ae).items():
            np.testing.assert_array_equal(p, old[name], err_msg=name)


def test_fine_tuning_lowers_the_reconstruction_error(digits):
    """Measured over seeds 0-4 before asserting: fine-tuning took the unrolled stack's
    training error from 0.075 to 0.034-0.039 (ratios 0.45-0.52)."""
    s = pretrain_stack(digits, [32, 16, 8], kind="denoising", epochs=10, batch_size=64, rng=0)
    deep = unroll(s, rng=0)
    before = mse(deep.reconstruct(digits), digits)
    deep.fit(digits, epochs=20, batch_size=64, optimizer=Adam(1e-2), verbose=0, rng=0)
    assert mse(deep.reconstruct(digits), digits) < 0.7 * before


def test_unroll_takes_a_model_class_and_loss(stack, digits):
    deep = unroll(stack, model=DenoisingAutoencoder, noise={"kind": "masking", "p": 0.2},
                  loss="bce", rng=0)
    assert type(deep) is DenoisingAutoencoder and deep.loss_name == "bce"
    total, parts = deep.loss(digits[:32])
    assert np.isfinite(total) and set(parts) == {"reconstruction"}


def test_unrolled_model_saves_and_loads(stack, digits, tmp_path):
    deep = unroll(stack, rng=0)
    path = tmp_path / "deep.npz"
    deep.save(path)
    back = npae.load(path)
    assert type(back) is Autoencoder and back.config() == deep.config()
    for (n1, p1, _), (n2, p2, _) in zip(deep.parameters(), back.parameters()):
        assert n1 == n2
        np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(back.reconstruct(digits[:20]), deep.reconstruct(digits[:20]))


def test_unrolled_gradients_pass_the_finite_difference_check(digits):
    s = pretrain_stack(digits[:40], [6, 3], epochs=1, batch_size=20, rng=0, dtype=np.float64)
    deep = unroll(s, rng=0)
    assert deep.dtype == np.float64
    report = check_model(deep, digits[:5].astype(np.float64))
    assert report.passed, report


def test_pretrain_and_unroll_on_every_backend(xp_backend, digits):
    s = pretrain_stack(digits[:100], [8, 4], kind="denoising", epochs=1, batch_size=50, rng=0)
    deep = unroll(s, rng=0)
    deep.fit(digits[:100], epochs=1, batch_size=50, verbose=0)
    z = npae.backend.asnumpy(s.encode(digits[:10]))
    assert z.shape == (10, 4) and np.isfinite(z).all()


# -- the stack as a classifier (Vincent et al. 2010) ------------------------------------------

def test_classifier_from_a_stack_learns_and_leaves_the_stack_unchanged():
    """Measured over seeds 0-4 before asserting: test accuracy 0.880-0.900 (chance 0.1)."""
    train, test = data.load("digits", "train"), data.load("digits", "test")
    s = pretrain_stack(train.flat, [32, 16], kind="denoising", epochs=5, batch_size=64, rng=0)
    before = [params(ae) for ae in s.autoencoders]
    clf = classifier_from(s, 10, rng=0)
    assert isinstance(clf, Classifier)
    clf.fit(train.flat, train.labels, epochs=10, batch_size=64, optimizer=Adam(1e-2),
            verbose=0, rng=0)
    assert clf.score(test.flat, test.labels) > 0.7
    for ae, old in zip(s.autoencoders, before):
        for name, p in params(ae).items():
            np.testing.assert_array_equal(p, old[name], err_msg=name)


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sizes, err, match", [
    (8, TypeError, r"pretrain_stack: sizes must be a list of code widths"),
    ("8", TypeError, r"pretrain_stack: sizes must be a list"),
    ([], ValueError, r"pretrain_stack: sizes must name at least one layer"),
    ([16, 8.0], TypeError, r"pretrain_stack: sizes\[1\] must be an int layer width, got 8.0"),
    ([16, True], TypeError, r"sizes\[1\] must be an int"),
    ([16, 0], ValueError, r"pretrain_stack: sizes\[1\] must be a width >= 1, got 0"),
])
def test_bad_sizes_are_refused(digits, sizes, err, match):
    with pytest.raises(err, match=match):
        pretrain_stack(digits[:10], sizes, epochs=1)


def test_bad_kind_epochs_data_and_options_are_refused(digits):
    with pytest.raises(ValueError, match=r"pretrain_stack: kind must be one of \['contractive', "
                                         r"'denoising', 'plain', 'sparse'\], got 'vae'"):
        pretrain_stack(digits[:10], [4], kind="vae")
    with pytest.raises(ValueError, match=r"epochs must be an int or one int per layer \(2\)"):
        pretrain_stack(digits[:10], [4, 2], epochs=[1, 2, 3])
    with pytest.raises(ValueError, match=r"epochs must be ints >= 0"):
        pretrain_stack(digits[:10], [4], epochs=-1)
    with pytest.raises(TypeError, match=r"kind='plain' \(Autoencoder\) takes no argument 'noise'"):
        pretrain_stack(digits[:10], [4], noise="masking")
    with pytest.raises(TypeError, match=r"pretrain_stack: X must be a floating-point array"):
        pretrain_stack((digits[:10] * 255).astype(np.uint8), [4])
    with pytest.raises(ValueError, match=r"pretrain_stack: X must be flat rows \(N, D\)"):
        pretrain_stack(digits[:10].reshape(10, 1, 8, 8), [4])
    with pytest.raises(ValueError, match=r"validation rows must have X's width 64"):
        pretrain_stack(digits[:10], [4], validation=digits[:5, :32])
    with pytest.raises(ValueError, match=r"Stack: autoencoders\[0\] must map width 64 to 8 "):
        Stack([dense_autoencoder(64, [], 4)], [None], (64, 8), "plain")
    with pytest.raises(ValueError, match=r"Stack: needs one or more autoencoders"):
        Stack([], [], (64,), "plain")
    with pytest.raises(TypeError, match=r"unroll: stack must be the Stack that pretrain_stack "
                                        r"returns, got Autoencoder"):
        unroll(dense_autoencoder(64, [], 4))
