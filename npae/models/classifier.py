r"""A classifier on top of an encoder: the autoencoder put to work.

``Classifier(encoder, head)`` computes class scores (logits) ``z = head(encoder(x))``
and is trained on the softmax cross-entropy, mean over the batch,

.. math::
    L = \frac1N \sum_n \Big(\log \sum_c e^{z_{nc}} - z_{n y_n}\Big), \qquad
    \frac{\partial L}{\partial z} = \frac{\operatorname{softmax}(z) - \operatorname{onehot}(y)}{N}

(:func:`npae.losses.softmax_cross_entropy`). Backward is the chain rule through
the head, then through the encoder: ``dh = head.backward(dz)``,
``encoder.backward(dh)``, each layer writing ``dL/dW = x^T dy``, ``dL/db = sum_n dy``.

**Frozen encoder** (``freeze_encoder=True``): the encoder is a fixed feature
map. Backward stops at the head's input (the head's first layer does not even
form ``dL/dh``), so no encoder gradient is computed, the encoder's ``grads``
are left as they were, and the encoder's parameters are not among
:meth:`Classifier.parameters`: an optimizer never sees them. Training with a
frozen encoder is a linear probe (a head with no hidden layer) or a small MLP
on fixed features.

:func:`classifier_from` builds one from a trained autoencoder with a *copy* of its
encoder, so fine-tuning the classifier never changes the autoencoder. For a VAE
the copy outputs the posterior mean ``mu`` only: its last ``Dense`` layer keeps
the first ``latent_dim`` columns of ``W`` and ``b`` (the ``mu`` half).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np

from npae import backend
from npae.arguments import as_generator, is_int
from npae.backend import Array
from npae.layers.activations import Activation, get_activation
from npae.layers.base import Layer
from npae.layers.dense import Dense
from npae.layers.shape import Flatten
from npae.losses import softmax_cross_entropy
from npae.models.autoencoder import MODELS, check_data, read_parts
from npae.models.variational import VAE
from npae.network import Sequential, leaf_layers, output_width
from npae.registry import register

__all__ = ["Classifier", "classifier_from", "check_labels"]


def check_labels(y: Any, owner: str, name: str = "y", n: int | None = None,
                 n_classes: int | None = None) -> Array:
    """Validate class labels at an entry point (one scan, one host read) and place them.

    Refuses a non-integer dtype (``TypeError``), anything but one label per
    sample (shape ``(n,)``), and labels outside ``[0, n_classes)`` (``ValueError``).
    Returns the labels on the active backend.
    """
    if not hasattr(y, "dtype"):
        y = np.asarray(y)
    if y.dtype.kind not in ("i", "u"):
        raise TypeError(f"{owner}: {name} must be integer class labels, got dtype {y.dtype}"
                        + ("; convert with y.astype(int)" if y.dtype.kind in "fb" else ""))
    if y.ndim != 1 or (n is not None and y.shape[0] != n) or y.shape[0] == 0:
        want = f"({n},), one label per sample" if n is not None else "(N,) with N >= 1"
        raise ValueError(f"{owner}: {name} must have shape {want}, got shape {tuple(y.shape)}")
    y = backend.to_device(y) if backend.current() != "numpy" else y
    lo, hi = backend.to_floats(y.min(), y.max())
    top = n_classes if n_classes is not None else np.inf
    if lo < 0 or hi >= top:
        raise ValueError(f"{owner}: {name} must be class indices in [0, {top}), got values in "
                         f"[{lo:g}, {hi:g}]")
    return y


class Classifier:
    r"""``logits = head(encoder(x))``, trained on the softmax cross-entropy.

    Parameters
    ----------
    encoder : Layer or Sequential
        The feature extractor (e.g. a trained autoencoder's encoder; see
        :func:`classifier_from`, which copies it).
    head : Layer or Sequential
        Maps the code to ``(N, n_classes)`` logits (no softmax at the end).
    freeze_encoder : bool
        Train the head only: the encoder gets no gradient and no update (see the
        module docstring).
    rng : Generator or int, optional
        Shuffling during :meth:`fit`.

    Notes
    -----
    :meth:`loss` returns ``(total, {"accuracy": a})``: the cross-entropy and the
    fraction of the batch classified correctly, read together. ``fit`` logs
    ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``.
    """

    #: ``npae.train.fit`` asks for labels, and shows these metrics in its progress bar.
    supervised = True
    metrics = ("accuracy",)
    #: The networks a saved file holds, in constructor order (see :mod:`npae.io`).
    nets = ("encoder", "head")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register(MODELS, cls)

    def __init__(self, encoder: Layer, head: Layer, *, freeze_encoder: bool = False,
                 rng: Any = None) -> None:
        self.encoder = encoder if isinstance(encoder, Sequential) else Sequential(encoder)
        self.head = head if isinstance(head, Sequential) else Sequential(head)
        self.freeze_encoder = bool(freeze_encoder)
        self.rng = as_generator(rng)

    def config(self) -> dict[str, Any]:
        """Constructor arguments besides the networks and rng (JSON values)."""
        return {"freeze_encoder": self.freeze_encoder}

    @property
    def n_classes(self) -> int | None:
        """The number of classes when the head's last Dense layer fixes it."""
        return output_width(self.head)

    @property
    def dtype(self) -> np.dtype:
        for _, p, _ in self.all_parameters():
            return p.dtype
        return np.dtype(np.float32)

    def parameters(self) -> Iterator[tuple[str, Array, Array | None]]:
        """The *trainable* ``(name, param, grad)``: ``"head.0.W"``, ..., and the
        encoder's (``"encoder.0.W"``) unless it is frozen. The optimizer steps these."""
        nets = (("head", self.head),) if self.freeze_encoder else \
            (("encoder", self.encoder), ("head", self.head))
        for prefix, net in nets:
            for name, p, g in net.parameters():
                yield f"{prefix}.{name}", p, g

    def all_parameters(self) -> Iterator[tuple[str, Array, Array | None]]:
        """Every parameter, frozen or not (what :func:`npae.save` writes)."""
        for prefix in self.nets:
            for name, p, g in getattr(self, prefix).parameters():
                yield f"{prefix}.{name}", p, g

    def __repr__(self) -> str:
        return (f"Classifier(freeze_encoder={self.freeze_encoder},\n encoder={self.encoder!r},"
                f"\n head={self.head!r})")

    # -- data ----------------------------------------------------------------
    def check_data(self, x: Any, owner: str | None = None, name: str = "x", *,
                   training: bool = False) -> Array:
        """:func:`npae.models.check_data` in this model's dtype (any range will do)."""
        return check_data(x, owner or "Classifier", name, self.dtype)

    def check_labels(self, y: Any, owner: str, name: str = "y", n: int | None = None) -> Array:
        """:func:`check_labels` against this model's number of classes."""
        return check_labels(y, owner, name, n, self.n_classes)

    # -- inference -----------------------------------------------------------
    def _logits(self, x: Array, training: bool = False) -> Array:
        h = self.encoder.forward(x, training=training and not self.freeze_encoder)
        return self.head.forward(h, training=training)

    def predict_proba(self, X: Array, batch_size: int = 1024) -> Array:
        """Class probabilities ``softmax(logits)``, ``(N, n_classes)``, in batches."""
        X = self.check_data(X, "Classifier.predict_proba", "X")
        xp = backend.get_array_module(X)
        out = []
        for start in range(0, X.shape[0], batch_size):
            z = self._logits(X[start:start + batch_size])
            p = xp.exp(z - z.max(axis=1, keepdims=True))
            out.append(p / p.sum(axis=1, keepdims=True))
        return xp.concatenate(out)

    def predict(self, X: Array, batch_size: int = 1024) -> Array:
        """The most probable class of each sample, ``(N,)`` integers."""
        X = self.check_data(X, "Classifier.predict", "X")
        xp = backend.get_array_module(X)
        return xp.concatenate([self._logits(X[s:s + batch_size]).argmax(axis=1)
                               for s in range(0, X.shape[0], batch_size)])

    def score(self, X: Array, y: Array, batch_size: int = 1024) -> float:
        """Accuracy: the fraction of samples whose predicted class is ``y``."""
        X = self.check_data(X, "Classifier.score", "X")
        y = self.check_labels(y, "Classifier.score", "y", X.shape[0])
        return float((self.predict(X, batch_size) == y).mean())

    # -- the objective -------------------------------------------------------
    def loss(self, x: Array, y: Array, *, backward: bool = True, rng: Any = None
             ) -> tuple[float, dict[str, float]]:
        """Cross-entropy of a batch and its accuracy; with ``backward`` the gradients
        of every trainable parameter are written into the layers' ``grads``
        (``rng`` is accepted for the common model interface; nothing here is random)."""
        x = self.check_data(x, "Classifier.loss", "x", training=True)
        y = self.check_labels(y, "Classifier.loss", "y", x.shape[0])
        return self.batch_loss(x, y, rng=None, backward=backward)

    def batch_loss(self, x: Array, y: Array, rng: Any, backward: bool
                   ) -> tuple[float, dict[str, float]]:
        """:meth:`loss` on data already validated (the training loop's path)."""
        z = self._logits(x, training=backward)
        value, dz = softmax_cross_entropy.on_device(z, y, "mean", check=False)
        if backward:
            # a frozen encoder needs no dL/dh: backward ends inside the head
            dh = self.head.backward(dz, input_grad=not self.freeze_encoder)
            if not self.freeze_encoder:
                self.encoder.backward(dh, input_grad=False)
        accuracy = (z.argmax(axis=1) == y).mean()
        return read_parts(value, {"accuracy": accuracy})

    # -- training and evaluation ---------------------------------------------
    def evaluate(self, X: Array, y: Array, batch_size: int = 1024) -> dict[str, float]:
        """Mean cross-entropy (``"loss"``) and ``"accuracy"`` over ``(X, y)``."""
        X = self.check_data(X, "Classifier.evaluate", "X")
        y = self.check_labels(y, "Classifier.evaluate", "y", X.shape[0])
        return self.evaluate_batches(X, y, batch_size=batch_size, rng=None)

    def evaluate_batches(self, X: Array, y: Array, batch_size: int, rng: Any) -> dict[str, float]:
        sums: dict[str, float] = {}
        for start in range(0, X.shape[0], batch_size):
            sl = slice(start, start + batch_size)
            total, parts = self.batch_loss(X[sl], y[sl], rng=None, backward=False)
            for k, v in self.sample_weighted(total, parts, X[sl].shape[0]).items():
                sums[k] = sums.get(k, 0.0) + v
        return {k: v / X.shape[0] for k, v in sums.items()}

    def sample_weighted(self, total: float, parts: dict[str, float], w: int
                        ) -> dict[str, float]:
        """A batch of ``w`` samples' share of the per-sample means (batch means times w)."""
        return {"loss": total * w, **{k: v * w for k, v in parts.items()}}

    def fit(self, X: Array, y: Array, epochs: int = 10, batch_size: int = 128,
            optimizer: Any = None, validation: tuple[Array, Array] | None = None,
            **kwargs: Any):
        """Train on ``(X, y)`` with minibatches; ``validation=(X_val, y_val)``.
        See :func:`npae.train.fit` for every option (callbacks, verbose, rng)."""
        from npae.train import fit

        return fit(self, X, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                   validation=validation, y=y, **kwargs)

    def save(self, path: str) -> None:
        """Write the architecture and every parameter to one ``.npz`` (atomically)."""
        from npae.io import save

        save(self, path)

    def load_weights(self, path: str) -> None:
        """Load parameters saved from a classifier of exactly this architecture."""
        from npae.io import load_parameters

        load_parameters(self, path)


