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
corrupted entries. Every call draws afresh from the ``numpy.random.Generator``
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

from npae.backend import get_array_module
from npae.layers.base import Array, check_real

__all__ = ["Noise", "NoNoise", "GaussianNoise", "SaltPepperNoise", "MaskingNoise",
           "NOISES", "make_noise"]

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


def make_noise(spec: Noise | dict[str, Any] | str | None) -> Noise:
    """A corruption from its description.

    Parameters
    ----------
    spec : Noise, dict, str or None
        A :class:`Noise` (returned as is); a dict ``{"kind": name, **arguments}``
        as written by :meth:`Noise.config`, e.g. ``{"kind": "masking", "p": 0.3}``;
        a kind name alone (``"gaussian"``, ``"salt_pepper"``, ``"masking"``,
        ``"none"``) for its default arguments; ``None`` for no noise.

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
               "saltpepper": "salt_pepper", "mask": "masking"}
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
