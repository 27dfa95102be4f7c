"""npae.kernels.reference's plain formulas of the functions npae computes with a numerics
trick (sigmoid, softplus, bce_with_logits, softmax_cross_entropy, gaussian_kl,
kl_sparsity): against SciPy, finite differences, and the library in both modes."""

from __future__ import annotations

import numpy as np
import pytest

from npae import kernels
from npae.gradcheck import check_function
from npae.kernels import reference


@pytest.fixture
def restore_kernels():
    was = kernels.active()
    yield
    kernels.use(was)


def test_reference_numerics_match_scipy_and_the_library_on_ordinary_inputs(restore_kernels):
    from scipy.special import expit, log_expit, logsumexp

    from npae import losses, penalties
    from npae.layers.activations import sigmoid, softplus

    r = np.random.default_rng(3)
    a = r.standard_normal((4, 6)) * 5
    np.testing.assert_allclose(reference.sigmoid(a), expit(a), rtol=1e-14)
    np.testing.assert_allclose(reference.softplus(a), -log_expit(-a), rtol=1e-14)
    t = r.random((4, 6))
    value, dz = reference.bce_with_logits(a, t, a.size)
    expected = -(t * log_expit(a) + (1 - t) * log_expit(-a)).mean()
    np.testing.assert_allclose(value, expected, rtol=1e-13)
    labels = r.integers(0, 6, 4)
    value, _ = reference.softmax_cross_entropy(a, labels, 4)
    log_p = a - logsumexp(a, axis=1, keepdims=True)
    np.testing.assert_allclose(value, -log_p[np.arange(4), labels].mean(), rtol=1e-13)
    mu, logvar, h = r.standard_normal((5, 3)), r.standard_normal((5, 3)), r.random((5, 3))
    # the library's stable forms give the same numbers (float64, 1e-12) in both modes
    library = {
        "sigmoid": lambda: sigmoid(a), "softplus": lambda: softplus(a),
        "bce_with_logits": lambda: losses.bce_with_logits(a, t, reduction="batchmean"),
        "softmax_ce": lambda: losses.softmax_cross_entropy(a, labels),
        "softmax_ce_probs": lambda: losses.softmax_cross_entropy(a, np.abs(a) / np.abs(a).sum(
            axis=1, keepdims=True), reduction="sum"),
        "gaussian_kl": lambda: penalties.gaussian_kl(mu, logvar),
        "kl_sparsity": lambda: penalties.kl_sparsity(h, 0.1, 3.0),
    }
    def outputs(f, mode):
        kernels.use(mode)
        out = f()
        return out if isinstance(out, tuple) else (out,)  # (value, grads...) or one array

    for name, f in library.items():
        for x, y in zip(outputs(f, "fast"), outputs(f, "reference"), strict=True):
            np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-15, err_msg=name)


def test_the_penalties_clips_are_part_of_both_definitions(restore_kernels):
    from npae import penalties

    assert (reference.KL_EPS, reference.LOGVAR_CLIP) == (penalties.KL_EPS, penalties.LOGVAR_CLIP)
    h = np.zeros((4, 3))
    h[:, 1] = 1.0  # a dead unit and an always-on one: clipped, finite, pushed back
    mu, logvar = np.zeros((2, 2)), np.array([[0.0, 90.0], [-95.0, 1.0]])
    for f in (lambda: penalties.kl_sparsity(h, 0.1, 1.0),
              lambda: penalties.gaussian_kl(mu, logvar)):
        kernels.use("fast")
        fast_out = f()
        kernels.use("reference")
        for a, b in zip(f(), fast_out, strict=True):
            assert np.all(np.isfinite(a))
            np.testing.assert_allclose(a, b, rtol=1e-12)


def test_reference_numerics_gradients():
    r = np.random.default_rng(4)
    z, t = r.standard_normal((3, 5)) * 3, r.random((3, 5))
    labels, probs = r.integers(0, 5, 3), r.dirichlet(np.ones(5), 3)
    mu, logvar, h = r.standard_normal((4, 3)), r.standard_normal((4, 3)), r.random((4, 3))
    checks = [
        (lambda z: reference.bce_with_logits(z, t, 3), (z,)),
        (lambda z: reference.softmax_cross_entropy(z, labels, 3), (z,)),
        (lambda z: reference.softmax_cross_entropy(z, probs, 1), (z,)),
        (reference.gaussian_kl, (mu, logvar)),
        (lambda h: reference.kl_sparsity(h, 0.2, 2.0), (h,)),
        (lambda a: (reference.softplus(a).sum(), reference.sigmoid(a)), (z,)),
    ]
    for f, inputs in checks:
        report = check_function(f, *inputs)
        assert report.passed and report.max_error < 1e-7, report


def test_a_vae_and_a_sparse_autoencoder_train_alike_in_both_modes(restore_kernels):
    """bce_with_logits and gaussian_kl (the VAE), kl_sparsity and sigmoid (a sparse code)."""
    from npae.models import SparseAutoencoder, dense_autoencoder, dense_vae

    x = np.random.default_rng(5).random((6, 12)).astype(np.float32)
    runs = {}
    for mode in ("fast", "reference"):
        kernels.use(mode)
        vae = dense_vae(12, (8,), 3, rng=0)
        sparse = dense_autoencoder(12, [6], 4, code_activation="sigmoid", rng=0,
                                   model=SparseAutoencoder, penalty="kl", rho=0.1, beta=2.0)
        out = []
        for model in (vae, sparse):
            total, _ = model.loss(x, rng=7)
            out += [np.float64(total)] + [g.copy() for _, _, g in model.parameters()]
        runs[mode] = out
    for f, r in zip(runs["fast"], runs["reference"], strict=True):
        assert np.abs(r - f).max() <= 1e-5 * max(np.abs(f).max(), 1e-30)
