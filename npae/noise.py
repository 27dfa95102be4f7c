# Long module: six corruption processes on one Noise base; each is a formula and a few lines.
r"""Corruption processes ``x -> x_tilde`` for denoising autoencoders.

A denoising autoencoder sees a corrupted ``x_tilde ~ q(x_tilde | x)`` and is
trained to give back the clean ``x``. Three classic choices of ``q``:

- :class:`GaussianNoise` ``(sigma)``: ``x_tilde = x + sigma * eps``, ``eps ~ N(0, I)``,
  optionally clipped back to [0, 1] (images stay images);
- :class:`SaltPepperNoise` ``(p)``: each entry, with probability ``p``, is set to
  0 or to 1 (a fair coin picks which); the others are kept;
- :class:`MaskingNoise` ``(p)``: each entry, with probability ``p``, is set to 0
  (Vincent et al.'s "masking noise": the network must fill in missing pixels).

Entries are corrupted independently, so ``p`` is the *expected* fraction of
corrupted entries. Three *structured* corruptions act on image regions instead
(images ``(N, C, H, W)``, or flat rows read as images):

- :class:`BlockMaskNoise` ``(n_blocks, size)``: random rectangles set to 0, the
  corruption of inpainting; ``draw`` returns the mask of the holes as well;
- :class:`OverlayNoise` ``(stamp, opacity)``: a watermark (text or a small
  picture) blended in at a random position; ``draw`` returns its mask;
- :class:`GrayscaleNoise`: the colour taken away, every channel set to the grey
  level (a DAE trained with it learns colorization).
 Every call draws afresh from the ``numpy.random.Generator``
it is given, on the host, in the dtype of ``x`` (float32 stays float32), and
moves the draw to the array module of ``x`` (NumPy or CuPy): one code path for
both. Each corruption has a JSON-able :meth:`Noise.config`, and
:func:`make_noise` rebuilds it from that (or from a name), which is how a saved
:class:`~npae.models.denoising.DenoisingAutoencoder` remembers its noise.

>>> noise = make_noise({"kind": "gaussian", "sigma": 0.3})
>>> noise.config()
{'kind': 'gaussian', 'sigma': 0.3, 'clip': True}
"""

from __future__ import annotations

import inspect
import math
from typing import Any, ClassVar

import numpy as np

from npae.arguments import check_int, check_real, is_int
from npae.backend import Array, get_array_module
from npae.font import render_text

__all__ = ["Noise", "NoNoise", "GaussianNoise", "SaltPepperNoise", "MaskingNoise",
           "BlockMaskNoise", "OverlayNoise", "GrayscaleNoise", "render_text", "NOISES",
           "make_noise"]

#: Every corruption class by its ``kind``.
NOISES: dict[str, type[Noise]] = {}


def _check_fraction(p: Any, owner: str) -> float:
    return check_real(p, owner, "p (the fraction of corrupted entries)", "a number in [0, 1]",
                      0.0, 1.0, high_open=False)


def _uniform(rng: np.random.Generator, x: Array) -> Array:
    """``U[0, 1)`` draws shaped like ``x``, drawn on the host, placed in ``x``'s module."""
    xp = get_array_module(x)
    draw_dtype = np.float64 if np.dtype(x.dtype).itemsize > 4 else np.float32
    return xp.asarray(rng.random(x.shape, dtype=draw_dtype))


def _check_array(x: Any, owner: str) -> None:
    if getattr(x, "dtype", None) is None or np.dtype(x.dtype).kind != "f":
        raise TypeError(f"{owner}: x must be a floating-point array, got "
                        f"{getattr(x, 'dtype', type(x).__name__)}")


