"""Tutorial 11 (stacked autoencoders) runs headless in fast mode, writes its figure, and
its printed tables show what its prose says: every pretrained layer beats its random
initialization, the fine-tuned stack beats PCA at the same code size and beats the
unrolled stack before fine-tuning, the 2-D stacked map scores a higher 5-NN
accuracy than PCA's 2-D map, and with few labels the fine-tuned pretrained encoder
classifies better than the same network from random weights or the frozen encoder."""

from __future__ import annotations

import re

import pytest


def table_rows(out: str, header: str) -> list[list[str]]:
    """The rows of the markdown table that starts with ``header``."""
    block = out.split(header, 1)[1].split("\n\n", 1)[0]
    return [[c.strip() for c in line.strip("|").split("|")]
            for line in block.strip().splitlines()[1:] if line.startswith("|")]


@pytest.mark.slow
def test_tutorial_11_fast_mode(run_tutorial, tmp_path):
    out = run_tutorial("11_stacked_autoencoders.py").stdout
    assert "data: scikit-learn digits" in out and "(fast mode)" in out
    assert (tmp_path / "11_2d_codes_pca_vs_stacked.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    layers = table_rows(out, "| layer | shape | random init | pretrained | ratio |")
    assert [r[1] for r in layers] == ["64-48-64", "48-32-48", "32-8-32"]
    for r in layers:  # "several times better than a randomly initialized layer"
        assert float(r[3]) < 0.5 * float(r[2]), r

    mse = {r[0]: float(r[1]) for r in table_rows(out, "| model | test MSE | vs PCA |")}
    pca = mse["PCA, 8 components"]
    assert mse["stacked AE, fine-tuned"] < 0.9 * pca  # "clearly lower error than PCA"
    assert mse["stacked AE, unrolled (no fine-tuning)"] > 1.3 * mse["stacked AE, fine-tuned"]
    assert "same deep AE, random init" in mse

    maps = {r[0]: (float(r[1]), float(r[2]))
            for r in table_rows(out, "| map | test MSE | 5-NN accuracy |")}
    assert set(maps) == {"PCA", "stacked AE"}
    assert maps["stacked AE"][0] < maps["PCA"][0]  # lower 2-D reconstruction error
    assert maps["stacked AE"][1] > maps["PCA"][1] + 0.1  # "clearly higher" 5-NN accuracy

    acc = {r[0]: float(r[1]) for r in table_rows(out, "| start | test accuracy |")}
    fine = acc["pretrained encoder, fine-tuned"]
    assert fine > acc["random init, trained end to end"]  # "more accurate than ... random"
    assert fine > acc["pretrained encoder, frozen (softmax only)"]
    assert re.search(r"pretrained Stack\(kind='denoising', sizes=64-48-32-8, layers=3\)", out)
