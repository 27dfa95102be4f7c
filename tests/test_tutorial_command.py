"""``npae tutorial list``, ``run`` and ``copy``, and the discovery they share with the
documentation site: every ``tutorials/NN_*.py`` with its one-line topic, nothing hard-coded."""

from __future__ import annotations

import json
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


def test_copy_writes_every_tutorial_as_a_script_that_runs_there(tmp_path):
    proc = npae_cli("tutorial", "copy", str(tmp_path / "course"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    written = sorted(p.name for p in (tmp_path / "course").iterdir())
    assert written == sorted(["_common.py"] + [p.name for p in FILES])
    for path in FILES:  # the very files of tutorials/, byte for byte
        assert (tmp_path / "course" / path.name).read_bytes() == path.read_bytes()
    assert f"wrote {len(FILES)} tutorials" in proc.stdout
    # a second copy would overwrite a student's edits: refused, nothing touched
    (tmp_path / "course" / FILES[0].name).write_text("# my edits\n")
    proc = npae_cli("tutorial", "copy", str(tmp_path / "course"), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "exist already" in proc.stderr and "--force" in proc.stderr
    assert (tmp_path / "course" / FILES[0].name).read_text() == "# my edits\n"
    proc = npae_cli("tutorial", "copy", str(tmp_path / "course"), "--force", cwd=tmp_path)
    assert proc.returncode == 0 and (tmp_path / "course" / FILES[0].name).read_bytes() == \
        FILES[0].read_bytes()


def test_copied_script_finds_its_helpers_in_its_own_folder(tmp_path):
    # 09 imports _common (figures_dir) and runs in seconds: the copy works on its own
    tutorials.copy(tmp_path / "course")
    script = next(p.name for p in FILES if p.name.startswith("09_"))
    env = {**os.environ, "MPLBACKEND": "Agg", "NPAE_FAST": "1",
           "NPAE_FIGURES": str(tmp_path / "figs"), "NPAE_TUTORIALS": str(tmp_path / "nowhere")}
    proc = subprocess.run([sys.executable, script], cwd=tmp_path / "course", env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_copy_notebooks_are_the_scripts_as_jupyter_notebooks(tmp_path):
    jupytext = pytest.importorskip("jupytext")
    written = tutorials.copy(tmp_path, notebooks=True)
    assert {p.suffix for p in written} == {".py", ".ipynb"}
    for path in FILES:
        nb = json.loads((tmp_path / f"{path.stem}.ipynb").read_text())
        assert nb["nbformat"] == 4
        kinds = [c["cell_type"] for c in nb["cells"]]
        assert "markdown" in kinds and "code" in kinds
        # converting the notebook back gives the cells of the script
        back = jupytext.reads(json.dumps(nb), fmt="ipynb")
        assert [c.source for c in back.cells] == \
            [c.source for c in jupytext.read(path).cells]


def test_copy_notebooks_without_jupytext_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "jupytext", None)  # import jupytext now fails
    with pytest.raises(ModuleNotFoundError, match="pip install jupytext"):
        tutorials.copy(tmp_path / "course", notebooks=True)
    assert not (tmp_path / "course").exists()  # nothing half-written
    from npae import cli

    assert cli.main(["tutorial", "copy", str(tmp_path / "c2"), "--notebooks"]) == 2
    assert not (tmp_path / "c2").exists()


def test_tutorials_folder_inside_the_installed_package_comes_first(tmp_path, monkeypatch):
    # a wheel's layout: npae/_tutorials beside npae/tutorials.py
    fake = tmp_path / "site" / "npae"
    (fake / "_tutorials").mkdir(parents=True)
    (fake / "_tutorials" / "_common.py").write_text("")
    monkeypatch.delenv("NPAE_TUTORIALS", raising=False)
    monkeypatch.setattr(tutorials, "__file__", str(fake / "tutorials.py"))
    assert tutorials.tutorials_dir() == (fake / "_tutorials").resolve()
    (fake / "_tutorials" / "_common.py").unlink()  # neither layout: a one-line error
    with pytest.raises(FileNotFoundError, match="installed without its course files"):
        tutorials.tutorials_dir()


def test_version_has_one_source():
    from npae import __version__

    proc = npae_cli("--version", cwd=REPO)
    assert proc.returncode == 0 and proc.stdout.strip() == f"npae {__version__}"
    cfg = (REPO / "setup.cfg").read_text()
    assert "version = attr: npae.__version__" in cfg
    assert not re.search(r"^version\s*=\s*\d", cfg, re.M)