register(MODELS, Classifier)


# --------------------------------------------------------------------------- builder
def _encoder_of(model: Any) -> Sequential:
    """A copy of the encoder of ``model`` (for a VAE: the part that outputs ``mu``)."""
    if isinstance(model, Layer) or (hasattr(model, "forward") and hasattr(model, "backward")):
        encoder = model
    elif isinstance(getattr(model, "encoder", None), Layer):
        encoder = model.encoder
    else:
        raise TypeError(f"classifier_from: autoencoder must be an autoencoder (with an "
                        f".encoder), a stack with an .encoder, or a Sequential, got "
                        f"{type(model).__name__}")
    leaves = leaf_layers(copy.deepcopy(encoder))
    if isinstance(model, VAE):
        leaves = _mu_head(leaves, model.latent_dim)
    return Sequential(*leaves)


def _mu_head(leaves: list[Layer], L: int) -> list[Layer]:
    """The VAE encoder's layers with the last Dense cut to its ``mu`` columns: element-wise
    activations after it act column by column, so the cut commutes with them."""
    for i in range(len(leaves) - 1, -1, -1):
        layer = leaves[i]
        if isinstance(layer, Activation):
            continue
        if not isinstance(layer, Dense):
            break
        W, b = layer.params["W"], layer.params["b"]
        mu = Dense(layer.in_features, L, rng=0, dtype=W.dtype)
        mu.params["W"][...] = W[:, :L]
        mu.params["b"][...] = b[:L]
        return [*leaves[:i], mu, *leaves[i + 1:]]
    raise ValueError("classifier_from: the VAE's encoder must end in a Dense layer (then "
                     "element-wise activations) for its mu half to be taken")


