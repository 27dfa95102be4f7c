"""Shared test configuration: hypothesis profiles, data folders, backends.

Hypothesis profiles (choose with the environment variable ``HYPOTHESIS_PROFILE``):

- ``default``: 30 examples per property, derived from each test's name
  (``derandomize``), so ``python -m pytest`` runs the same examples on every
  run and every machine, CI included: a result is repeatable. No deadline
  (gradient checks evaluate the network hundreds of times, so their run time
  varies a lot) and no example database (nothing left over from an earlier run
  changes what runs).
- ``explore``: what a contributor runs before submitting. Random examples on
  every run (200 per property), no deadline, no database; a failure prints the
  ``@reproduce_failure`` blob and pytest's ``--hypothesis-seed`` replays a run.
- ``dev``: 10 fixed examples, for a quick local loop.

``ci`` (the old name of ``default``) and ``thorough`` (300 random examples) are kept
as aliases.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import npae.backend

import docs_build
import strict_device

_COMMON = {"deadline": None, "database": None,
           "suppress_health_check": [HealthCheck.too_slow]}
_FIXED = {"derandomize": True, **_COMMON}
_RANDOM = {"derandomize": False, "print_blob": True, **_COMMON}
settings.register_profile("default", max_examples=30, **_FIXED)
settings.register_profile("ci", max_examples=30, **_FIXED)
settings.register_profile("dev", max_examples=10, **_FIXED)
settings.register_profile("explore", max_examples=200, **_RANDOM)
settings.register_profile("thorough", max_examples=300, **_RANDOM)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "default")

#: Backends on this machine: "numpy" always, "strict-cupy" (the CPU stand-in for
#: CuPy in ``strict_device.py``) always, "cupy" when CuPy sees a GPU.
BACKENDS: list[str] = ["numpy", "strict-cupy"] + (["cupy"] if npae.backend.cupy_available()
                                                  else [])


MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def _missing_mnist_files(folder: Path) -> list[str]:
    return [name for name in MNIST_FILES
            if not ((folder / f"{name}.gz").is_file() or (folder / name).is_file())]


def mnist_folder() -> Path:
    """Where the MNIST IDX files are expected.

    ``$NPAE_DATA/mnist`` or ``$NPAE_DATA`` itself (the places :mod:`npae.data` looks),
    else ``../shared/data/mnist`` beside the repository.
    """
    env = os.environ.get("NPAE_DATA")
    if env:
        sub = Path(env) / "mnist"
        return sub if not _missing_mnist_files(sub) else Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture
def mnist_dir() -> Path:
    """The folder holding the four MNIST files (gzipped or raw); skips the test when
    any is absent."""
    folder = mnist_folder()
    missing = _missing_mnist_files(folder)
    if missing:
        pytest.skip(f"MNIST files not found in {folder} (missing {missing}); set NPAE_DATA")
    return folder


@pytest.fixture(params=BACKENDS)
def xp_backend(request):
    """Run the test once per available backend; yields the backend's name.

    The backend is switched with ``npae.backend.use`` and always restored to
    "numpy" afterwards, so a failing test cannot leak a GPU backend into others.
    """
    if request.param == "strict-cupy":
        with strict_device.installed():
            yield request.param
        return
    npae.backend.use(request.param)
    try:
        yield request.param
    finally:
        npae.backend.use("numpy")


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator, fresh for every test."""
    return np.random.default_rng(12345)


@pytest.fixture
def run_tutorial(tmp_path: Path):
    """Run ``tutorials/<name>`` in fast mode in a subprocess, figures into ``tmp_path``.

    Returns a function ``run(name, timeout=600) -> CompletedProcess`` that fails the
    test, with the end of the output, when the script exits non-zero.
    """
    def run(name: str, timeout: int = 600) -> subprocess.CompletedProcess:
        return docs_build.run_fast(name, tmp_path, timeout)

    return run
