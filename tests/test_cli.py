"""The ``npae`` command, end to end, each subcommand in its own process.

Runs ``python -m npae.cli`` with this interpreter, so it works in any virtualenv
(whether or not the ``npae`` console script is on the PATH). The expected numbers come
from independent computations: scikit-learn's PCA and NumPy's SVD on scikit-learn's
own copy of the digits.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import npae
import npae.backend
import npae.optim
from npae.cli import main

REPO = Path(__file__).resolve().parents[1]


def npae_cli(*args: str, cwd: Path | None = None, timeout: float = 180
             ) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg", "NPAE_OFFLINE": "1"}
    env.pop("NPAE_BACKEND", None)  # each test chooses its backend explicitly
    return subprocess.run([sys.executable, "-m", "npae.cli", *args], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr}"
    return proc


def digits_split() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits scaled to [0, 1], split as npae.data documents (first 80 %)."""
    from sklearn.datasets import load_digits

    X = load_digits().data / 16.0
    n_test = round(0.2 * len(X))
    return X[: len(X) - n_test], X[len(X) - n_test:]


# --------------------------------------------------------------------------- gradcheck
def check_titles(stdout: str) -> list[str]:
    """The check names in the first column of ``npae gradcheck``'s table."""
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("check"))
    width = lines[header].index("array")
    titles = []
    for line in lines[header + 1:]:
        if not line.strip():
            break
        if line[:width].strip() and not line.lstrip().startswith("!"):
            titles.append(line[:width].strip())
    return titles


def passed_counts(stdout: str) -> tuple[int, int]:
    m = re.search(r"(\d+) of (\d+) checks passed", stdout)
    assert m, stdout[-1000:]
    return int(m.group(1)), int(m.group(2))


def test_gradcheck_passes():
    proc = ok(npae_cli("gradcheck"))
    assert "passed" in proc.stdout
    good, total = passed_counts(proc.stdout)
    titles = check_titles(proc.stdout)
    assert good == total == len(titles)
    assert "FAIL" not in proc.stdout
    # the suite covers every family: layers, activations, losses and whole models
    for name in ("Dense", "ReLU", "Sigmoid", "mse", "bce_with_logits", "softmax_cross_entropy",
                 "Autoencoder"):
        assert any(name in t for t in titles), (name, titles)


def test_gradcheck_only_filters_by_name():
    everything = check_titles(ok(npae_cli("gradcheck")).stdout)
    proc = ok(npae_cli("gradcheck", "--only", "Dense"))
    titles = check_titles(proc.stdout)
    assert titles == [t for t in everything if "dense" in t.lower()]
    assert titles and all("Dense" in t for t in titles)
    good, total = passed_counts(proc.stdout)
    assert good == total == len(titles) < len(everything)


def test_gradcheck_only_matching_nothing_fails():
    proc = npae_cli("gradcheck", "--only", "no-such-layer")
    assert proc.returncode == 1
    assert "no check name contains 'no-such-layer'" in proc.stderr


@pytest.mark.skipif(npae.backend.cupy_available(), reason="CuPy with a GPU is available here")
def test_cupy_backend_without_cupy_is_a_clear_error():
    proc = npae_cli("gradcheck", "--backend", "cupy")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("npae: ") and "cupy" in proc.stderr.lower()
    assert "numpy" in proc.stderr  # says what to use instead


def test_bad_arguments_exit_2_with_usage():
    proc = npae_cli("train", "--model", "no-such-model")
    assert proc.returncode == 2
    assert "usage:" in proc.stderr and "invalid choice" in proc.stderr
    proc = npae_cli()
    assert proc.returncode == 2 and "usage:" in proc.stderr