def _code_shape(encoder: Sequential, input_shape: Any) -> tuple[int, ...]:
    """The shape of one code: from the last Dense layer, else by a forward pass on one
    zero sample of ``input_shape``."""
    width = output_width(encoder)
    if width is not None:
        return (width,)
    if input_shape is None:
        raise ValueError("classifier_from: cannot tell the code size from the encoder's "
                         "layers (it does not end in a Dense layer); pass input_shape, the "
                         "shape of one sample, e.g. input_shape=(1, 28, 28)")
    first = next((p for _, p, _ in encoder.parameters()), None)
    dtype = first.dtype if first is not None else np.float32
    x = backend.to_device(np.zeros((1, *input_shape), dtype=dtype))
    return tuple(encoder.forward(x, training=False).shape[1:])


def classifier_from(autoencoder: Any, n_classes: int, hidden: tuple[int, ...] | list[int] = (),
                    *, freeze: bool = False, rng: Any = None, activation: str = "relu",
                    input_shape: tuple[int, ...] | None = None) -> Classifier:
    """A :class:`Classifier` whose encoder is a **copy** of a trained encoder.

    Parameters
    ----------
    autoencoder : Autoencoder, VAE, object with an ``.encoder``, or Sequential
        Dense and convolutional autoencoders give their encoder; a VAE its mean
        ``mu`` (see the module docstring); a stack (anything with an ``.encoder``
        network) or a bare network is used as it is. It is copied: training the
        classifier never changes ``autoencoder``.
    n_classes : int
    hidden : sequence of int
        Widths of hidden layers of the head (``activation`` after each); ``()``
        gives a linear head, softmax regression on the codes.
    freeze : bool
        Keep the encoder fixed (features only), see :class:`Classifier`.
    rng : Generator or int, optional
        The head's initial weights, and the classifier's shuffling.
    input_shape : tuple, optional
        Shape of one sample; needed only when the encoder does not end in a Dense
        layer (a convolutional code such as ``(d, 1, 1)``), to find the code size.
        A code with more than one axis is flattened at the head's input.

    Returns
    -------
    Classifier
    """
    if not is_int(n_classes) \
            or n_classes < 2:
        raise ValueError(f"classifier_from: n_classes must be an int >= 2, got {n_classes!r}")
    if isinstance(hidden, (int, np.integer)) or not isinstance(hidden, (list, tuple)):
        raise TypeError(f"classifier_from: hidden must be a list of layer widths (e.g. [64], "
                        f"or () for a linear head), got {hidden!r}")
    g = as_generator(rng)
    encoder = _encoder_of(autoencoder)
    shape = _code_shape(encoder, input_shape)
    first = next((p for _, p, _ in encoder.parameters()), None)
    dtype = first.dtype if first is not None else np.float32
    layers: list[Layer] = [Flatten()] if len(shape) > 1 else []
    sizes = [int(np.prod(shape)), *hidden]
    for a, b in zip(sizes[:-1], sizes[1:]):
        act = get_activation(activation)
        init = "he" if type(act).__name__ in ("ReLU", "LeakyReLU") else "xavier"
        layers += [Dense(a, b, rng=g, dtype=dtype, init=init), act]
    layers.append(Dense(sizes[-1], int(n_classes), rng=g, dtype=dtype))
    return Classifier(encoder, Sequential(*layers), freeze_encoder=freeze, rng=g)

