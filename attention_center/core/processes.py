"""Child processes (``cjxl``, ``djxl``) that never outlive the run that started them.

Each child is started

* in its **own process group** (``setpgid(0, 0)``), so a Ctrl-C typed at the terminal
  reaches our process only, and we stop the children ourselves, in order (see
  :meth:`ChildProcesses.stop`), instead of racing them;
* on Linux, with ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the child when the
  thread that started it dies, which includes a ``kill -9`` of our process, so no orphaned
  encoder keeps running (and writing) after us. What such a kill leaves on disk are
  recognisable temporaries (:mod:`attention_center.core.atomic`) that the next run removes.

How: where util-linux's ``setpriv --pdeathsig`` exists (Linux) and Python has
``Popen(process_group=...)`` (3.11+), the child is ``setpriv --pdeathsig KILL -- sh -c
CHECK OUR_PID PROGRAM ...`` started with ``process_group=0``: Python then starts it with
``vfork`` and runs no code of ours (nor any library's fork handlers) in the child;
``setpriv`` sets the death signal, ``sh`` checks that we did not die before that (its
parent is still our pid) and execs the program, so the child is the program itself (the
same pid, its own group's leader). Otherwise, a ``preexec_fn``
does both in the child between fork and exec. That full fork copies the whole process and
runs every ``pthread_atfork`` handler in the child: in a process where Apache Beam's gRPC
runs, its handler aborted the child now and then ("Epoll1Poller ... epoll_wait error: Bad
file descriptor", cjxl exit -6), and the fork cost about 8 ms a child against about 1 ms.

:class:`ChildProcesses` keeps the children of one run, so that an interruption
(``KeyboardInterrupt`` from Ctrl-C or, through
:func:`attention_center.core.command_line.run_with_flags`, SIGTERM) can kill them all and
refuse new ones.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Optional

__all__ = [
    "ChildProcesses",
    "ChildResult",
    "IsolatedCallError",
    "StoppedError",
    "call_isolated",
    "interrupts_deferred",
    "run_child",
]

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


#: Run by ``sh`` after ``setpriv`` set the death signal: exec the program only if the
#: parent (``$0``: our pid) is still the parent, i.e. did not die before the signal was set.
_PARENT_CHECK = 'test "$PPID" = "$0" && exec "$@"; exit 1'


@functools.lru_cache(maxsize=1)
def _wrapper() -> Optional[tuple[str, str]]:
    """``(setpriv, sh)`` that set a parent-death signal and exec, or ``None`` (not Linux,
    Python before 3.11, no util-linux ``setpriv`` or one without ``--pdeathsig``, no
    ``sh``): tried once."""
    if _PRCTL is None or sys.version_info < (3, 11):
        return None
    setpriv, sh = shutil.which("setpriv"), shutil.which("sh")
    if setpriv is None or sh is None:
        return None
    try:
        probe = subprocess.run(
            _wrapped(setpriv, sh, "true", []),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (setpriv, sh) if probe.returncode == 0 else None


def _wrapped(setpriv: str, sh: str, program: str, args) -> list[str]:
    """``program args`` run with SIGKILL as its parent-death signal (set before it starts)."""
    return [setpriv, "--pdeathsig", "KILL", "--", sh, "-c", _PARENT_CHECK, str(os.getpid())] + [
        program,
        *args,
    ]


def _program(name: os.PathLike | str) -> str:
    """The program file ``name`` names, as ``Popen`` would run it (a name without a slash is
    looked up on ``PATH``).

    Raises:
      FileNotFoundError, PermissionError: as ``Popen`` raises them for that program (the
        wrapper that runs it could only say so in its exit status).
    """
    name = os.fspath(name)
    if os.sep in name:
        if not os.path.isfile(name):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
        if not os.access(name, os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
        return name
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
    return found


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
            argv = [os.fspath(part) for part in command]
            wrapper = _wrapper()
            if wrapper is not None:  # vfork: nothing of ours runs in the child
                argv = _wrapped(*wrapper, _program(argv[0]), argv[1:])
                how = {"process_group": 0}
            else:
                how = {"preexec_fn": functools.partial(_child_setup, os.getpid())}
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                close_fds=True,
                **how,
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


class IsolatedCallError(RuntimeError):
    """:func:`call_isolated`'s function failed, crashed, ran out of memory or of time.

    Attributes:
      reason: one line, e.g. ``"crashed (signal 11: Segmentation fault)"``,
        ``"needs more than 1.0 GiB of memory"``, ``"ValueError: ..."``.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _address_space_bytes() -> int:
    """This process's virtual memory size (``VmSize``), 0 where ``/proc`` has none."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _run_isolated_child(write_fd: int, fn, args, memory_bytes) -> None:  # pragma: no cover
    """In the forked child: limit memory, run ``fn``, pickle the outcome, exit."""
    import pickle
    import resource

    status = 0
    try:
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if memory_bytes is not None:
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            limit = _address_space_bytes() + int(memory_bytes)
            if soft != resource.RLIM_INFINITY:
                limit = min(limit, soft)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        try:
            outcome = ("ok", fn(*args))
        except MemoryError:
            outcome = ("memory", None)
        except BaseException as error:  # noqa: BLE001 - reported to the parent, in words
            outcome = ("error", f"{type(error).__name__}: {error}")
        data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)
    except BaseException:  # noqa: BLE001 - the parent says "no result"
        status = 1
    finally:
        os._exit(status)


def call_isolated(fn, *args, memory_bytes: Optional[int] = None, timeout: Optional[float] = None):
    """``fn(*args)`` in a forked child process, so that a crash inside native code (a
    segmentation fault in a C extension reading a hostile file), a runaway allocation or a
    hang becomes an error of this call instead of the end of the whole program.

    The child gets at most ``memory_bytes`` more address space than it started with
    (``RLIMIT_AS``: an allocation past it is a ``MemoryError`` there), dies with us
    (``PR_SET_PDEATHSIG``) and is killed after ``timeout`` seconds. The result comes back
    pickled, so it must be picklable (numpy arrays, scipy's MATLAB structs are). Where
    ``os.fork`` does not exist, ``fn`` runs here, unprotected.

    Raises:
      IsolatedCallError: ``fn`` raised (its type and message), ran out of memory, was
        killed by a signal, gave no result, or took longer than ``timeout``.
    """
    import pickle
    import select
    import time
    import warnings

    if not hasattr(os, "fork"):
        return fn(*args)
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns about fork with threads running:
        warnings.simplefilter("ignore", DeprecationWarning)  # the child only runs fn
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_fd)
        _run_isolated_child(write_fd, fn, args, memory_bytes)
    os.close(write_fd)
    chunks, deadline, timed_out = [], None if timeout is None else time.monotonic() + timeout, False
    try:
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([read_fd], [], [], wait)
            if not ready:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    except BaseException:  # Ctrl-C while waiting: the child goes too
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        raise
    finally:
        os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        raise IsolatedCallError(f"took longer than {timeout:g} s; stopped")
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        name = signal.strsignal(number) or f"signal {number}"
        raise IsolatedCallError(f"crashed (signal {number}: {name})")
    if not chunks:
        raise IsolatedCallError(f"gave no result (exit status {os.waitstatus_to_exitcode(status)})")
    kind, value = pickle.loads(b"".join(chunks))
    if kind == "memory":
        raise IsolatedCallError(
            f"needs more than {memory_bytes / 2**30:.1f} GiB of memory"
            if memory_bytes
            else "ran out of memory"
        )
    if kind == "error":
        raise IsolatedCallError(value)
    return value
