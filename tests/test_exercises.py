"""npae.exercises: the stubs hold no solution, right answers pass, planted bugs are named.

The right answers are written independently of npae (plain NumPy from the formulas,
tests/exercise_solutions.py), and so are the bugs; the grader must pass the first and
say, for each bug, which gradient is wrong and how.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import npae.exercises as E
from npae.exercises import diagnose, grader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exercise_solutions import BUGS, SOLUTIONS  # noqa: E402

BUILTIN = ["dense", "sigmoid", "relu", "tanh", "mse", "bce_with_logits",
           "softmax_cross_entropy", "conv2d", "maxpool2d", "upsample2d", "kl_sparsity",
           "contractive", "gaussian_kl"]


@pytest.fixture
def registry():
    """Restore the registry after a test that registers exercises."""
    saved = dict(E.EXERCISES)
    yield E.EXERCISES
    E.EXERCISES.clear()
    E.EXERCISES.update(saved)


def write(folder: Path, name: str, body: str = "", *, solution: bool = True) -> Path:
    """The stub of ``name`` plus, by default, its solution, and ``body`` appended."""
    text = E.EXERCISES[name].source() + "\n" + (SOLUTIONS[name] if solution else "") + body
    path = folder / f"{name}.py"
    path.write_text(text)
    return path


def grade_one(folder: Path, name: str, **kw) -> dict:
    return E.check(folder, [name], **kw)["exercises"][0]


# --------------------------------------------------------------------------- the stubs
def test_every_builtin_is_registered_in_the_course_order():
    assert list(E.EXERCISES)[: len(BUILTIN)] == BUILTIN
    for ex in E.EXERCISES.values():
        assert ex.topic and ex.title and ex.difficulty in (1, 2, 3)


def _backward_functions(tree: ast.Module) -> list[ast.FunctionDef]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
            and (node.name == "backward" or node.name.endswith("_backward"))]


@pytest.mark.parametrize("hints", [False, True])
def test_written_stubs_hold_no_solution(tmp_path, hints):
    E.make(tmp_path, BUILTIN, hints=hints)
    assert (tmp_path / "README.md").is_file()
    for name in BUILTIN:
        ex = E.EXERCISES[name]
        tree = ast.parse((tmp_path / f"{name}.py").read_text())
        backs = _backward_functions(tree)
        # one backward per gradient-returning part, and each is a docstring + raise only
        assert len(backs) == len(ex.parts), name
        for fn in backs:
            assert len(fn.body) == 2, (name, fn.name)
            doc, stmt = fn.body
            assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) \
                and isinstance(doc.value.value, str), (name, fn.name)
            assert isinstance(stmt, ast.Raise) and isinstance(stmt.exc, ast.Call) \
                and stmt.exc.func.id == "NotImplementedError", (name, fn.name)
        # nothing to call instead: the only import is numpy
        imports = [a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                   for a in node.names]
        assert imports == ["numpy"], name
        assert not any(isinstance(node, ast.ImportFrom) for node in ast.walk(tree)), name
        # the hints are there exactly when asked for
        text = (tmp_path / f"{name}.py").read_text()
        hint_texts = ex.hints.values() if isinstance(ex.hints, dict) else [ex.hints]
        for hint in hint_texts:
            assert (hint.strip().splitlines()[0].strip() in text) == hints, name
        assert ("No hints in this copy" in text) != hints, name


def test_stubs_as_written_fail_with_not_written_yet(tmp_path):
    E.make(tmp_path, only=["dense", "gaussian_kl"])
    grade = E.check(tmp_path, ["dense", "gaussian_kl"])
    assert grade["failed"] == 2
    assert grade["exercises"][0]["message"] == \
        "Dense.backward is not written yet (NotImplementedError)"
    assert "gaussian_kl_backward is not written yet" in grade["exercises"][1]["message"]


def test_make_keeps_a_students_work_unless_forced(tmp_path):
    E.make(tmp_path, only=["relu"])
    (tmp_path / "relu.py").write_text("# mine\n")
    E.make(tmp_path, only=["relu"])
    assert (tmp_path / "relu.py").read_text() == "# mine\n"
    E.make(tmp_path, only=["relu"], overwrite=True)
    assert "class ReLU" in (tmp_path / "relu.py").read_text()


# --------------------------------------------------------------------------- right answers
def test_independent_solutions_pass_every_exercise(tmp_path):
    for name in BUILTIN:
        write(tmp_path, name)
    grade = E.check(tmp_path, BUILTIN)
    failures = [(r["name"], r["message"]) for r in grade["exercises"] if not r["passed"]]
    assert failures == []
    assert grade["score"] == len(BUILTIN)
    for r in grade["exercises"]:
        assert r["max_error"] < 1e-7 and r["score"] == 1.0
        assert all(g["passed"] for g in r["gradients"].values())


@pytest.mark.slow  # each student process imports npae: ~9 s
def test_npae_references_in_a_student_folder_are_flagged_and_pass_only_when_allowed(tmp_path):
    for name in BUILTIN:
        (tmp_path / f"{name}.py").write_text(
            "from npae.exercises import EXERCISES\n"
            f"_ref = EXERCISES[{name!r}].reference\n"
            "globals().update({k: getattr(_ref, k) for k in dir(_ref) "
            "if not k.startswith('_')})\n")
    flag = "uses npae.exercises.EXERCISES: not graded as the student's own work"
    grade = E.check(tmp_path, BUILTIN)
    assert grade["passed"] == 0 and grade["score"] == 0
    assert {r["message"] for r in grade["exercises"]} == {flag}
    # the references are right: with --allow-npae they pass, still flagged
    grade = E.check(tmp_path, BUILTIN, allow_npae=True)
    assert [(r["name"], r["message"]) for r in grade["exercises"] if not r["passed"]] == []
    assert all(r["flags"] == [flag] for r in grade["exercises"])


# --------------------------------------------------------------------------- planted bugs
@pytest.mark.parametrize("name,index", [(n, i) for n in BUILTIN for i in range(len(BUGS[n]))])
def test_planted_bug_is_diagnosed(tmp_path, name, index):
    assert len(BUGS[name]) >= 2
    old, new, words = BUGS[name][index]
    assert old in SOLUTIONS[name]
    text = E.EXERCISES[name].source() + "\n" + SOLUTIONS[name].replace(old, new)
    (tmp_path / f"{name}.py").write_text(text)
    row = grade_one(tmp_path, name)
    assert not row["passed"]
    assert row["score"] < 1
    for w in words:
        assert w in row["message"], (w, row["message"])


def test_diagnosis_per_gradient_in_the_grade(tmp_path):
    old, new, _ = BUGS["conv2d"][0]
    (tmp_path / "conv2d.py").write_text(E.EXERCISES["conv2d"].source() + "\n"
                                        + SOLUTIONS["conv2d"].replace(old, new))
    row = grade_one(tmp_path, "conv2d")
    g = row["gradients"]
    assert g["dx"]["passed"] and g["db"]["passed"] and not g["dW"]["passed"]
    assert g["dW"]["diagnosis"].startswith("axes in the wrong order")
    assert g["dW"]["max_error"] is None  # a wrong shape has no relative error
    assert row["case"].startswith("N=2, C=3, O=4")
    assert row["score"] == pytest.approx(2 / 3)


# --------------------------------------------------------------------------- bad student code
@pytest.mark.parametrize("body,expected", [
    ("\ndef broken(:\n", "syntax error in dense.py, line"),
    ("\nimport a_module_that_does_not_exist\n",
     "importing dense.py failed: ModuleNotFoundError"),
    ("\ndef _b(self, dy):\n    raise ValueError('boom')\n\n\nDense.backward = _b\n",
     "Dense.backward: ValueError: boom (line"),
    ("\ndef _b(self, dy):\n    self.grads['W'] = self.x.T @ dy * np.nan\n"
     "    self.grads['b'] = dy.sum(0)\n    return dy @ self.params['W'].T\n\n\n"
     "Dense.backward = _b\n", "dW wrong: contains NaN"),
    ("\ndef _b(self, dy):\n    self.grads['W'] = (self.x.T @ dy).astype(np.float32)\n"
     "    self.grads['b'] = dy.sum(0)\n    return dy @ self.params['W'].T\n\n\n"
     "Dense.backward = _b\n", "dW wrong: dtype float32, expected float64"),
    ("\ndef _b(self, dy):\n    self.grads['W'] = self.x.T @ dy\n"
     "    return dy @ self.params['W'].T\n\n\nDense.backward = _b\n",
     "db wrong: missing (got None)"),
    ("\n_f = Dense.forward\nDense.forward = lambda self, x: 2 * _f(self, x)\n",
     "the forward output y differs from the reference"),
    ("\nprint('debugging output')\n", "dx, dW and db right on all 3 cases"),
    ("\n_b = Dense.backward\nDense.backward = lambda self, dy: _b(self, dy).tolist()\n",
     "dx wrong: not an array (got list)"),
    ("\n_b = Dense.backward\ndef _s(self, dy):\n    dx = _b(self, dy)\n"
     "    self.grads['b'] = np.array(['b'])\n    return dx\n\n\nDense.backward = _s\n",
     "db wrong: not an array (got ndarray of str32)"),
    ("\nDense.backward = lambda self, dy: np.ones(9 * 10**6)\n",
     "the answer is too large to send"),
    ("\n_b = Dense.backward\ndef _in_place(self, dy):\n    dx = _b(self, dy)\n"
     "    dy *= 2\n    return dx\n\n\nDense.backward = _in_place\n",
     "Dense.backward wrote into its input 'dy'; compute a new array instead"),
])
def test_bad_student_code_gives_a_clear_report(tmp_path, body, expected):
    write(tmp_path, "dense", body)
    row = grade_one(tmp_path, "dense")
    assert expected in row["message"], row["message"]
    assert "Traceback" not in row["message"]


def test_a_missing_file_is_a_report(tmp_path):
    row = grade_one(tmp_path, "tanh")
    assert not row["passed"] and row["message"] == f"tanh.py not found in {tmp_path}"


def test_an_infinite_loop_fails_on_the_time_limit(tmp_path):
    write(tmp_path, "relu", "\ndef _b(self, dy):\n    while True:\n        pass\n\n\n"
                            "ReLU.backward = _b\n")
    write(tmp_path, "tanh")
    grade = E.check(tmp_path, ["relu", "tanh"], time_limit=1.0)
    relu, tanh = grade["exercises"]
    assert not relu["passed"] and "time limit of 1 s" in relu["message"]
    assert relu["seconds"] < 10
    assert tanh["passed"]  # the next exercise is graded as usual


def test_an_exiting_student_is_a_report(tmp_path):
    write(tmp_path, "relu", "\nimport os\nReLU.backward = lambda self, dy: os._exit(3)\n")
    row = grade_one(tmp_path, "relu")
    assert "ended the process (exit code 3)" in row["message"]


def test_the_fallback_without_fork_also_stops_an_infinite_loop(tmp_path):
    write(tmp_path, "relu", "\ndef _b(self, dy):\n    while True:\n        try:\n"
                            "            pass\n        except Exception:\n            pass\n\n\n"
                            "ReLU.backward = _b\n")
    row = grader._run_inline(E.EXERCISES["relu"], tmp_path, 0, 0.5)
    assert "time limit of 0.5 s" in row["message"]
    write(tmp_path, "tanh")
    assert grader._run_inline(E.EXERCISES["tanh"], tmp_path, 0, 30)["passed"]


def test_check_refuses_a_missing_folder_and_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        E.check(tmp_path / "nope")
    with pytest.raises(ValueError, match="unknown exercise 'densee'"):
        E.check(tmp_path, ["densee"])


# --------------------------------------------------------------------------- the diagnosis
def test_factor_is_named_from_the_case_sizes():
    dims = {"N": 4, "D": 6}
    rng = np.random.default_rng(0)
    e = rng.standard_normal((4, 6))
    assert diagnose.explain_values(2 * e, e, dims) == "off by a factor 2"
    assert diagnose.explain_values(-e, e, dims) == "sign flipped (factor -1)"
    assert diagnose.explain_values(e / 24, e, dims) == "off by a factor 1/24 = 1/(N*D)"
    assert diagnose.explain_values(4 * e, e, dims).startswith("off by a factor 4 = N (the batch")
    assert diagnose.explain_values(np.zeros_like(e), e, dims) == "is zero everywhere"
    bad = e.copy()
    bad[1, 2] += 1.0
    assert diagnose.explain_values(bad, e, dims) == "wrong in 1 of 24 entries"
    sq = rng.standard_normal((3, 3))
    assert diagnose.explain_values(sq.T, sq, {}) == "transposed"


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(2, 5), min_size=2, max_size=4),
       k=st.sampled_from([2.0, 3.0, 0.5, -1.0, -4.0, 0.25]), seed=st.integers(0, 2**16))
def test_any_constant_factor_and_any_axis_permutation_are_recognised(shape, k, seed):
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(shape)
    text = diagnose.explain_values(k * e, e, {})
    if k == -1:
        assert text == "sign flipped (factor -1)"
    else:
        assert text.startswith(f"off by a factor {diagnose._plain(k)}")
    perm = tuple(rng.permutation(len(shape)))
    moved = e.transpose(perm)
    if moved.shape != e.shape:
        assert diagnose.explain_shape(moved, e, {}).startswith(
            "transposed" if len(shape) == 2 else "axes in the wrong order")


def test_shape_is_written_with_axis_names():
    dims = {"N": 2, "C": 3, "O": 4, "kh": 5, "kw": 1}
    e = np.random.default_rng(1).standard_normal((4, 3, 5, 1))
    text = diagnose.explain_shape(e.transpose(1, 0, 2, 3), e, dims, ("O", "C", "kh", "kw"))
    assert text == ("axes in the wrong order: shape (C, O, kh, kw), "
                    "expected (O, C, kh, kw)")
    b = np.arange(4.0)
    per_sample = np.stack([b / 2, b / 2])
    assert diagnose.explain_shape(per_sample, b, dims, ("O",)) == \
        "not summed over axis 0 (N): shape (N, O), expected (O,)"


# --------------------------------------------------------------------------- the JSON grade
def test_grade_validates_against_the_schema(tmp_path):
    write(tmp_path, "dense")
    write(tmp_path, "mse", "\nmse_backward = lambda p, t: None\n")
    grade = E.check(tmp_path, ["dense", "mse", "tanh"])
    assert E.validate(grade) == []
    assert (grade["passed"], grade["failed"], grade["max_score"]) == (1, 2, 3)


def test_validator_reports_what_breaks_the_schema():
    good = {"format": "npae-exercises-grade", "version": 2, "directory": "d", "seed": 0,
            "time_limit": 1.0, "mode": "fork", "allow_npae": False, "score": 0.5,
            "max_score": 1, "passed": 0, "failed": 1,
            "exercises": [{"name": "x", "title": "t", "passed": False, "score": 0.5,
                           "max_error": None, "message": "m", "case": None, "seconds": 0.1,
                           "flags": ["uses npae.layers.ReLU: not graded as the student's "
                                     "own work"],
                           "gradients": {"dx": {"passed": False, "max_error": 0.3,
                                                "diagnosis": "d"}}}]}
    assert E.validate(good) == []
    bad = {**good, "seed": True, "extra": 1}
    bad["exercises"] = [{**good["exercises"][0], "score": 1.5}]
    del bad["exercises"][0]["message"]
    bad["exercises"][0]["flags"] = "uses npae"
    bad["mode"] = "threads"
    bad["exercises"][0]["gradients"] = {"dx": {"passed": "no", "max_error": 0.3,
                                               "diagnosis": "d"}}
    errors = E.validate(bad)
    assert "$.seed: expected integer, got bool" in errors
    assert "$: unexpected key 'extra'" in errors
    assert "$.exercises[0].score: 1.5 > maximum 1" in errors
    assert "$.exercises[0]: missing 'message'" in errors
    assert "$.exercises[0].gradients.dx.passed: expected boolean, got str" in errors
    assert "$.exercises[0].flags: expected array, got str" in errors
    assert "$.mode: 'threads' is not one of ['fork', 'spawn', 'inline']" in errors
    # a version-1 grade (no flags, no mode) is not a version-2 one
    old = {k: v for k, v in good.items() if k not in ("mode", "allow_npae")}
    old["version"] = 1
    assert "$: missing 'mode'" in E.validate(old)


# --------------------------------------------------------------------------- instructors
EXTRA = '''
"""An instructor's exercise: the leaky ReLU, with its reference in plain NumPy."""

