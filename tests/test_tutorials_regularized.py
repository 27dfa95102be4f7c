"""Tutorials 03-05 (denoising, sparse, contractive) run headless in fast mode and save
their figures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def figures(tmp_path: Path) -> set[str]:
    return {p.name for p in tmp_path.glob("*.png") if p.stat().st_size > 1000}


@pytest.mark.slow
def test_tutorial_03_denoising(run_tutorial, tmp_path):
    out = run_tutorial("03_denoising_autoencoder.py").stdout
    assert "data: scikit-learn digits" in out
    assert {"03_corruptions.png", "03_denoised_gaussian.png", "03_denoised_salt_pepper.png",
            "03_denoised_masking.png", "03_projection_toy.png"} <= figures(tmp_path)
    # on the table the tutorial prints, every DAE beats its noisy input and, the
    # tutorial's claim, the plain AE given the same noisy input: training with the noise
    # matters. The plain AE alone already beats the noisy input, so only the second
    # comparison would catch a DAE whose corruption did nothing. On the digits the DAE's
    # error is less than half the plain AE's (0.035 against 0.083 for Gaussian noise), so
    # asking for a factor of 1.5 leaves room for other platforms' rounding.
    for name in ("gaussian", "salt & pepper", "masking"):
        row = re.search(rf"^{re.escape(name)}\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", out, re.M)
        assert row, out
        noisy, plain, dae = map(float, row.groups())
        assert dae < noisy, row.group(0)
        assert dae < plain / 1.5, row.group(0)


@pytest.mark.slow
def test_tutorial_04_sparse(run_tutorial, tmp_path):
    out = run_tutorial("04_sparse_autoencoder.py").stdout
    assert "data: scikit-learn digits" in out
    assert {"04_kl_curve.png", "04_sweep_mean_activation.png", "04_filters_plain.png",
            "04_filters_kl_0001.png", "04_filters_kl_0003.png", "04_filters_l1_0001.png",
            "04_filters_l1_0005.png"} <= figures(tmp_path)
    row = re.search(r"^ 0\.05\s+1\.0\s+([\d.]+)", out, re.M)
    assert row and abs(float(row.group(1)) - 0.05) < 0.03, out
    D = int(re.search(r"sigmoid units for (\d+) inputs", out).group(1))
    # deck 002's lambda read two ways: per pixel it is lambda * D against the batch-mean
    # (summed over pixels) error; against a summed error it is lambda / D per pixel
    mapping = re.findall(r"^\s*([\d.]+)\s+lam = ([\d.e+-]+)\s+lam = ([\d.e+-]+)$", out, re.M)
    assert [float(m[0]) for m in mapping] == [1e-3, 3e-3, 5e-3], out
    for w, per_pixel, summed in mapping:
        assert float(per_pixel) == pytest.approx(float(w) * D, rel=1e-3)
        assert float(summed) == pytest.approx(float(w) / D, rel=1e-2)
    # read literally (summed error), lambda = 0.001 leaves the plain model nearly as it was
    table = {m.group(1).strip(): (float(m.group(2)), float(m.group(3)))
             for m in re.finditer(r"^(plain|L1 0\.001, summed)\s+([\d.]+)\s+[\d.]+\s+\d+/\d+"
                                  r"\s+([\d.]+)$", out, re.M)}
    (plain_mean, plain_mse), (lit_mean, lit_mse) = table["plain"], table["L1 0.001, summed"]
    assert abs(lit_mean - plain_mean) < 0.1 and lit_mse < 1.2 * plain_mse, table
    # rho_hat over batches against the training set: the scatter shrinks with the batch,
    # and (Jensen: KL is convex in rho_hat) the mean batch penalty is never below the
    # set's; at the training batch size (64) the excess is of the order of the penalty
    set_penalty = float(re.search(r"penalty sum_j KL = ([\d.]+)", out).group(1))
    rows = [tuple(map(float, r)) for r in re.findall(
        r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([+-][\d.]+)$", out, re.M)]
    assert [r[0] for r in rows][:2] == [16, 64] and len(rows) >= 3, out
    for small, large in zip(rows, rows[1:]):
        assert large[2] < small[2] and large[4] < small[4]
    assert all(r[4] >= -1e-4 for r in rows)
    assert rows[1][4] > 0.3 * set_penalty
    # exact zeros: none from a sigmoid code, most activations from L1 on a ReLU code
    zeros = {m.group(1).strip(): (float(m.group(2)), float(m.group(3)), float(m.group(4)))
             for m in re.finditer(r"^(ReLU, no penalty|ReLU \+ L1 \([\d.]+\)|sigmoid \+ KL "
                                  r"\([\d., ]+\))\s+([\d.]+)\s+([\d.]+)\s+\d+\s+([\d.]+)$",
                                  out, re.M)}
    relu, l1 = zeros["ReLU, no penalty"], zeros["ReLU + L1 (0.03)"]
    assert zeros["sigmoid + KL (0.05, 1)"][0] == 0.0
    assert l1[0] > 0.5 and l1[0] > 2 * relu[0] and l1[2] > relu[2], zeros


@pytest.mark.slow
def test_tutorial_05_contractive(run_tutorial, tmp_path):
    out = run_tutorial("05_contractive_autoencoder.py").stdout
    assert "data: scikit-learn digits" in out
    assert {"05_lambda_sweep.png", "05_jacobian_spectrum.png",
            "05_which_resists_what.png"} <= figures(tmp_path)
    assert "ContractiveAutoencoder: PASS" in out
    jac = [float(m.group(1)) for m in re.finditer(r"^\s*[\d.e-]+\s+[\d.]+\s+([\d.]+)\s", out,
                                                   re.M)][:6]
    assert len(jac) == 6 and jac[0] > jac[-1], out  # lambda = 0 vs 0.1
    # section 3, deck 001's split. The forward-mode Jacobian of g(f(x)) agrees with
    # central differences (float32 model, step 1e-3: a few 1e-5 of rounding)
    fd = re.search(r"central differences \(float32 model\): max \|difference\| ([\d.e+-]+)", out)
    assert fd and float(fd.group(1)) < 1e-3, out
    rows = {m.group(1): (float(m.group(2)), float(m.group(3)), float(m.group(4)),
                         [float(v) for v in m.group(5).split()])
            for m in re.finditer(r"^(plain|denoising|contractive \([\d.]+\))\s+([\d.]+)\s+"
                                 r"([\d.]+)\s+clean ([\d.]+) \|((?: [\d.]+)+)$", out, re.M)}
    gains = {m.group(1): [float(v) for v in m.group(2).split()]
             for m in re.finditer(r"^(plain|denoising|contractive \([\d.]+\))\s+gain:"
                                  r"((?: [\d.]+){6})$", out, re.M)}
    match = re.search(r"closest to the DAE's: lambda = ([\d.]+)", out).group(1)
    plain, dae, cae = rows["plain"], rows["denoising"], rows[f"contractive ({match})"]
    assert len(rows) == 4 and len(gains) == 4, out
    # the encoder: CAE (matched price) < DAE < plain, for J_f and J_r alike
    assert cae[0] < dae[0] < plain[0] and cae[1] < dae[1] < plain[1]
    # finite noise s = 0.01, 0.05, 0.1, 0.2, 0.3, 0.5: the plain model is best at the
    # smallest, the DAE the best of all at its training level s = 0.3 and (only just
    # ahead of the matched CAE) at 0.5
    errs = {name: r[3] for name, r in rows.items()}
    assert plain[3][0] == min(e[0] for e in errs.values())
    assert dae[3][4] == min(e[4] for e in errs.values())
    assert dae[3][5] < plain[3][5] and dae[3][5] <= 1.02 * cae[3][5]
    # how much of the perturbation gets through: CAE < DAE < plain at every size
    for c, d, p in zip(gains[f"contractive ({match})"], gains["denoising"], gains["plain"]):
        assert c < d < p