class Noise:
    """Base of the corruptions: ``noise(x, rng) -> x_tilde``, and ``config()``."""

    kind: ClassVar[str] = ""
    #: Why the data must lie in [0, 1] for this corruption, or None.
    unit_range: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            NOISES[cls.kind] = cls

    def __call__(self, x: Array, rng: np.random.Generator) -> Array:
        """A corrupted copy of ``x`` (never ``x`` modified in place)."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """``{"kind": ..., <constructor arguments>}``, JSON values only."""
        return {"kind": self.kind}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "kind")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Noise) and self.config() == other.config()

    __hash__ = None  # type: ignore[assignment]


class NoNoise(Noise):
    """No corruption: ``x_tilde = x`` (a denoising AE with it is a plain AE)."""

    kind = "none"

    def __init__(self) -> None:
        pass

    def __call__(self, x: Array, rng: np.random.Generator) -> Array:
        _check_array(x, "NoNoise")
        return x


class GaussianNoise(Noise):
    r"""Additive Gaussian noise ``x_tilde = x + sigma * eps``, ``eps ~ N(0, I)``.

    Parameters
    ----------
    sigma : float
        Standard deviation, ``>= 0``.
    clip : bool
        Clip ``x_tilde`` to [0, 1] (for data in [0, 1], such as images). The
        clipped noise is no longer zero-mean near 0 and 1; that is the usual
        price for keeping inputs in the data's range.
    """

    kind = "gaussian"

    def __init__(self, sigma: float = 0.3, clip: bool = True) -> None:
        self.sigma = check_real(sigma, "GaussianNoise", "sigma (the noise standard deviation)",
                                "a finite number >= 0", 0.0)
        self.clip = bool(clip)
        if self.clip:
            self.unit_range = ("because GaussianNoise(clip=True) clips the noisy input to "
                               "[0, 1]; use clip=False for data in another range")

    def __call__(self, x: Array, rng: np.random.Generator) -> Array:
        _check_array(x, "GaussianNoise")
        xp = get_array_module(x)
        draw_dtype = np.float64 if np.dtype(x.dtype).itemsize > 4 else np.float32
        eps = xp.asarray(rng.standard_normal(x.shape, dtype=draw_dtype)).astype(x.dtype,
                                                                               copy=False)
        out = x + self.sigma * eps
        return xp.clip(out, 0, 1) if self.clip else out

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "sigma": self.sigma, "clip": self.clip}


class SaltPepperNoise(Noise):
    """Salt-and-pepper noise: each entry, with probability ``p``, becomes ``low`` or
    ``high`` (equally likely); the rest are kept.

    Parameters
    ----------
    p : float
        Probability that an entry is corrupted, in [0, 1].
    low, high : float
        The "pepper" and "salt" values; 0 and 1 for data in [0, 1].
    """

    kind = "salt_pepper"

    def __init__(self, p: float = 0.2, low: float = 0.0, high: float = 1.0) -> None:
        self.p = _check_fraction(p, "SaltPepperNoise")
        self.low, self.high = (check_real(v, "SaltPepperNoise", name, "a finite number", -math.inf)
                               for name, v in (("low", low), ("high", high)))

    def __call__(self, x: Array, rng: np.random.Generator) -> Array:
        _check_array(x, "SaltPepperNoise")
        xp = get_array_module(x)
        u = _uniform(rng, x)
        # one draw decides both: u < p/2 -> pepper, p/2 <= u < p -> salt
        out = xp.where(u < self.p, x.dtype.type(self.high), x)
        return xp.where(u < 0.5 * self.p, x.dtype.type(self.low), out)

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "p": self.p, "low": self.low, "high": self.high}


class MaskingNoise(Noise):
    """Masking noise: each entry, with probability ``p``, is set to 0.

    Parameters
    ----------
    p : float
        Probability that an entry is zeroed, in [0, 1].
    """

    kind = "masking"

    def __init__(self, p: float = 0.25) -> None:
        self.p = _check_fraction(p, "MaskingNoise")

    def __call__(self, x: Array, rng: np.random.Generator) -> Array:
        _check_array(x, "MaskingNoise")
        xp = get_array_module(x)
        return xp.where(_uniform(rng, x) < self.p, x.dtype.type(0), x)

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "p": self.p}


# --------------------------------------------------------------------------- structured noise
def _check_image_shape(image_shape: Any, owner: str) -> tuple[int, ...] | None:
    if image_shape is None:
        return None
    try:
        dims = tuple(image_shape)
    except TypeError:
        dims = ()
    if len(dims) not in (2, 3) or not all(is_int(d) and d >= 1 for d in dims):
        raise ValueError(f"{owner}: image_shape must be (H, W) or (C, H, W) of ints >= 1, or "
                         f"None, got {image_shape!r}")
    return tuple(int(d) for d in dims)


def _layout(x: Array, image_shape: tuple[int, ...] | None, owner: str
            ) -> tuple[int, int, int, int]:
    """``(N, C, H, W)`` of the images in ``x``: ``(N, C, H, W)``, ``(N, H, W)``, or flat
    ``(N, D)`` rows read as ``image_shape`` (a square ``D`` is read as one square image)."""
    _check_array(x, owner)
    shape = tuple(x.shape)
    if len(shape) == 4:
        layout = shape
    elif len(shape) == 3:
        layout = (shape[0], 1, *shape[1:])
    elif len(shape) == 2:
        n, d = shape
        if image_shape is None:
            side = math.isqrt(d)
            if side * side != d:
                raise ValueError(f"{owner}: flat rows of {d} features are not square images; "
                                 "pass image_shape=(H, W) or (C, H, W)")
            image_shape = (side, side)
        dims = tuple(image_shape) if len(image_shape) == 3 else (1, *image_shape)
        if math.prod(dims) != d:
            raise ValueError(f"{owner}: image_shape {tuple(image_shape)} holds "
                             f"{math.prod(dims)} values, but the rows of x have {d}")
        layout = (n, *dims)
    else:
        raise ValueError(f"{owner}: x must be images (N, C, H, W) or (N, H, W), or flat rows "
                         f"(N, D), got shape {shape}")
    if len(shape) > 2 and image_shape is not None and tuple(image_shape)[-2:] != layout[2:]:
        raise ValueError(f"{owner}: image_shape {tuple(image_shape)} disagrees with the "
                         f"images' shape {shape}")
    return layout  # type: ignore[return-value]


def _spread(mask: np.ndarray, layout: tuple[int, int, int, int], x: Array) -> Array:
    """A host ``(N, H, W)`` map repeated over the channels, shaped like ``x``, on ``x``'s
    module (a hole or a stamp goes through every colour channel)."""
    full = np.broadcast_to(mask[:, None], layout).reshape(x.shape)
    return get_array_module(x).asarray(np.ascontiguousarray(full))


class _SpatialNoise(Noise):
    """A corruption of image regions: ``draw`` gives the corrupted copy and the mask of
    the entries it changed; calling the noise gives the copy alone."""

    image_shape: tuple[int, ...] | None = None

    def draw(self, x: Array, rng: np.random.Generator) -> tuple[Array, Array]:
        """``(x_tilde, mask)``: the corrupted copy and a boolean array shaped like ``x``,
        true where an entry was corrupted (the same draw as ``noise(x, rng)``)."""
        raise NotImplementedError

    def __call__(self, x: Array, rng: np.random.Generator) -> Array:
        return self.draw(x, rng)[0]


class BlockMaskNoise(_SpatialNoise):
    r"""Block masking: ``n_blocks`` random rectangles of each image are set to ``fill``.

    For every image and block, a height and a width are drawn uniformly from
    ``size = (lo, hi)`` (inclusive) and the top-left corner uniformly among the positions
    where the block lies wholly inside the image; blocks may overlap. A hole goes through
    every channel of a colour image. This is the corruption of *inpainting*: the network
    must draw what a whole missing region held, from the rest of the image.

    Parameters
    ----------
    n_blocks : int
        Rectangles per image, ``>= 0``.
    size : int or (int, int)
        Side of the rectangles, or the inclusive range ``(lo, hi)`` their heights and
        widths are drawn from; ``1 <= lo <= hi``, and ``hi`` must fit in the image.
    fill : float
        The value written into the holes (0: black).
    image_shape : (H, W) or (C, H, W), optional
        How to read flat rows ``(N, D)``; not needed for images ``(N, C, H, W)``, or for
        rows of a square ``D``.

    Notes
    -----
    :meth:`draw` returns the mask as well, so an error can be measured inside the holes.
    """

    kind = "block_mask"

    def __init__(self, n_blocks: int = 1, size: int | tuple[int, int] = 8, fill: float = 0.0,
                 image_shape: tuple[int, ...] | None = None) -> None:
        owner = "BlockMaskNoise"
        self.n_blocks = check_int(n_blocks, owner, "n_blocks", 0)
        pair = (size, size) if isinstance(size, (int, np.integer)) and not isinstance(
            size, bool) else size
        try:
            lo, hi = pair
        except (TypeError, ValueError):
            raise ValueError(f"{owner}: size must be an int >= 1 or a pair (lo, hi) of ints "
                             f"with 1 <= lo <= hi, got {size!r}") from None
        lo = check_int(lo, owner, "size (the smallest block side)", 1)
        hi = check_int(hi, owner, "size (the largest block side)", lo)
        self.size = (lo, hi)
        self.fill = check_real(fill, owner, "fill", "a finite number", -math.inf)
        self.image_shape = _check_image_shape(image_shape, owner)

    def draw(self, x: Array, rng: np.random.Generator) -> tuple[Array, Array]:
        layout = _layout(x, self.image_shape, "BlockMaskNoise")
        n, _, height, width = layout
        lo, hi = self.size
        if hi > min(height, width):
            raise ValueError(f"BlockMaskNoise: blocks up to {hi} pixels do not fit in images "
                             f"of {height}x{width}; lower size")
        k = self.n_blocks
        # sides, then corners uniform over the positions that keep each block inside
        h = rng.integers(lo, hi + 1, size=(n, k))
        w = rng.integers(lo, hi + 1, size=(n, k))
        top = (rng.random((n, k)) * (height - h + 1)).astype(np.int64)
        left = (rng.random((n, k)) * (width - w + 1)).astype(np.int64)
        # pixel (i, j) is in block b when its row and its column both are:
        # count = sum_b rows[n, b, i] * cols[n, b, j], one batched matmul
        i, j = np.arange(height), np.arange(width)
        rows = (i >= top[..., None]) & (i < (top + h)[..., None])     # (N, K, H)
        cols = (j >= left[..., None]) & (j < (left + w)[..., None])   # (N, K, W)
        hole = np.matmul(rows.transpose(0, 2, 1).astype(np.float32),
                         cols.astype(np.float32)) > 0                 # (N, H, W)
        mask = _spread(hole, layout, x)
        xp = get_array_module(x)
        return xp.where(mask, x.dtype.type(self.fill), x), mask

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "n_blocks": self.n_blocks, "size": list(self.size),
                "fill": self.fill,
                "image_shape": None if self.image_shape is None else list(self.image_shape)}


class OverlayNoise(_SpatialNoise):
    r"""A watermark: a fixed stamp blended into each image at a random position.

    .. math:: \tilde x = (1 - a)\, x + a\, v, \qquad a = \text{opacity} \cdot s

    where ``s`` in [0, 1] is the stamp (placed wholly inside the image, its top-left
    corner uniform over the positions where it fits, fresh for every image) and ``v``
    the ink's value. Outside the stamp ``a = 0`` and ``x`` is kept. The stamp goes
    through every channel of a colour image.

    Parameters
    ----------
    stamp : str or 2-D array-like
        Text, drawn with :func:`render_text` (magnified ``scale`` times), or the stamp's
        pixels themselves (values in [0, 1]; a list of lists keeps the spec JSON).
    scale : int
        Magnification of a text stamp, ``>= 1``.
    opacity : float
        In [0, 1]: 1 paints the stamp over the image, 0.5 half-blends it.
    value : float
        The ink (1: white, 0: black).
    image_shape : (H, W) or (C, H, W), optional
        How to read flat rows, as for :class:`BlockMaskNoise`.
    """

    kind = "overlay"

    def __init__(self, stamp: str | Any = "NPAE", scale: int = 1, opacity: float = 0.6,
                 value: float = 1.0, image_shape: tuple[int, ...] | None = None) -> None:
        owner = "OverlayNoise"
        self.scale = check_int(scale, owner, "scale", 1)
        if isinstance(stamp, str):
            self.stamp = stamp
            try:
                pixels = render_text(stamp, self.scale)
            except ValueError as err:
                raise ValueError(f"{owner}: stamp {stamp!r}: {err}") from None
        else:
            try:
                pixels = np.array(stamp, dtype=np.float64)
            except (TypeError, ValueError):
                pixels = np.zeros(0)
            if (pixels.ndim != 2 or pixels.size == 0 or not np.isfinite(pixels).all()
                    or pixels.min() < 0 or pixels.max() > 1):
                raise ValueError(f"{owner}: stamp must be text or a non-empty 2-D array of "
                                 f"values in [0, 1], got {_describe(stamp)}")
            self.stamp = pixels.tolist()
            pixels = np.kron(pixels, np.ones((self.scale, self.scale)))
        self.pixels = pixels
        self.opacity = check_real(opacity, owner, "opacity", "a number in [0, 1]", 0.0, 1.0,
                                  high_open=False)
        self.value = check_real(value, owner, "value (the ink)", "a finite number", -math.inf)
        self.image_shape = _check_image_shape(image_shape, owner)

    def draw(self, x: Array, rng: np.random.Generator) -> tuple[Array, Array]:
        layout = _layout(x, self.image_shape, "OverlayNoise")
        n, _, height, width = layout
        sh, sw = self.pixels.shape
        if sh > height or sw > width:
            raise ValueError(f"OverlayNoise: the stamp ({sh}x{sw} pixels) does not fit in "
                             f"images of {height}x{width}; use a smaller stamp or scale")
        top = (rng.random(n) * (height - sh + 1)).astype(np.int64)
        left = (rng.random(n) * (width - sw + 1)).astype(np.int64)
        # the stamp's alpha, pasted at each image's corner by one fancy-indexed write
        alpha = np.zeros((n, height, width), dtype=x.dtype)
        alpha[np.arange(n)[:, None, None], top[:, None, None] + np.arange(sh)[:, None],
              left[:, None, None] + np.arange(sw)] = self.opacity * self.pixels
        a = _spread(alpha, layout, x)
        # a Python float keeps x's dtype (float32 stays float32)
        return x + a * (self.value - x), _spread(alpha > 0, layout, x)

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "stamp": self.stamp, "scale": self.scale,
                "opacity": self.opacity, "value": self.value,
                "image_shape": None if self.image_shape is None else list(self.image_shape)}


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"an array of shape {shape}" if shape is not None else repr(value)[:80]


class GrayscaleNoise(Noise):
    r"""Colour removed: every channel becomes the image's grey level (luma),

    .. math:: \tilde x_c = \sum_{c'} w_{c'}\, x_{c'} \quad \text{for every channel } c,

    with ITU-R BT.601's weights ``w = (0.299, 0.587, 0.114)`` for RGB. A denoising
    autoencoder trained with it learns *colorization*: the colour of an image from its
    grey version; the corrupted image itself is the "copy grey into every channel"
    guess. Deterministic: the generator is not used.

    Parameters
    ----------
    weights : sequence of float
        One weight per channel, each ``>= 0``, summing to 1 (so white stays white).
    image_shape : (C, H, W), optional
        How to read flat rows ``(N, D)``.
    """

    kind = "grayscale"

    def __init__(self, weights: Any = (0.299, 0.587, 0.114),
                 image_shape: tuple[int, ...] | None = None) -> None:
        owner = "GrayscaleNoise"
        try:
            ws = [check_real(w, owner, "weights", "non-negative numbers summing to 1", 0.0)
                  for w in weights]
        except TypeError:
            raise TypeError(f"{owner}: weights must be non-negative numbers summing to 1, got "
                            f"{weights!r}") from None
        if not ws or abs(sum(ws) - 1.0) > 1e-6:
            raise ValueError(f"{owner}: weights must be non-negative numbers summing to 1, "
                             f"got {weights!r}")
        self.weights = tuple(ws)
        self.image_shape = _check_image_shape(image_shape, owner)
        if self.image_shape is not None and len(self.image_shape) != 3:
            raise ValueError(f"{owner}: image_shape must be (C, H, W), got {image_shape!r}")

    def __call__(self, x: Array, rng: np.random.Generator) -> Array:
        shape = self.image_shape if x.ndim == 2 else None
        if x.ndim == 2 and shape is None:
            raise ValueError("GrayscaleNoise: flat rows need image_shape=(C, H, W)")
        n, c, height, width = _layout(x, shape, "GrayscaleNoise")
        if x.ndim == 3 or c != len(self.weights):
            raise ValueError(f"GrayscaleNoise: images with {len(self.weights)} channels "
                             f"expected (one weight each), got {c} in x of shape "
                             f"{tuple(x.shape)}")
        xp = get_array_module(x)
        w = xp.asarray(np.array(self.weights, dtype=x.dtype).reshape(1, c, 1, 1))
        imgs = x.reshape(n, c, height, width)
        grey = (imgs * w).sum(axis=1, keepdims=True)
        return (grey + xp.zeros_like(imgs)).reshape(x.shape)

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "weights": list(self.weights),
                "image_shape": None if self.image_shape is None else list(self.image_shape)}


def make_noise(spec: Noise | dict[str, Any] | str | None) -> Noise:
    """A corruption from its description.

    Parameters
    ----------
    spec : Noise, dict, str or None
        A :class:`Noise` (returned as is); a dict ``{"kind": name, **arguments}``
        as written by :meth:`Noise.config`, e.g. ``{"kind": "masking", "p": 0.3}``;
        a kind name alone (``"gaussian"``, ``"salt_pepper"``, ``"masking"``,
        ``"block_mask"``, ``"overlay"``, ``"grayscale"``, ``"none"``) for its default
        arguments; ``None`` for no noise.

    Raises
    ------
    ValueError
        An unknown kind, or arguments the kind does not take or out of range.
    """
    if isinstance(spec, Noise):
        return spec
    if spec is None:
        return NoNoise()
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, dict):
        raise TypeError(f"make_noise: spec must be a Noise, a dict with a 'kind', a kind name "
                        f"or None, got {type(spec).__name__}")
    args = dict(spec)
    kind = args.pop("kind", None)
    aliases = {"salt-pepper": "salt_pepper", "salt_and_pepper": "salt_pepper",
               "saltpepper": "salt_pepper", "mask": "masking", "block-mask": "block_mask",
               "blocks": "block_mask", "watermark": "overlay", "greyscale": "grayscale",
               "gray": "grayscale", "grey": "grayscale"}
    kind = aliases.get(str(kind).lower(), str(kind).lower()) if kind is not None else None
    if kind not in NOISES:
        raise ValueError(f"make_noise: unknown noise kind {spec.get('kind')!r}; "
                         f"choose one of {sorted(NOISES)}")
    cls = NOISES[kind]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(args) - accepted)
    if unknown:
        raise ValueError(f"make_noise: noise kind {kind!r} takes {sorted(accepted)}, "
                         f"got unknown arguments {unknown}")
    return cls(**args)
