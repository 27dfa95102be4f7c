"""The student's side: the process that runs a student's file, and the relay before it.

Run as a script (``python -I runner.py relay fork``), never as part of ``npae``: the
*relay* is a fresh interpreter holding NumPy and three files of this folder loaded by
their paths (this one, :mod:`~npae.exercises.protocol`, :mod:`~npae.exercises.sandbox`
and :mod:`~npae.exercises.core`), but no ``npae`` package. For each exercise the
grader asks it to start a *student process* (forked from the relay, or spawned as a
new interpreter where there is no ``fork``), which

1. confines itself (:func:`npae.exercises.sandbox.confine`): own session, limits,
   descriptors 0-2 on ``/dev/null``, the audit hook;
2. waits for the relay's ``go``, sent once the relay has told the grader ``started``
   (so whatever the student's code does, the grader already knows it started: one
   outcome for a student's code that kills the relay, not two raced), then imports
   the student's file and answers ``ok`` or ``error``;
3. answers requests, with arrays only: ``run`` (forward then backward on one case:
   the outputs and the gradients) and ``outputs`` (forward on each of a stack of
   perturbed inputs, for the grader's central differences); ``end`` ends it.

The relay forwards each request to the student process and the one reply back,
tagging what it forwards as the student's (``C``) and what it says itself (``R``:
``ready``, ``started`` with the pid, ``ended`` with how the process ended), so a
student process can neither reach the grader's pid (its parent is the relay) nor
speak in the relay's name. If it kills the relay, the grader loses that exercise
and starts a new relay for the next.

:func:`answer` is the same request handler run in the grader's own process in the
``inline`` mode (no processes at all: Pyodide).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
import re
import sys
import time
import traceback
import types
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np

_HERE = Path(__file__).resolve().parent


def _sibling(name: str) -> Any:
    """Load ``name``.py of this folder by its path, as a private module."""
    key = f"_npae_grading_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, _HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


if __package__:
    from npae.exercises import core, protocol, sandbox
else:  # the relay: no npae package, only these files
    protocol = _sibling("protocol")
    sandbox = _sibling("sandbox")
    core = _sibling("core")

__all__ = ["StudentError", "exception_text", "import_file", "load_student", "answer",
           "part_from_spec", "part_spec", "case_request", "case_from_request", "MAX_REPLY_TEXT"]

#: The longest line of text a reply carries (an error message is cut there).
MAX_REPLY_TEXT = 500


class StudentError(Exception):
    """The student's file could not be imported; the message says why, in one line."""


def _where(tb: Any, path: Path) -> str:
    """``" (line 12 of dense.py)"`` for the deepest frame in the student's file."""
    frames = [f for f in traceback.extract_tb(tb) if Path(f.filename) == path]
    return f" (line {frames[-1].lineno} of {path.name})" if frames else ""


def exception_text(err: BaseException, path: Path) -> str:
    """``"ValueError: boom (line 12 of dense.py)"``: the error in one line, located."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}{': ' + text if text else ''}{_where(err.__traceback__, path)}"


def import_file(path: Path, name: str) -> Any:
    """Run the Python file ``path`` as a new module called ``name`` and return it.

    The module is in ``sys.modules`` while it runs (dataclasses and pickling look
    modules up by name), and is taken out again if running it raises. The source is
    compiled each time, never a cached ``.pyc`` (a file edited within the same second
    and to the same size would otherwise run its old version), and nothing is written
    next to it.
    """
    path = Path(path)
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        code = compile(path.read_bytes(), str(path), "exec")
        exec(code, module.__dict__)  # noqa: S102 - running the file is the point
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_student(path: Path) -> Any:
    """Import ``path`` as a new module (a fresh name each time, nothing cached)."""
    path = Path(path)
    if not path.is_file():
        raise StudentError(f"{path.name} not found in {path.parent}")
    try:
        return import_file(path, f"npae_student_{path.stem}_{uuid.uuid4().hex[:8]}")
    except SyntaxError as err:
        raise StudentError(f"syntax error in {path.name}, line {err.lineno}: {err.msg}") from None
    except (Exception, SystemExit, KeyboardInterrupt) as err:  # any error of the file
        raise StudentError(f"importing {path.name} failed: {exception_text(err, path)}") \
            from None


# --------------------------------------------------------------------------- requests
def part_spec(part: Any) -> dict[str, Any]:
    """A part as JSON (what the student process needs to call it)."""
    kind = "layer" if isinstance(part, core.LayerPart) else "function"
    fields = {f.name: getattr(part, f.name) for f in dataclasses.fields(part)
              if f.name != "gradients"}
    return {"kind": kind, "fields": fields,
            "gradients": [[g.name, g.wrt, list(g.axes)] for g in part.gradients]}


def part_from_spec(spec: dict[str, Any]) -> Any:
    grads = tuple(core.Gradient(n, w, tuple(a)) for n, w, a in spec["gradients"])
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["fields"].items()}
    cls = core.LayerPart if spec["kind"] == "layer" else core.FunctionPart
    return cls(gradients=grads, **fields)


def case_request(part: Any, case: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A case as a request's JSON and arrays: array data travels as arrays."""
    arrays = dict(case.arrays)
    data, data_arrays = {}, []
    for k, v in case.data.items():
        if isinstance(v, np.ndarray):
            arrays[k] = v
            data_arrays.append(k)
        else:
            data[k] = protocol.to_json(v)
    return ({"part": part_spec(part), "label": case.label, "data": data,
             "data_arrays": data_arrays}, arrays)


