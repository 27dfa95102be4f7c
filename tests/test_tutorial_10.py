"""Tutorial 10 (autoencoders as pretrained models) runs headless in fast mode and prints
its three tables, whose numbers show what is robustly true on the digits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import docs_build

SCRIPT = Path(__file__).resolve().parents[1] / "tutorials" / "10_pretrained_autoencoders.py"

FIGURES = ["10_label_budget.png", "10_code_size.png", "10_retrieval.png"]
KINDS = ["PCA", "AE", "VAE", "conv AE"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tutorial10")
    return docs_build.run_fast(SCRIPT.name, tmp).stdout, tmp


def _table(out: str, title: str) -> list[list[str]]:
    """The rows (cells as strings) of the markdown table printed after ``title``."""
    block = out.split(title, 1)[1]
    rows = re.findall(r"^\|([^\n]*)\|$", block, re.M)
    rows = rows[2:]  # header and rule
    table = []
    for r in rows:
        cells = [c.strip() for c in r.split("|")]
        if not re.match(r"^\d+$", cells[0]):
            break
        table.append(cells)
    return table


@pytest.mark.slow
def test_writes_its_figures_and_says_which_data(run):
    out, tmp = run
    assert "data: scikit-learn digits" in out and "(fast mode)" in out
    for name in FIGURES:
        png = tmp / name
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert png.stat().st_size > 2000, name


@pytest.mark.slow
def test_part_a_table_has_every_budget_and_every_classifier_beats_chance(run):
    out, _ = run
    assert "| labels | scratch | frozen AE + linear head | fine-tuned AE |" in out
    rows = _table(out, "mean ± standard deviation over 3 seeds")
    assert [r[0] for r in rows] == ["100", "1000", "1438"]
    for r in rows:
        for cell in r[1:]:
            mean, std = (float(v) for v in cell.split("±"))
            # chance is 10 %; measured on the digits: 78-90 % with 600 steps
            assert 60 < mean <= 100 and 0 <= std < 10, r
    assert out.count("labels: fine-tuning the pretrained encoder") == 3


@pytest.mark.slow
def test_part_b_codes_get_better_with_size(run):
    out, _ = run
    for title in ("Linear-probe test accuracy", "5-NN test accuracy"):
        assert "| d | PCA | AE | VAE | conv AE |" in out
        rows = _table(out, title)
        assert [int(r[0]) for r in rows] == [2, 4, 8, 16, 32]
        values = {int(r[0]): [float(c) for c in r[1:]] for r in rows}
        for j, kind in enumerate(KINDS):
            # measured: every code gains 20 points or more from d = 2 to d = 32
            assert values[32][j] > values[2][j] + 10, (title, kind, values)
            assert values[2][j] > 25, (title, kind)  # far above chance even at d = 2
    raw = float(re.search(r"5-NN test accuracy .*raw pixels \(64 values\): ([\d.]+)",
                          out).group(1))
    assert raw > 90  # scikit-learn's 5-NN on these pixels: 96.4 % (tests/test_features.py)


@pytest.mark.slow
def test_part_c_prints_retrieval_precision(run):
    out, _ = run
    rows = _table(out, "Precision@10 of retrieval")
    assert [int(r[0]) for r in rows] == [2, 4, 8, 16, 32]
    assert all(10 < float(c) <= 100 for r in rows for c in r[1:])
    assert re.search(r"at d = 4: precision@10 PCA [\d.]+%, AE [\d.]+%", out)


@pytest.mark.slow
def test_the_prose_on_the_digits_holds(run):
    """Tutorial 10's prose about fast mode: fine-tuning the pretrained encoder did not beat
    training from scratch at any budget, and PCA's code is as good as the nonlinear codes
    or better at almost every d."""
    out, _ = run
    verdicts = re.findall(r"labels: fine-tuning the pretrained encoder (helps|hurts|makes no "
                          r"clear difference)", out)
    assert len(verdicts) == 3 and "helps" not in verdicts
    for title in ("Linear-probe test accuracy", "5-NN test accuracy"):
        rows = _table(out, title)
        behind = sum(float(r[1]) < max(float(c) for c in r[2:]) - 1.0 for r in rows)
        assert behind <= 1, (title, rows)   # PCA more than a point behind at most once
