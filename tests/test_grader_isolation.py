"""A grade a student cannot forge: hostile files fail their own exercise and nothing else.

Each attack is planted in ``relu.py`` of a folder whose ``dense.py`` and ``mse.py`` hold
correct solutions (tests/exercise_solutions.py). Whatever the attack, ``relu`` fails
with a one-line reason, ``dense`` and ``mse`` pass, and the grader returns its report.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import npae.exercises as E
from npae.exercises import grader, grading, protocol, provenance
from npae.gradcheck import CHECK_STEP, numerical_gradient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exercise_solutions import SOLUTIONS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FOLDER = ["dense", "relu", "mse"]
ZEROS = "\nReLU.backward = lambda self, dy: np.zeros_like(dy)\n"
FLAG = "not graded as the student's own work"

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX processes")


def folder(tmp_path: Path, relu_body: str, *, solution: bool = False) -> Path:
    """dense and mse solved; relu = its stub (+ its solution) + ``relu_body``."""
    for name in ("dense", "mse"):
        (tmp_path / f"{name}.py").write_text(E.EXERCISES[name].source() + SOLUTIONS[name])
    relu = E.EXERCISES["relu"].source() + (SOLUTIONS["relu"] if solution else "") + relu_body
    (tmp_path / "relu.py").write_text(relu)
    return tmp_path


def graded(path: Path, **kw) -> dict[str, dict]:
    grade = E.check(path, FOLDER, **kw)
    assert E.validate(grade) == []
    rows = {r["name"]: r for r in grade["exercises"]}
    assert rows["dense"]["passed"] and rows["mse"]["passed"], \
        (rows["dense"]["message"], rows["mse"]["message"])
    assert not rows["relu"]["passed"] and rows["relu"]["score"] == 0.0
    assert "\n" not in rows["relu"]["message"] and rows["relu"]["message"]
    return rows


# --------------------------------------------------------------------------- the four attacks
@needs_fork
def test_rebinding_the_graders_comparison_changes_nothing(tmp_path):
    body = """
import npae.exercises.grader as g
import npae.exercises.grading as gr
import npae.gradcheck
g._verdict = lambda *a, **k: (True, 0.0, "right")
gr.verdict = lambda *a, **k: (True, 0.0, "right")
npae.gradcheck.rel_error = lambda *a, **k: 0.0
""" + ZEROS
    relu = graded(folder(tmp_path, body))["relu"]
    assert relu["message"].startswith("uses npae.exercises.grader") and FLAG in relu["message"]
    # graded anyway, the zero gradient is what it is
    relu = graded(tmp_path, allow_npae=True)["relu"]
    assert relu["message"].startswith("dx wrong: is zero everywhere"), relu["message"]
    assert relu["flags"]


@needs_fork
def test_a_fake_row_on_a_found_pipe_then_exit_is_not_a_pass(tmp_path):
    body = """
import gc, os
for obj in gc.get_objects():
    try:
        if type(obj).__name__ in ("Connection", "Channel") and hasattr(obj, "send"):
            obj.send("ok", "\\nnpae \\ntypes ")  # a well-formed "imported" reply
            obj.send({"name": "relu", "passed": True, "score": 1.0, "message": "right"})
    except Exception:
        pass
os._exit(0)
"""
    relu = graded(folder(tmp_path, body, solution=False))["relu"]
    assert relu["message"] == "the student's code ended the process (exit code 0) before a result"


@needs_fork
def test_calling_npae_in_backward_is_flagged(tmp_path):
    body = """
import npae.layers


def _b(self, dy):
    layer = npae.layers.ReLU()
    layer.forward(self.x)
    return layer.backward(dy)


ReLU.backward = _b
"""
    relu = graded(folder(tmp_path, body))["relu"]
    assert relu["message"] == "uses npae.layers.ReLU: not graded as the student's own work"
    assert relu["gradients"]["dx"]["passed"]  # right, but not the student's
    grade = E.check(tmp_path, ["relu"], allow_npae=True)
    assert grade["exercises"][0]["passed"] and grade["exercises"][0]["flags"] == \
        ["uses npae.layers.ReLU: not graded as the student's own work"]


@needs_fork
def test_npae_reached_at_run_time_is_seen_by_the_audit_hook(tmp_path):
    body = """