def case_from_request(req: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    data = {k: protocol.from_json(v) for k, v in req["data"].items()}
    data.update({k: arrays[k] for k in req["data_arrays"]})
    main = {k: a for k, a in arrays.items() if k not in req["data_arrays"] and k != "stack"}
    return core.Case(req["label"], main, data)


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_REPLY_TEXT else line[:MAX_REPLY_TEXT - 3] + "..."


def _reply(message: str, watch: Any, types: dict[str, str] | None = None) -> str:
    """The text of a reply: the message, the ``npae`` modules imported, the types of the
    values that are not arrays (three lines; the grader parses and checks each)."""
    npae = ",".join(watch.npae) if watch is not None else ""
    kinds = ",".join(f"{k}={v}" for k, v in (types or {}).items())
    return f"{_one_line(message)}\nnpae {npae}\ntypes {kinds}"


_UNSAFE = re.compile(r"[^\w.]")


def _as_array(value: Any) -> tuple[np.ndarray | None, str | None]:
    """``(array, None)`` for what may travel, else ``(None, its type's name)``."""
    if isinstance(value, bool) or not isinstance(value, (np.ndarray, np.generic, float, int)):
        return None, _UNSAFE.sub("_", type(value).__name__)[:40]
    arr = np.asarray(value)
    if arr.dtype.hasobject or arr.dtype.kind not in protocol.KINDS or arr.ndim > 8:
        return None, "ndarray of " + _UNSAFE.sub("_", arr.dtype.name)[:20]
    return arr, None


def _run(part: Any, module: Any, path: Path, case: Any, watch: Any) -> tuple:
    try:
        with np.errstate(all="ignore"):
            out, grads = part.run(module, case)
    except NotImplementedError:
        return "error", _reply(f"{part.functions[0]} is not written yet "
                               "(NotImplementedError)", watch), {}
    except core.InPlaceError as err:
        return "error", _reply(str(err), watch), {}
    except (Exception, SystemExit, KeyboardInterrupt) as err:  # sys.exit() too
        return "error", _reply(f"{part.functions[0]}: {exception_text(err, path)}", watch), {}
    arrays, types = {}, {}
    values = [(f"y{i}", v) for i, v in enumerate(out.values())]
    values += [(f"g{i}", grads.get(g.name)) for i, g in enumerate(part.gradients)]
    for key, value in values:
        arr, kind = _as_array(value)
        if arr is None:
            types[key] = kind
        else:
            arrays[key] = arr
    return "ok", _reply("", watch, types), arrays


def _outputs(part: Any, module: Any, path: Path, case: Any, wrt: str,
             stack: np.ndarray, watch: Any) -> tuple:
    outs = []
    try:
        with np.errstate(all="ignore"):
            for point in stack:
                case.arrays[wrt] = point
                out, kind = _as_array(part.evaluate(module, case))
                if out is None:
                    raise TypeError(f"the forward returned a {kind}, not an array")
                outs.append(np.asarray(out, dtype=np.float64))
        result = np.stack(outs)
    except (Exception, SystemExit, KeyboardInterrupt) as err:
        return "error", _reply("forward failed under central differences: "
                               f"{exception_text(err, path)}", watch), {}
    return "ok", _reply("", watch), {"out": result}


def answer(module: Any, path: Path, kind: str, text: str, arrays: dict[str, np.ndarray],
           watch: Any = None) -> tuple[str, str, dict[str, np.ndarray]]:
    """The reply ``(kind, text, arrays)`` of the student's module to one request."""
    req = json.loads(text)
    part = part_from_spec(req["part"])
    case = case_from_request(req, arrays)
    if kind == "run":
        return _run(part, module, path, case, watch)
    if kind == "outputs":
        return _outputs(part, module, path, case, req["wrt"], arrays["stack"], watch)
    return "error", _reply(f"unknown request {kind!r}", watch), {}


# --------------------------------------------------------------------------- processes
def child_main(read_fd: int, write_fd: int, config: dict[str, Any]) -> None:
    """The student process: confine, import the file, answer until ``end``."""
    sandbox.confine((read_fd, write_fd), sandbox.Limits(**config["limits"]))
    chan = protocol.Channel(read_fd, write_fd)
    chan.receive()  # the relay's "go": the grader knows by now that this process started
    if config.get("npae_root"):
        sys.path.append(config["npae_root"])  # the student imports the grader's npae
    for name in config.get("preimport", []):  # what the stub imports is not flagged
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the student's import will say it
            pass
    warnings.simplefilter("ignore")
    watch = sandbox.Watch().install()
    path = Path(config["path"])
    try:
        module = load_student(path)
    except StudentError as err:
        chan.send("error", _reply(str(err), watch))
        return
    chan.send("ok", _reply("", watch))
    while True:
        kind, text, arrays = chan.receive()
        if kind == "end":
            chan.send("ok", _reply("", watch))
            return
        kind, text, arrays = answer(module, path, kind, text, arrays, watch)
        try:
            chan.send(kind, text, arrays)
        except protocol.ProtocolError as err:  # an answer over the size limit
            chan.send("error", _reply(f"the answer is too large to send ({err})", watch))


def _status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.WEXITSTATUS(status)}"


