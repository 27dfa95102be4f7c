"""The grader's side of the student's process: start the relay, send requests, keep time.

One :class:`Relay` per graded folder (a fresh interpreter running
:mod:`npae.exercises.runner`, with NumPy and no ``npae``), one student process per
exercise under it (:class:`ProcessStudent`). Every read has a deadline, the time
limit of the exercise: past it the student's process group is killed (the grader
knows its pid from the relay) and the exercise fails as timed out. A relay that dies
(killed by the student's code) fails that exercise and is replaced for the next.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from npae.exercises import protocol, runner, sandbox
from npae.exercises.grading import Failure

__all__ = ["Relay", "ProcessStudent", "Timeout", "borrow", "give_back"]

_RUNNER = Path(runner.__file__).resolve()
_NPAE_ROOT = str(Path(runner.__file__).resolve().parents[2])


class Timeout(Failure):
    """No reply within the time limit."""


class _Gone(Exception):
    """The relay itself ended or spoke out of turn."""


def _wait_readable(fd: int, deadline: float) -> bool:
    if os.name != "posix":
        return True  # Windows pipes: the caller reads in a thread (see Relay._frame)
    import select

    left = deadline - time.monotonic()
    if left <= 0:
        return False
    ready, _, _ = select.select([fd], [], [], left)
    return bool(ready)


class _BadReply(Exception):
    """A frame of the student's that is not a message (the relay is still in step)."""


def _decode(payload: bytes) -> tuple[bytes, str, str, dict[str, np.ndarray]]:
    source = payload[:1]
    try:
        return (source, *protocol.decode(payload[1:]))
    except protocol.ProtocolError as err:
        if source == b"C":
            raise _BadReply(str(err)) from None
        raise


