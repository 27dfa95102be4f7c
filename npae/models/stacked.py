r"""Stacked autoencoders: greedy layer-wise pretraining, then the unrolled deep autoencoder.

A deep autoencoder ``784-500-250-30-250-500-784`` started from small random weights
used to be hard to train by backpropagation alone (Hinton & Salakhutdinov, 2006).
Greedy pretraining trains it one layer at a time, each layer a *shallow*
autoencoder of its own:

.. math::

    h^{(0)} = x, \qquad
    (f_k, g_k) = \arg\min_{f, g} \; L\big(h^{(k-1)},\; g(f(h^{(k-1)}))\big), \qquad
    h^{(k)} = f_k\big(h^{(k-1)}\big),

so layer ``k`` learns to reconstruct the (clean) codes of the layer below. The
shallow models may be regularized like any autoencoder of the course: plain,
denoising (Vincent et al., 2010: the stacked denoising autoencoder), sparse or
contractive; each is trained by its own model class through the usual ``fit``.

:func:`unroll` then stacks the encoders ``f_1, ..., f_K`` and the decoders in
mirror order ``g_K, ..., g_1`` into one deep :class:`Autoencoder`, whose weights
start at the pretrained ones and are fine-tuned end to end with backpropagation.
The encoder stack alone (:attr:`Stack.encoder`) is also a pretrained feature
extractor: ``npae.models.classifier_from(stack, n_classes)`` puts a classifier
head on (a copy of) it.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from npae.arguments import as_generator, is_int
from npae.backend import Array
from npae.layers.base import Layer
from npae.models.autoencoder import Autoencoder, check_data, dense_autoencoder
from npae.models.contractive import ContractiveAutoencoder
from npae.models.denoising import DenoisingAutoencoder
from npae.models.sparse import SparseAutoencoder
from npae.network import Sequential, map_layers
from npae.train import History

__all__ = ["KINDS", "Stack", "pretrain_stack", "unroll", "copy_layer"]

#: The model class that trains each shallow autoencoder, by ``kind``.
KINDS: dict[str, type] = {"plain": Autoencoder, "denoising": DenoisingAutoencoder,
                          "sparse": SparseAutoencoder, "contractive": ContractiveAutoencoder}


def copy_layer(layer: Layer) -> Layer:
    """A new layer (or Sequential) of the same class and configuration, holding copies
    of ``layer``'s parameters: training one never changes the other.

    Rebuilt from ``config()`` rather than deep-copied, so the copy does not drag the
    original's cache (the input of its last forward pass, possibly a whole data set).
    """
    def copy_one(leaf: Layer) -> Layer:
        new = type(leaf)(**leaf.config())
        for key, p in leaf.params.items():
            new.params[key][...] = p
        return new

    return map_layers(copy_one, layer)


@dataclass
class Stack:
    """The result of :func:`pretrain_stack`: a greedily pretrained stack of layers.

    Attributes
    ----------
    autoencoders : list of Autoencoder
        The shallow autoencoder of each layer, bottom first; ``autoencoders[k]``
        reconstructs the codes of layer ``k - 1`` (the data for ``k = 0``).
    histories : list of History
        The training history of each shallow autoencoder.
    sizes : tuple of int
        The input width, then the code width of each layer (``(784, 500, 250, 30)``).
    kind : str
        ``"plain"``, ``"denoising"``, ``"sparse"`` or ``"contractive"``.
    encoder : Sequential
        Every encoder layer, bottom first, in one flat Sequential. It *shares* its
        layers with :attr:`autoencoders` (it is a view of the stack, not a copy);
        :func:`unroll` and ``classifier_from`` copy.
    """

    autoencoders: list[Autoencoder]
    histories: list[History]
    sizes: tuple[int, ...]
    kind: str
    encoder: Sequential = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # A Stack may be assembled by hand (e.g. shared lower layers and a new top one):
        # refuse one whose parts do not chain, rather than fail later inside a layer.
        n = len(self.autoencoders)
        if n == 0 or len(self.histories) != n or len(self.sizes) != n + 1:
            raise ValueError(f"Stack: needs one or more autoencoders, one history each and "
                             f"len(sizes) == layers + 1, got {n} autoencoders, "
                             f"{len(self.histories)} histories and sizes {self.sizes}")
        for k, ae in enumerate(self.autoencoders):
            if not isinstance(ae, Autoencoder):
                raise TypeError(f"Stack: autoencoders[{k}] must be an Autoencoder, got "
                                f"{type(ae).__name__}")
            widths = [lay.params["W"].shape for lay in ae.encoder.layers if "W" in lay.params]
            if not widths or (widths[0][0], widths[-1][1]) != tuple(self.sizes[k:k + 2]):
                raise ValueError(f"Stack: autoencoders[{k}] must map width {self.sizes[k]} to "
                                 f"{self.sizes[k + 1]} (sizes {self.sizes}), its encoder's "
                                 f"weights have shapes {widths}")
        self.sizes = tuple(int(s) for s in self.sizes)
        self.encoder = Sequential(*[lay for ae in self.autoencoders for lay in ae.encoder.layers])

    @property
    def decoders(self) -> list[Sequential]:
        """The decoder of each layer's shallow autoencoder, bottom first (shared, not copied)."""
        return [ae.decoder for ae in self.autoencoders]

    def encode(self, x: Array, batch_size: int = 4096) -> Array:
        """The top code ``f_K(... f_1(x))``, without noise, in batches of ``batch_size``."""
        x = self.autoencoders[0].check_data(x, "Stack.encode")
        xp = _xp(x)
        return xp.concatenate([self.encoder.forward(x[i:i + batch_size], training=False)
                               for i in range(0, x.shape[0], batch_size)])

    def __repr__(self) -> str:
        return (f"Stack(kind={self.kind!r}, sizes={'-'.join(map(str, self.sizes))}, "
                f"layers={len(self.autoencoders)})")


