"""``python -m benchmarks --layers`` times each layer on the reference kernels too (tiny
sizes: the column is there and filled in; timings are never asserted)."""

from __future__ import annotations

from benchmarks import _harness, layers
from npae import kernels


def test_the_layer_table_has_the_reference_kernels_column(monkeypatch):
    monkeypatch.setattr(layers, "BATCH", 2)
    monkeypatch.setattr(layers, "CALL_S", 1e-4)
    monkeypatch.setattr(layers, "try_torch", lambda: None)
    monkeypatch.setattr(_harness, "PAUSE", 0.0)
    was = kernels.active()
    result = layers.run(repeat=1)
    assert kernels.active() == was  # the reference steps restore the kernels they found
    kinds = set()
    for r in result["rows"]:
        kind = r["layer"].split("(")[0]
        assert ("reference_s" in r) == (kind in layers.KERNEL_LAYERS), r["layer"]
        assert r.get("reference_s", 1) > 0
        kinds.add(kind)
    assert set(layers.KERNEL_LAYERS) <= kinds
    table = layers.markdown(result)
    assert "| npae peak MiB | reference kernels ms |" in table
    dense = next(line for line in table.splitlines() if line.startswith("| Dense("))
    assert dense.endswith("| - |")
    conv = next(line for line in table.splitlines() if line.startswith("| Conv2D("))
    assert conv.endswith("x) |")  # "ms (N.Nx)": how many times the fast kernels' time