_m = __import__("np" + "ae.layers", fromlist=["ReLU"])
ReLU.backward = lambda self, dy: _m.ReLU.backward(_m.ReLU().__init__() or self, dy)
"""
    relu = graded(folder(tmp_path, body, solution=True))["relu"]
    assert re.fullmatch(r"uses npae(\.\w+)* \(imported at run time\): not graded as the "
                        r"student's own work", relu["message"]), relu["message"]


@needs_fork
def test_killing_the_parent_at_import(tmp_path):
    body = "\nimport os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
    relu = graded(folder(tmp_path, body, solution=True))["relu"]
    assert relu["message"].startswith("importing relu.py failed: PermissionError: os.kill")


@needs_fork
def test_killing_the_parent_past_the_audit_hook_costs_only_that_exercise(tmp_path):
    # through libc, the hook does not see it: the relay dies, the grader does not
    body = "\nimport ctypes, os\nctypes.CDLL(None).kill(os.getppid(), 9)\n"
    relu = graded(folder(tmp_path, body, solution=True))["relu"]
    assert "relay process ended before a result" in relu["message"]


@needs_fork
def test_the_grader_command_survives_and_reports(tmp_path):
    body = ("\nimport os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\n"
            "except PermissionError:\n    pass\n"
            "for fd in range(1024):\n    try:\n        os.write(fd, b'garbage' * 1000)\n"
            "    except OSError:\n        pass\n")
    folder(tmp_path, body, solution=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "npae.cli", "exercises", "check", str(tmp_path),
                          "--only", *FOLDER, "--json"], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 1, out.stderr
    assert "garbage" not in out.stdout + out.stderr
    grade = json.loads(out.stdout)
    rows = {r["name"]: r for r in grade["exercises"]}
    assert rows["dense"]["passed"] and rows["mse"]["passed"]
    assert rows["relu"]["message"].startswith(
        "the student's code wrote something that is not a message on the grading channel")


# --------------------------------------------------------------------------- variants
@needs_fork
def test_patching_numpy_comparisons_changes_nothing(tmp_path):
    body = """
import numpy, numpy.testing
numpy.allclose = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
numpy.testing.assert_array_almost_equal = lambda *a, **k: None
numpy.max = lambda *a, **k: 0.0
""" + ZEROS
    relu = graded(folder(tmp_path, body))["relu"]
    assert relu["message"].startswith("dx wrong: is zero everywhere"), relu["message"]
    assert relu["flags"] == []


@needs_fork
@pytest.mark.parametrize("body,words", [
    ("\nimport subprocess, sys\nsubprocess.Popen([sys.executable, '-c', "
     "'import time; time.sleep(30)'], start_new_session=True)\n",
     "importing relu.py failed: PermissionError: subprocess.Popen is not allowed"),
    ("\nimport os\nwhile True:\n    os.fork()\n",
     "importing relu.py failed: PermissionError: os.fork is not allowed"),
])
def test_starting_a_process_is_refused(tmp_path, body, words):
    relu = graded(folder(tmp_path, body, solution=True))["relu"]
    assert relu["message"].startswith(words), relu["message"]


@needs_fork
def test_a_background_process_does_not_outlive_its_exercise(tmp_path):
    mark = tmp_path / "alive.txt"
    body = f"""
import ctypes, time
_libc = ctypes.CDLL(None)
if _libc.fork() == 0:  # past the audit hook, in a session of its own
    _libc.setsid()
    while True:
        with open({str(mark)!r}, "a") as f:
            f.write("x")
        time.sleep(0.02)
time.sleep(0.2)
if not __import__("os").path.exists({str(mark)!r}):
    raise RuntimeError("no background process (fork refused)")
"""
    relu = graded(folder(tmp_path, body, solution=True))["relu"]
    assert ("left 1 process(es) running" in relu["message"]
            or "fork refused" in relu["message"]), relu["message"]
    size = mark.stat().st_size if mark.exists() else 0
    time.sleep(0.3)
    assert (mark.stat().st_size if mark.exists() else 0) == size  # nobody writes any more


@needs_fork
def test_an_infinite_loop_that_ignores_sigterm(tmp_path):
    body = """
import signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _b(self, dy):
    while True:
        try:
            pass
        except BaseException:
            pass


