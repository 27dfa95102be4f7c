"""The benchmark suite runs end to end and reports what the issue asks for.

Timings are never asserted (they belong to ``python -m benchmarks`` on a quiet
machine); these tests check that every row has its fields and that the GPU rows
appear, with their speed-up over the CPU, when a (stand-in) GPU is there.
"""

from __future__ import annotations

import json

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
