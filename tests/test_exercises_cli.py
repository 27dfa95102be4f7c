"""``npae exercises`` end to end, in its own process: make, check, --json, --register."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from npae.exercises import EXTRA_FILE, GRADE_SCHEMA, validate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exercise_solutions import SOLUTIONS  # noqa: E402
from test_exercises import EXTRA, LEAKY_SOLUTION  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def npae(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}
    env.pop("NPAE_BACKEND", None)
    return subprocess.run([sys.executable, "-m", "npae.cli", "exercises", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def test_list_names_every_exercise_with_topic_and_difficulty(tmp_path):
    out = npae("list", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = out.stdout.splitlines()
    assert rows[0].split() == ["exercise", "topic", "level", "what"]
    assert rows[1].split()[:3] == ["dense", "layers", "*"]
    assert any(r.split()[:3] == ["conv2d", "convolution", "***"] for r in rows)
    assert len(rows) == 14


def test_make_then_check_end_to_end_with_a_json_grade(tmp_path):
    folder = tmp_path / "hw"
    made = npae("make", str(folder), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert f"wrote {folder / 'README.md'}" in made.stdout
    # the student solves three exercises (one of them wrongly) and leaves the rest
    for name in ("dense", "mse"):
        with open(folder / f"{name}.py", "a") as f:
            f.write(SOLUTIONS[name])
    with open(folder / "relu.py", "a") as f:
        f.write(SOLUTIONS["relu"].replace("dy * (self.x > 0)", "-dy * (self.x > 0)"))
    table = npae("check", str(folder), cwd=tmp_path)
    assert table.returncode == 11, table.stderr  # the exit status counts the failures
    lines = {line.split()[0]: line for line in table.stdout.splitlines() if line.strip()}
    assert " pass " in lines["dense"] and " pass " in lines["mse"]
    assert "dx wrong: sign flipped (factor -1)" in lines["relu"]
    assert "NotImplementedError" in lines["conv2d"]
    assert "2 of 13 exercises passed" in table.stdout

    graded = npae("check", str(folder), "--json", "--only", "dense", "relu", cwd=tmp_path)
    assert graded.returncode == 1
    grade = json.loads(graded.stdout)
    assert validate(grade, GRADE_SCHEMA) == []
    assert [(r["name"], r["passed"], r["score"]) for r in grade["exercises"]] == \
        [("dense", True, 1.0), ("relu", False, 0.0)]
    assert grade["exercises"][1]["gradients"]["dx"]["diagnosis"].startswith("sign flipped")
    schema = npae("schema", cwd=tmp_path)
    assert schema.returncode == 0 and json.loads(schema.stdout) == GRADE_SCHEMA


def test_time_limit_and_usage_errors(tmp_path):
    npae("make", str(tmp_path), "--only", "tanh", cwd=tmp_path)
    with open(tmp_path / "tanh.py", "a") as f:
        f.write("\nTanh.backward = lambda self, dy: [0 for _ in iter(int, 1)]\n")
    out = npae("check", str(tmp_path), "--only", "tanh", "--time-limit", "1", cwd=tmp_path)
    assert out.returncode == 1
    assert "no result within the time limit of 1 s (an infinite loop?)" in out.stdout
    bad = npae("check", str(tmp_path / "missing"), cwd=tmp_path)
    assert bad.returncode == 2 and "is not a folder" in bad.stderr and not bad.stdout
    bad = npae("check", str(tmp_path), "--only", "nope", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown exercise 'nope'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_instructor_exercise_through_register_and_the_folder_file(tmp_path):
    extra = tmp_path / "course_extra.py"
    extra.write_text(EXTRA)
    folder = tmp_path / "hw"
    listed = npae("list", "--register", str(extra), cwd=tmp_path)
    assert "leaky_relu" in listed.stdout
    made = npae("make", str(folder), "--only", "leaky_relu", "--register", str(extra),
                cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    with open(folder / "leaky_relu.py", "a") as f:
        f.write(LEAKY_SOLUTION)
    out = npae("check", str(folder), "--only", "leaky_relu", "--register", str(extra),
               cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    # without --register the exercise is unknown, until the folder carries the file
    assert npae("check", str(folder), "--only", "leaky_relu", cwd=tmp_path).returncode == 2
    (folder / EXTRA_FILE).write_text(EXTRA)
    out = npae("check", str(folder), "--only", "leaky_relu", "--json", cwd=tmp_path)
    assert out.returncode == 0 and json.loads(out.stdout)["exercises"][0]["passed"]