def _xp(x: Array) -> Any:
    from npae.backend import get_array_module

    return get_array_module(x)


def _check_sizes(sizes: Any) -> tuple[int, ...]:
    if isinstance(sizes, (int, np.integer)) or isinstance(sizes, (str, bytes)) \
            or not isinstance(sizes, Sequence):
        raise TypeError(f"pretrain_stack: sizes must be a list of code widths, one per layer "
                        f"(e.g. [500, 250, 30] for 784-500-250-30), got {sizes!r}")
    if len(sizes) == 0:
        raise ValueError("pretrain_stack: sizes must name at least one layer width, got []")
    for i, s in enumerate(sizes):
        if not is_int(s):
            raise TypeError(f"pretrain_stack: sizes[{i}] must be an int layer width, got {s!r}")
        if s < 1:
            raise ValueError(f"pretrain_stack: sizes[{i}] must be a width >= 1, got {s}")
    return tuple(int(s) for s in sizes)


def _check_epochs(epochs: Any, n_layers: int) -> list[int]:
    per_layer = list(epochs) if isinstance(epochs, (list, tuple)) else [epochs] * n_layers
    if len(per_layer) != n_layers:
        raise ValueError(f"pretrain_stack: epochs must be an int or one int per layer "
                         f"({n_layers}), got {epochs!r}")
    for e in per_layer:
        if not is_int(e) or e < 0:
            raise ValueError(f"pretrain_stack: epochs must be ints >= 0, got {epochs!r}")
    return [int(e) for e in per_layer]


def _check_model_kwargs(cls: type, kind: str, kwargs: dict[str, Any]) -> None:
    """Refuse keyword arguments the kind's model class does not take, naming those it does."""
    taken = [p for p in inspect.signature(cls).parameters
             if p not in ("self", "encoder", "decoder", "loss", "rng")]
    unknown = sorted(set(kwargs) - set(taken))
    if unknown:
        raise TypeError(f"pretrain_stack: kind={kind!r} ({cls.__name__}) takes no argument "
                        f"{', '.join(map(repr, unknown))}; its options are {taken}")


