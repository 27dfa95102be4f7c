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
from pathlib import Path


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
