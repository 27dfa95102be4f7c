"""Limits on the process that runs a student's code, and the cleanup after it.

Not a security boundary on its own (a process of the same user can still do much),
but the grade does not depend on it: the grade is computed in another process (see
:mod:`npae.exercises.grader`). What this module adds is that a student's mistake or
trick costs that student's exercise and nothing else:

- :func:`confine`: its own session and process group; descriptors 0, 1 and 2 on
  ``/dev/null`` and every other inherited descriptor closed but the channel;
  ``RLIMIT_AS`` (memory), ``RLIMIT_CPU``, ``RLIMIT_NOFILE``, ``RLIMIT_FSIZE``,
  ``RLIMIT_NPROC`` (no new process, for a user other than root) and no core file;
- :class:`Watch`: an audit hook (:func:`sys.addaudithook`) that notes every import of
  ``npae`` (the grader flags it) and refuses, with a ``PermissionError``, what a
  gradient never needs: starting a process (``fork``, ``exec``, ``subprocess``,
  ``os.system``...), signalling another process, raising a resource limit;
- :func:`adopt_orphans` and :func:`kill_orphans` (Linux): the process that starts the
  student's process becomes a *subreaper*, so that whatever the student's code starts
  and leaves behind becomes its child, and is killed when the exercise ends.

Standard library only: the student's process loads it by its path.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

__all__ = ["Limits", "confine", "Watch", "adopt_orphans", "kill_orphans", "kill_group"]

_MiB = 2**20


class Limits:
    """What the student's process may use. ``memory`` is in MiB of address space on top
    of what the process holds when it starts (NumPy itself), ``cpu`` in seconds."""

    def __init__(self, memory: int = 2048, cpu: float = 30.0, files: int = 64,
                 file_size: int = 64) -> None:
        self.memory, self.cpu, self.files, self.file_size = memory, cpu, files, file_size

    def as_dict(self) -> dict[str, Any]:
        return {"memory": self.memory, "cpu": self.cpu, "files": self.files,
                "file_size": self.file_size}


def _address_space() -> int:
    """Bytes of address space this process holds now (Linux), else 0."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return 0


def _set(resource: Any, name: str, soft: int, hard: int | None = None) -> None:
    what = getattr(resource, name, None)
    if what is None:
        return
    _, old_hard = resource.getrlimit(what)
    hard = soft if hard is None else hard
    if old_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, old_hard), min(hard, old_hard)
    try:
        resource.setrlimit(what, (soft, hard))
    except (ValueError, OSError):
        pass  # a platform that refuses one limit keeps the others


def confine(keep: tuple[int, ...], limits: Limits) -> None:
    """Make this (new) process the student's: see the module docstring.

    ``keep`` are the channel's descriptors, the only ones left open above 2.
    """
    if hasattr(os, "setsid"):
        try:
            os.setsid()
        except OSError:
            pass  # already a session leader
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        if fd not in keep:
            os.dup2(null, fd)
    low = 3
    for fd in sorted(set(keep) | {null}):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 16)
    if null not in keep and null > 2:
        os.close(null)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the process's lifetime
    sys.stderr = sys.stdout
    try:
        import resource
    except ImportError:  # Windows: the wall-clock limit still holds
        return
    base = _address_space()
    if limits.memory:
        _set(resource, "RLIMIT_AS", base + limits.memory * _MiB)
    if limits.cpu:
        cpu = int(limits.cpu) + 1
        _set(resource, "RLIMIT_CPU", cpu, cpu + 1)
    _set(resource, "RLIMIT_NOFILE", limits.files)
    _set(resource, "RLIMIT_FSIZE", limits.file_size * _MiB)
    _set(resource, "RLIMIT_CORE", 0)
    _set(resource, "RLIMIT_NPROC", 0)  # ignored for root; the audit hook covers it


#: Audit events a gradient never needs: they start a process or reach one.
REFUSED = {"os.fork", "os.forkpty", "os.exec", "os.spawn", "os.posix_spawn", "os.system",
           "os.startfile", "subprocess.Popen", "os.killpg", "pty.spawn",
           "resource.setrlimit", "resource.prlimit", "os.setuid", "os.setgid"}


class Watch:
    """The audit hook of the student's process (installed once, for good).

    ``npae`` lists the ``npae`` modules imported since :meth:`install` (the import
    event fires only for a module not loaded yet, so ``npae`` must not be loaded
    before, except what the stub itself imports).
    """

    def __init__(self) -> None:
        self.npae: list[str] = []
        self.pid = os.getpid()

    def __call__(self, event: str, args: tuple) -> None:
        if event == "import":
            name = args[0] if args and isinstance(args[0], str) else ""
            if (name == "npae" or name.startswith("npae.")) and name not in self.npae:
                self.npae.append(name)
        elif event in REFUSED:
            raise PermissionError(f"{event} is not allowed while grading (a gradient "
                                  "needs no other process)")
        elif event == "os.kill" and args and args[0] != self.pid:
            raise PermissionError(f"os.kill of process {args[0]} is not allowed while "
                                  "grading")

    def install(self) -> Watch:
        sys.addaudithook(self)
        return self


def adopt_orphans() -> bool:
    """Make this process a child subreaper (Linux ``prctl``); False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc; empty elsewhere)."""
    out = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(name))
    return out


def kill_group(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads (the student's process and what it
    started in its group); nothing if it is gone."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def kill_orphans(rounds: int = 20) -> int:
    """Kill and reap every child of this process (the student's leftovers that were
    reparented here); call it between exercises, when none should be alive. Returns
    how many there were."""
    me = os.getpid()
    seen: set[int] = set()
    for _ in range(rounds):
        left = _children(me)
        seen.update(left)
        for pid in left:
            kill_group(pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid = 0
            if pid == 0:
                break
        if not left:
            break
    return len(seen)
