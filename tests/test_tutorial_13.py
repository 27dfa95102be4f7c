"""Tutorial 13 (sparse coding of natural images, L-BFGS) runs in fast mode and prints
numbers that agree with its prose."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


def figures(tmp_path: Path) -> set[str]:
    return {p.name for p in tmp_path.glob("*.png") if p.stat().st_size > 1000}


def table(out: str, title: str) -> dict[str, float]:
    """optimizer -> objective, from the table printed under ``title``."""
    block = out.split(title, 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in block.splitlines()[1:]:
        m = re.match(r"^(.+?)\s+(\d+)\s+([\d.]+)\s+([\d.]+)$", line)
        if not m:
            break
        rows[m.group(1)] = float(m.group(3))
    return rows


@pytest.mark.slow
def test_tutorial_13_sparse_coding(run_tutorial, tmp_path):
    out = run_tutorial("13_sparse_coding_natural_images.py").stdout
    assert "fast mode: 1000 patches of 8x8, 100 L-BFGS iterations" in out
    assert {"13_patches.png", "13_filters.png", "13_objective_vs_evaluations.png"} \
        <= figures(tmp_path)
    # the normalization lands in [0.1, 0.9], as the notes ask
    assert "values in [0.10, 0.90]" in out
    # the objective is twice the notes' J, checked against a NumPy formula
    m = re.search(r"npae objective ([\d.]+) = 2 x the notes' J ([\d.]+)", out)
    assert m and abs(float(m.group(1)) - float(m.group(2))) < 1e-8, out
    # L-BFGS lowers the objective and the code reaches the sparsity target
    m = re.search(r"objective 2J: ([\d.]+) -> ([\d.]+)", out)
    assert m and float(m.group(2)) < 0.8 * float(m.group(1)), out
    m = re.search(r"mean activation of the code units: ([\d.]+)", out)
    assert m and abs(float(m.group(1)) - 0.01) < 0.005, out
    # the prose: filters not localized (close to random filters' score)
    m = re.search(r"localization of the 25 filters: median ([\d.]+), (\d+) of 25 above 0.5; "
                  r"random filters: median ([\d.]+)", out)
    assert m and float(m.group(1)) < float(m.group(3)) + 0.15, out
    # the prose, fast mode: on the sparse AE L-BFGS ends below CG and every Adam; on the
    # contractive AE below CG and every full-batch Adam, but above minibatch Adam
    sparse, cae = table(out, "sparse AE"), table(out, "contractive AE")
    for rows in (sparse, cae):
        assert len(rows) == 5 and sum(k.startswith("Adam, full batch") for k in rows) == 2
    assert sparse["L-BFGS-B"] == min(sparse.values()), sparse
    assert cae["L-BFGS-B"] < min(v for k, v in cae.items() if "minibatch" not in k
                                 and k != "L-BFGS-B"), cae
    assert cae["Adam, minibatch 100, lr 0.003"] < cae["L-BFGS-B"], cae
