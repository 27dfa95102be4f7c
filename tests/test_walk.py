"""The one walk of a layer tree (npae.network) and the shared integer check
(npae.arguments.is_int)."""

import numpy as np
import pytest

from npae.arguments import check_int, is_int
from npae.layers import Dense, ReLU, Sigmoid
from npae.network import Sequential, leaf_layers, map_layers, output_width, walk_layers


def nested():
    inner = Sequential(Dense(3, 4, rng=0), ReLU())
    return Sequential(Dense(5, 3, rng=1), inner, Dense(4, 2, rng=2), Sigmoid())


def test_walk_paths_are_the_parameter_names():
    net = nested()
    # every leaf's parameters appear in Sequential.parameters() as "<path>.<key>"
    from_walk = {f"{path}.{key}": p for path, layer in walk_layers(net)
                 for key, p in layer.params.items()}
    from_net = {name: p for name, p, _ in net.parameters()}
    assert from_walk.keys() == from_net.keys()
    assert all(from_walk[k] is from_net[k] for k in from_net)
    assert [path for path, _ in walk_layers(net)] == ["0", "1.0", "1.1", "2", "3"]


def test_a_single_layer_is_its_own_leaf():
    d = Dense(2, 2, rng=0)
    assert list(walk_layers(d)) == [("", d)]
    assert leaf_layers(Sequential()) == []


def test_map_layers_keeps_the_nesting():
    net = nested()
    names = map_layers(lambda layer: type(layer).__name__, net, join=lambda *xs: list(xs))
    assert names == ["Dense", ["Dense", "ReLU"], "Dense", "Sigmoid"]
    same = map_layers(lambda layer: layer, net)
    assert isinstance(same[1], Sequential) and same[1][0] is net[1][0]


def test_forward_to_last_gives_the_output_and_the_last_input():
    net = nested()
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    y, a = net.forward_to_last(x)
    np.testing.assert_array_equal(y, net.forward(x))
    np.testing.assert_array_equal(a, Sequential(*net.layers[:-1]).forward(x))
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-a.astype(np.float64))), rtol=1e-6)


def test_output_width():
    assert output_width(nested()) == 2
    assert output_width(Sequential(ReLU())) is None


@pytest.mark.parametrize("value, expected", [
    (3, True), (np.int64(3), True), (np.uint8(0), True), (-1, True),
    (True, False), (False, False), (3.0, False), ("3", False), (None, False),
    (np.float32(3), False),
])
def test_is_int(value, expected):
    assert is_int(value) is expected


def test_check_int_names_owner_and_argument():
    assert check_int(np.int32(4), "f", "n", 1) == 4
    with pytest.raises(TypeError, match=r"f: n must be an int >= 1, got True"):
        check_int(True, "f", "n", 1)
    with pytest.raises(ValueError, match=r"f: n must be an int >= 1, got 0"):
        check_int(0, "f", "n", 1)
