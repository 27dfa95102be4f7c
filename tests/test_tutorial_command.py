"""``npae tutorial list`` and ``npae tutorial run``, and the discovery they share with the
documentation site: every ``tutorials/NN_*.py`` with its one-line topic, nothing hard-coded."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from npae import tutorials

REPO = Path(__file__).resolve().parents[1]
FILES = sorted(p for p in (REPO / "tutorials").glob("[0-9][0-9]_*.py"))


def npae_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg", "NPAE_OFFLINE": "1", **(env or {})}
    env.pop("NPAE_BACKEND", None)
    return subprocess.run([sys.executable, "-m", "npae.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_list_prints_every_tutorial_with_its_heading(tmp_path):
    proc = npae_cli("tutorial", "list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(FILES) >= 9
    for line, path in zip(lines, FILES):
        heading = next(m.group(1) for m in map(re.compile(r"^# # \d+ · (.+)$").match,
                                               path.read_text().splitlines()) if m)
        assert line.split() == [path.stem, *heading.split()]


def test_discovery_convention(tmp_path):
    (tmp_path / "03_third.py").write_text("# %% [markdown]\n# # 03 · Third: a topic\n")
    (tmp_path / "01_first.py").write_text("# %%\nx = 1\n")  # no heading: the file name
    (tmp_path / "_common.py").write_text("")  # helpers are not tutorials
    (tmp_path / "notes.md").write_text("# # 02 · not a script\n")
    found = tutorials.find_tutorials(tmp_path)
    assert [(t.number, t.name, t.topic) for t in found] == [("01", "01_first", "first"),
                                                            ("03", "03_third", "Third: a topic")]
    assert tutorials.resolve("3", found).name == "03_third"
    assert tutorials.resolve("03_third.py", found).name == "03_third"
    assert tutorials.resolve("fir", found).name == "01_first"
    with pytest.raises(ValueError, match="matches no tutorial"):
        tutorials.resolve("07", found)
    with pytest.raises(ValueError, match="matches several tutorials"):
        tutorials.resolve("_", found)


def test_unknown_name_and_missing_folder_are_one_line_errors(tmp_path):
    proc = npae_cli("tutorial", "run", "no-such-tutorial", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("npae tutorial: 'no-such-tutorial' matches no tutorial")
    proc = npae_cli("tutorial", "list", cwd=tmp_path,
                    env={"NPAE_TUTORIALS": str(tmp_path / "absent")})
    assert proc.returncode == 2 and "no tutorials folder at" in proc.stderr


@pytest.mark.slow
def test_run_01_fast_runs_the_tutorial(tmp_path):
    proc = npae_cli("tutorial", "run", "01", "--fast", cwd=tmp_path,
                    env={"NPAE_FIGURES": str(tmp_path / "figs"),
                         "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "data: scikit-learn digits" in proc.stdout and "(fast mode)" in proc.stdout
    assert any((tmp_path / "figs").glob("01_*.png"))
