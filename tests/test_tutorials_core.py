"""Tutorials 01 and 09 run headless in fast mode, write their figures, and convert to notebooks.

Also covers ``tutorials/_common.py``, the helpers every tutorial imports.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import docs_build

REPO = Path(__file__).resolve().parents[1]
TUTORIALS = REPO / "tutorials"
ALL_TUTORIALS = sorted(p.name for p in TUTORIALS.glob("[0-9][0-9]_*.py"))

#: Tutorial script -> the figures it must write, and lines its output must contain.
CASES = {
    "01_vanilla_autoencoder.py": {
        "figures": ["01_loss_curves.png", "01_reconstructions_d2.png",
                    "01_reconstructions_d6.png", "01_latent_2d.png"],
        # fast mode must say which data it used and that the lecture's MNIST numbers
        # are not comparable with it
        "stdout": ["data: scikit-learn digits", "(fast mode)", "not comparable"],
    },
    "09_checking_your_own_gradients.py": {
        "figures": ["09_swish_report.png", "09_step_size.png"],
        # the planted bug fails, the fix passes, the wrong-axis bug hides from dy = 1
        "stdout": ["SwishBeta: FAIL", "SwishBetaFixed: PASS", "dy = ones:   CenterScale: PASS",
                   "dy = random: CenterScale: FAIL"],
    },
}


def _mnist_dir() -> Path:
    env = os.environ.get("NPAE_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data" / "mnist"


def _load_common():
    spec = importlib.util.spec_from_file_location("_common", TUTORIALS / "_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_fast(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    reused = docs_build.executed(script, tmp_path / "figs")  # CI's docs build ran it already
    if reused is not None:
        return reused
    env = {**os.environ, "NPAE_FAST": "1", "NPAE_FIGURES": str(tmp_path / "figs"),
           "MPLBACKEND": "Agg", "NPAE_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(TUTORIALS / script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=420)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(CASES))
def test_tutorial_runs_in_fast_mode(script, tmp_path):
    proc = _run_fast(script, tmp_path)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    for name in CASES[script]["figures"]:
        png = tmp_path / "figs" / name
        assert png.is_file(), f"{script} did not write {name}"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"
        assert png.stat().st_size > 1000, f"{name} is (nearly) empty"
    for line in CASES[script]["stdout"]:
        assert line in proc.stdout, f"{script}: expected {line!r} in its output"
    assert not (tmp_path / "figures").exists(), "figures must go to NPAE_FIGURES"


@pytest.mark.parametrize("script", sorted(CASES))
def test_tutorial_converts_to_notebook(script, tmp_path):
    out = tmp_path / (Path(script).stem + ".ipynb")
    proc = subprocess.run([sys.executable, "-m", "jupytext", "--to", "notebook", "--output",
                           str(out), str(TUTORIALS / script)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    nb = json.loads(out.read_text())
    kinds = [cell["cell_type"] for cell in nb["cells"]]
    assert kinds.count("markdown") >= 5 and kinds.count("code") >= 5, kinds
    # the header cell comes first: the title, what you'll learn, how to run it
    header = "".join(nb["cells"][0]["source"])
    assert kinds[0] == "markdown" and header.startswith(f"# {script[:2]} ")
    assert "What you'll learn" in header and "jupytext --to notebook" in header
    # (that no code cell holds text is checked for every tutorial below)


#: Comment lines that only a markdown cell writes: a heading (``# ## Summary``), bold
#: text (``# **What to notice**``), display math, a code fence, or an empty comment line
#: (a paragraph break). Code comments in the tutorials never start this way.
_MARKDOWN_LINE = re.compile(r"#\s+(#{1,6}\s|\*\*|\$\$|```)|#\s*$")
#: More consecutive comment lines than this, at the start of a line, read as a paragraph
#: of prose: the tutorials keep code comments to one or two lines.
MAX_COMMENT_RUN = 3


def code_cell_problems(source: str) -> list[str]:
    """Why a notebook code cell looks like it swallowed text (empty when it does not).

    It must compile, and it must not hold markdown: a ``# %% [markdown]`` marker left
    out of a jupytext percent script puts the text that follows into the code cell
    above, where it still compiles (it is all comments) but never renders.
    """
    try:
        compile(source, "<cell>", "exec")
    except SyntaxError as err:
        return [f"does not compile: {err}"]
    problems, run = [], 0
    for line in source.splitlines():
        run = run + 1 if line.startswith("#") else 0
        if _MARKDOWN_LINE.match(line):
            problems.append(f"markdown-style comment line {line!r}")
        if run == MAX_COMMENT_RUN + 1:
            problems.append(f"more than {MAX_COMMENT_RUN} comment lines in a row, "
                            f"ending {line!r}")
    return problems


def test_code_cell_problems_spots_text_in_code():
    assert code_cell_problems("x = 1  # why\n# one line\n# and a second\ny = x\n") == []
    assert code_cell_problems("    # ## indented: a comment in code, not a heading\n") == []
    for text in ("print(1)\n\n# ## Summary\n", "f()\n# **Exercises.** (1)\n",
                 "f()\n# Some text.\n#\n# More text.\n", "# a\n# b\n# c\n# d\n",
                 "f()\n# $$ L = x^2 $$\n", "def f(:\n"):
        assert code_cell_problems(text), text


@pytest.mark.parametrize("script", ALL_TUTORIALS)
def test_notebook_code_cells_hold_only_code(script):
    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(TUTORIALS / script)  # what `jupytext --to notebook` writes out
    assert sum(cell.cell_type == "code" for cell in nb.cells) >= 5
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            problems = code_cell_problems(cell.source)
            assert not problems, (f"{script}, code cell {i} (a missing '# %% [markdown]'?): "
                                  f"{problems}\n{cell.source}")


# --------------------------------------------------------------------------- _common
def test_fast_mode_reads_env_and_argv(monkeypatch):
    common = _load_common()
    monkeypatch.setattr(sys, "argv", ["tutorial.py"])
    monkeypatch.delenv("NPAE_FAST", raising=False)
    assert common.fast_mode() is False
    monkeypatch.setenv("NPAE_FAST", "1")
    assert common.fast_mode() is True
    monkeypatch.setenv("NPAE_FAST", "0")
    assert common.fast_mode() is False
    monkeypatch.setattr(sys, "argv", ["tutorial.py", "--fast"])
    assert common.fast_mode() is True


def test_figures_dir_env_and_default(monkeypatch, tmp_path):
    common = _load_common()
    monkeypatch.setenv("NPAE_FIGURES", str(tmp_path / "a" / "b"))
    assert common.figures_dir() == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir()
    monkeypatch.delenv("NPAE_FIGURES")
    monkeypatch.chdir(tmp_path)
    assert common.figures_dir().resolve() == (tmp_path / "figures").resolve()
    assert (tmp_path / "figures").is_dir()


def test_load_images_fast_uses_digits(capsys):
    common = _load_common()
    Xtr, ytr, Xte, yte, name = common.load_images(True, n_train=100, n_test=40)
    assert name == "digits"
    assert Xtr.shape == (100, 64) and Xte.shape == (40, 64)
    assert Xtr.dtype == np.float32 and Xte.dtype == np.float32
    assert ytr.shape == (100,) and yte.shape == (40,)
    assert 0.0 <= Xtr.min() and Xtr.max() <= 1.0
    # scikit-learn's digits are integers 0..16: scaling by 16 must reproduce them
    from sklearn.datasets import load_digits

    ref = load_digits()
    np.testing.assert_array_equal(Xtr * 16, ref.data[:100])
    np.testing.assert_array_equal(ytr, ref.target[:100])
    assert "scikit-learn digits" in capsys.readouterr().out


def test_load_images_falls_back_to_digits_without_mnist(monkeypatch, tmp_path, capsys):
    common = _load_common()
    monkeypatch.setenv("NPAE_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("NPAE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NPAE_OFFLINE", "1")
    Xtr, ytr, Xte, yte, name = common.load_images(False, n_train=10, n_test=10)
    assert name == "digits" and Xtr.shape == (10, 64)
    out = capsys.readouterr().out
    assert "MNIST is not available" in out


def test_load_images_full_uses_mnist(monkeypatch, capsys):
    folder = _mnist_dir()
    if not (folder / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST not found in {folder}")
    common = _load_common()
    monkeypatch.setenv("NPAE_DATA", str(folder))
    monkeypatch.setenv("NPAE_OFFLINE", "1")
    Xtr, ytr, Xte, yte, name = common.load_images(False, n_train=50, n_test=20)
    assert name == "mnist"
    assert Xtr.shape == (50, 784) and Xte.shape == (20, 784) and Xtr.dtype == np.float32
    assert 0.0 <= Xtr.min() and Xtr.max() == 1.0  # 255 / 255 occurs in any 50 digits
    # MNIST's first training labels are known: 5, 0, 4, 1, 9
    np.testing.assert_array_equal(ytr[:5], [5, 0, 4, 1, 9])
    assert "MNIST, 50 training and 20 test images of 28x28" in capsys.readouterr().out
