"""Reuse the documentation build's run of each tutorial instead of running it again.

CI (``.ci/run``) builds the site before the tests: ``docs/build.py`` executes every
tutorial once, in fast mode, and keeps what its cells printed (``runs/NN_name.txt``) and
the files it saved (``pages/tutorials/figures/NN_name/``) in its stage folder, which it
names in ``$NPAE_DOCS_STAGE``. The tutorial tests then check that run's numbers and
figures rather than spend minutes producing the same ones a second time. Without the
variable (a developer's ``pytest``), they run the script themselves, as before.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"


def executed(name: str, figures: Path) -> subprocess.CompletedProcess | None:
    """The docs build's run of ``tutorials/<name>`` as a finished process (its stdout; exit
    status 0, since the build stops at a failing cell), its files copied into ``figures``;
    None when there is no build to reuse."""
    stage = os.environ.get("NPAE_DOCS_STAGE")
    if not stage:
        return None
    stem = Path(name).stem
    transcript = Path(stage) / "runs" / f"{stem}.txt"
    saved = Path(stage) / "pages" / "tutorials" / "figures" / stem
    if not transcript.is_file():
        return None
    shutil.copytree(saved, figures, dirs_exist_ok=True)
    return subprocess.CompletedProcess([name], 0, transcript.read_text(encoding="utf-8"), "")


def run_fast(name: str, figures: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """``tutorials/<name>`` in fast mode, figures into ``figures``: the docs build's run when
    there is one, else the script in a subprocess (one BLAS thread: small matrices, and no
    oversubscribing a busy machine). Fails, with the end of the output, on a non-zero exit."""
    reused = executed(name, figures)  # CI's docs build ran it already
    if reused is not None:
        return reused
    env = {**os.environ, "NPAE_FAST": "1", "NPAE_FIGURES": str(figures), "MPLBACKEND": "Agg",
           "NPAE_OFFLINE": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(TUTORIALS / name)], cwd=figures, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result
