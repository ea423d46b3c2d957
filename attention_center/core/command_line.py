"""The command-line convention of every program: own absl ``FlagValues``, help, exit codes.

Each subcommand of ``attention-center`` (and ``python -m export``, ``python -m
ground_truth``) defines its flags on a private ``flags.FlagValues()`` rather than absl's
global ``FLAGS``, so importing several of them into one process (the dispatcher, tests,
notebooks) cannot clash on a flag name such as ``--model``. It lives in the core (absl
only) so that ``ground_truth``, which may use nothing else, follows it too.

Exit codes, the same for every command (README):

* ``0``: everything asked for was done;
* ``1``: some inputs failed (each reported on stderr, naming the file and the problem);
  the others were processed;
* ``2``: a usage error (bad or missing flag, unknown model, missing folder), found before
  any work starts;
* ``130``: interrupted (Ctrl-C / SIGTERM) after printing the summary so far;
* ``141``: standard output is a pipe whose reader went away (``attention-center predict
  DIR | head -1``): the command stops quietly, as Unix tools killed by SIGPIPE do (the
  shell reports 128 + 13 for them too). Any other failure to write standard output
  (``> /dev/full``) is one ``error:`` line on stderr and exit 1; a closed standard output
  (``>&-``) is a usage error (2) found before any work (:func:`guarded_stdout`).

:func:`run_with_flags` makes SIGTERM raise ``KeyboardInterrupt`` like Ctrl-C, so every
command stops the same way on both (children stopped, temporaries removed, summary
printed where the command has one), and keeps TensorFlow's native INFO lines off stderr
(:func:`quiet_native_logs`) whichever way the command was started (``attention-center
train``, ``attention-center train``, ``python -m export``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from absl import flags

__all__ = [
    "EXIT_FAILURES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PIPE_CLOSED",
    "EXIT_USAGE",
    "HELP_FLAGS",
    "StdoutError",
    "UsageError",
    "guarded_stdout",
    "parse_or_exit",
    "quiet_native_logs",
    "run_with_flags",
    "sigterm_interrupts",
]

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: A closed pipe on standard output: 128 + SIGPIPE, what the shell reports for ``yes | true``.
EXIT_PIPE_CLOSED = 128 + 13
HELP_FLAGS = ("--help", "-h", "--helpfull", "-help")


class UsageError(Exception):
    """A bad command line (exit status 2, before any work)."""


class StdoutError(Exception):
    """Standard output cannot be written (a closed pipe, a full disk); wraps the ``OSError``.

    Not an ``OSError`` itself, so a command's ``except OSError`` around its file writes
    cannot mistake it for a bad output file and go on: :func:`guarded_stdout` ends the
    command.

    Attributes:
      error: the ``OSError`` the write or flush raised.
    """

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


class _GuardedStream:
    """``sys.stdout`` as it was, whose failing ``write``/``flush`` raise :class:`StdoutError`."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        try:
            return self.stream.write(text)
        except OSError as error:
            raise StdoutError(error) from error

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        try:
            self.stream.flush()
        except OSError as error:
            raise StdoutError(error) from error
        except ValueError:  # flushed after someone closed it: nothing left to write
            pass

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _discard_stdout(stream) -> None:
    """Points file descriptor 1 at ``/dev/null`` (when ``stream`` is it), so that the
    interpreter's last flush of what is still buffered cannot fail again at exit."""
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return  # a test's capture stream: nothing at exit to worry about
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)


@contextlib.contextmanager
def guarded_stdout(prog: str):
    """The one handling of a standard output that cannot be written, for every command.

    * closed before the start (``>&-``; Python then has ``sys.stdout is None``): one
      ``error:`` line and exit 2 before any work;
    * a pipe whose reader went away (``| head -1``, ``| true``): exit 141 without a word,
      like a Unix tool killed by SIGPIPE;
    * any other write error (``> /dev/full``: no space left on device): one ``error:`` line
      naming standard output and the problem, exit 1.

    Never a ``BrokenPipeError`` traceback, nor "Exception ignored" at exit (what is still
    buffered goes to ``/dev/null``). Standard output is flushed when the block ends, so a
    late failure is caught here too; ``sys.stdout`` is restored afterwards.
    """
    if sys.stdout is None:
        print(
            f"{prog}: error: standard output is closed; redirect it (> FILE, or > /dev/null "
            "to discard it)",
            file=sys.stderr,
        )
        sys.exit(EXIT_USAGE)
    stream = sys.stdout
    guard = _GuardedStream(stream)
    sys.stdout = guard
    try:
        try:
            yield
        finally:
            guard.flush()
    except StdoutError as failure:
        _discard_stdout(stream)
        if failure.error.errno == errno.EPIPE:
            sys.exit(EXIT_PIPE_CLOSED)
        reason = (failure.error.strerror or str(failure.error)).lower()
        print(f"{prog}: error: cannot write to standard output: {reason}", file=sys.stderr)
        sys.exit(EXIT_FAILURES)
    finally:
        if sys.stdout is guard:
            sys.stdout = stream


def parse_or_exit(flag_values: flags.FlagValues, argv: Sequence[str], usage: str) -> list[str]:
    """Parses ``argv`` into ``flag_values``; handles help (exit 0) and bad flags (exit 2).

    Returns:
      the positional arguments, ``argv[0]`` first (absl's convention).
    """
    argv = list(argv)
    if any(arg in HELP_FLAGS for arg in argv[1:]):
        print(f"{usage.rstrip()}\n\nflags:\n{flag_values.get_help()}")
        sys.exit(EXIT_OK)
    try:
        return flag_values(argv)
    except flags.Error as error:
        print(f"{argv[0]}: error: {error}\n(see {argv[0]} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def quiet_native_logs() -> None:
    """No TensorFlow INFO lines (``cpu_feature_guard``...) or oneDNN notices on stderr.

    Sets ``TF_CPP_MIN_LOG_LEVEL=2`` and ``TF_ENABLE_ONEDNN_OPTS=0`` unless the user set them
    (they act when TensorFlow is first imported, so this runs before any command's work).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def sigterm_interrupts():
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` in the main thread (as Ctrl-C).

    A no-op outside the main thread (only it may set signal handlers).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def run_with_flags(
    flag_values: flags.FlagValues,
    main: Callable[[list[str]], int],
    usage: str,
    argv: Sequence[str] | None = None,
) -> None:
    """Parses ``argv`` (default ``sys.argv``) into ``flag_values``, exits with ``main(rest)``.

    ``--help``/``-h`` print ``usage`` and the flags and exit 0; a bad flag or a
    :class:`UsageError` from ``main`` prints one ``error:`` line and exits 2; Ctrl-C or
    SIGTERM that ``main`` does not handle itself prints ``interrupted`` and exits 130; a
    standard output that cannot be written is handled by :func:`guarded_stdout` (141 for
    a closed pipe, 1 for a write error, 2 when closed from the start).
    """
    argv = list(sys.argv if argv is None else argv)
    quiet_native_logs()
    with guarded_stdout(argv[0]):
        flag_values.unparse_flags()
        rest = parse_or_exit(flag_values, argv, usage)
        try:
            with sigterm_interrupts():
                status = main(rest)
        except UsageError as error:
            print(f"{argv[0]}: error: {error}\n(see {argv[0]} --help)", file=sys.stderr)
            status = EXIT_USAGE
        except KeyboardInterrupt:
            print(f"{argv[0]}: interrupted", file=sys.stderr)
            status = EXIT_INTERRUPTED
    sys.exit(status)