ReLU.backward = _b
"""
    start = time.perf_counter()
    relu = graded(folder(tmp_path, body), time_limit=2.0)["relu"]
    assert relu["message"] == "no result within the time limit of 2 s (an infinite loop?)"
    assert time.perf_counter() - start < 30


@needs_fork
@pytest.mark.parametrize("where", ["import", "backward"])
def test_a_100_gb_allocation(tmp_path, where):
    grab = "np.ones(100 * 10**9 // 8)"
    body = (f"\n_big = {grab}\n" if where == "import" else
            f"\nReLU.backward = lambda self, dy: {grab}[:0] + dy * (self.x > 0)\n")
    relu = graded(folder(tmp_path, body, solution=True))["relu"]
    assert "MemoryError: Unable to allocate 93.1 GiB" in relu["message"], relu["message"]


# --------------------------------------------------------------------------- the other modes
def test_spawn_and_inline_modes_grade_alike_and_say_so(tmp_path):
    folder(tmp_path, ZEROS)
    fork_like = None
    for mode in ("spawn", "inline") if hasattr(os, "fork") else ("spawn",):
        grade = E.check(tmp_path, FOLDER, mode=mode)
        assert grade["mode"] == mode and E.validate(grade) == []
        rows = [(r["name"], r["passed"], r["message"]) for r in grade["exercises"]]
        fork_like = fork_like or rows
        assert rows == fork_like
        assert rows[1][2].startswith("dx wrong: is zero everywhere")
        assert f"mode: {mode}" in E.format_table(grade)


def test_flags_are_computed_in_the_inline_mode_too(tmp_path):
    folder(tmp_path, "\nfrom npae.layers import ReLU as _R\nReLU.backward = "
                     "lambda self, dy: _R.backward(self, dy)\n")
    row = E.check(tmp_path, ["relu"], mode="inline")["exercises"][0]
    assert row["flags"] == ["uses npae.layers.ReLU: not graded as the student's own work"]


# --------------------------------------------------------------------------- the pieces
def test_the_protocol_refuses_what_is_not_numbers():
    arrays = {"x": np.arange(6.0).reshape(2, 3), "n": np.array(3)}
    kind, text, back = protocol.decode(protocol.encode("ok", "hé", arrays))
    assert (kind, text) == ("ok", "hé") and all(np.array_equal(back[k], arrays[k]) for k in arrays)
    with pytest.raises(ValueError):  # object arrays are never written (no pickle)
        protocol.encode("ok", "", {"x": np.array([{"a": 1}], dtype=object)})
    good = protocol.encode("ok", "", {"x": np.zeros(4)})
    for bad, words in [
        (good[:-3], "cut short"),
        (good + b"x", "bytes after the message"),
        (good.replace(b"'descr': '<f8'", b"'descr': '|O' "), "not a number type"),
        (good.replace(b"(4,)", b"(9,)"), "does not match its bytes"),
    ]:
        with pytest.raises(protocol.ProtocolError, match=words):
            protocol.decode(bad)
    r, w = os.pipe()
    os.write(w, b"NPAE" + (2**31).to_bytes(4, "little"))
    with pytest.raises(protocol.ProtocolError, match="at most"):
        protocol.read_frame(r)
    os.close(r)
    os.close(w)


def test_provenance_reads_every_way_of_naming_npae():
    stub = E.EXERCISES["relu"].source()
    src = ("import npae.layers as L\nfrom npae import losses\nimport importlib\n"
           "x = L.ReLU\ny = losses.mse\nz = importlib.import_module('npae.models')\n"
           "import sys\nw = sys.modules['npae.penalties']\n")
    assert provenance.npae_names(src) == ["npae.models", "npae.penalties", "npae.layers.ReLU",
                                          "npae.losses.mse"]
    assert provenance.flags("import numpy as np\n", stub) == []
    # what the stub imports itself is the student's to use
    own = "from npae.exercises.core import Case\n" + stub
    assert provenance.flags(own + "Case\n", own) == []
    assert provenance.flags("import numpy\n", stub, ["npae", "npae.layers"]) == \
        ["uses npae (imported at run time): not graded as the student's own work"]


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=4),
       dtype=st.sampled_from(["<f8", "<f4", ">f8", "<i8", "|b1", "<c16", "|u1"]),
       fortran=st.booleans(), step=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_any_numeric_array_travels_unchanged(shape, dtype, fortran, step, seed):
    rng = np.random.default_rng(seed)
    base = (rng.standard_normal([s * step for s in shape]) * 10).astype(dtype)
    arr = base[tuple(slice(None, None, step) for _ in shape)]  # strided: not contiguous
    if fortran:
        arr = np.asfortranarray(arr)
    kind, text, back = protocol.decode(protocol.encode("ok", "", {"a": arr}))
    assert back["a"].dtype == arr.dtype and back["a"].shape == arr.shape
    assert np.array_equal(back["a"], arr)


def test_central_differences_from_the_childs_outputs_match_gradcheck(tmp_path, monkeypatch):
    """The grader's arithmetic on the returned outputs is numerical_gradient's, bit for bit,
    also when the perturbed points are sent in several requests."""
    folder(tmp_path, "")
    ex = E.EXERCISES["dense"]
    student = grader.InlineStudent(tmp_path / "dense.py")
    assert student.start() == (None, [])
    part = ex.parts[0]
    case = ex.cases(np.random.default_rng(0))[0]
    for g in part.gradients:
        want = numerical_gradient(lambda g=g: part.objective(student.module, case, g),
                                  case.arrays[g.wrt], CHECK_STEP)
        got = grading.numeric_gradient(student, part, case, g, lambda names: None)
        assert np.array_equal(got, want), g.name
        monkeypatch.setattr(grading, "CHUNK_BYTES", 64)
        assert np.array_equal(grading.numeric_gradient(student, part, case, g,
                                                       lambda names: None), want)
        monkeypatch.undo()


@needs_fork
def test_the_student_process_is_not_the_graders_child_and_has_its_own_session(tmp_path):
    out = tmp_path / "ids.json"
    body = f"""