class Relay:
    """The relay process: ``mode`` is ``"fork"`` (student processes forked from it) or
    ``"spawn"`` (each a new interpreter)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.proc: subprocess.Popen | None = None
        self.buffer = b""

    def _start(self) -> None:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(_RUNNER), "relay", self.mode],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, start_new_session=hasattr(os, "setsid"))
        self.buffer = b""
        source, kind, _, _ = self._frame(time.monotonic() + 60)
        if (source, kind) != (b"R", "ready"):
            raise _Gone("the relay did not start")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        if self.proc is None:
            return
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    # ----------------------------------------------------------------- frames
    def _read(self, n: int, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        while len(self.buffer) < n:
            if not _wait_readable(fd, deadline):
                raise TimeoutError
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise _Gone("the relay ended")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _frame(self, deadline: float) -> tuple[bytes, str, str, dict[str, np.ndarray]]:
        """``(source, kind, text, arrays)`` of the next frame; ``TimeoutError`` past the
        deadline, :class:`_Gone` if the relay ended, ``ProtocolError`` if malformed."""
        if os.name != "posix":
            return self._frame_in_thread(deadline)
        head = self._read(8, deadline)
        if head[:4] != protocol.MAGIC:
            raise _Gone("the relay wrote something that is not a message")
        length = int.from_bytes(head[4:], "little")
        if length > protocol.MAX_FRAME + 1:
            raise _Gone("the relay wrote a message over the size limit")
        payload = self._read(length, deadline)
        return _decode(payload)

    def _frame_in_thread(self, deadline: float) -> tuple:
        box: list[Any] = []

        def read() -> None:
            try:
                box.append(_decode(protocol.read_frame(self.proc.stdout.fileno())))
            except BaseException as err:  # noqa: BLE001 - handed to the caller
                box.append(err)

        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(max(0.0, deadline - time.monotonic()))
        if not box:
            raise TimeoutError
        if isinstance(box[0], EOFError):
            raise _Gone("the relay ended")
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def send(self, source: bytes, payload: bytes) -> None:
        try:
            protocol.write_frame(self.proc.stdin.fileno(), source + payload)
        except OSError:
            raise _Gone("the relay ended") from None


_IDLE: dict[str, list[Relay]] = {}
_LOCK = threading.Lock()


def borrow(mode: str) -> Relay:
    """An idle relay of ``mode`` (a new one if none): a relay never runs a student's
    code itself, so one serves folder after folder, one folder at a time."""
    with _LOCK:
        idle = _IDLE.get(mode, [])
        while idle:
            relay = idle.pop()
            if relay.alive():
                return relay
    return Relay(mode)


def give_back(relay: Relay) -> None:
    """Keep ``relay`` for the next folder (closed at exit)."""
    if relay.alive():
        with _LOCK:
            _IDLE.setdefault(relay.mode, []).append(relay)


@atexit.register
def _close_idle() -> None:
    with _LOCK:
        for relays in _IDLE.values():
            for relay in relays:
                relay.close()
        _IDLE.clear()


class ProcessStudent:
    """One exercise's student process, through ``relay`` (see :mod:`npae.exercises.grading`
    for the requests). ``limit`` is the wall-clock time limit of the whole exercise."""

    def __init__(self, relay: Relay, path: Path, limit: float, limits: sandbox.Limits,
                 preimport: list[str]) -> None:
        self.relay, self.path, self.limit = relay, Path(path), limit
        self.limits, self.preimport = limits, preimport
        self.pid: int | None = None
        self.deadline = time.monotonic() + limit
        self.ended = False

    def _timeout(self) -> Timeout:
        return Timeout(f"no result within the time limit of {self.limit:g} s "
                       "(an infinite loop?)")

    def _receive(self) -> tuple[str, str, dict[str, np.ndarray]]:
        """The student's reply (``C``), or a :class:`Failure` saying why none came."""
        try:
            source, kind, text, arrays = self.relay._frame(self.deadline)
        except TimeoutError:
            self._kill()
            raise self._timeout() from None
        except _BadReply as err:
            self._kill()
            raise Failure(f"the student's process sent a malformed reply ({str(err)[:80]})") \
                from None
        except (protocol.ProtocolError, _Gone):
            self._kill()
            self.relay.close()
            raise Failure("the grading relay process ended before a result (killed by the "
                          "student's code?)") from None
        if source == b"C":
            return kind, text, arrays
        if kind == "ended":
            self.ended = True
            raise Failure(f"the student's code ended the process ({text[:80]}) before a result")
        if kind == "garbled":
            self.ended = True
            raise Failure("the student's code wrote something that is not a message on the "
                          f"grading channel ({text[:80]})")
        self._kill()
        self.relay.close()
        raise Failure("the grading relay process broke the protocol")

    def _kill(self) -> None:
        if self.pid:
            sandbox.kill_group(self.pid)

    def start(self) -> tuple[str | None, list[str]]:
        from npae.exercises.grading import parse_reply

        if not self.relay.alive():
            self.relay.close()
            try:
                self.relay._start()
            except (_Gone, TimeoutError, OSError) as err:
                raise Failure(f"could not start the grading process: {err}") from None
            self.deadline = time.monotonic() + self.limit  # the relay's start is not the student's
        config = {"path": str(self.path), "limits": self.limits.as_dict(),
                  "preimport": self.preimport, "npae_root": _NPAE_ROOT}
        try:
            self.relay.send(b"R", protocol.encode("start", json.dumps(config)))
            source, kind, text, _ = self.relay._frame(self.deadline)
        except (TimeoutError, _Gone, _BadReply, protocol.ProtocolError):
            self.relay.close()
            raise Failure("the grading relay process did not start the student's "
                          "process") from None
        if (source, kind) != (b"R", "started") or not text.isdigit():
            self.relay.close()
            raise Failure("the grading relay process broke the protocol")
        self.pid = int(text)
        message, npae, _ = parse_reply(*self._receive(), expected=set())
        return message or None, npae

    def _request(self, kind: str, req: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple:
        try:
            self.relay.send(b"C", protocol.encode(kind, protocol.dumps(req), arrays))
        except _Gone:
            self._kill()
            self.relay.close()
            raise Failure("the grading relay process ended before a result (killed by the "
                          "student's code?)") from None
        return self._receive()

    def run(self, part: Any, case: Any) -> tuple:
        req, arrays = runner.case_request(part, case)
        return self._request("run", req, arrays)

    def outputs(self, part: Any, case: Any, wrt: str, stack: np.ndarray) -> tuple:
        req, arrays = runner.case_request(part, case)
        req["wrt"] = wrt
        return self._request("outputs", req, {**arrays, "stack": stack})

    def stop(self) -> str:
        """End the student's process (and whatever it left behind); how it ended."""
        if self.ended or not self.relay.alive():
            self._kill()
            return ""
        try:
            self.relay.send(b"R", protocol.encode("stop"))
            deadline = time.monotonic() + 10
            while True:
                source, kind, text, _ = self.relay._frame(deadline)
                if (source, kind) == (b"R", "ended"):
                    return text
        except (TimeoutError, _Gone, _BadReply, protocol.ProtocolError):
            self._kill()
            self.relay.close()
        return ""
