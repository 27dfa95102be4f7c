"""Figures for autoencoders: reconstructions, latent spaces, filters, training curves.

Every function builds a :class:`matplotlib.figure.Figure` with matplotlib's object API
(no pyplot, no global state, no display needed: it runs on a headless server), returns
it, and saves it as a PNG when given ``path``. In a notebook the returned figure shows
itself. Arrays may be NumPy or CuPy; images may be ``(N, 1, H, W)``, ``(N, H, W)``,
``(N, 3, H, W)`` (colour) or flat ``(N, D)`` (pass ``image_shape``, or a square ``D`` is
taken as ``sqrt(D) x sqrt(D)``).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from npae.backend import asnumpy

__all__ = ["image_grid", "reconstruction_grid", "latent_scatter", "weight_grid",
           "loss_curves", "latent_manifold", "NpaeFigure"]


class NpaeFigure(Figure):
    """A Figure that renders itself as a PNG in Jupyter even when pyplot was never used."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()


def _new_figure(width: float, height: float) -> NpaeFigure:
    return NpaeFigure(figsize=(max(width, 2.0), max(height, 1.5)), layout="constrained")


def _finish(fig: Figure, path: str | os.PathLike | None, dpi: int = 100) -> Figure:
    if path is not None:
        folder = os.path.dirname(os.fspath(path))
        if folder:
            os.makedirs(folder, exist_ok=True)
        fig.savefig(path, dpi=dpi, format="png")
    return fig


def _as_images(a: Any, image_shape: Sequence[int] | None, owner: str, name: str = "images"
               ) -> np.ndarray:
    """Any accepted layout -> (N, H, W) or (N, H, W, 3) float64 on the host."""
    a = asnumpy(a)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{owner}: {name} must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.ndim == 4:
        if a.shape[1] == 1:
            return a[:, 0]
        if a.shape[1] == 3:
            return a.transpose(0, 2, 3, 1)
        raise ValueError(f"{owner}: {name} with 4 dimensions must be (N, 1, H, W) or "
                         f"(N, 3, H, W), got shape {a.shape}")
    if a.ndim == 3:
        return a
    if a.ndim == 2:
        d = a.shape[1]
        if image_shape is None:
            side = math.isqrt(d)
            if side * side != d:
                raise ValueError(f"{owner}: cannot tell the image shape of {name} with {d} "
                                 "features; pass image_shape=(H, W)")
            image_shape = (side, side)
        image_shape = tuple(int(s) for s in image_shape)
        if int(np.prod(image_shape)) != d:
            raise ValueError(f"{owner}: image_shape {image_shape} does not hold {d} features")
        return a.reshape((a.shape[0], *image_shape))
    raise ValueError(f"{owner}: {name} must be (N, D), (N, H, W) or (N, C, H, W), got shape "
                     f"{a.shape}")