import json, os, resource
_fds = {{}}
if os.path.isdir("/proc/self/fd"):
    for _fd in os.listdir("/proc/self/fd"):
        try:
            _fds[_fd] = os.readlink(f"/proc/self/fd/{{_fd}}")
        except OSError:
            pass
with open({str(out)!r}, "w") as f:
    json.dump([os.getpid(), os.getppid(), os.getsid(0), os.getpgid(0),
               resource.getrlimit(resource.RLIMIT_NOFILE)[0], _fds], f)
"""
    folder(tmp_path, body, solution=True)
    grade = E.check(tmp_path, ["relu"])
    assert grade["exercises"][0]["passed"]
    pid, ppid, sid, pgid, nofile, fds = json.loads(out.read_text())
    assert ppid != os.getpid() and sid == pid == pgid  # under the relay, a session of its own
    assert nofile == 64
    if fds:  # Linux: 0-2 and sys.stdout on /dev/null, the channel's two pipes, nothing else
        assert all(fds[k] == "/dev/null" for k in ("0", "1", "2"))
        pipes = [t for t in fds.values() if t.startswith("pipe:")]
        others = [t for t in fds.values() if not t.startswith("pipe:")
                  and t not in ("/dev/null", str(out)) and "/fd" not in t]
        assert len(pipes) == 2 and others == [], fds


@needs_fork
def test_opening_too_many_files_fails_that_exercise(tmp_path):
    body = "\n_files = [open(__file__) for _ in range(200)]\n"
    relu = graded(folder(tmp_path, body, solution=True))["relu"]
    assert "OSError: [Errno 24] Too many open files" in relu["message"], relu["message"]


@needs_fork
@pytest.mark.parametrize("payload,words", [
    ("b'not a message'", "the student's process sent a malformed reply (message cut short"),
    ("_p.encode('ok', 'right', {'g0': __import__('numpy').zeros(3)})",
     "the student's process sent a malformed reply"),
])
def test_a_forged_frame_on_the_channel_is_a_malformed_reply(tmp_path, payload, words):
    body = f"""
import gc, sys
_p = sys.modules["_npae_grading_protocol"]
for _o in gc.get_objects():
    if type(_o).__name__ == "Channel":
        _p.write_frame(_o.write_fd, {payload})
"""
    relu = graded(folder(tmp_path, body, solution=True))["relu"]
    assert relu["message"].startswith(words), relu["message"]
