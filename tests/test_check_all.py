"""``npae exercises check-all``: a class of 30 generated folders, graded in parallel.

Every folder is built from a known kind (solved, blank, a known bug, a hostile trick),
so its scores are known before grading: a correct exercise scores 1; a bug that makes
one gradient of three wrong on every case scores 2/3; anything that fails to import,
times out, is flagged or is wrong on every case scores 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import npae.exercises as E

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exercise_solutions import SOLUTIONS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NAMES = ["dense", "relu", "mse"]
RELU_ZERO = "\nReLU.backward = lambda self, dy: np.zeros_like(dy)\n"

#: kind -> (what to do to each file, expected scores of dense, relu, mse)
KINDS = {
    "solved": ({}, (1, 1, 1)),
    "blank": ({"dense": None, "relu": None, "mse": None}, (0, 0, 0)),
    # dW transposed: a wrong shape on every case, dx and db right: 6 of 9 checks
    "dW_transposed": ({"dense": ('self.grads["W"] = self.x.T @ dy',
                                 'self.grads["W"] = dy.T @ self.x')}, (2 / 3, 1, 1)),
    "relu_sign": ({"relu": ("dy * (self.x > 0)", "-dy * (self.x > 0)")}, (1, 0, 1)),
    "relu_double": ({"relu": ("dy * (self.x > 0)", "2 * dy * (self.x > 0)")}, (1, 0, 1)),
    "mse_half": ({"mse": ("2 * (pred - target)", "(pred - target)")}, (1, 1, 0)),
    "mse_missing": ({"mse": "delete"}, (1, 1, 0)),
    "dense_syntax": ({"dense": "+\ndef broken(:\n"}, (0, 1, 1)),
    "dense_exit": ({"dense": "+\nimport sys\nsys.exit(0)\n"}, (0, 1, 1)),
    "uses_npae": ({"relu": "+\nimport npae.layers\nReLU.backward = lambda self, dy: "
                           "npae.layers.ReLU.backward(self, dy)\n"}, (1, 0, 1)),
    "rebinds_grader": ({"relu": "+\nimport npae.exercises.grading as g\n"
                                "g.verdict = lambda *a, **k: (True, 0.0, 'right')\n"
                        + RELU_ZERO}, (1, 0, 1)),
    "patches_numpy": ({"relu": "+\nnp.allclose = lambda *a, **k: True\n" + RELU_ZERO},
                      (1, 0, 1)),
    "kills_parent": ({"relu": "+\nimport os\nos.kill(os.getppid(), 9)\n"}, (1, 0, 1)),
    "kills_relay": ({"relu": "+\nimport ctypes, os\nctypes.CDLL(None).kill(os.getppid(), 9)\n"},
                    (1, 0, 1)),
    "writes_every_fd": ({"relu": "+\nimport os\nfor _fd in range(256):\n    try:\n"
                                 "        os.write(_fd, b'x' * 64)\n    except OSError:\n"
                                 "        pass\n"}, (1, 0, 1)),
    "allocates_100GB": ({"mse": "+\n_big = np.ones(100 * 10**9 // 8)\n"}, (1, 1, 0)),
    "loops_forever": ({"mse": "+\nimport signal\nsignal.signal(signal.SIGTERM, "
                              "signal.SIG_IGN)\nwhile True:\n    pass\n"}, (1, 1, 0)),
    "fake_reply_then_exit": ({"relu": "+\nimport gc, os\nfor _o in gc.get_objects():\n"
                                      "    if type(_o).__name__ == 'Channel':\n"
                                      "        _o.send('ok', '\\nnpae \\ntypes ')\n"
                                      "os._exit(0)\n"}, (1, 0, 1)),
}


def build(root: Path) -> dict[str, tuple]:
    """30 student folders, cycling through the kinds; their expected scores by name."""
    kinds = list(KINDS)
    expected = {}
    for i in range(30):
        kind = kinds[i % len(kinds)]
        student = f"s{i + 1:02d}_{kind}"
        folder = root / student
        folder.mkdir(parents=True)
        edits, scores = KINDS[kind]
        for name in NAMES:
            text = E.EXERCISES[name].source() + SOLUTIONS[name]
            edit = edits.get(name, "keep")
            if edit is None:
                text = E.EXERCISES[name].source()
            elif edit == "delete":
                continue
            elif isinstance(edit, str) and edit.startswith("+"):
                text += edit[1:]
            elif isinstance(edit, tuple):
                assert edit[0] in text
                text = text.replace(*edit)
            (folder / f"{name}.py").write_text(text)
        expected[student] = scores
    return expected


def expected_csv(expected: dict[str, tuple]) -> str:
    lines = ["student," + ",".join(NAMES) + ",total"]
    for student in sorted(expected):
        s = expected[student]
        lines.append(",".join([student, *(f"{v:.3f}" for v in s), f"{sum(s):.3f}"]))
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="the hostile kinds use POSIX calls")
def test_check_all_over_30_students_gives_the_expected_csv_in_parallel(tmp_path):
    expected = build(tmp_path / "submissions")
    csv_path = tmp_path / "grades.csv"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "npae.cli", "exercises", "check-all",
                          str(tmp_path / "submissions"), "--only", *NAMES, "--csv",
                          str(csv_path), "--jobs", "2", "--time-limit", "3", "--json"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert csv_path.read_bytes() == expected_csv(expected).encode()
    result = json.loads(out.stdout)
    assert result["jobs"] == 2 and len(result["students"]) == 30
    for s in result["students"]:
        assert E.validate(s["grade"]) == []
        for r in s["grade"]["exercises"]:
            assert "\n" not in r["message"]
    # two folders were graded at the same time
    spans = sorted((s["started"], s["started"] + s["seconds"]) for s in result["students"])
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:]))


def test_check_all_table_csv_and_usage(tmp_path):
    subs = tmp_path / "class"
    for student, relu in (("ann", SOLUTIONS["relu"]), ("bob", RELU_ZERO)):
        (subs / student).mkdir(parents=True)
        (subs / student / "relu.py").write_text(E.EXERCISES["relu"].source() + relu)
    (subs / ".hidden").mkdir()
    # a student's exercises_extra.py is never imported into the grader
    (subs / "bob" / E.EXTRA_FILE).write_text("raise SystemExit('imported!')\n")
    result = E.check_all(subs, ["relu"], jobs=1)
    assert [s["student"] for s in result["students"]] == ["ann", "bob"]
    assert E.grades_csv(result) == "student,relu,total\nann,1.000,1.000\nbob,0.000,0.000\n"
    table = E.format_class(result)
    assert "bob" in table and "relu (relu: dx wrong: is zero everywhere" in table
    assert "passed by exercise: relu 1/2" in table
    with pytest.raises(ValueError, match="is not a folder"):
        E.check_all(tmp_path / "nope")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "npae.cli", "exercises", "check-all", str(subs),
                          "--only", "relu"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and "imported!" not in out.stdout + out.stderr
    assert out.stdout.splitlines()[0].split() == ["student", "score", "passed", "failed",
                                                  "(first", "reason)"]