class _Child:
    """One student process, seen from the relay."""

    def __init__(self, config: dict[str, Any], mode: str) -> None:
        if mode == "fork":
            to_child, from_relay = os.pipe()
            from_child, to_relay = os.pipe()
            pid = os.fork()
            if pid == 0:  # the student process
                code = 0
                try:
                    os.close(from_relay)
                    os.close(from_child)
                    child_main(to_child, to_relay, config)
                except BaseException:  # noqa: BLE001 - nobody to tell: the relay sees EOF
                    code = 70
                finally:
                    os._exit(code)
            os.close(to_child)
            os.close(to_relay)
            self.pid, self.proc = pid, None
            self.write_fd, self.read_fd = from_relay, from_child
        else:
            import subprocess

            self.proc = subprocess.Popen(
                [sys.executable, "-I", str(Path(__file__).resolve()), "child", json.dumps(config)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                start_new_session=hasattr(os, "setsid"))
            self.pid = self.proc.pid
            self.write_fd, self.read_fd = self.proc.stdin.fileno(), self.proc.stdout.fileno()

    def release(self) -> None:
        """Send ``go``: the student process waits for it before running any student code."""
        try:
            protocol.write_frame(self.write_fd, protocol.encode("go"))
        except OSError:
            pass  # it is gone: reading its reply says how

    def end(self) -> str:
        """Stop it (if it still runs) and say how it ended."""
        for fd in (self.write_fd, self.read_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc is not None:
            try:
                code = self.proc.wait(1.0)
            except Exception:  # noqa: BLE001 - still running: kill it
                sandbox.kill_group(self.pid)
                self.proc.kill()
                code = self.proc.wait()
            return f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
        status = None
        for _ in range(100):  # a process that closed its pipe may be exiting
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                status = st
                break
            time.sleep(0.01)
        sandbox.kill_group(self.pid)
        if status is None:
            _, status = os.waitpid(self.pid, 0)
        left = sandbox.kill_orphans()
        return _status(status) + (f"; it left {left} process(es) running" if left else "")


def relay_main(mode: str) -> None:
    """The relay: read the grader's frames on fd 0, answer on fd 1 (see the docstring)."""
    read_fd, write_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    if mode == "fork":
        sandbox.adopt_orphans()

    def tell(kind: str, text: str = "") -> None:
        protocol.write_frame(write_fd, b"R" + protocol.encode(kind, text))

    tell("ready", str(os.getpid()))
    child = None
    while True:
        try:
            frame = protocol.read_frame(read_fd)
        except (EOFError, OSError):
            break
        source, payload = frame[:1], frame[1:]
        if source == b"R":
            kind, text, _ = protocol.decode(payload)
            if kind == "start":
                child = _Child(json.loads(text), mode)
                tell("started", str(child.pid))
                child.release()  # only now does the student's code run
            elif kind == "stop" and child is not None:
                tell("ended", child.end())
                child = None
                continue
            else:
                continue
        elif child is not None:
            try:
                protocol.write_frame(child.write_fd, payload)
            except OSError:
                pass  # it is gone: reading says how
        else:
            continue
        try:  # the one reply of the student process
            reply = protocol.read_frame(child.read_fd)
        except EOFError:
            tell("ended", child.end())
            child = None
            continue
        except (protocol.ProtocolError, OSError) as err:
            child.end()
            tell("garbled", str(err))
            child = None
            continue
        protocol.write_frame(write_fd, b"C" + reply)
    if child is not None:  # the grader went away: so does the student's process
        child.end()


if __name__ == "__main__":
    if sys.argv[1] == "relay":
        relay_main(sys.argv[2])
    else:  # a spawned student process: the channel is on fds 0 and 1
        fds = os.dup(0), os.dup(1)
        try:
            child_main(fds[0], fds[1], json.loads(sys.argv[2]))
        finally:
            os._exit(0)
