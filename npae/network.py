"""A chain of layers, itself a layer; and the one walk of a tree of layers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from npae.backend import Array
from npae.layers.base import Layer

__all__ = ["Sequential", "walk_layers", "leaf_layers", "map_layers", "output_width"]


class Sequential(Layer):
    r"""``y = f_K(... f_2(f_1(x)))``; backward applies the chain rule in reverse:
    ``dx = J_1^T (J_2^T (... J_K^T dy))``, each factor being one layer's backward.

    ``params`` and ``grads`` are flat views keyed ``"<index>.<name>"`` (``"0.W"``),
    nested Sequentials giving ``"1.0.W"``.
    """

    skips_input_grad = True

    def __init__(self, *layers: Layer) -> None:
        # not Layer.__init__: params and grads here are read-only views of the layers'
        self._config = {}
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not (hasattr(layer, "forward") and hasattr(layer, "backward")):
                raise TypeError(
                    f"Sequential: item {i} is a {type(layer).__name__}, not a layer "
                    "(it needs forward and backward)")
        self.layers: list[Layer] = list(layers)

    @property
    def params(self) -> dict[str, Array]:  # type: ignore[override]
        """``{"0.W": W, ...}``: a fresh dict of the layers' arrays (change those in place,
        e.g. ``seq.params["0.W"][...] = W``; assigning to the dict changes nothing)."""
        return {name: p for name, p, _ in self.parameters()}

    @property
    def grads(self) -> dict[str, Array]:  # type: ignore[override]
        """``{"0.W": dW, ...}``, a fresh dict like :attr:`params`."""
        return {name: g for name, _, g in self.parameters()}

    def parameters(self) -> Iterator[tuple[str, Array, Array]]:
        """Yield ``(name, param, grad)`` for every trainable array, in layer order."""
        for i, layer in enumerate(self.layers):
            if hasattr(layer, "parameters"):
                for k, p, g in layer.parameters():
                    yield f"{i}.{k}", p, g
            else:  # a user's layer that follows only the dict protocol
                for k, p in layer.params.items():
                    yield f"{i}.{k}", p, layer.grads.get(k)

    def forward(self, x: Array, training: bool = True) -> Array:
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def forward_to_last(self, x: Array, training: bool = True) -> tuple[Array, Array]:
        """``(y, a)``: the output, as :meth:`forward` gives it, and ``a``, the input of the
        last layer (the logits before a final Sigmoid, which a loss may use directly)."""
        a = x
        for layer in self.layers[:-1]:
            a = layer.forward(a, training=training)
        return (self.layers[-1].forward(a, training=training) if self.layers else a), a

    def backward(self, dy: Array, input_grad: bool = True) -> Array | None:
        """Backpropagate ``dy``; with ``input_grad=False`` the first layer may skip dL/dx."""
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            if i == 0 and not input_grad and getattr(layer, "skips_input_grad", False):
                return layer.backward(dy, input_grad=False)
            dy = layer.backward(dy)
        return dy

    def add_to_grads(self, extra: dict[str, Array]) -> None:
        """Add ``extra[name]`` to the gradient ``name`` (``"0.W"``), out of place.

        For penalties that reach parameters directly (the contractive penalty).
        """
        for name, g in extra.items():
            index, key = name.split(".", 1)
            layer = self.layers[int(index)]
            if isinstance(layer, Sequential):
                layer.add_to_grads({key: g})
            else:
                layer.grads[key] = layer.grads[key] + g

    def config(self) -> dict:
        return {}

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"


def walk_layers(net: Layer, prefix: str = "") -> Iterator[tuple[str, Layer]]:
    """Yield ``(path, layer)`` for every layer of ``net`` that is not a Sequential, in
    forward order, entering nested Sequentials.

    ``path`` is the layer's position as parameter names spell it (``"0"``, ``"1.0"`` for
    the first layer of a Sequential at index 1), so ``f"{path}.W"`` names its weights;
    a ``net`` that is a single layer is yielded with the path ``prefix`` (``""``).
    """
    if not isinstance(net, Sequential):
        yield prefix, net
        return
    for i, layer in enumerate(net.layers):
        yield from walk_layers(layer, f"{prefix}.{i}" if prefix else str(i))


def leaf_layers(net: Layer) -> list[Layer]:
    """The layers of ``net`` that are not Sequentials, in forward order (see
    :func:`walk_layers`)."""
    return [layer for _, layer in walk_layers(net)]


def map_layers(fn: Callable[[Layer], Any], net: Layer,
               join: Callable[..., Any] | None = None) -> Any:
    """``net`` rebuilt with ``fn(layer)`` in place of each leaf layer, its nesting of
    Sequentials kept: each Sequential becomes ``join(*mapped children)`` (a new
    ``Sequential`` by default). A copy of a network is ``map_layers(copy_one, net)``;
    :mod:`npae.io` describes one as nested dicts with its own ``join``."""
    if isinstance(net, Sequential):
        return (join or Sequential)(*[map_layers(fn, layer, join) for layer in net.layers])
    return fn(net)


def output_width(net: Layer) -> int | None:
    """The width of ``net``'s output when its last Dense layer fixes it (element-wise
    activations after it keep the width); ``None`` when it cannot be told without running
    ``net``."""
    from npae.layers.activations import Activation
    from npae.layers.dense import Dense

    for layer in reversed(leaf_layers(net)):
        if isinstance(layer, Activation):
            continue
        return layer.out_features if isinstance(layer, Dense) else None
    return None
