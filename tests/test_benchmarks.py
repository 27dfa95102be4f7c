"""The benchmark suite runs end to end and reports what the issue asks for.

Timings are never asserted (they belong to ``python -m benchmarks`` on a quiet
machine); these tests check that every row has its fields and that the GPU rows
appear, with their speed-up over the CPU, when a (stand-in) GPU is there.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import __main__ as suite

import strict_device


def _check_rows(result: dict, devices: list[str]) -> None:
    rows = result["rows"]
    assert [r["device"] for r in rows] == devices
    for r in rows:
        assert r["npae_s"] > 0 and r["samples"] > 0 and r["npae_peak_mb"] >= 0
        if "torch_s" in r:
            assert r["ratio"] == pytest.approx(r["npae_s"] / r["torch_s"])
    table = suite.markdown(result)
    assert "| benchmark | device | npae s | samples/s | PyTorch s | ratio |" in table
    assert len(table.splitlines()) == 4 + len(rows)


def test_suite_on_the_cpu_writes_a_table_and_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert suite.main(["--only", "dense AE", "--repeat", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    _check_rows(result, ["cpu"])
    assert result["threads"] >= 1 and result["numpy"]
    assert "| dense AE epoch | cpu |" in capsys.readouterr().out


def test_suite_adds_gpu_rows_with_the_speed_up_over_the_cpu():
    with strict_device.installed():
        result = suite.run(only="contractive", repeat=1)
    _check_rows(result, ["cpu", "gpu"])
    cpu, gpu = result["rows"]
    assert gpu["speedup_vs_npae_cpu"] == pytest.approx(cpu["npae_s"] / gpu["npae_s"])
    assert "| contractive AE epoch | gpu |" in suite.markdown(result)


# -- the conv models' epochs and the per-layer table (tiny sizes; timings never asserted) ---

from benchmarks import _harness, layers  # noqa: E402

CONV_ROWS = ["classic conv AE epoch", "CNN AE (32,1,1) code epoch", "conv VAE epoch"]


@pytest.fixture
def tiny(monkeypatch):
    """A batch of 4 per layer, no pauses: the code paths, not the speed."""
    monkeypatch.setattr(layers, "BATCH", 4)
    monkeypatch.setattr(layers, "CALL_S", 1e-4)
    monkeypatch.setattr(_harness, "PAUSE", 0.0)


@pytest.fixture
def no_torch(monkeypatch):
    """As in CI, where PyTorch is not installed."""
    monkeypatch.setattr(suite, "try_torch", lambda: None)
    monkeypatch.setattr(layers, "try_torch", lambda: None)


def test_conv_model_epochs_report_time_and_memory_without_torch(tiny, no_torch, monkeypatch,
                                                              tmp_path):
    """Epochs of 128 images (--samples) of the three conv models, npae only."""
    monkeypatch.setattr(suite, "BENCHMARKS", [b for b in suite.BENCHMARKS if b[0] in CONV_ROWS])
    out = tmp_path / "r.json"
    assert suite.main(["--samples", "128", "--repeat", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    _check_rows(result, ["cpu"] * 3)
    assert [r["benchmark"] for r in result["rows"]] == CONV_ROWS
    for row in result["rows"]:
        assert row["samples"] == 128 and row["npae_peak_mb"] > 0 and "torch_s" not in row
        assert f"| {row['benchmark']} | cpu |" in suite.markdown(result)


# Rows the models must give (from their definitions): layer, input (C x H x W).
EXPECTED_LAYERS = [
    ("Conv2D(1, 16, k=3, s=1, p=1)", "1x28x28"), ("MaxPool2D(k=2, s=2)", "16x28x28"),
    ("Conv2D(16, 32, k=3, s=1, p=1)", "16x14x14"), ("MaxPool2D(k=2, s=2)", "32x14x14"),
    ("Upsample2D(scale=2)", "32x7x7"), ("Conv2D(32, 16, k=3, s=1, p=1)", "32x14x14"),
    ("Upsample2D(scale=2)", "16x14x14"), ("Conv2D(16, 1, k=3, s=1, p=1)", "16x28x28"),
    ("Conv2D(32, 32, k=7, s=1, p=0)", "32x7x7"),
    ("ConvTranspose2D(32, 32, k=7, s=1, p=0, op=0)", "32x1x1"),
    ("ConvTranspose2D(32, 16, k=3, s=2, p=1, op=1)", "32x7x7"),
    ("ConvTranspose2D(32, 16, k=4, s=2, p=1, op=0)", "32x7x7"),
    ("Dense(1568, 32)", "1568"),
]


def test_layers_flag_prints_every_layer_of_the_conv_models(tiny, no_torch, tmp_path, capsys):
    out = tmp_path / "layers.json"
    assert suite.main(["--layers", "--repeat", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = {(r["layer"], r["input"]): r for r in result["rows"]}
    for key in EXPECTED_LAYERS:
        assert key in rows, key
    assert not any(r["layer"].startswith(("Flatten", "Reshape")) for r in result["rows"])
    for r in result["rows"]:
        assert r["npae_s"] > 0 and r["npae_peak_mb"] >= 0 and r["batch"] == 4
        if r["target"]:  # the conv and pooling layers allocate their outputs at least
            assert r["npae_peak_mb"] > 0
        assert "torch_s" not in r and set(r["models"]) <= {"classic", "cnn", "vae"}
        # the products-alone floor is timed for the convolutions and only for them
        assert ("products_s" in r) == r["layer"].startswith(("Conv2D", "ConvTranspose2D"))
        assert r.get("products_s", 1) > 0
    assert rows[("MaxPool2D(k=2, s=2)", "16x28x28")]["target"] == 1.0
    assert rows[("Conv2D(16, 1, k=3, s=1, p=1)", "16x28x28")]["models"] == ["classic"]
    printed = capsys.readouterr().out
    assert ("| layer | input | in | npae ms | PyTorch ms | ratio | target | im2col products ms "
            "| npae peak MiB |") in printed
    assert "| Conv2D(16, 1, k=3, s=1, p=1) | 16x28x28 | classic |" in printed
    assert printed.count("\n| ") == 1 + len(result["rows"])  # the header, one per layer


def test_pytorch_counterparts_compute_what_npae_computes(tiny):
    """Where PyTorch is installed, each layer of the table has a counterpart with the
    same output shape, and the ratio rows are filled in."""
    torch = pytest.importorskip("torch")
    from benchmarks import conv_models

    result = layers.run(only="Conv", repeat=1)
    assert result["rows"] and all(r["ratio"] == pytest.approx(r["npae_s"] / r["torch_s"])
                                  for r in result["rows"])
    for entry in layers.model_layers(2):
        x = np.random.default_rng(0).standard_normal(entry["shape"]).astype(np.float32)
        y = entry["layer"].forward(x)
        with torch.no_grad():
            yt = conv_models.torch_layer(entry["layer"])(torch.from_numpy(x))
        assert tuple(yt.shape) == y.shape, entry["label"]
    assert "ratio" in suite.run(only=CONV_ROWS[0], repeat=1, samples=128)["rows"][0]


# -- how the cost grows (--scaling): tiny sizes, the code paths and the table ------------

def test_scaling_flag_reports_time_memory_and_a_figure(monkeypatch, tmp_path, capsys):
    """Two tiny rows (a dense AE and an 8x8x3 conv AE), npae and PyTorch side by side."""
    pytest.importorskip("torch")
    from benchmarks import scaling

    monkeypatch.setattr(_harness, "PAUSE", 0.0)
    monkeypatch.setattr(scaling, "CONFIGS", [("dense AE", (784,), 16),
                                             ("conv AE", (3, 8, 8), 8)])
    out, fig = tmp_path / "s.json", tmp_path / "s.png"
    assert suite.main(["--scaling", "--samples", "32", "--repeat", "1", "--plot", str(fig),
                       "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [(r["model"], r["input"], r["batch"]) for r in result["rows"]] == [
        ("dense AE", "784", 16), ("conv AE", "3x8x8", 8)]
    for r in result["rows"]:
        assert r["npae_s"] > 0 and r["torch_s"] > 0
        assert r["ratio"] == pytest.approx(r["npae_s"] / r["torch_s"])
        assert r["npae_us"] == pytest.approx(1e6 * r["npae_s"] / 32)
        # both memory columns measured, in their own processes
        assert r["npae_rss_mb"] is not None and r["torch_rss_mb"] is not None
    assert fig.stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "| model | input | batch | npae µs/sample | PyTorch µs/sample | ratio |" in printed
    assert "| conv AE | 3x8x8 | 8 |" in printed


# -- where an epoch's time goes (--profile) ------------------------------------------------

from benchmarks import breakdown  # noqa: E402


def test_profile_flag_splits_every_model_epoch_into_parts(tiny, no_torch, monkeypatch,
                                                          tmp_path, capsys):
    monkeypatch.setattr(breakdown, "try_torch", lambda: None)
    out = tmp_path / "profile.json"
    assert suite.main(["--profile", "--samples", "128", "--repeat", "1", "--json",
                       str(out)]) == 0
    rows = {r["benchmark"]: r for r in json.loads(out.read_text())["rows"]}
    epochs = [b[0] for b in suite.BENCHMARKS if b[1] is None]
    assert list(rows) == epochs and "conv layer fwd+bwd" not in rows
    for name, r in rows.items():
        parts = r["parts"]
        assert list(parts) == [*breakdown.PARTS, "rest"]
        # timed parts never overlap (a nested timed call counts once), so none is
        # negative and their sum stays within the epoch: the rest is >= 0
        assert all(v >= 0 for v in parts.values()), (name, parts)
        assert sum(parts.values()) == pytest.approx(r["npae_s"])
        assert parts["optimizer"] > 0 and parts["activations"] > 0
        assert (parts["conv"] > 0) == ("conv" in name or "CNN" in name), name
    assert rows["dense AE epoch"]["parts"]["dense"] > 0
    assert rows["classic conv AE epoch"]["parts"]["pool/upsample/reshape"] > 0
    printed = capsys.readouterr().out
    assert ("| model | npae s | PyTorch s | ratio | dense | conv | pool/upsample/reshape | "
            "activations | optimizer | rest |") in printed
    assert "| dense AE epoch |" in printed


def test_profile_timers_are_removed_after_the_run_even_after_an_error():
    from npae.layers import Dense
    from npae.optim import Adam

    forward, step = Dense.__dict__["forward"], Adam.__dict__["step"]
    with pytest.raises(RuntimeError, match="stop"), breakdown.timed_parts() as timers:
        assert Dense.__dict__["forward"] is not forward  # timed inside
        Dense(3, 2, rng=0).forward(np.ones((4, 3), np.float32))
        assert timers.seconds["dense"] > 0
        raise RuntimeError("stop")
    assert Dense.__dict__["forward"] is forward and Adam.__dict__["step"] is step
