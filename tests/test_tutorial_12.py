"""Tutorial 12 (applications) runs headless in fast mode, saves its figures, and its
printed tables say what its prose says."""

from __future__ import annotations

import math
import re

import pytest


def table_value(out: str, label: str, column: int = 0) -> float:
    row = re.search(rf"^{re.escape(label)}\s+([-\d.na]+)(?:\s+([-\d.na]+))?", out, re.M)
    assert row, f"no row {label!r} in:\n{out}"
    return float(row.group(column + 1))


@pytest.mark.slow
def test_tutorial_12_applications(run_tutorial, tmp_path):
    out = run_tutorial("12_applications.py").stdout
    assert "data: scikit-learn digits" in out
    assert "colour data: sample-image patches" in out
    pngs = {p.name for p in tmp_path.glob("*.png") if p.stat().st_size > 1000}
    assert {"12_inpainting.png", "12_watermark.png", "12_colorization.png",
            "12_rate_distortion.png"} <= pngs

    # inpainting, errors inside the holes: the prose's ordering
    zeros, mean = table_value(out, "zeros (the input)"), table_value(out, "mean image")
    proj, lsq = table_value(out, "PCA projection (k=16)"), table_value(out,
                                                                      "PCA least squares (k=16)")
    dae = table_value(out, "conv DAE")
    assert mean < zeros / 2 and lsq < proj < mean
    assert lsq < dae < proj  # the DAE between the two PCA fills, as the prose says

    # watermark: the blind DAE lowers the error under the stamp several-fold
    marked = table_value(out, "watermarked input", 1)
    blind = table_value(out, "conv DAE (blind)", 0), table_value(out, "conv DAE (blind)", 1)
    told = (table_value(out, "PCA l.sq. told the stamp's place", 0),
            table_value(out, "PCA l.sq. told the stamp's place", 1))
    assert blind[1] < marked / 3
    assert blind[1] < told[1] and told[0] < blind[0]  # better under the stamp, worse overall

    # colorization: below the grey baseline; the known brightness lowers it again
    grey = table_value(out, "grey in every channel")
    raw, fixed = table_value(out, "colour DAE"), table_value(out, "colour DAE, known brightness")
    assert fixed < grey / 3 and raw < 0.85 * grey and fixed < raw

    # compression: the table of best errors within a budget of bits
    rows = {int(m.group(1)): [float(v) for v in m.group(2).split()]
            for m in re.finditer(r"^\s+(\d+)((?:\s+(?:nan|[\d.]+)){4})$", out, re.M)}
    assert set(rows) == {32, 64, 128, 256, 512, 1024, 2048, 4096}, out
    ae, pca, jpeg_file, jpeg_payload = zip(*(rows[b] for b in sorted(rows)))
    assert all(a < p for a, p in zip(ae, pca))   # the AE beats PCA at every budget
    assert math.isnan(jpeg_file[0]) and math.isnan(jpeg_payload[0])  # JPEG can't go that low
    assert math.isnan(jpeg_file[5])               # a whole JPEG file needs > 1024 bits
    assert jpeg_payload[-1] < ae[-1] / 10         # with bits to spare, JPEG wins