def pretrain_stack(X: Any, sizes: Sequence[int], *, kind: str = "plain",
                   epochs: int | Sequence[int] = 10, batch_size: int = 128,
                   optimizer: Any = None, activation: str = "sigmoid",
                   code_activation: str | None = None, output_activation: str = "sigmoid",
                   loss: str = "mse", validation: Any = None, verbose: int = 0,
                   rng: Any = None, dtype: Any = np.float32, **model_kwargs: Any) -> Stack:
    """Greedy layer-wise pretraining: one shallow autoencoder per layer, each trained on
    the codes of the layer below.

    Parameters
    ----------
    X : (N, D) float array
        Training data (flat rows; for images use ``data.flat`` or ``X.reshape(N, -1)``).
    sizes : list of int
        The code width of each layer, bottom first; the input width is ``X``'s.
        The 784-500-250-30 stack of Hinton & Salakhutdinov (2006) is ``[500, 250, 30]``.
    kind : {"plain", "denoising", "sparse", "contractive"}
        The shallow model of every layer (:data:`KINDS`); its options (``noise``,
        ``penalty``/``rho``/``beta``/``lam``, ``lam``, ``reduction``) go in
        ``model_kwargs`` and apply to every layer.
    epochs : int or list of int
        Epochs for every layer, or one number per layer.
    batch_size : int
    optimizer : Optimizer, optional
        Each layer trains with a fresh copy of it (no state carried between layers,
        whose parameters share names); ``Adam()`` by default.
    activation : str
        The activation of every code but the top one (and so the output activation of
        every decoder above the first, which reconstructs such codes). The default
        sigmoid keeps the codes in [0, 1], where the denoising noises and ``"bce"`` apply.
    code_activation : str, optional
        The top code's activation: ``"identity"`` (a linear code, as in the 2006 paper),
        or ``"sigmoid"`` for ``kind="sparse"`` (the KL penalty needs codes in (0, 1)).
    output_activation : str
        The first decoder's output activation (the data's range: sigmoid for [0, 1]).
    loss : {"mse", "bce"}
        Every layer's reconstruction loss.
    validation : (M, D) array, optional
        Held-out data, pushed through the stack like ``X``; each history then has
        ``val_...`` entries.
    verbose : int
        Passed to each ``fit`` (0: silent).
    rng : Generator or int, optional
        Initialization, shuffling and noise of every layer.
    dtype : dtype
        Of the parameters (float32; float64 for gradient checks).

    Returns
    -------
    Stack
        ``.encoder`` (every encoder layer), ``.autoencoders``, ``.decoders``, ``.histories``.

    Examples
    --------
    >>> from npae import data
    >>> X = data.load("digits").flat
    >>> stack = pretrain_stack(X, [48, 32, 8], kind="denoising", epochs=2, rng=0)
    >>> stack.encode(X[:5]).shape
    (5, 8)
    """
    sizes = _check_sizes(sizes)
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"pretrain_stack: kind must be one of {sorted(KINDS)}, got {kind!r}")
    cls = KINDS[kind]
    _check_model_kwargs(cls, kind, model_kwargs)
    per_layer_epochs = _check_epochs(epochs, len(sizes))
    X = check_data(X, "pretrain_stack", "X", dtype)
    if X.ndim != 2:
        raise ValueError(f"pretrain_stack: X must be flat rows (N, D), got shape "
                         f"{tuple(X.shape)}; flatten images first, e.g. X.reshape(len(X), -1)")
    V = None
    if validation is not None:
        V = check_data(validation, "pretrain_stack", "validation", dtype)
        if V.shape[1:] != X.shape[1:]:
            raise ValueError(f"pretrain_stack: validation rows must have X's width "
                             f"{X.shape[1]}, got shape {tuple(V.shape)}")
    top = code_activation or ("sigmoid" if kind == "sparse" else "identity")
    g = as_generator(rng)
    widths = (int(X.shape[1]), *sizes)
    autoencoders, histories = [], []
    for k, (n_in, n_code) in enumerate(zip(widths[:-1], widths[1:])):
        last = k == len(sizes) - 1
        ae = dense_autoencoder(n_in, [], n_code, code_activation=top if last else activation,
                               output_activation=output_activation if k == 0 else activation,
                               loss=loss, rng=g, dtype=dtype, model=cls, **model_kwargs)
        opt = None
        if optimizer is not None:
            opt = copy.copy(optimizer)
            opt.state = {}  # the layers' parameters share names: never share moments
        histories.append(ae.fit(X, epochs=per_layer_epochs[k], batch_size=batch_size,
                                optimizer=opt, validation=V, verbose=verbose, rng=g))
        autoencoders.append(ae)
        if not last:  # the next layer learns from the clean codes of this one
            X = _codes(ae, X, batch_size)
            V = None if V is None else _codes(ae, V, batch_size)
    return Stack(autoencoders, histories, widths, kind)


def _codes(ae: Autoencoder, X: Array, batch_size: int) -> Array:
    step = max(batch_size, 4096)  # inference only: larger batches, bounded memory
    return _xp(X).concatenate([ae.encoder.forward(X[i:i + step], training=False)
                               for i in range(0, X.shape[0], step)])


def unroll(stack: Stack, *, model: type | None = None, loss: str | None = None,
           rng: Any = None, **model_kwargs: Any) -> Autoencoder:
    """The deep autoencoder of a pretrained stack, ready for end-to-end fine-tuning.

    Encoder: ``f_1, ..., f_K`` (every encoder layer, bottom first); decoder: the
    decoders mirrored, ``g_K, ..., g_1``, so ``reconstruct(x) = g_1(...g_K(f_K(...f_1(x))))``.
    Every layer is a **copy** (:func:`copy_layer`): fine-tuning the deep model never
    changes the stack, and the stack can be unrolled again.

    Parameters
    ----------
    stack : Stack
        From :func:`pretrain_stack`.
    model : type, optional
        The deep model's class: :class:`Autoencoder` by default (fine-tuning without
        noise or penalty, as in Hinton & Salakhutdinov 2006); any autoencoder class,
        with its options in ``model_kwargs``.
    loss : {"mse", "bce"}, optional
        The reconstruction loss; the stack's by default.
    rng : Generator or int, optional
        The deep model's generator (shuffling, noise).

    Returns
    -------
    Autoencoder
        With flat Sequentials ``encoder`` and ``decoder``; it saves and loads like
        every model.
    """
    if not isinstance(stack, Stack):
        raise TypeError(f"unroll: stack must be the Stack that pretrain_stack returns, got "
                        f"{type(stack).__name__}")
    cls = model or Autoencoder
    if not (isinstance(cls, type) and issubclass(cls, Autoencoder)):
        raise TypeError(f"unroll: model must be an Autoencoder class, got {cls!r}")
    encoder = Sequential(*[copy_layer(lay) for lay in stack.encoder.layers])
    decoder = Sequential(*[copy_layer(lay) for dec in reversed(stack.decoders)
                           for lay in dec.layers])
    first = stack.autoencoders[0]
    return cls(encoder, decoder, loss=loss or first.loss_name, rng=rng, **model_kwargs)
