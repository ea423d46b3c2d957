"""Child processes (``cjxl``, ``djxl``) that never outlive the run that started them.

Each child is started

* in its **own process group** (``setpgid(0, 0)``), so a Ctrl-C typed at the terminal
  reaches our process only, and we stop the children ourselves, in order (see
  :meth:`ChildProcesses.stop`), instead of racing them;
* on Linux, with ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the child when the
  thread that started it dies, which includes a ``kill -9`` of our process, so no orphaned
  encoder keeps running (and writing) after us. What such a kill leaves on disk are
  recognisable temporaries (:mod:`attention_center.core.atomic`) that the next run removes.

:class:`ChildProcesses` keeps the children of one run, so that an interruption
(``KeyboardInterrupt`` from Ctrl-C or, through
:func:`attention_center.core.command_line.run_with_flags`, SIGTERM) can kill them all and
refuse new ones.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Optional

__all__ = ["ChildProcesses", "ChildResult", "StoppedError", "interrupts_deferred", "run_child"]

_PR_SET_PDEATHSIG = 1


def _load_prctl():
    """libc's ``prctl`` (Linux), bound before any fork so the child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()


def _child_setup(parent_pid: int) -> None:  # pragma: no cover - runs in the forked child
    """Between fork and exec: own process group; die with the parent (Linux)."""
    os.setpgid(0, 0)
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)


class StoppedError(RuntimeError):
    """A child was to be started after :meth:`ChildProcesses.stop` (the run is ending)."""


class ChildResult:
    """What a finished child did.

    Attributes:
      returncode: its exit status (negative: killed by that signal).
      stdout, stderr: its output, bytes.
      stopped: whether :meth:`ChildProcesses.stop` ended it (an interruption, not a failure).
    """

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes, stopped: bool):
        self.returncode, self.stdout, self.stderr, self.stopped = (
            returncode,
            stdout,
            stderr,
            stopped,
        )


class ChildProcesses:
    """The running children of one run: start them, wait for them, stop them all at once.

    Thread-safe: worker threads call :meth:`run`; the main thread calls :meth:`stop` on an
    interruption.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self._stopped = False

    @property
    def stopped(self) -> bool:
        return self._stopped

    def start(self, command: Sequence[str]) -> subprocess.Popen:
        """Starts ``command`` (stdin closed, stdout and stderr piped).

        Raises:
          StoppedError: :meth:`stop` was called.
          OSError: the program cannot be run.
        """
        with self._lock:  # never starts a child that stop() would miss
            if self._stopped:
                raise StoppedError("not started: the run is being interrupted")
            process = subprocess.Popen(
                [os.fspath(part) for part in command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                close_fds=True,
                preexec_fn=functools.partial(_child_setup, os.getpid()),
            )
            self._running.add(process)
        return process

    def run(self, command: Sequence[str], timeout: Optional[float] = None) -> ChildResult:
        """Runs ``command`` to its end (see :meth:`start`); returns a :class:`ChildResult`.

        Raises:
          StoppedError, OSError: as :meth:`start`.
          subprocess.TimeoutExpired: it ran past ``timeout`` seconds (it is killed first).
        """
        process = self.start(command)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException:
            self._kill(process)
            process.communicate()
            raise
        finally:
            with self._lock:
                self._running.discard(process)
        return ChildResult(process.returncode, stdout, stderr, self._stopped)

    @staticmethod
    def _kill(process: subprocess.Popen) -> None:
        """SIGKILL to the child's process group (it leads its own), if it still runs."""
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                process.kill()
            except ProcessLookupError:
                pass

    def stop(self) -> int:
        """Kills every running child and refuses new ones; returns how many were killed."""
        with self._lock:
            self._stopped = True
            running = [p for p in self._running if p.poll() is None]
            for process in running:
                self._kill(process)
        return len(running)


def run_child(
    command: Sequence[str],
    children: Optional[ChildProcesses] = None,
    timeout: Optional[float] = None,
) -> ChildResult:
    """Runs one child that dies with us (:meth:`ChildProcesses.run`, a fresh group if none)."""
    return (children or ChildProcesses()).run(command, timeout=timeout)


@contextlib.contextmanager
def interrupts_deferred():
    """Ignores SIGINT and SIGTERM while cleaning up after an interruption (main thread only).

    A second Ctrl-C while the children are stopped and the temporaries removed would
    otherwise raise inside the clean-up, leave files behind and print a traceback.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in saved:
        signal.signal(number, signal.SIG_IGN)
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
