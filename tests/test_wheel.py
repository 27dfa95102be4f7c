"""The package as a user installs it: build the wheel, install it into a fresh virtual
environment, and use the course from there, outside any checkout.

The wheel is built from a copy of the checkout's files (those git tracks, plus untracked
ones it does not ignore), so a file the package needs but git lacks fails here as it
would for a user, and the build leaves nothing behind in the checkout.

The new environment is made without ``--system-site-packages`` and gets the wheel alone
(``--no-deps``); its dependencies (NumPy, SciPy, Matplotlib, scikit-learn, tqdm) come
from the environment running this test, through a ``.pth`` line appended to the new
site-packages. That keeps the test offline and fast (no download and unpacking of
~150 MB of wheels on every CI run), while the checkout's own ``npae`` (an editable
install there, which a plain path entry does not activate) cannot be picked up: the new
site-packages comes first on ``sys.path``, and the test asserts where ``npae`` and its
tutorials were imported from. The dependencies the wheel declares are checked against
what that environment provides, so the run uses versions the wheel accepts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TUTORIALS = sorted(p.stem for p in (REPO / "tutorials").glob("[0-9][0-9]_*.py"))


# what the commands below see: nothing of the checkout (a developer's PYTHONPATH would
# also make pip believe npae is installed already)
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if k not in ("PYTHONPATH", "NPAE_TUTORIALS", "NPAE_BACKEND", "VIRTUAL_ENV")}


def checkout_files() -> list[str]:
    """The checkout's files as a fresh clone has them (plus untracked, unignored ones)."""
    if shutil.which("git") and (REPO / ".git").exists():
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                              "-z"], cwd=REPO, capture_output=True, check=True).stdout
        return [f for f in out.decode().split("\0") if f and (REPO / f).is_file()]
    skip = {".git", ".venv-ci", ".venv", "venv", "build", "dist", "site", "__pycache__"}
    return [str(p.relative_to(REPO)) for p in REPO.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(REPO).parts)]


def build_wheel(dest: Path) -> Path:
    src = dest / "src"
    for name in checkout_files():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps",
                           "--disable-pip-version-check", "-q", "-w", str(dest / "dist")],
                          env=CLEAN_ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = (dest / "dist").glob("npae-*.whl")
    return wheel


def make_venv(venv: Path, wheel: Path) -> Path:
    """A fresh environment holding the wheel; returns its site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env=CLEAN_ENV,
                   check=True)
    python = venv / "bin" / "python"
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                           "-q", "--no-deps", "--no-index", "--disable-pip-version-check",
                           str(wheel)], env=CLEAN_ENV, capture_output=True, text=True, timeout=300)
    if "no such option: --python" in proc.stderr:  # pip < 22.3: the venv's own pip
        subprocess.run([str(python), "-m", "ensurepip", "-q"], env=CLEAN_ENV, check=True)
        proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                               "--no-index", str(wheel)], env=CLEAN_ENV, capture_output=True,
                              text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True)
    site_packages = Path(site.stdout.strip())
    # the dependencies: this environment's site-packages, after the new one on sys.path
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site_packages / "zz_test_dependencies.pth").write_text("\n".join(deps) + "\n")
    return site_packages


def declared_requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode()
    return [line.split(":", 1)[1].strip() for line in text.splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line]


@pytest.mark.slow
def test_wheel_installs_and_the_course_runs_outside_the_checkout(tmp_path):
    start = time.perf_counter()
    wheel = build_wheel(tmp_path / "wheelbuild")
    names = zipfile.ZipFile(wheel).namelist()
    # the course inside the package, taken from tutorials/ at build time
    shipped = sorted(Path(n).stem for n in names
                     if re.fullmatch(r"npae/_tutorials/\d\d_\w+\.py", n))
    assert shipped == TUTORIALS and "npae/_tutorials/_common.py" in names
    assert not any(n.startswith(("tests/", "benchmarks/", "tutorials/", "docs/")) for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE")
               for n in names), "the MIT license text travels in the wheel"

    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement  # pytest's own dependency

    for req in map(Requirement, declared_requirements(wheel)):
        try:
            have = version(req.name)
        except PackageNotFoundError:
            pytest.fail(f"the wheel requires {req}, which this environment lacks")
        assert req.specifier.contains(have, prereleases=True), f"{req} but {have} here"

    venv = tmp_path / "venv"
    site_packages = make_venv(venv, wheel)
    built = time.perf_counter() - start

    work = tmp_path / "student"  # cwd: no checkout above it, nothing of it on the path
    work.mkdir()
    env = dict(CLEAN_ENV)
    env.update({"MPLBACKEND": "Agg", "NPAE_OFFLINE": "1", "PYTHONNOUSERSITE": "1",
                "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1",
                "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"})

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), cwd=work, env=env, capture_output=True, text=True,
                              timeout=300)

    def npae(*args: str) -> subprocess.CompletedProcess:
        proc = run(str(venv / "bin" / "npae"), *args)
        assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-2000:])
        return proc

    proc = run(str(venv / "bin" / "python"), "-c",
               "import npae, npae.tutorials as t; print(npae.__file__); print(t.tutorials_dir())")
    assert proc.returncode == 0, proc.stderr
    module, folder = map(Path, proc.stdout.split())
    assert module == site_packages / "npae" / "__init__.py"
    assert folder == site_packages / "npae" / "_tutorials"

    source_version = re.search(r'^__version__ = "(.+)"', (REPO / "npae" / "__init__.py")
                               .read_text(), re.M).group(1)
    assert npae("--version").stdout.strip() == f"npae {source_version}"
    assert wheel.name.startswith(f"npae-{source_version}-")

    npae("tour", "--quick", "--out", "tour", "--verbose", "0")
    for name in ("reconstructions.png", "latent.png", "loss.png", "model.npz"):
        assert (work / "tour" / name).stat().st_size > 0, name

    listed = npae("tutorial", "list").stdout.splitlines()
    assert [line.split()[0] for line in listed] == TUTORIALS

    proc = npae("tutorial", "run", "01", "--fast")
    assert "(fast mode)" in proc.stdout
    assert any((work / "figures").glob("01_*.png"))

    proc = npae("tutorial", "copy", "course")
    assert sorted(p.name for p in (work / "course").iterdir()) == \
        sorted(["_common.py"] + [f"{t}.py" for t in TUTORIALS])
    for t in TUTORIALS:  # the same text as the checkout's: one source
        assert (work / "course" / f"{t}.py").read_bytes() == \
            (REPO / "tutorials" / f"{t}.py").read_bytes()

    npae("exercises", "make", "exercises")
    assert any((work / "exercises").glob("*.py"))

    proc = run(str(venv / "bin" / "npae"), "bench")
    assert proc.returncode == 2 and "git clone" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    print(f"wheel built and installed in {built:.1f} s; "
          f"all in {time.perf_counter() - start:.1f} s")


def test_license_changelog_and_citation_agree_with_the_package():
    from npae import __version__

    license_text = (REPO / "LICENSE").read_text()
    assert license_text.startswith("MIT License") and "npae contributors" in license_text
    assert "Permission is hereby granted, free of charge" in license_text
    assert re.search(r"^license = MIT$", (REPO / "setup.cfg").read_text(), re.M)
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    # the keys CFF 1.2.0 requires; no second copy of the version to fall out of step
    assert cff["cff-version"] == "1.2.0"
    assert cff["message"] and cff["title"] and cff["authors"]
    assert cff["license"] == "MIT" and "version" not in cff
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert re.search(rf"^## {re.escape(__version__)}\b", changelog, re.M), \
        f"CHANGELOG.md has no section for {__version__}"