from types import SimpleNamespace

import numpy as np

from npae.exercises import Case, Exercise, Gradient, LayerPart, register

STUB = """import numpy as np


class LeakyReLU:
    \\"\\"\\"y = x if x > 0 else 0.1 x, element-wise; x and y (N, D).\\"\\"\\"

    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, 0.1 * x)

    def backward(self, dy):
        \\"\\"\\"Return dx (N, D).

        {hints}
        \\"\\"\\"
        raise NotImplementedError
"""


class Reference:
    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, 0.1 * x)

    def backward(self, dy):
        return dy * np.where(self.x > 0, 1.0, 0.1)


def cases(rng):
    return [Case(f"N={n}, D={d}", {"x": rng.standard_normal((n, d)),
                                   "dy": rng.standard_normal((n, d))}, dims={"N": n, "D": d})
            for n, d in ((3, 4), (1, 5))]


register(Exercise(
    name="leaky_relu", title="Leaky ReLU", topic="activations", difficulty=1, stub=STUB,
    hints="dx = dy where x > 0, 0.1 dy elsewhere.",
    reference=SimpleNamespace(LeakyReLU=Reference), cases=cases,
    parts=[LayerPart("LeakyReLU", (), (Gradient("dx", "x", ("N", "D")),))]))
'''

LEAKY_SOLUTION = ("\nLeakyReLU.backward = lambda self, dy: dy * np.where(self.x > 0, 1.0, 0.1)\n")


def test_instructor_registers_an_exercise_from_the_student_folder(tmp_path, registry):
    (tmp_path / E.EXTRA_FILE).write_text(EXTRA)
    added = E.load_extra(tmp_path / E.EXTRA_FILE)
    assert added == ["leaky_relu"]
    assert E.load_extra(tmp_path / E.EXTRA_FILE) == []  # the same file again: replaced
    E.make(tmp_path, only=["leaky_relu"], hints=True)
    stub = (tmp_path / "leaky_relu.py").read_text()
    assert "dx = dy where x > 0" in stub
    assert grade_one(tmp_path, "leaky_relu")["message"] == \
        "LeakyReLU.backward is not written yet (NotImplementedError)"
    (tmp_path / "leaky_relu.py").write_text(stub + LEAKY_SOLUTION)
    assert grade_one(tmp_path, "leaky_relu")["passed"]
    (tmp_path / "leaky_relu.py").write_text(stub + LEAKY_SOLUTION.replace("0.1)", "1.0)"))
    row = grade_one(tmp_path, "leaky_relu")
    assert not row["passed"] and row["message"].startswith("dx wrong: wrong in")


def test_register_refuses_a_clash_and_a_bad_name(registry):
    ex = E.EXERCISES["dense"]
    with pytest.raises(ValueError, match="difficulty must be 1, 2 or 3"):
        E.register(E.Exercise(**{**ex.__dict__, "name": "d2", "difficulty": 5}))
    with pytest.raises(TypeError, match="parts must be a non-empty list"):
        E.register(E.Exercise(**{**ex.__dict__, "name": "d2", "parts": []}))
    with pytest.raises(ValueError, match="has no {hints} line"):
        E.register(E.Exercise(**{**ex.__dict__, "name": "d2", "stub": "import numpy\n"}))
    with pytest.raises(ValueError, match="exists already"):
        E.register(E.Exercise(**{**ex.__dict__}))
    with pytest.raises(ValueError, match="Python identifier"):
        E.register(E.Exercise(**{**ex.__dict__, "name": "my-dense"}))
    with pytest.raises(TypeError, match="expected an Exercise"):
        E.register("dense")
    E.register(E.Exercise(**{**ex.__dict__}), replace=True)


def test_an_instructor_file_that_fails_is_one_line(tmp_path):
    (tmp_path / "bad.py").write_text("x = 1 / 0\n")
    with pytest.raises(ValueError, match=r"importing .*bad.py failed: ZeroDivisionError"):
        E.load_extra(tmp_path / "bad.py")
    with pytest.raises(ValueError, match="cannot import 'no_such_module_xyz'"):
        E.load_extra("no_such_module_xyz")