@pytest.mark.parametrize("argv, option, shown", [
    (["compare-pca", "--limit", "0"], "--limit", "'0'"),  # once ignored: all images used
    (["compare-pca", "--limit", "-1400"], "--limit", "'-1400'"),  # once the last 38 images
    (["compare-pca", "--limit", "ten"], "--limit", "'ten'"),
    (["compare-pca", "--ks", "2", "0"], "--ks", "'0'"),
    (["compare-pca", "--ks", "-2"], "--ks", "'-2'"),
    (["compare-pca", "--epochs", "0"], "--epochs", "'0'"),
    (["tour", "--epochs", "-1"], "--epochs", "'-1'"),
    (["train", "--epochs", "0"], "--epochs", "'0'"),
    (["train", "--latent", "0"], "--latent", "'0'"),
    (["train", "--hidden", "32", "-5"], "--hidden", "'-5'"),
    (["train", "--batch-size", "0"], "--batch-size", "'0'"),
    (["train", "--batch-size", "1.5"], "--batch-size", "'1.5'"),
    (["train", "--seed", "-1"], "--seed", "'-1'"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_integer_options_refuse_values_out_of_range(argv, option, shown, capsys):
    low = 0 if option == "--seed" else 1
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err
    assert err.rstrip().endswith(f"argument {option}: must be an integer >= {low}, got {shown}")


@pytest.mark.parametrize("lr", ["0", "-0.1", "nan", "inf", "fast"])
def test_learning_rate_must_be_positive_and_finite(lr, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--lr", lr])
    assert exc.value.code == 2
    assert capsys.readouterr().err.rstrip().endswith(
        f"argument --lr: must be a positive finite number, got {lr!r}")


def test_verbose_takes_0_1_or_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--verbose", "5"])
    assert exc.value.code == 2 and "invalid choice: 5" in capsys.readouterr().err


def test_negative_limit_end_to_end_is_a_usage_error():
    proc = npae_cli("compare-pca", "--limit", "-1400")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert "argument --limit: must be an integer >= 1, got '-1400'" in proc.stderr


# --------------------------------------------------------------------------- divergence
def test_train_divergence_exits_1_with_the_reason(tmp_path):
    """lr 1e30 diverges in the first epoch: once a KeyError traceback from hist['loss']."""
    path = tmp_path / "diverged.npz"
    for epochs in ("1", "3"):
        proc = npae_cli("train", "--epochs", epochs, "--lr", "1e30", "--out", str(path),
                        "--verbose", "0", cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr and "KeyError" not in proc.stderr
        # the reason, said once (fit's own RuntimeWarning is not repeated), then the outcome
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert re.fullmatch(r"npae train: training diverged: the loss became (nan|inf).* at "
                            r"epoch 1, batch \d+;.*lower the learning rate.*; "
                            + re.escape(f"{path} not written"), lines[0]), lines[0]
        assert "final train loss" not in proc.stdout and "saved" not in proc.stdout
        assert not path.exists()


def _explode_adam(monkeypatch) -> None:
    """Give every Adam a learning rate of 1e30, whatever it is built with or set to.

    The class itself is patched (not the name ``npae.optim.Adam``), so a module that
    imported the name earlier or imports it during the test never keeps a stale copy.
    """
    monkeypatch.setattr(npae.optim.Adam, "lr", property(lambda self: 1e30,
                                                        lambda self, value: None),
                        raising=False)


def test_tour_divergence_exits_1_and_writes_nothing(tmp_path, monkeypatch, capsys):
    _explode_adam(monkeypatch)
    out = tmp_path / "tour"
    assert main(["tour", "--quick", "--out", str(out), "--epochs", "2", "--verbose", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("npae tour: training diverged: the loss became")
    assert err.rstrip().endswith("; no figures or model written")
    assert not any(out.iterdir())


def test_compare_pca_divergence_exits_1_without_a_table(monkeypatch, capsys):
    _explode_adam(monkeypatch)
    code = main(["compare-pca", "--ks", "2", "--epochs", "2", "--limit", "200", "--json",
                 "--verbose", "0"])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert captured.err.startswith("npae compare-pca: training diverged: the loss became")
    assert captured.err.rstrip().endswith("; no table printed")


def test_help_documents_the_exit_status():
    proc = ok(npae_cli("train", "--help"))
    text = " ".join(proc.stdout.split())
    assert "exit status: 0 success, 1 a failed check or a diverged training run" in text
    assert "2 a usage error or bad input" in text


# --------------------------------------------------------------------------- compare-pca
@pytest.mark.slow
def test_compare_pca_json_matches_pca_and_svd():
    from sklearn.decomposition import PCA as SkPCA

    proc = ok(npae_cli("compare-pca", "--json"))
    result = json.loads(proc.stdout)
    Xtr, Xte = digits_split()
    assert result["data"] == "digits"
    assert (result["n_train"], result["n_test"]) == (len(Xtr), len(Xte))
    rows = {r["latent_dim"]: r for r in result["rows"]}
    assert sorted(rows) == [2, 4, 6]
    # the full right singular vectors of the centred and uncentred training data, once
    mean = Xtr.mean(axis=0)
    Vc = np.linalg.svd(Xtr - mean, full_matrices=False)[2]
    Vt = np.linalg.svd(Xtr, full_matrices=False)[2]
    for k, row in rows.items():
        assert list(row) == ["latent_dim", "ae_mse", "pca_mse", "svd_mse", "svd_uncentred_mse",
                             "max_angle_deg"]
        sk = SkPCA(k).fit(Xtr)
        pca_mse = np.mean((sk.inverse_transform(sk.transform(Xte)) - Xte) ** 2)
        svd_mse = np.mean((mean + (Xte - mean) @ Vc[:k].T @ Vc[:k] - Xte) ** 2)
        uncentred_mse = np.mean((Xte @ Vt[:k].T @ Vt[:k] - Xte) ** 2)
        np.testing.assert_allclose(row["pca_mse"], pca_mse, rtol=1e-6)
        np.testing.assert_allclose(row["svd_mse"], svd_mse, rtol=1e-6)
        np.testing.assert_allclose(row["svd_mse"], row["pca_mse"], rtol=1e-6)
        np.testing.assert_allclose(row["svd_uncentred_mse"], uncentred_mse, rtol=1e-6)
        # PCA is the optimal linear reconstruction (on the training data; on held-out
        # data the trained AE may land a hair either side): within 1 %
        assert abs(row["ae_mse"] / row["pca_mse"] - 1) < 0.01, row
        assert 0.0 <= row["max_angle_deg"] < 5.0, row


def test_compare_pca_table_has_the_lectures_header():
    proc = ok(npae_cli("compare-pca", "--ks", "2", "--epochs", "2", "--limit", "300"))
    header = "| Latent Dimension | Autoencoder Error (Linear) | PCA Error | SVD Error |"
    assert header in proc.stdout
    assert "300 training" in proc.stdout
    assert len(re.findall(r"^\| 2 \|", proc.stdout, flags=re.M)) == 1


# --------------------------------------------------------------------------- tour, train
@pytest.mark.slow
def test_tour_writes_figures_and_a_loadable_model(tmp_path):
    out = tmp_path / "tour"
    proc = ok(npae_cli("tour", "--quick", "--out", str(out), "--epochs", "3", "--verbose", "0",
                       cwd=tmp_path))
    for name in ("reconstructions.png", "latent.png", "loss.png"):
        png = out / name
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert png.stat().st_size > 1000, name
        assert f"wrote {png}" in proc.stdout
    model = npae.load(out / "model.npz")
    _, Xte = digits_split()
    rec = model.reconstruct(Xte[:5].astype(np.float32))
    assert rec.shape == (5, 64) and np.all((rec >= 0) & (rec <= 1))  # sigmoid output
    assert model.encode(Xte[:5].astype(np.float32)).shape == (5, 2)  # 64-32-2
    # the held-out MSE it prints is the loaded model's error on the test digits
    printed = float(re.search(r"held-out reconstruction MSE ([\d.]+)", proc.stdout).group(1))
    mse = float(np.mean((model.reconstruct(Xte.astype(np.float32)) - Xte) ** 2))
    assert abs(printed - mse) < 6e-5


def test_train_writes_a_model_that_load_reads(tmp_path):
    path = tmp_path / "X.npz"
    proc = ok(npae_cli("train", "--model", "plain", "--epochs", "2", "--out", str(path),
                       "--verbose", "0", cwd=tmp_path))
    assert path.is_file() and f"saved {path}" in proc.stdout
    model = npae.load(path)
    assert type(model).__name__ == "Autoencoder"
    _, Xte = digits_split()
    Xte32 = Xte.astype(np.float32)
    assert model.encode(Xte32[:3]).shape == (3, 8)  # the default --latent
    assert model.reconstruct(Xte32[:3]).shape == (3, 64)
    # the printed held-out loss was measured on the model that was saved
    printed = float(re.search(r"held-out loss ([\d.]+)", proc.stdout).group(1))
    mse = float(np.mean((model.reconstruct(Xte32).astype(np.float64) - Xte) ** 2))
    assert abs(printed - mse) < 1e-5


@pytest.mark.parametrize("variant", ["denoising", "sparse", "contractive"])
def test_train_every_variant(variant, tmp_path):
    out = tmp_path / f"{variant}.npz"
    proc = npae_cli("train", "--model", variant, "--epochs", "1", "--verbose", "0",
                    "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert type(npae.load(out)).__name__.lower().startswith(variant)