def _plain(ax: Any) -> None:
    """No ticks, no frame, but the y label stays visible (for row labels)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _show(ax: Any, img: np.ndarray, cmap: str, vmin: float | None, vmax: float | None) -> None:
    if img.ndim == 3:  # colour: imshow clips floats to [0, 1] itself
        ax.imshow(np.clip(img, 0.0, 1.0), interpolation="nearest")
    else:
        ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    _plain(ax)


def image_grid(images: Any, *, ncols: int | None = None, titles: Sequence[str] | None = None,
               image_shape: Sequence[int] | None = None, cmap: str = "gray",
               vmin: float | None = 0.0, vmax: float | None = 1.0, title: str | None = None,
               tile_size: float = 1.0, path: str | os.PathLike | None = None) -> Figure:
    """A grid of images, one axes each.

    Parameters
    ----------
    images : (N, ...) array
    ncols : int, optional
        Columns (default: up to 10, as square a grid as N allows).
    titles : sequence of str, optional
        One title per image.
    vmin, vmax : float or None
        Grey-level range shared by all tiles ([0, 1] for data; None scales each tile).
    tile_size : float
        Inches per tile.
    """
    imgs = _as_images(images, image_shape, "image_grid")
    n = len(imgs)
    if n == 0:
        raise ValueError("image_grid: no images given")
    if titles is not None and len(titles) != n:
        raise ValueError(f"image_grid: {len(titles)} titles for {n} images")
    if not ncols:  # one row up to 10 images, then a roughly square grid
        ncols = n if n <= 10 else min(10, math.ceil(math.sqrt(n)))
    ncols = int(ncols)
    nrows = math.ceil(n / ncols)
    fig = _new_figure(ncols * tile_size, nrows * tile_size + (0.3 if title else 0))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        if i < n:
            _show(ax, imgs[i], cmap, vmin, vmax)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
        else:
            fig.delaxes(ax)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def reconstruction_grid(inputs: Any, reconstructions: Any, *, noisy: Any = None, n: int = 10,
                        row_labels: Sequence[str] | None = None,
                        image_shape: Sequence[int] | None = None, cmap: str = "gray",
                        vmin: float | None = 0.0, vmax: float | None = 1.0,
                        title: str | None = None, path: str | os.PathLike | None = None
                        ) -> Figure:
    """Inputs in the top row, (noisy inputs in the middle,) reconstructions below.

    Parameters
    ----------
    inputs, reconstructions : (N, ...) arrays
        The first ``n`` of each are shown, column by column.
    noisy : (N, ...) array, optional
        What the encoder saw (denoising): an extra row between the two.
    n : int
        Number of columns.
    row_labels : sequence of str, optional
        Default ``("input", "noisy input", "reconstruction")`` (without the middle one
        when ``noisy`` is None).
    """
    rows = [_as_images(inputs, image_shape, "reconstruction_grid", "inputs")]
    labels = ["input"]
    if noisy is not None:
        rows.append(_as_images(noisy, image_shape, "reconstruction_grid", "noisy"))
        labels.append("noisy input")
    rows.append(_as_images(reconstructions, image_shape, "reconstruction_grid",
                           "reconstructions"))
    labels.append("reconstruction")
    if row_labels is not None:
        if len(row_labels) != len(rows):
            raise ValueError(f"reconstruction_grid: {len(row_labels)} row labels for "
                             f"{len(rows)} rows")
        labels = [str(s) for s in row_labels]
    shapes = {r.shape[1:] for r in rows}
    if len(shapes) != 1:
        raise ValueError(f"reconstruction_grid: rows have different image shapes {shapes}")
    ncols = min(int(n), *(len(r) for r in rows))
    if ncols < 1:
        raise ValueError("reconstruction_grid: no images to show (n < 1 or an empty row)")
    fig = _new_figure(ncols * 1.0 + 0.8, len(rows) * 1.0 + (0.3 if title else 0))
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    for r, (imgs, label) in enumerate(zip(rows, labels)):
        for c in range(ncols):
            _show(axes[r, c], imgs[c], cmap, vmin, vmax)
        axes[r, 0].set_ylabel(label, fontsize=9)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def latent_scatter(Z: Any, labels: Any = None, *, title: str | None = None,
                   max_points: int | None = 10000, point_size: float = 4.0,
                   cmap: str = "tab10", path: str | os.PathLike | None = None) -> Figure:
    """Scatter plot of latent codes, coloured by label.

    Codes with more than two dimensions are projected onto their first two principal
    components (:class:`npae.linear.PCA`), and the title says so; one-dimensional codes
    are plotted against their label (or index).

    Parameters
    ----------
    Z : (N, k) array
    labels : (N,) array, optional
        Integer classes get a legend (up to 20 classes, coloured with ``cmap``), anything
        else a colour bar.
    max_points : int or None
        Plot only the first ``max_points`` codes (keeps the figure light).
    """
    Z = asnumpy(Z).astype(np.float64)
    if Z.ndim != 2 or len(Z) == 0:
        raise ValueError(f"latent_scatter: Z must be a non-empty (N, k) array, got shape "
                         f"{Z.shape}")
    y = None if labels is None else asnumpy(labels).reshape(-1)
    if y is not None and len(y) != len(Z):
        raise ValueError(f"latent_scatter: {len(y)} labels for {len(Z)} codes")
    if max_points is not None:
        Z = Z[:max_points]
        y = None if y is None else y[:max_points]
    k = Z.shape[1]
    xlabel, ylabel, note = "$z_1$", "$z_2$", ""
    if k > 2:
        from npae.linear import PCA

        Z = PCA(2).fit_transform(Z)
        xlabel, ylabel, note = "PC 1", "PC 2", f"PCA projection of the {k}-D latent codes"
    elif k == 1:
        other = y.astype(np.float64) if y is not None else np.arange(len(Z), dtype=np.float64)
        Z = np.column_stack([Z[:, 0], other])
        ylabel = "label" if y is not None else "index"
        note = "1-D latent codes"
    fig = _new_figure(6.0, 5.0)
    ax = fig.subplots()
    if y is None:
        ax.scatter(Z[:, 0], Z[:, 1], s=point_size, alpha=0.7)
    else:
        classes = np.unique(y)
        if y.dtype.kind in "iub" and len(classes) <= 20:
            cm = colormaps[cmap]
            if len(classes) > cm.N:
                cm = colormaps["tab20"]
            for i, c in enumerate(classes):
                sel = y == c
                ax.scatter(Z[sel, 0], Z[sel, 1], s=point_size, alpha=0.7, label=str(c),
                           color=cm(i % cm.N))
            ax.legend(markerscale=3, fontsize=8, title="label", loc="best")
        else:
            sc = ax.scatter(Z[:, 0], Z[:, 1], c=y, s=point_size, alpha=0.7, cmap="viridis")
            fig.colorbar(sc, ax=ax, label="label")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    heading = title or "Latent space"
    ax.set_title(f"{heading}\n({note})" if note else heading)
    return _finish(fig, path)


def _mosaic(tiles: np.ndarray, ncols: int, pad: int = 1) -> np.ndarray:
    """(n, h, w) tiles -> one (rows*(h+pad)-pad, ncols*(w+pad)-pad) image, NaN between
    tiles and in unused cells (drawn as background)."""
    n, h, w = tiles.shape
    rows = math.ceil(n / ncols)
    canvas = np.full((rows * ncols, h + pad, w + pad), np.nan)
    canvas[:n, :h, :w] = tiles
    canvas = canvas.reshape(rows, ncols, h + pad, w + pad).swapaxes(1, 2)
    return canvas.reshape(rows * (h + pad), ncols * (w + pad))[: rows * (h + pad) - pad,
                                                               : ncols * (w + pad) - pad]


def weight_grid(W: Any, *, image_shape: Sequence[int] | None = None, n: int | None = None,
                ncols: int | None = None, cmap: str = "gray", title: str | None = None,
                tile_size: float = 0.6, path: str | os.PathLike | None = None) -> Figure:
    """Each hidden unit's input weights as an image (what the unit looks for).

    Parameters
    ----------
    W : array
        A Dense weight ``(d, h)`` in npae's ``x @ W`` layout: column ``j`` (the weights
        into unit ``j``) becomes tile ``j`` of shape ``image_shape`` (e.g. ``(784, 128)``
        gives 128 tiles of 28x28). For a decoder weight ``(h, d)`` pass ``W.T``. A
        convolution weight ``(out, in, kh, kw)`` gives one tile per (out, in) kernel.
    n : int, optional
        Show only the first ``n`` tiles.

    Notes
    -----
    Each tile is contrast-normalised on its own, ``(w - min) / (max - min)``, since the
    pattern, not the scale, is what a filter shows; a constant tile is drawn mid-grey.
    The tiles are drawn as one mosaic image (row by row, ``ncols`` per row, one blank
    pixel between them) in a single axes: hundreds of filters stay fast to draw.
    """
    W = asnumpy(W).astype(np.float64)
    if W.ndim == 2:
        tiles = _as_images(W.T, image_shape, "weight_grid", "W")
    elif W.ndim == 4:
        tiles = W.reshape(-1, W.shape[2], W.shape[3])
    else:
        raise ValueError(f"weight_grid: W must be a Dense weight (d, h) or a convolution "
                         f"weight (out, in, kh, kw), got shape {W.shape}")
    if n is not None:
        tiles = tiles[: int(n)]
    count = len(tiles)
    if count == 0:
        raise ValueError("weight_grid: no tiles to show")
    lo = tiles.min(axis=(1, 2), keepdims=True)
    span = tiles.max(axis=(1, 2), keepdims=True) - lo
    tiles = np.where(span > 0, (tiles - lo) / np.where(span > 0, span, 1.0), 0.5)
    ncols = int(ncols) if ncols else max(1, math.ceil(math.sqrt(count)))
    nrows = math.ceil(count / ncols)
    fig = _new_figure(ncols * tile_size, nrows * tile_size + (0.3 if title else 0))
    ax = fig.subplots()
    _show(ax, _mosaic(tiles, ncols), cmap, 0.0, 1.0)
    if title:
        ax.set_title(title)
    return _finish(fig, path, dpi=max(100, int(2 * tiles.shape[1] / tile_size)))


def _curve_groups(hist: Mapping[str, Sequence[float]]) -> list[tuple[str, str | None, str | None]]:
    """``[(name, train key, val key)]``: each key paired with its ``val_`` twin."""
    groups, seen = [], set()
    for key in hist:
        base = key[4:] if key.startswith("val_") else key
        if base in seen:
            continue
        seen.add(base)
        train = base if base in hist and len(hist[base]) else None
        val = "val_" + base if "val_" + base in hist and len(hist["val_" + base]) else None
        if train or val:
            groups.append((base, train, val))
    return groups


def loss_curves(history: Any, *, logy: bool = False, title: str | None = None,
                ncols: int = 3, path: str | os.PathLike | None = None) -> Figure:
    """One panel per logged quantity, training and validation curves together.

    Parameters
    ----------
    history : npae.train.History or dict of lists
        ``history.history`` maps names to per-epoch values: ``"loss"``,
        ``"val_loss"``, parts like ``"reconstruction"`` / ``"val_reconstruction"``,
        ``"kl"``; every ``name`` is paired with ``"val_" + name`` when present.
    logy : bool
        Logarithmic y axes.
    """
    hist = getattr(history, "history", history)
    if not isinstance(hist, Mapping):
        raise TypeError(f"loss_curves: expected a History or a dict of lists, got "
                        f"{type(history).__name__}")
    groups = _curve_groups(hist)
    if not groups:
        raise ValueError("loss_curves: the history is empty (train for at least one epoch)")
    ncols = max(1, min(int(ncols), len(groups)))
    nrows = math.ceil(len(groups) / ncols)
    fig = _new_figure(4.0 * ncols, 3.0 * nrows + (0.3 if title else 0))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (name, train, val) in zip(axes, groups):
        for key, label, style in ((train, "train", "-"), (val, "validation", "--")):
            if key is None:
                continue
            values = [float(v) for v in hist[key]]
            ax.plot(np.arange(1, len(values) + 1), values, style, label=label,
                    marker="o" if len(values) == 1 else None)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        if logy:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[len(groups):]:
        fig.delaxes(ax)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def latent_manifold(decode: Callable[[Any], Any], grid: Any = None, *, n: int = 15,
                    image_shape: Sequence[int] | None = None, cmap: str = "gray",
                    dtype: Any = np.float32, title: str | None = None,
                    tile_size: float = 0.5, pad: int = 0,
                    path: str | os.PathLike | None = None) -> Figure:
    r"""Decode a regular grid of 2-D latent codes and show the images as one mosaic.

    Parameters
    ----------
    decode : callable
        Maps codes ``(m, 2)`` to images (any layout accepted here), e.g. ``vae.decode``.
        It is called once, on all grid points.
    grid : array (n,) or pair of arrays, optional
        The values of ``z_1`` (columns, left to right) and ``z_2`` (rows, bottom to top);
        one array is used for both. Default: ``scipy.stats.norm.ppf`` of
        ``linspace(0.05, 0.95, n)``, evenly spaced in probability under the prior
        ``N(0, I)``, so each tile covers the same prior mass.
    n : int
        Grid size when ``grid`` is not given.
    dtype : dtype
        Dtype of the codes passed to ``decode``.
    pad : int
        Blank pixels between grayscale tiles (small images such as 8x8 digits run
        together without them).
    """
    if grid is None:
        from scipy.stats import norm

        grid = norm.ppf(np.linspace(0.05, 0.95, int(n)))
    if isinstance(grid, (tuple, list)) and len(grid) == 2 and np.ndim(grid[0]) == 1:
        g1, g2 = (asnumpy(g).astype(np.float64).ravel() for g in grid)
    else:
        g1 = g2 = asnumpy(grid).astype(np.float64).ravel()
    if len(g1) == 0 or len(g2) == 0:
        raise ValueError("latent_manifold: the grid is empty")
    rows = g2[::-1]  # top row = largest z_2, so "up" in the picture is up in latent space
    codes = np.stack(np.meshgrid(g1, rows), axis=-1).reshape(-1, 2).astype(dtype)
    imgs = _as_images(decode(codes), image_shape, "latent_manifold", "decoded images")
    if len(imgs) != len(codes):
        raise ValueError(f"latent_manifold: decode returned {len(imgs)} images for "
                         f"{len(codes)} codes")
    h, w = imgs.shape[1:3]
    if imgs.ndim == 3:
        mosaic = _mosaic(imgs, len(g1), pad)
    else:
        pad = 0
        mosaic = imgs.reshape(len(rows), len(g1), h, w, *imgs.shape[3:]).swapaxes(1, 2)
        mosaic = mosaic.reshape(len(rows) * h, len(g1) * w, *imgs.shape[3:])
    fig = _new_figure(len(g1) * tile_size + 1.0, len(rows) * tile_size + 1.0)
    ax = fig.subplots()
    if mosaic.ndim == 3:
        ax.imshow(np.clip(mosaic, 0.0, 1.0), interpolation="nearest")
    else:
        ax.imshow(mosaic, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    step1 = max(1, len(g1) // 5)
    step2 = max(1, len(rows) // 5)
    ax.set_xticks(np.arange(len(g1))[::step1] * (w + pad) + (w - 1) / 2,
                  [f"{v:.2g}" for v in g1[::step1]])
    ax.set_yticks(np.arange(len(rows))[::step2] * (h + pad) + (h - 1) / 2,
                  [f"{v:.2g}" for v in rows[::step2]])
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title or "Decoded latent grid")
    return _finish(fig, path)
