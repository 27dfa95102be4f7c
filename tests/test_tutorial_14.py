"""Tutorial 14 (what an autoencoder's features are worth) runs headless in fast mode, and
its printed tables support what its prose says about them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import docs_build

SCRIPT = Path(__file__).resolve().parents[1] / "tutorials" / "14_what_features_are_worth.py"
NUM = r"(\d+\.\d)"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tutorial14")
    return docs_build.run_fast(SCRIPT.name, tmp).stdout, tmp


def _mean_std(cell: str) -> tuple[float, float]:
    mean, std = (float(v) for v in cell.split("±"))
    return mean, std


@pytest.mark.slow
def test_figures_and_data(run):
    out, tmp = run
    assert "data: scikit-learn digits" in out and "(fast mode)" in out
    for name in ("14_regularized_features.png", "14_small_data.png", "14_data_specific.png"):
        png = tmp / name
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert png.stat().st_size > 2000, name


@pytest.mark.slow
def test_regularized_features_table(run):
    out, _ = run
    rows = dict(re.findall(r"^\s*(plain|denoising|sparse \(KL\)|contractive|VAE \(mu\)|PCA|"
                           r"raw pixels) \| ([^|\n]+\|[^|\n]+)$", out, re.M))
    assert len(rows) == 7, out
    table = {k: [_mean_std(c) for c in v.split("|")] for k, v in rows.items()}
    for name, cells in table.items():
        for mean, std in cells:
            assert 60 < mean <= 100 and 0 <= std < 10, name  # chance is 10 %
    # the prose: no regularized code is clearly better than the plain one (recomputed
    # here from the table, independently of the tutorial's verdict lines)
    for kind in ("denoising", "sparse (KL)", "contractive", "VAE (mu)"):
        for j in (0, 1):
            gain = table[kind][j][0] - table["plain"][j][0]
            spread = max(table[kind][j][1], table["plain"][j][1])
            assert not (gain > 2 * spread + 0.1 and gain > 0.5), (kind, j)
    # ... and PCA / raw pixels are at least as good as every code by 5-NN
    best_code = max(table[k][1][0] for k in ("plain", "denoising", "sparse (KL)",
                                              "contractive", "VAE (mu)"))
    assert min(table["PCA"][1][0], table["raw pixels"][1][0]) >= best_code - 0.05
    assert out.count("against plain: probe") == 4


@pytest.mark.slow
def test_small_data_table_and_verdicts(run):
    out, _ = run
    assert "label budgets [20, 50, 100, 300] (2, 5, 10, 30 per class)" in out
    rows = {name.strip(): [_mean_std(c) for c in cells.split("|")] for name, cells in
            re.findall(r"^ *([A-Za-z][\w +-]*?) \|((?: +[\d.]+ ± [\d.]+ *\|?){4})$", out,
                       re.M)}
    expected = {"scratch", "pixels + 5-NN"} | {
        f"{e} {m}" for e in ("AE", "stacked DAE", "VAE")
        for m in ("frozen + linear", "frozen + 5-NN", "fine-tuned")}
    assert set(rows) == expected, sorted(rows)
    for name, cells in rows.items():
        assert all(20 < m <= 100 for m, _ in cells), name
    # accuracy grows with the budget for the classifier from scratch and for 5-NN
    for name in ("scratch", "pixels + 5-NN"):
        means = [m for m, _ in rows[name]]
        assert means == sorted(means), name
    # the prose: no pretrained method beats the better of the two methods without
    # pretraining by more than twice the spread, at any budget
    for j, n in enumerate((20, 50, 100, 300)):
        base = max((rows["scratch"][j], rows["pixels + 5-NN"][j]))
        for name, cells in rows.items():
            if name in ("scratch", "pixels + 5-NN"):
                continue
            gain = cells[j][0] - base[0]
            assert not (gain > 2 * max(cells[j][1], base[1]) + 0.1 and gain > 0.6), (name, n)
        assert re.search(rf"^\s*{n} labels: .*no clear gain from pretraining$", out, re.M)
    # ... and at 30 labels per class the AE codes with 5-NN beat the network from scratch
    # while 5-NN on the pixels beats them (the prose's example)
    assert rows["scratch"][3][0] < rows["AE frozen + 5-NN"][3][0] < rows["pixels + 5-NN"][3][0]


@pytest.mark.slow
def test_codecs_are_data_specific(run):
    out, _ = run
    assert "A = digits 0-4" in out and "B = digits 5-9" in out
    mse = {(k, src): (float(a), float(b)) for k, src, a, b in re.findall(
        r"^\s*(AE|PCA)\s+(digits [0-9-]+) \|\s+([\d.]+) \|\s+([\d.]+)$", out, re.M)}
    assert len(mse) == 4, out
    for kind in ("AE", "PCA"):
        on_a = (mse[kind, "digits 0-4"][0], mse[kind, "digits 5-9"][0])
        on_b = (mse[kind, "digits 0-4"][1], mse[kind, "digits 5-9"][1])
        assert on_a[0] < on_a[1] and on_b[1] < on_b[0], kind   # each best on its own data
    # the prose: the AE is the better codec on its own data, the worse one on the other
    assert mse["AE", "digits 0-4"][0] < mse["PCA", "digits 0-4"][0]
    assert mse["AE", "digits 5-9"][1] < mse["PCA", "digits 5-9"][1]
    assert mse["AE", "digits 0-4"][1] > mse["PCA", "digits 0-4"][1]
    assert mse["AE", "digits 5-9"][0] > mse["PCA", "digits 5-9"][0]
    ratios = [float(r) for r in re.findall(r"([\d.]+) times the error", out)]
    assert len(ratios) == 4 and min(ratios) > 1.2
