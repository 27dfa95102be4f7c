"""Figures: each builds headless, has the expected panels and images, and saves a PNG."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from npae import viz
from npae.train import History

PNG = b"\x89PNG\r\n\x1a\n"


def images(n: int, c: int = 1, h: int = 8, w: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, c, h, w)).astype(np.float32)


def saved(path) -> bool:
    return os.path.getsize(path) > 100 and open(path, "rb").read(8) == PNG


def n_images(fig: Figure) -> int:
    return sum(len(ax.images) for ax in fig.axes)


# --------------------------------------------------------------------------- image grids
def test_image_grid(tmp_path):
    path = tmp_path / "sub" / "grid.png"
    fig = viz.image_grid(images(7), ncols=3, titles=list("abcdefg"), path=path)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 7 and n_images(fig) == 7  # 3x3 grid, the 2 spare panels removed
    assert [ax.get_title() for ax in fig.axes] == list("abcdefg")
    assert saved(path)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), images(7)[0, 0])


@pytest.mark.parametrize("arr, shape", [
    (images(12).reshape(12, 64), None),         # flat, square
    (np.random.default_rng(0).random((5, 12)), (3, 4)),  # flat, given shape
    (images(4)[:, 0], None),                    # (N, H, W)
    (images(4, c=3), None),                     # colour
])
def test_image_grid_layouts(arr, shape):
    fig = viz.image_grid(arr, image_shape=shape)
    assert n_images(fig) == len(arr)


def test_image_grid_errors():
    with pytest.raises(ValueError, match="image_shape"):
        viz.image_grid(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="does not hold"):
        viz.image_grid(np.zeros((3, 10)), image_shape=(3, 3))
    with pytest.raises(ValueError, match="2 titles for 3"):
        viz.image_grid(images(3), titles=["a", "b"])
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        viz.image_grid(images(3, c=2))
    with pytest.raises(TypeError, match="numeric"):
        viz.image_grid(np.array([["a"]]))


def test_reconstruction_grid(tmp_path):
    x = images(8)
    fig = viz.reconstruction_grid(x, 1 - x, noisy=x * 0.5, n=5, path=tmp_path / "r.png")
    assert len(fig.axes) == 15 and n_images(fig) == 15
    firsts = [ax.get_ylabel() for ax in fig.axes[::5]]
    assert firsts == ["input", "noisy input", "reconstruction"]
    # the bottom-left panel shows the first reconstruction
    np.testing.assert_allclose(fig.axes[10].images[0].get_array(), 1 - x[0, 0])
    assert saved(tmp_path / "r.png")
    fig2 = viz.reconstruction_grid(x.reshape(8, 64), x, n=20, row_labels=["x", "x_hat"])
    assert len(fig2.axes) == 16  # n is capped by the number of images
    with pytest.raises(ValueError, match="row labels"):
        viz.reconstruction_grid(x, x, row_labels=["only one"])
    with pytest.raises(ValueError, match="different image shapes"):
        viz.reconstruction_grid(x, images(8, h=4, w=4))


# --------------------------------------------------------------------------- latent scatter
def test_latent_scatter_2d_with_labels(tmp_path):
    g = np.random.default_rng(0)
    Z, y = g.normal(size=(300, 2)), g.integers(0, 10, 300)
    fig = viz.latent_scatter(Z, y, path=tmp_path / "z.png")
    ax = fig.axes[0]
    assert len(fig.axes) == 1
    assert sum(len(c.get_offsets()) for c in ax.collections) == 300
    assert len(ax.get_legend().get_texts()) == len(np.unique(y))
    assert "PCA" not in ax.get_title()
    assert saved(tmp_path / "z.png")


def test_latent_scatter_projects_higher_dims_with_pca():
    g = np.random.default_rng(1)
    Z = g.normal(size=(100, 5)) * [5, 3, 1, 0.1, 0.1]
    fig = viz.latent_scatter(Z, g.integers(0, 3, 100), title="VAE codes")
    title = fig.axes[0].get_title()
    assert "VAE codes" in title and "PCA" in title and "5-D" in title
    # the plotted points are the first two principal coordinates (variance check)
    pts = np.concatenate([c.get_offsets() for c in fig.axes[0].collections])
    assert pts.shape == (100, 2)
    assert np.var(pts[:, 0]) == pytest.approx(np.linalg.eigvalsh(np.cov(Z.T))[-1] * 99 / 100,
                                              rel=1e-6)


def test_latent_scatter_other_inputs():
    g = np.random.default_rng(2)
    fig = viz.latent_scatter(g.normal(size=(50, 2)), g.random(50))  # continuous labels
    assert len(fig.axes) == 2  # the plot and its colour bar
    fig = viz.latent_scatter(g.normal(size=(50, 1)))
    assert "1-D" in fig.axes[0].get_title()
    fig = viz.latent_scatter(g.normal(size=(50, 2)), max_points=20)
    assert len(fig.axes[0].collections[0].get_offsets()) == 20
    with pytest.raises(ValueError, match="49 labels for 50"):
        viz.latent_scatter(g.normal(size=(50, 2)), np.zeros(49, int))
    with pytest.raises(ValueError, match=r"\(N, k\)"):
        viz.latent_scatter(np.zeros(5))


# --------------------------------------------------------------------------- weights
def _tile(mosaic: np.ndarray, j: int, ncols: int, h: int, w: int) -> np.ndarray:
    r, c = divmod(j, ncols)
    return mosaic[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w]


def test_weight_grid_dense(tmp_path):
    W = np.random.default_rng(0).normal(size=(64, 10)) * 0.01
    W[:, 3] = 0.5  # a constant unit
    fig = viz.weight_grid(W, path=tmp_path / "w.png")
    assert len(fig.axes) == 1 and n_images(fig) == 1
    mosaic = np.asarray(fig.axes[0].images[0].get_array(), dtype=float)
    assert mosaic.shape == (3 * 9 - 1, 4 * 9 - 1)  # 10 tiles in a 3 x 4 grid, 1 px gaps
    for j in range(10):
        col = W[:, j].reshape(8, 8)
        span = col.max() - col.min()
        # per-tile contrast normalisation; a constant unit is mid-grey
        expected = (col - col.min()) / span if span > 0 else np.full((8, 8), 0.5)
        np.testing.assert_allclose(_tile(mosaic, j, 4, 8, 8), expected)
    assert np.isnan(mosaic[8]).all() and np.isnan(mosaic[:, 8]).all()  # gaps
    assert np.isnan(_tile(mosaic, 11, 4, 8, 8)).all()  # unused cell
    assert saved(tmp_path / "w.png")
    m4 = np.asarray(viz.weight_grid(W, n=4, ncols=4).axes[0].images[0].get_array())
    assert m4.shape == (8, 35)
    m3 = viz.weight_grid(np.zeros((12, 3)) + np.arange(12)[:, None], image_shape=(3, 4))
    assert np.asarray(m3.axes[0].images[0].get_array()).shape == (2 * 4 - 1, 2 * 5 - 1)


def test_weight_grid_conv_and_errors():
    W = np.random.default_rng(0).normal(size=(4, 2, 3, 3))
    mosaic = np.asarray(viz.weight_grid(W, ncols=8).axes[0].images[0].get_array())
    assert mosaic.shape == (3, 8 * 4 - 1)  # one tile per (out, in) kernel
    k = W[2, 1]
    np.testing.assert_allclose(_tile(mosaic, 5, 8, 3, 3), (k - k.min()) / (k.max() - k.min()))
    with pytest.raises(ValueError, match="Dense weight"):
        viz.weight_grid(np.zeros(5))


# --------------------------------------------------------------------------- loss curves
def test_loss_curves_pairs_every_key(tmp_path):
    hist = History()
    for e in range(4):
        hist.append({"loss": 1.0 / (e + 1), "reconstruction": 0.8 / (e + 1), "kl": 0.2,
                     "val_loss": 1.1 / (e + 1), "val_reconstruction": 0.9 / (e + 1),
                     "val_kl": 0.25})
    fig = viz.loss_curves(hist, path=tmp_path / "h.png", logy=True)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "reconstruction", "kl"]
    for ax in fig.axes:
        assert [ln.get_label() for ln in ax.get_lines()] == ["train", "validation"]
        np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(fig.axes[0].get_lines()[1].get_ydata(),
                               [1.1, 0.55, 1.1 / 3, 0.275])
    assert saved(tmp_path / "h.png")


def test_loss_curves_dict_and_unpaired_keys():
    fig = viz.loss_curves({"loss": [3, 2, 1], "val_sparsity": [0.1, 0.2], "lr": []})
    assert [ax.get_title() for ax in fig.axes] == ["loss", "sparsity"]
    assert [ln.get_label() for ln in fig.axes[1].get_lines()] == ["validation"]
    with pytest.raises(ValueError, match="empty"):
        viz.loss_curves({})
    with pytest.raises(TypeError, match="History"):
        viz.loss_curves([1, 2, 3])


# --------------------------------------------------------------------------- manifold
def test_latent_manifold_layout(tmp_path):
    g1, g2 = np.linspace(-2, 2, 4), np.linspace(-1, 1, 3)
    calls = []

    def decode(z):
        calls.append(z)
        # a 1x2 "image" per code: the two coordinates mapped to [0, 1]
        return np.stack([(z[:, 0] + 2) / 4, (z[:, 1] + 1) / 2], axis=1)

    fig = viz.latent_manifold(decode, (g1, g2), image_shape=(1, 2), path=tmp_path / "m.png")
    assert len(calls) == 1 and calls[0].shape == (12, 2) and calls[0].dtype == np.float32
    assert len(fig.axes) == 1 and n_images(fig) == 1
    mosaic = np.asarray(fig.axes[0].images[0].get_array())
    assert mosaic.shape == (3 * 1, 4 * 2)
    # column c holds z1 = g1[c]; the top row holds the largest z2
    np.testing.assert_allclose(mosaic[:, 0::2], np.tile((g1 + 2) / 4, (3, 1)), atol=1e-7)
    np.testing.assert_allclose(mosaic[:, 1::2], np.tile(((g2[::-1] + 1) / 2)[:, None], (1, 4)),
                               atol=1e-7)
    assert saved(tmp_path / "m.png")


def test_latent_manifold_default_grid_and_errors():
    from scipy.stats import norm

    seen = []

    def decode(z):
        seen.append(z)
        return np.zeros((len(z), 1, 5, 5))

    fig = viz.latent_manifold(decode, n=6)
    assert np.asarray(fig.axes[0].images[0].get_array()).shape == (30, 30)
    np.testing.assert_allclose(np.unique(seen[0][:, 0]),
                               norm.ppf(np.linspace(0.05, 0.95, 6)), rtol=1e-6)
    with pytest.raises(ValueError, match="returned 1 images for 4"):
        viz.latent_manifold(lambda z: np.zeros((1, 1, 5, 5)), [0.0, 1.0])


# --------------------------------------------------------------------------- headless
def test_headless_without_pyplot(tmp_path):
    """Builds and saves a figure with no display and never imports pyplot."""
    code = (
        "import sys, numpy as np\n"
        "from npae import viz\n"
        f"viz.image_grid(np.zeros((3, 1, 4, 4)), path={str(tmp_path / 'x.png')!r})\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
    assert saved(tmp_path / "x.png")


def test_figure_renders_itself_for_notebooks():
    png = viz.image_grid(images(2))._repr_png_()
    assert png[:8] == PNG
